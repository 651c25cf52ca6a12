fs_unit_test(test_clip SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_clip.cpp LIBS fs_clip fs_synth)
