fs_unit_test(test_synth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_synth.cpp LIBS fs_synth)
