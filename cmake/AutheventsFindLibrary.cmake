# Shared by the find modules of C libraries that ship no usable CMake package (FindSodium,
# FindHiredis): the search, the standard result variables and an imported target.
#
# authevents_find_library(<Name> HEADER <header> NAMES <library name>...)
#   Sets <Name>_INCLUDE_DIR (the directory holding <header>) and <Name>_LIBRARY.
# authevents_find_library_done(<Name> <Target>)
#   Call after setting <Name>_VERSION (if known): find_package_handle_standard_args, then the
#   imported target <Target> (UNKNOWN IMPORTED, include dir attached) when found.
# Macros, not functions: the variables they set belong to the caller (the find module).
include_guard(GLOBAL)
include(FindPackageHandleStandardArgs)

macro(authevents_find_library _afl_name)
    cmake_parse_arguments(_afl "" "HEADER" "NAMES" ${ARGN})
    find_path(${_afl_name}_INCLUDE_DIR NAMES ${_afl_HEADER})
    find_library(${_afl_name}_LIBRARY NAMES ${_afl_NAMES})
endmacro()

macro(authevents_find_library_done _afl_name _afl_target)
    find_package_handle_standard_args(${_afl_name}
        REQUIRED_VARS ${_afl_name}_LIBRARY ${_afl_name}_INCLUDE_DIR
        VERSION_VAR ${_afl_name}_VERSION)
    if(${_afl_name}_FOUND AND NOT TARGET ${_afl_target})
        add_library(${_afl_target} UNKNOWN IMPORTED)
        set_target_properties(${_afl_target} PROPERTIES
            IMPORTED_LOCATION "${${_afl_name}_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${${_afl_name}_INCLUDE_DIR}")
    endif()
    mark_as_advanced(${_afl_name}_INCLUDE_DIR ${_afl_name}_LIBRARY)
endmacro()
