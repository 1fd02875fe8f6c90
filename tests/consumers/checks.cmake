# Included by each consumer project around its use of authevents: proves that using authevents
# leaves the consumer's build type, C++ standard and global flags alone and builds none of
# authevents' own tests or examples.
set(_consumer_watched CMAKE_BUILD_TYPE CMAKE_CXX_STANDARD CMAKE_CXX_FLAGS CMAKE_CXX_FLAGS_RELEASE
                      CMAKE_EXE_LINKER_FLAGS)

macro(consumer_record_settings)
    foreach(_var IN LISTS _consumer_watched)
        set(_consumer_before_${_var} "${${_var}}|$CACHE{${_var}}")
    endforeach()
    get_directory_property(_consumer_before_options COMPILE_OPTIONS)
endmacro()

macro(consumer_check_settings)
    foreach(_var IN LISTS _consumer_watched)
        if(NOT "${${_var}}|$CACHE{${_var}}" STREQUAL "${_consumer_before_${_var}}")
            message(FATAL_ERROR "authevents changed the consumer's ${_var}")
        endif()
    endforeach()
    get_directory_property(_consumer_after_options COMPILE_OPTIONS)
    if(NOT "${_consumer_after_options}" STREQUAL "${_consumer_before_options}")
        message(FATAL_ERROR "authevents changed the consumer's COMPILE_OPTIONS")
    endif()
    foreach(_target IN ITEMS authevents_catch_main authevents_header_check basic_example)
        if(TARGET ${_target})
            message(FATAL_ERROR "authevents built its own target ${_target} as a dependency")
        endif()
    endforeach()
    if(NOT TARGET authevents::authevents)
        message(FATAL_ERROR "no authevents::authevents target")
    endif()
endmacro()
