fs_unit_test(test_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log.cpp LIBS fs_log)
