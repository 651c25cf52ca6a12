# Clock-sync monitoring. test_clock_sync: parsing, fake chronyc programs, the verdict and the
# monitor with fake sources (unit). test_chronyd: the monitor against a real chronyd that the test
# starts itself (-x: it never touches the system clock), labelled system;chrony.
find_package(Threads REQUIRED)
fs_unit_test(test_clock_sync SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_clock_sync.cpp
             LIBS fs_clock Threads::Threads)

# Debian's paths when chrony is not installed: the test is still built, then fails and says to
# install chrony (scripts/install-deps).
find_program(FS_CHRONYD chronyd PATHS /usr/sbin /sbin NO_CACHE)
find_program(FS_CHRONYC chronyc NO_CACHE)
if(NOT FS_CHRONYD)
  set(FS_CHRONYD /usr/sbin/chronyd)
endif()
if(NOT FS_CHRONYC)
  set(FS_CHRONYC /usr/bin/chronyc)
endif()
add_executable(test_chronyd ${PROJECT_SOURCE_DIR}/tests/system/test_chronyd.cpp)
target_link_libraries(test_chronyd PRIVATE fs_clock GTest::gtest_main)
target_compile_definitions(test_chronyd PRIVATE FS_CHRONYD="${FS_CHRONYD}"
                                                FS_CHRONYC="${FS_CHRONYC}")
fs_target_flags(test_chronyd)
# One CTest entry for the whole executable: gtest_discover_tests splits a label list such as
# "system;chrony" into separate property arguments (CMake 3.25), which loses the second label.
add_test(NAME system.chronyd COMMAND test_chronyd)
set_tests_properties(system.chronyd PROPERTIES LABELS "system;chrony" TIMEOUT 60
                                               SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
