# authevents_target_warnings(<target>)
# Adds the house warning set (docs/contributing.md) to one of authevents' own targets, plus
# -Werror when AUTHEVENTS_WERROR is ON. Never used on the library target: consumers keep their own flags.
include_guard(GLOBAL)

function(authevents_target_warnings target)
    if(MSVC)
        set(flags /W4 /permissive-)
        if(AUTHEVENTS_WERROR)
            list(APPEND flags /WX)
        endif()
    else()
        set(flags
            -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wold-style-cast
            -Wnon-virtual-dtor -Woverloaded-virtual -Wnull-dereference -Wformat=2)
        if(AUTHEVENTS_WERROR)
            list(APPEND flags -Werror)
        endif()
    endif()
    target_compile_options(${target} PRIVATE ${flags})
endfunction()
