# cmake -D KIND=<add_subdirectory|fetch_content|find_package> -D AUTHEVENTS_SOURCE_DIR=<repo>
#       -D WORK_DIR=<scratch dir> -D GENERATOR=<generator> [-D MAKE_PROGRAM=<path>]
#       -D CXX_COMPILER=<path> -P run_consumer.cmake
# Configures, builds and runs the consumer project tests/consumers/<KIND> from scratch.
cmake_minimum_required(VERSION 3.16)

foreach(var IN ITEMS KIND AUTHEVENTS_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake: -D ${var}=... is required")
    endif()
endforeach()

function(run_step what)
    message(STATUS "[consumer ${KIND}] ${what}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "[consumer ${KIND}] ${what} failed (${result})")
    endif()
endfunction()

set(tool_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
    list(APPEND tool_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer_args "")
set(git_env "")

if(KIND STREQUAL "find_package")
    # Install authevents on its own (no tests, no examples) into a scratch prefix first.
    set(prefix "${WORK_DIR}/prefix")
    run_step("configure authevents for install"
        "${CMAKE_COMMAND}" -S "${AUTHEVENTS_SOURCE_DIR}" -B "${WORK_DIR}/authevents-build"
        ${tool_args} -DAUTHEVENTS_BUILD_TESTS=OFF
        -DAUTHEVENTS_BUILD_EXAMPLES=OFF -DAUTHEVENTS_INSTALL=ON)
    # Build before installing, as a user would: the bus's command-line tools are installed too.
    run_step("build authevents" "${CMAKE_COMMAND}" --build "${WORK_DIR}/authevents-build")
    run_step("install authevents into ${prefix}"
        "${CMAKE_COMMAND}" --install "${WORK_DIR}/authevents-build" --prefix "${prefix}")
    list(APPEND consumer_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(KIND STREQUAL "fetch_content")
    # The README's FetchContent block, exactly as written, against a local clone of this source
    # tree (its committed HEAD) in which the tag the block names is created: git's
    # url.<base>.insteadOf sends the README's GIT_REPOSITORY there, so nothing is downloaded.
    file(READ "${AUTHEVENTS_SOURCE_DIR}/README.md" readme)
    set(block_regex
        "```cmake\n(include\\(FetchContent\\)[^`]*FetchContent_MakeAvailable\\(authevents\\)\n)```")
    string(REGEX MATCH "${block_regex}" block "${readme}")
    if(NOT CMAKE_MATCH_1)
        message(FATAL_ERROR "[consumer ${KIND}] no FetchContent block in README.md")
    endif()
    set(snippet "${CMAKE_MATCH_1}")
    string(REGEX MATCH "GIT_REPOSITORY[ \t]+([^ \t\n)]+)" _ "${snippet}")
    set(repository "${CMAKE_MATCH_1}")
    string(REGEX MATCH "GIT_TAG[ \t]+([^ \t\n)]+)" _ "${snippet}")
    set(tag "${CMAKE_MATCH_1}")
    if(NOT repository OR NOT tag)
        message(FATAL_ERROR "[consumer ${KIND}] README's FetchContent block lacks GIT_REPOSITORY "
                            "or GIT_TAG")
    endif()
    file(WRITE "${WORK_DIR}/fetch_content.cmake" "${snippet}")
    if(NOT EXISTS "${AUTHEVENTS_SOURCE_DIR}/.git")
        message(FATAL_ERROR "[consumer ${KIND}] ${AUTHEVENTS_SOURCE_DIR} is not a git checkout: "
                            "this test clones it to fetch the README's tag")
    endif()
    find_package(Git REQUIRED)
    set(clone "${WORK_DIR}/clone")
    run_step("clone ${AUTHEVENTS_SOURCE_DIR}"
        "${GIT_EXECUTABLE}" clone --quiet "${AUTHEVENTS_SOURCE_DIR}" "${clone}")
    run_step("tag ${tag} in the clone"
        "${GIT_EXECUTABLE}" -C "${clone}" -c user.name=authevents-test
        -c user.email=test@authevents.invalid tag -f -a "${tag}" -m "${tag}")
    set(git_env "${CMAKE_COMMAND}" -E env GIT_CONFIG_COUNT=1
        "GIT_CONFIG_KEY_0=url.file://${clone}.insteadOf" "GIT_CONFIG_VALUE_0=${repository}")
    list(APPEND consumer_args
        "-DAUTHEVENTS_FETCH_CONTENT_SNIPPET=${WORK_DIR}/fetch_content.cmake")
elseif(KIND STREQUAL "add_subdirectory")
    list(APPEND consumer_args "-DAUTHEVENTS_SOURCE_DIR=${AUTHEVENTS_SOURCE_DIR}")
else()
    message(FATAL_ERROR "run_consumer.cmake: unknown KIND '${KIND}'")
endif()

# No build type: the consumer's default (unoptimised, quick to build); multi-config: Debug.
set(build_dir "${WORK_DIR}/build")
run_step("configure"
    ${git_env} "${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/${KIND}" -B "${build_dir}"
    ${tool_args} ${consumer_args})
run_step("build" "${CMAKE_COMMAND}" --build "${build_dir}" --config Debug)

foreach(candidate IN ITEMS "${build_dir}/consumer" "${build_dir}/Debug/consumer"
                           "${build_dir}/consumer.exe" "${build_dir}/Debug/consumer.exe")
    if(EXISTS "${candidate}")
        run_step("run" "${candidate}")
        return()
    endif()
endforeach()
message(FATAL_ERROR "[consumer ${KIND}] built, but no consumer executable in ${build_dir}")
