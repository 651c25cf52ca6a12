fs_unit_test(test_pps SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pps.cpp LIBS fs_pps)
