# FindHiredis: the hiredis C client for Redis (Debian: libhiredis-dev).
#
# Defines the imported target Hiredis::Hiredis and the variables Hiredis_FOUND,
# Hiredis_INCLUDE_DIR, Hiredis_LIBRARY and Hiredis_VERSION. Debian's package ships a
# HiredisConfig.cmake without any target, hence this module.
find_path(Hiredis_INCLUDE_DIR NAMES hiredis/hiredis.h)
find_library(Hiredis_LIBRARY NAMES hiredis)

if(Hiredis_INCLUDE_DIR AND EXISTS "${Hiredis_INCLUDE_DIR}/hiredis/hiredis.h")
    file(STRINGS "${Hiredis_INCLUDE_DIR}/hiredis/hiredis.h" _hiredis_version_lines
         REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) +[0-9]+")
    foreach(_hiredis_part IN ITEMS MAJOR MINOR PATCH)
        string(REGEX REPLACE ".*#define HIREDIS_${_hiredis_part} +([0-9]+).*" "\\1"
               _hiredis_${_hiredis_part} "${_hiredis_version_lines}")
    endforeach()
    set(Hiredis_VERSION "${_hiredis_MAJOR}.${_hiredis_MINOR}.${_hiredis_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hiredis
    REQUIRED_VARS Hiredis_LIBRARY Hiredis_INCLUDE_DIR
    VERSION_VAR Hiredis_VERSION)

if(Hiredis_FOUND AND NOT TARGET Hiredis::Hiredis)
    add_library(Hiredis::Hiredis UNKNOWN IMPORTED)
    set_target_properties(Hiredis::Hiredis PROPERTIES
        IMPORTED_LOCATION "${Hiredis_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${Hiredis_INCLUDE_DIR}")
endif()
mark_as_advanced(Hiredis_INCLUDE_DIR Hiredis_LIBRARY)
