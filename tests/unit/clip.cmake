fs_unit_test(test_clip SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_clip.cpp LIBS fs_clip fs_synth)
target_compile_definitions(test_clip PRIVATE FRAMESTAMP_VERSION="${PROJECT_VERSION}")
