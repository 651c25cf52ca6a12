fs_unit_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.cpp LIBS fs_config)
target_compile_definitions(test_config PRIVATE
    FS_EXAMPLE_CONFIG="${PROJECT_SOURCE_DIR}/config/framestamp.yaml"
    FS_CONFIG_DOC="${PROJECT_SOURCE_DIR}/docs/configuration.md"
    FS_CONFIG_CASES="${CMAKE_CURRENT_LIST_DIR}/config_cases")
