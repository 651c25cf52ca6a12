fs_unit_test(test_disk_monitor SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_disk_monitor.cpp LIBS fs_daemon)
