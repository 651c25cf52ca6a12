fs_unit_test(test_emu_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_emu_model.cpp LIBS fsemu_model)
