#!/usr/bin/env bash
# Test double for swim_mem_hip_runner (tests/gpu_suite/check.py), as $FAKE_GPU says:
# pass, fail (one launcher fails, exit 1) or skip (exit 77); with $FAKE_HIP_MISSING
# set it fails to start as it does where ROCm is not installed (exit 127).
set -u
if [[ -n ${FAKE_HIP_MISSING:-} ]]; then
  echo "swim_mem_hip_runner: error while loading shared libraries: libamdhip64.so.5: cannot open shared object file: No such file or directory"
  exit 127
fi
case ${FAKE_GPU:-pass} in
  skip) echo "SKIPPED: no usable HIP device (hipGetDeviceCount: fake)"; exit 77 ;;
  fail) printf '[  PASSED  ] layout 1 x 1\n[  FAILED  ] slab 132 x 256: 2 failed check(s)\nFAILED: 1 of 2 launcher(s) failed\n'; exit 1 ;;
  *) printf '[  PASSED  ] layout 1 x 1\n[  PASSED  ] slab 132 x 256\nPASSED: 0 of 2 launcher(s) failed\n'; exit 0 ;;
esac
