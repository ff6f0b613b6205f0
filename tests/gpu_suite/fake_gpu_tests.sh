#!/usr/bin/env bash
# Test double for swim_mem_gpu_tests (tests/gpu_suite/check.py): prints and writes what
# GoogleTest 1.12 prints and writes for three tests, as $FAKE_GPU says:
#   pass  every test passes          skip  every test skips (no device)
#   fail  Gpu.Pool fails             crash no report, exit 139
# $FAKE_GPU_SLEEP seconds of sleep first (a hung kernel). Honours --gtest_output=json:F
# and --gtest_filter (the filter is only echoed).
set -u
json=""
for a in "$@"; do
  case "$a" in
    --gtest_output=json:*) json=${a#--gtest_output=json:} ;;
    --gtest_filter=*) echo "Note: Google Test filter = ${a#--gtest_filter=}" ;;
    *) echo "fake_gpu_tests.sh: unexpected argument $a" >&2; exit 2 ;;
  esac
done
[[ -n ${FAKE_GPU_SLEEP:-} ]] && sleep "$FAKE_GPU_SLEEP"
mode=${FAKE_GPU:-pass}
[[ $mode == crash ]] && { echo "Segmentation fault"; exit 139; }
echo "[==========] Running 3 tests from 1 test suite."
results=() failures=0
for t in Layout Slab Pool; do
  echo "[ RUN      ] Gpu.$t"
  case $mode in
    skip) printf 'gpu_tests.cpp:24: Skipped\nno usable CUDA device: fake driver missing\n[  SKIPPED ] Gpu.%s (0 ms)\n' "$t"
          results+=("$t SKIPPED") ;;
    fail) if [[ $t == Pool ]]; then
            printf 'gpu_tests.cpp:90: Failure\n3 failed check(s)\n[  FAILED  ] Gpu.%s (5 ms)\n' "$t"
            results+=("$t FAILED"); failures=1
          else
            printf '[       OK ] Gpu.%s (5 ms)\n' "$t"; results+=("$t COMPLETED")
          fi ;;
    *) printf '[       OK ] Gpu.%s (5 ms)\n' "$t"; results+=("$t COMPLETED") ;;
  esac
done
if [[ -n $json ]]; then
  {
    printf '{\n  "tests": 3,\n  "failures": %d,\n  "disabled": 0,\n  "errors": 0,\n  "name": "AllTests",\n' "$failures"
    printf '  "testsuites": [\n    {\n      "name": "Gpu",\n      "tests": 3,\n      "failures": %d,\n      "testsuite": [\n' "$failures"
    sep=""
    for r in "${results[@]}"; do
      name=${r% *} result=${r#* }
      printf '%s        {\n          "name": "%s",\n          "status": "RUN",\n' "$sep" "$name"
      if [[ $result == FAILED ]]; then
        printf '          "result": "COMPLETED",\n          "classname": "Gpu",\n          "failures": [\n            {\n              "failure": "gpu_tests.cpp:90\\n3 failed check(s)",\n              "type": ""\n            }\n          ]\n        }'
      else
        printf '          "result": "%s",\n          "classname": "Gpu"\n        }' "$result"
      fi
      sep=$',\n'
    done
    printf '\n      ]\n    }\n  ]\n}\n'
  } >"$json"
fi
if (( failures )); then
  printf '[  FAILED  ] 1 test, listed below:\n[  FAILED  ] Gpu.Pool\n'
  exit 1
fi
exit 0
