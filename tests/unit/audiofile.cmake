# Audio chunk files. libsndfile reads the files back (independently of the writer); libFLAC's
# metadata API reads the Vorbis comments.
find_package(PkgConfig REQUIRED)
pkg_check_modules(FS_AUDIOFILE_TEST_SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(FS_AUDIOFILE_TEST_FLAC REQUIRED IMPORTED_TARGET flac)

fs_unit_test(test_audiofile
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_audiofile.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_audiofile_crash.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_audiofile_io.cpp
  LIBS fs_audiofile PkgConfig::FS_AUDIOFILE_TEST_SNDFILE PkgConfig::FS_AUDIOFILE_TEST_FLAC)
