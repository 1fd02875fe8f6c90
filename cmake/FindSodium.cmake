# FindSodium: libsodium (Debian: libsodium-dev), used by authevents::bus to sign events.
#
# Defines the imported target Sodium::Sodium and the variables Sodium_FOUND,
# Sodium_INCLUDE_DIR, Sodium_LIBRARY and Sodium_VERSION. libsodium ships a pkg-config file
# but no CMake package, hence this module (usable without pkg-config).
include("${CMAKE_CURRENT_LIST_DIR}/AutheventsFindLibrary.cmake")
authevents_find_library(Sodium HEADER sodium.h NAMES sodium libsodium)

if(Sodium_INCLUDE_DIR AND EXISTS "${Sodium_INCLUDE_DIR}/sodium/version.h")
    file(STRINGS "${Sodium_INCLUDE_DIR}/sodium/version.h" _sodium_version_line
         REGEX "^#define SODIUM_VERSION_STRING +\"[0-9.]+\"")
    string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" Sodium_VERSION "${_sodium_version_line}")
endif()

authevents_find_library_done(Sodium Sodium::Sodium)
