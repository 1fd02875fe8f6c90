# cmake -D PROGRAM=<executable> -D EXPECTED=<file> -D NAME=<for messages> -P run_program.cmake
# Runs a documentation program and fails unless it exits 0 and prints exactly the output shown
# under it in the Markdown (stdout and stderr merged as they arrive; stdout is a pipe here, so
# a program's own printed lines reach it when the program exits).
foreach(var IN ITEMS PROGRAM EXPECTED NAME)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_program.cmake: -D ${var}=... is required")
    endif()
endforeach()
execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE result
                OUTPUT_VARIABLE output ERROR_VARIABLE output)
file(READ "${EXPECTED}" expected)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${NAME}: exited with ${result}; it printed:\n${output}")
endif()
if(NOT output STREQUAL expected)
    message(FATAL_ERROR "${NAME}: prints something else than the docs show.\n"
                        "--- shown in the docs:\n${expected}--- printed:\n${output}---")
endif()
message(STATUS "${NAME}: prints what the docs show")
