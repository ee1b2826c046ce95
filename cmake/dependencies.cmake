# Every library the build needs, each with the Debian package that has it: the one place
# they are looked for. packaging/install-deps.sh installs every package named here.
#
# Configure stops at the end of this file, before any target is made, with one line for
# each missing library naming its package, rather than with CMake's "Could NOT find" or a
# later "links to: GTest::gmock but the target was not found". The tests' libraries are
# looked for only when the tests are built (PYENV_BUILD_TESTS, off in the release preset):
# a missing test package never blocks the plugin and the host.
#
#   pyenv_dependency(<what> <Debian package> FIND_PACKAGE <find_package arguments>...
#                    [TARGET <imported target that find_package must define>])
#   pyenv_dependency(<what> <Debian package> PKG_CONFIG <prefix> <module>)
#   pyenv_dependency(<what> <Debian package> TARGET <target an earlier find defines>)

set(_pyenv_found "")
set(_pyenv_missing "")
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  list(APPEND _pyenv_missing "pkg-config: install the Debian package pkg-config")
endif()

# A macro, so that find_package's variables (LibArchive_LIBRARIES, ...) are the caller's.
macro(pyenv_dependency what package)
  cmake_parse_arguments(_pyenv_dep "" "TARGET" "FIND_PACKAGE;PKG_CONFIG" ${ARGN})
  set(_pyenv_dep_found TRUE)
  set(_pyenv_dep_note "")
  if(_pyenv_dep_PKG_CONFIG)
    set(_pyenv_dep_found FALSE)
    if(PKG_CONFIG_FOUND)
      list(GET _pyenv_dep_PKG_CONFIG 0 _pyenv_dep_prefix)
      list(GET _pyenv_dep_PKG_CONFIG 1 _pyenv_dep_module)
      pkg_check_modules(${_pyenv_dep_prefix} QUIET IMPORTED_TARGET ${_pyenv_dep_module})
      set(_pyenv_dep_found ${${_pyenv_dep_prefix}_FOUND})
    else()
      set(_pyenv_dep_note " (not looked for without pkg-config)")
    endif()
  elseif(_pyenv_dep_FIND_PACKAGE)
    find_package(${_pyenv_dep_FIND_PACKAGE} QUIET)
    list(GET _pyenv_dep_FIND_PACKAGE 0 _pyenv_dep_name)
    string(TOUPPER "${_pyenv_dep_name}" _pyenv_dep_upper)
    if(NOT ${_pyenv_dep_name}_FOUND AND NOT ${_pyenv_dep_upper}_FOUND)
      set(_pyenv_dep_found FALSE)
    endif()
  endif()
  if(_pyenv_dep_found AND _pyenv_dep_TARGET AND NOT TARGET ${_pyenv_dep_TARGET})
    set(_pyenv_dep_found FALSE)
  endif()
  if(_pyenv_dep_found)
    list(APPEND _pyenv_found "${what}")
  else()
    list(APPEND _pyenv_missing
      "${what}${_pyenv_dep_note}: install the Debian package ${package}")
  endif()
endmacro()

# --- The plugin and the host -----------------------------------------------------------
pyenv_dependency(yaml-cpp libyaml-cpp-dev FIND_PACKAGE yaml-cpp)
pyenv_dependency(libdeflate libdeflate-dev PKG_CONFIG LIBDEFLATE libdeflate)
pyenv_dependency("Boost.Filesystem 1.74" "libboost-dev libboost-filesystem-dev"
  FIND_PACKAGE Boost 1.74 COMPONENTS filesystem)
# libarchive and libcrypto: their headers and sonames; the plugin loads them on first use.
pyenv_dependency(libarchive libarchive-dev FIND_PACKAGE LibArchive)
pyenv_dependency("OpenSSL's libcrypto" libssl-dev FIND_PACKAGE OpenSSL COMPONENTS Crypto)
# gzip'd tars are inflated with zlib, which checks the trailer (src/archive/tar_reader.cpp).
pyenv_dependency(zlib zlib1g-dev FIND_PACKAGE ZLIB)
find_package(Threads REQUIRED)

# --- The tests -------------------------------------------------------------------------
if(PYENV_BUILD_TESTS)
  pyenv_dependency(GoogleTest libgtest-dev FIND_PACKAGE GTest TARGET GTest::gtest_main)
  # Debian's libgtest-dev does not bring GoogleMock: GTestConfig defines GTest::gmock only
  # when libgmock-dev is installed.
  pyenv_dependency(GoogleMock libgmock-dev TARGET GTest::gmock)
  # libzip writes the tests' zips; the plugin reads zips itself (archive/zip_reader.cpp).
  # Debian's libzip CMake package insists on the zipcmp tools being installed; pkg-config
  # needs only the library.
  pyenv_dependency(libzip libzip-dev PKG_CONFIG LIBZIP libzip)
  # tests/python compiles capi.hpp's declarations against the machine's Python.h, looked
  # for as it looks for it: Debian's 3.11 under /usr.
  if(NOT DEFINED Python3_ROOT_DIR AND EXISTS /usr/include/python3.11/Python.h)
    set(Python3_ROOT_DIR /usr)
    set(Python3_FIND_STRATEGY LOCATION)
  endif()
  pyenv_dependency("Python 3.11's headers" python3-dev
    FIND_PACKAGE Python3 3.11 EXACT COMPONENTS Development.Module)
endif()

list(JOIN _pyenv_found ", " _pyenv_found_list)
message(STATUS "Found ${_pyenv_found_list}")
if(_pyenv_missing)
  # One line each: CMake prints indented lines as they are.
  list(TRANSFORM _pyenv_missing PREPEND "  missing dependency ")
  list(TRANSFORM _pyenv_missing APPEND " (packaging/install-deps.sh installs everything)")
  list(JOIN _pyenv_missing "\n" _pyenv_missing)
  message(FATAL_ERROR "configure stops here, before any target is made:\n"
    "${_pyenv_missing}\n")
endif()
