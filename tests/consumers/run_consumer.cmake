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

if(KIND STREQUAL "find_package")
    # Install authevents on its own (no tests, no examples) into a scratch prefix first.
    set(prefix "${WORK_DIR}/prefix")
    run_step("configure authevents for install"
        "${CMAKE_COMMAND}" -S "${AUTHEVENTS_SOURCE_DIR}" -B "${WORK_DIR}/authevents-build"
        ${tool_args} -DAUTHEVENTS_BUILD_TESTS=OFF
        -DAUTHEVENTS_BUILD_EXAMPLES=OFF -DAUTHEVENTS_INSTALL=ON)
    run_step("install authevents into ${prefix}"
        "${CMAKE_COMMAND}" --install "${WORK_DIR}/authevents-build" --prefix "${prefix}")
    list(APPEND consumer_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(KIND STREQUAL "fetch_content")
    # The project declares the GIT_REPOSITORY of the README; this override makes FetchContent
    # use the local tree, and FULLY_DISCONNECTED proves nothing is downloaded.
    list(APPEND consumer_args
        "-DFETCHCONTENT_SOURCE_DIR_AUTHEVENTS=${AUTHEVENTS_SOURCE_DIR}"
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
elseif(KIND STREQUAL "add_subdirectory")
    list(APPEND consumer_args "-DAUTHEVENTS_SOURCE_DIR=${AUTHEVENTS_SOURCE_DIR}")
else()
    message(FATAL_ERROR "run_consumer.cmake: unknown KIND '${KIND}'")
endif()

# No build type: the consumer's default (unoptimised, quick to build); multi-config: Debug.
set(build_dir "${WORK_DIR}/build")
run_step("configure"
    "${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/${KIND}" -B "${build_dir}"
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
