fs_unit_test(test_archive_reader SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_archive_reader.cpp
             LIBS fs_archive fs_recorder fs_timinglog)
fs_unit_test(test_archive_index SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_archive_index.cpp
             LIBS fs_archive fs_audiofile fs_recorder fs_timinglog)
fs_unit_test(test_archive_verify SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_archive_verify.cpp
             LIBS fs_archive fs_audiofile fs_recorder fs_timinglog)
fs_unit_test(test_archive_cache SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_archive_cache.cpp
             LIBS fs_archive fs_audiofile fs_recorder fs_timinglog)
