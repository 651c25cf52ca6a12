# The stream writer, driven through its rings and directly, with a test clock.
find_package(spdlog REQUIRED)
fs_unit_test(test_stream_writer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stream_writer.cpp
             LIBS fs_recorder spdlog::spdlog)
