# `BINARY --version` must print exactly "NAME VERSION" on stdout, nothing on stderr, and exit 0.
# cmake -DBINARY=path -DNAME=k8slb-client -DVERSION=0.1.0 -P check_version.cmake
foreach(_var BINARY NAME VERSION)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "check_version.cmake: -D${_var}= is required")
  endif()
endforeach()
execute_process(COMMAND ${BINARY} --version RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 20)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${NAME} --version exited with '${rc}' (expected 0); stdout: '${out}' stderr: '${err}'")
endif()
if(NOT out STREQUAL "${NAME} ${VERSION}\n")
  message(FATAL_ERROR "${NAME} --version printed '${out}', expected '${NAME} ${VERSION}' and a newline")
endif()
if(NOT err STREQUAL "")
  message(FATAL_ERROR "${NAME} --version wrote to stderr: '${err}'")
endif()
message(STATUS "${NAME} --version: ${out}")
