# One fuzz.<name> test (tests/fuzz/CMakeLists.txt):
#   cmake -D FUZZER=<harness> -D CORPUS=<dir> -D WORK=<dir> -D ARTIFACTS=<dir>
#         -D SECONDS=<n> -D SEED=<n> -P run_fuzzer.cmake
# Runs every input of CORPUS (the committed seeds, read only), then fuzzes for SECONDS
# from SEED, writing new inputs to WORK and any crash to ARTIFACTS. Fails when the
# harness does (a failed invariant traps; libFuzzer then exits non-zero).
foreach(_var FUZZER CORPUS WORK ARTIFACTS SECONDS SEED)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D ${_var}=... is missing")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${CORPUS}")
  message(FATAL_ERROR "run_fuzzer.cmake: no corpus directory ${CORPUS}")
endif()
file(MAKE_DIRECTORY "${WORK}" "${ARTIFACTS}")
# libFuzzer writes new inputs to its first directory and reads the others. The
# harnesses read sequences of operations, which need long inputs: libFuzzer makes them
# up to -max_len from the start (-len_control=0) rather than growing them slowly.
execute_process(
  COMMAND "${FUZZER}" "${WORK}" "${CORPUS}"
          -seed=${SEED} -max_total_time=${SECONDS} -rss_limit_mb=1024 -timeout=10
          -max_len=512 -len_control=0 -print_final_stats=1 -artifact_prefix=${ARTIFACTS}/
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${_rc}); crash inputs are in ${ARTIFACTS}/")
endif()
