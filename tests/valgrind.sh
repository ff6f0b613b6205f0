#!/usr/bin/env bash
# Runs the heap and hold tests under valgrind memcheck, built with SWIM_MEM_VALGRIND=1
# (the valgrind preset): inside every arena, memory that no live object owns is
# NOACCESS to memcheck and fresh objects are UNDEFINED (include/swim/mem/config/poison.hpp),
# so a use after free or a read of never-written memory inside an arena is an error.
# Any memcheck error fails the run (exit status 99 from the failing test).
#
# Usage: tests/valgrind.sh            configure + build the valgrind preset, run all
#        tests/valgrind.sh <test>...  only these test executables (already built)
# The multi-threaded stress tests are left out: under valgrind's one-thread-at-a-time
# scheduler they test nothing that the TSan preset does not, at 50x the time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build/valgrind
tests=(test_poison test_slab test_slab_cache test_addr_space test_extent_heap test_pack
       test_pool test_size_classes test_process_hold test_hold_ref test_box test_buf test_string)
if [ $# -gt 0 ]; then
  tests=("$@")
else
  cmake --preset valgrind >/dev/null
  existing=()
  for t in "${tests[@]}"; do
    [ -f "tests/$t.cpp" ] && existing+=("$t")
  done
  tests=("${existing[@]}")
  cmake --build --preset valgrind --target "${tests[@]}"
fi
# Concurrency stress, timing-dependent retries and death tests (ASan only) are skipped.
filter='-*Stress*:*Storm*:*Threads*:*Concurrent*Race*:*ManyThreads*:*DeathTest*'
fail=0
for t in "${tests[@]}"; do
  start=$SECONDS
  if valgrind --quiet --error-exitcode=99 --leak-check=no --track-origins=no \
      "$build/tests/$t" --gtest_filter="$filter" --gtest_brief=1 > "$build/$t.valgrind.log" 2>&1; then
    echo "valgrind: $t passed ($((SECONDS - start)) s)"
  else
    echo "valgrind: $t FAILED ($((SECONDS - start)) s); the end of $build/$t.valgrind.log:"
    tail -40 "$build/$t.valgrind.log"
    fail=1
  fi
done
exit $fail
