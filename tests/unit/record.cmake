find_package(Threads REQUIRED)
fs_unit_test(test_spsc_ring SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_spsc_ring.cpp
             LIBS fs_record Threads::Threads)
fs_unit_test(test_live_drift SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_live_drift.cpp LIBS fs_record)
fs_unit_test(test_chunk_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chunk_policy.cpp
             LIBS fs_record)
