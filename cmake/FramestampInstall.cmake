# Install rules and the Debian package (CPack DEB). Included at the end of the top-level
# CMakeLists.txt, after every target exists.
#
#   cmake --install build [--prefix /usr]      framestampd, framestamp, unit, sysusers/tmpfiles, config, docs
#   (cd build && cpack -G DEB)                 build/framestamp_<version>_<arch>.deb (prefix /usr)
#
# The configuration is /etc/framestamp/framestamp.yaml whatever the prefix (it is framestampd's
# built-in default). Everything else follows the prefix: systemd also reads units, sysusers.d and
# tmpfiles.d from /usr/local/lib, and the installed unit's ExecStart= names the installed binary.

include(GNUInstallDirs)

set(FS_SYSTEMD_UNIT_DIR "lib/systemd/system"
    CACHE STRING "systemd system unit folder, relative to the prefix")
set(FS_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "sysusers.d folder, relative to the prefix")
set(FS_TMPFILES_DIR "lib/tmpfiles.d" CACHE STRING "tmpfiles.d folder, relative to the prefix")
set(FS_PACKAGE_MAINTAINER "framestamp maintainers <maintainers@framestamp.invalid>"
    CACHE STRING "Maintainer field of the .deb")

set(FS_CONFIG_DIR "/etc/framestamp")
set(FS_DOC_DIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/framestamp")
set(FS_PACKAGING_DIR "${PROJECT_BINARY_DIR}/packaging")

install(TARGETS framestampd framestamp RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(FILES systemd/framestamp.sysusers DESTINATION "${FS_SYSUSERS_DIR}"
        RENAME framestamp.conf)
install(FILES systemd/framestamp.tmpfiles DESTINATION "${FS_TMPFILES_DIR}"
        RENAME framestamp.conf)

# --- the unit, its paths rewritten for the prefix in force at install time ----------------------
# systemd/framestampd.service names /usr; cpack and "cmake --install --prefix" choose the prefix
# only when they install, so the copy is made then (identical to the source for /usr).
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/systemd/framestampd.service\" fs_unit)
  string(REPLACE \"/usr/bin/framestampd\"
         \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/framestampd\" fs_unit \"\${fs_unit}\")
  string(REPLACE \"/usr/share/doc/framestamp/\" \"\${CMAKE_INSTALL_PREFIX}/${FS_DOC_DIR}/\"
         fs_unit \"\${fs_unit}\")
  file(WRITE \"${FS_PACKAGING_DIR}/unit/framestampd.service\" \"\${fs_unit}\")
  file(INSTALL \"${FS_PACKAGING_DIR}/unit/framestampd.service\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${FS_SYSTEMD_UNIT_DIR}\"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
")

# --- the configuration: installed once, never overwritten ----------------------------------------
# In the .deb it is a conffile (dpkg asks before replacing an edited one). A plain cmake --install
# leaves an existing file alone and says so; the example is in the docs either way.
install(CODE "
  set(fs_conf \"\$ENV{DESTDIR}${FS_CONFIG_DIR}/framestamp.yaml\")
  if(EXISTS \"\${fs_conf}\")
    message(STATUS \"Keeping: \${fs_conf} \"
                   \"(example: \${CMAKE_INSTALL_PREFIX}/${FS_DOC_DIR}/examples)\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/config/framestamp.yaml\"
         DESTINATION \"${FS_CONFIG_DIR}\"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
")

# --- documentation --------------------------------------------------------------------------------
file(GLOB fs_docs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES README.md ${fs_docs} DESTINATION "${FS_DOC_DIR}")
install(FILES LICENSE DESTINATION "${FS_DOC_DIR}" RENAME copyright)
install(FILES config/framestamp.yaml packaging/examples/usb-disk.conf
              packaging/examples/chronyc.conf DESTINATION "${FS_DOC_DIR}/examples")

# --- the Debian package -------------------------------------------------------------------------
file(CONFIGURE OUTPUT "${FS_PACKAGING_DIR}/conffiles"
     CONTENT "${FS_CONFIG_DIR}/framestamp.yaml\n")
foreach(script postinst prerm postrm)
  file(COPY "${PROJECT_SOURCE_DIR}/packaging/${script}" DESTINATION "${FS_PACKAGING_DIR}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               "${PROJECT_SOURCE_DIR}/packaging/${script}")
endforeach()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "framestamp")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${FS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "time-accurate unattended field audio recorder")
# The summary is the synopsis line; this is the long description under it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "framestampd records ALSA sound cards untouched and sample-counted into gap-free
FLAC/WAV/RF64 chunks cut at UTC boundaries. Beside each chunk a timing log pairs
the card's hardware frame position with CLOCK_REALTIME several times a second,
so a drift model can later map any sample to UTC to microseconds. The
framestamp command fits that model and maps samples to UTC and back, verifies
an archive, cuts time-aligned clips and writes an HTML drift report.
.
The service is installed but not enabled: edit /etc/framestamp/framestamp.yaml,
then systemctl enable --now framestampd (see operations.md in the docs).")
set(CPACK_DEBIAN_PACKAGE_SECTION "sound")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "chrony, alsa-utils")
find_program(FS_DPKG_SHLIBDEPS dpkg-shlibdeps)
# procps: /bin/kill, the unit's ExecReload=.
if(FS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
else()
  # Debian 12's names, for a build machine without dpkg-dev.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "procps, libc6, libstdc++6, libgcc-s1, libasound2, libflac12, libspdlog1.10-fmt9, libfmt9, \
libyaml-cpp0.7, libsystemd0, libsndfile1, libsoxr0")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${FS_PACKAGING_DIR}/conffiles;${FS_PACKAGING_DIR}/postinst;${FS_PACKAGING_DIR}/prerm;\
${FS_PACKAGING_DIR}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# /etc is outside the prefix: CPack installs into a staging root through DESTDIR, with /usr as
# the prefix whatever this build directory's CMAKE_INSTALL_PREFIX is.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
