# FindHiredis: the hiredis C client for Redis (Debian: libhiredis-dev).
#
# Defines the imported target Hiredis::Hiredis and the variables Hiredis_FOUND,
# Hiredis_INCLUDE_DIR, Hiredis_LIBRARY and Hiredis_VERSION. Debian's package ships a
# HiredisConfig.cmake without any target, hence this module.
include("${CMAKE_CURRENT_LIST_DIR}/AutheventsFindLibrary.cmake")
authevents_find_library(Hiredis HEADER hiredis/hiredis.h NAMES hiredis)

if(Hiredis_INCLUDE_DIR AND EXISTS "${Hiredis_INCLUDE_DIR}/hiredis/hiredis.h")
    file(STRINGS "${Hiredis_INCLUDE_DIR}/hiredis/hiredis.h" _hiredis_version_lines
         REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) +[0-9]+")
    foreach(_hiredis_part IN ITEMS MAJOR MINOR PATCH)
        string(REGEX REPLACE ".*#define HIREDIS_${_hiredis_part} +([0-9]+).*" "\\1"
               _hiredis_${_hiredis_part} "${_hiredis_version_lines}")
    endforeach()
    set(Hiredis_VERSION "${_hiredis_MAJOR}.${_hiredis_MINOR}.${_hiredis_PATCH}")
endif()

authevents_find_library_done(Hiredis Hiredis::Hiredis)
