# Compiler flags for framestamp's own targets. Applied per target (never globally) so that the
# emulated sound card, which is dlopen'ed by uninstrumented programs such as arecord, can stay
# free of sanitizer runtimes while everything else is instrumented.

set(FS_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
    -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
    # Designated initializers leave members to their default member initializers on purpose.
    -Wno-missing-field-initializers)

set(FS_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                       -fno-omit-frame-pointer)

# fs_target_flags(<target> [NO_SANITIZE])
function(fs_target_flags target)
  cmake_parse_arguments(ARG "NO_SANITIZE" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE ${FS_WARNING_FLAGS})
  if(FS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(FS_SANITIZE AND NOT ARG_NO_SANITIZE)
    target_compile_options(${target} PRIVATE ${FS_SANITIZER_FLAGS})
    target_link_options(${target} PRIVATE ${FS_SANITIZER_FLAGS})
  endif()
endfunction()

# fs_module(<module> SOURCES <files...> [DEPS <targets...>])
# Defines the static library fs_<module> with the public include/ folder and src/ on its path.
function(fs_module module)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(fs_${module} STATIC ${ARG_SOURCES})
  target_include_directories(fs_${module} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                          PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(fs_${module} PUBLIC ${ARG_DEPS})
  fs_target_flags(fs_${module})
endfunction()

# fs_unit_test(<name> SOURCES <files...> LIBS <targets...>)
# One gtest executable per component, labelled "unit" (run under ASan+UBSan by scripts/test).
function(fs_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main GTest::gmock)
  fs_target_flags(${name})
  gtest_discover_tests(${name} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
endfunction()
