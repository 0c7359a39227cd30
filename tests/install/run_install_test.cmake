# cmake -P script: install, configure the consumer against the install, build it, run it.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${SHOAL_BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
run(${WORK_DIR}/build/consumer)
if(NOT last_output MATCHES "consumer: 6")
  message(FATAL_ERROR "unexpected consumer output: ${last_output}")
endif()
# The `shoal` command is installed next to the library (when built: SHOAL_BUILD_CLI) and runs
# from there.
if(EXISTS ${prefix}/bin/shoal)
  run(${prefix}/bin/shoal --version)
  if(NOT last_output MATCHES "^shoal [0-9]+\\.[0-9]+\\.[0-9]+")
    message(FATAL_ERROR "unexpected output of the installed shoal --version: ${last_output}")
  endif()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
