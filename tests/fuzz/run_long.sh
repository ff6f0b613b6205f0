#!/usr/bin/env bash
# A long fuzzing session for one harness or all of them, beyond the bounded runs of
# ctest (fuzz.<name>):
#
#   tests/fuzz/run_long.sh <harness> [seconds] [jobs]
#
#   harness  heaps, holds, residents (or fuzz_heaps, ...), or all (one after another)
#   seconds  of fuzzing per harness (default 600)
#   jobs     parallel libFuzzer jobs (default 1)
#
# Reuses build/fuzz (configured and built with the fuzz preset if the harness is not
# there; BUILD_JOBS=<n> for the build, default 1). For each harness, in
# build/fuzz/long/<name>/: fuzzes from the committed corpus and the work corpus of
# earlier sessions, writing new inputs to work/; then merges work/ into corpus/ (a
# minimised set: what to copy into tests/fuzz/corpus/<name>/ after a review), and
# prints executions, exec/s, coverage, corpus size and findings. A crash input lands
# in crashes/ and makes the script exit non-zero; replay one with
#   build/fuzz/tests/fuzz/fuzz_<name> <crash file>
# (SWIM_MEM_FUZZ_TRACE=1 in the environment prints every operation of the input).
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
[[ $# -ge 1 && $# -le 3 ]] || usage
which=$1
seconds=${2:-600}
jobs=${3:-1}
[[ $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || usage

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build/fuzz
case $which in
  all) names=(fuzz_heaps fuzz_holds fuzz_residents) ;;
  heaps | holds | residents) names=("fuzz_$which") ;;
  fuzz_heaps | fuzz_holds | fuzz_residents) names=("$which") ;;
  *) usage ;;
esac

if [[ ! -f $build/CMakeCache.txt ]]; then
  (cd "$root" && cmake --preset fuzz)
fi
cmake --build "$build" --target "${names[@]}" -j "${BUILD_JOBS:-1}"

# A smaller quarantine than AddressSanitizer's default keeps a long run's memory
# in bounds (-rss_limit_mb); leaks are still reported. The harnesses read sequences
# of operations: inputs of any length up to -max_len from the start (-len_control=0).
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for name in "${names[@]}"; do
  exe=$build/tests/fuzz/$name
  out=$build/long/$name
  mkdir -p "$out/work" "$out/corpus" "$out/crashes" "$out/logs"
  log=$out/logs/$(date -u +%Y%m%dT%H%M%SZ).log
  start=$out/logs/.start
  touch "$start"
  rm -f "$out"/logs/fuzz-*.log
  echo "=== $name: ${seconds}s, $jobs job(s); log $log"
  rc=0
  (
    cd "$out/logs"
    if [[ $jobs -eq 1 ]]; then
      "$exe" "$out/work" "$root/tests/fuzz/corpus/$name" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -max_len=512 -len_control=0 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/"
    else
      "$exe" "$out/work" "$root/tests/fuzz/corpus/$name" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -max_len=512 -len_control=0 -print_final_stats=1 \
        -jobs="$jobs" -workers="$jobs" -artifact_prefix="$out/crashes/"
      cat fuzz-*.log
    fi
  ) >"$log" 2>&1 || rc=$?
  # The numbers: one line per job from libFuzzer's final statistics.
  grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | sed 's/^/    /' || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
    sed 's/^/    /' || true
  # Merge what this session found into the minimised corpus.
  "$exe" -merge=1 "$out/corpus" "$out/work" "$root/tests/fuzz/corpus/$name" >"$out/logs/merge.log" 2>&1 || true
  files=$(find "$out/corpus" -type f | wc -l)
  bytes=$(du -sb "$out/corpus" | cut -f1)
  echo "    merged corpus: $files inputs, $bytes bytes in $out/corpus"
  crashes=$(find "$out/crashes" -type f -newer "$start" | wc -l)
  if [[ $rc -ne 0 || $crashes -ne 0 ]]; then
    echo "    FINDINGS: exit $rc; inputs in $out/crashes/:"
    find "$out/crashes" -type f -newer "$start" | sed 's/^/      /'
    grep -E 'swim-mem fuzz check failed|ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error' \
      "$log" | head -5 | sed 's/^/      /' || true
    status=1
  else
    echo "    no findings"
  fi
done
exit $status
