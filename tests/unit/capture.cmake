fs_unit_test(test_capture_loop SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_capture_loop.cpp LIBS fs_capture)
