# authevents_target_sanitizers(<target>)
# Builds one of authevents' own test or example targets with the sanitizers named by
# AUTHEVENTS_SANITIZE: "" (none), "address,undefined" or "thread". Never used on the library
# target: a consumer decides on its own sanitizers.
include_guard(GLOBAL)

set(_authevents_sanitize_values "" "address,undefined" "thread")
if(NOT AUTHEVENTS_SANITIZE IN_LIST _authevents_sanitize_values)
    message(FATAL_ERROR "AUTHEVENTS_SANITIZE is '${AUTHEVENTS_SANITIZE}'; "
                        "use one of: \"\", \"address,undefined\", \"thread\"")
endif()
if(AUTHEVENTS_SANITIZE AND MSVC)
    message(FATAL_ERROR "AUTHEVENTS_SANITIZE supports GCC and Clang only")
endif()

function(authevents_target_sanitizers target)
    if(NOT AUTHEVENTS_SANITIZE)
        return()
    endif()
    # Reports need line numbers: line tables (-g1) when the build type gives no debug info;
    # Debug and RelWithDebInfo keep their own -g level (tests/run lowers it to -g1).
    set(flags -fsanitize=${AUTHEVENTS_SANITIZE} -fno-omit-frame-pointer
        "$<$<NOT:$<OR:$<CONFIG:Debug>,$<CONFIG:RelWithDebInfo>>>:-g1>")
    if(AUTHEVENTS_SANITIZE STREQUAL "address,undefined")
        # Make every UBSan finding fail the test instead of printing and going on.
        list(APPEND flags -fno-sanitize-recover=all)
    endif()
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE -fsanitize=${AUTHEVENTS_SANITIZE})
endfunction()
