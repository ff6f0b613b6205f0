#!/usr/bin/env bash
# Test double for compute-sanitizer (tests/gpu_suite/check.py): runs the program after
# --tool T --error-exitcode N [--leak-check full], then prints the tool's summary line
# with $FAKE_SANITIZER_ERRORS errors (default 0) and exits N when there are any.
set -u
tool=memcheck code=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tool) tool=$2; shift 2 ;;
    --error-exitcode) code=$2; shift 2 ;;
    --leak-check) shift 2 ;;
    --version) echo "NVIDIA (R) Compute Sanitizer"; echo "Version 2099.1.0 (fake)"; exit 0 ;;
    *) break ;;
  esac
done
echo "========= COMPUTE-SANITIZER"
"$@"
rc=$?
errors=${FAKE_SANITIZER_ERRORS:-0}
for ((i = 0; i < errors; ++i)); do
  echo "========= Invalid __global__ write of size 8 bytes"
  echo "=========     at slab_churn+0x1f0 in slab.inl:120"
done
if [[ $tool == racecheck ]]; then
  echo "========= RACECHECK SUMMARY: $errors hazards displayed ($errors errors, 0 warnings)"
else
  echo "========= ERROR SUMMARY: $errors errors"
fi
(( errors > 0 )) && exit "$code"
exit "$rc"
