fs_unit_test(test_report SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_report.cpp LIBS fs_report)
