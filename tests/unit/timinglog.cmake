fs_unit_test(test_timing_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_timing_log.cpp LIBS fs_timinglog)
