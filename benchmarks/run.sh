#!/usr/bin/env bash
# Build and run the host benchmarks (docs/benchmarks.md), then write the results folder:
#
#   benchmarks/run.sh [--quick] [--rounds R] [--out DIR] [--build-dir DIR] [--no-callgrind]
#
#   --quick         smaller workloads, one round, short minimum times (< 2 minutes)
#   --rounds R      run the timed workloads R times, interleaving the binaries, and
#                   report medians (default 3; the machine is noisy)
#   --out DIR       results folder (default benchmarks/results/<date>-<commit>/)
#   --build-dir DIR use binaries already built there instead of building with
#                   the release preset
#   --no-callgrind  skip workload (f) (instruction counts; needs valgrind)
#
# The folder gets: meta.json and machine.txt (commit, compiler, flags, machine),
# raw/*.json (Google Benchmark output of every binary and round), callgrind.md/.csv,
# summary.md (the targets with their measured ratios, the fixed-size and general-purpose
# comparisons, then every workload's table),
# and one PNG per workload (gnuplot; skipped with a note if it is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
rounds=3
out=""
build_dir=""
callgrind=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ $quick == 1 ]]; then rounds=1; fi

targets=(swim_bench swim_bench_mimalloc swim_bench_jemalloc swim_bench_tcmalloc
         swim_callgrind swim_callgrind_mimalloc swim_callgrind_jemalloc swim_callgrind_tcmalloc)
if [[ -z "$build_dir" ]]; then
  build_dir=build/release
  echo "== building (cmake --preset release)"
  cmake --preset release >/dev/null
  cmake --build --preset release --target "${targets[@]}"
fi
bench_dir="$build_dir/benchmarks"

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then commit="$commit-dirty"; fi
if [[ -z "$out" ]]; then out="benchmarks/results/$(date -u +%Y%m%d-%H%M%S)-$commit"; fi
mkdir -p "$out/raw"

# ---- What was measured, with what, where --------------------------------------------
cache="$build_dir/CMakeCache.txt"
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$cache" 2>/dev/null | head -1 || true; }
cxx=$(cache_get CMAKE_CXX_COMPILER)
build_type=$(cache_get CMAKE_BUILD_TYPE)
flags="$(cache_get CMAKE_CXX_FLAGS) $(cache_get CMAKE_CXX_FLAGS_RELEASE)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  echo "date (UTC):   $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:       $commit"
  echo "build:        $build_dir ($build_type)"
  echo "compiler:     $cxx: $("${cxx:-c++}" --version | head -1)"
  echo "flags:        -std=c++20 $flags"
  echo "cpu:          $cpu"
  echo "cores:        $(nproc)"
  echo "memory:       $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel:       $(uname -srm)"
  echo "mode:         $([[ $quick == 1 ]] && echo quick || echo full), $rounds round(s)"
  echo "allocators:   glibc $(ldd --version | head -1 | awk '{ print $NF }'), $(dpkg-query -W -f='${Package} ${Version}, ' \
    libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libtbbmalloc2 libfoonathan-memory0.7.2 2>/dev/null)"
} >"$out/machine.txt"
cat "$out/machine.txt"
python3 - "$out" <<'EOF'
import json, sys, re
meta = {}
for line in open(sys.argv[1] + "/machine.txt"):
    k, _, v = line.partition(":")
    meta[k.strip()] = v.strip()
json.dump(meta, open(sys.argv[1] + "/meta.json", "w"), indent=2)
EOF

# ---- The runs ----------------------------------------------------------------------------
if [[ $quick == 1 ]]; then
  export SWIM_BENCH_QUICK=1
  min_time=0.05
else
  unset SWIM_BENCH_QUICK
  min_time=0.2
fi
binaries=()
for b in swim_bench swim_bench_mimalloc swim_bench_jemalloc swim_bench_tcmalloc; do
  if [[ -x "$bench_dir/$b" ]]; then binaries+=("$b"); else echo "run.sh: $b not built, skipped"; fi
done

run() {  # run <binary> <tag> <filter>
  echo "== $1 ($2)"
  "$bench_dir/$1" --benchmark_filter="$3" --benchmark_min_time=$min_time \
    --benchmark_out="$out/raw/$1-$2.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=false >"$out/raw/$1-$2.txt" 2>&1 ||
    { echo "run.sh: $1 failed, see $out/raw/$1-$2.txt" >&2; tail -5 "$out/raw/$1-$2.txt" >&2; }
}

start=$(date +%s)
# Memory workloads run once (overhead, fragmentation and the mixed workload: each
# measurement in a fresh child process; compaction and lease overhead: the allocators'
# own accounting).
for b in "${binaries[@]}"; do
  run "$b" memory '^(overhead|fragmentation|mixed|compaction|lease_overhead|stow)/'
done
# Timed workloads: interleaved rounds, medians taken later.
for ((r = 1; r <= rounds; r++)); do
  for b in "${binaries[@]}"; do run "$b" "r$r" '^(pair|pair_one_live|burst_lifo|burst_random|xthread|latency)/'; done
done
echo "== host workloads took $(( $(date +%s) - start )) s"

if [[ $callgrind == 1 ]]; then
  if command -v valgrind >/dev/null 2>&1; then
    echo "== callgrind"
    benchmarks/callgrind.sh --build-dir "$build_dir" --out "$out/callgrind.md" \
      $([[ $quick == 1 ]] && echo "--n 50000")
  else
    echo "run.sh: valgrind not installed, workload (f) skipped"
  fi
fi

# Device workloads: only where a GPU answers (device/bench/run.sh says SKIPPED otherwise).
if [[ -x device/bench/run.sh ]]; then
  device/bench/run.sh --build-dir "$build_dir" --out "$out/device.json" $([[ $quick == 1 ]] && echo --quick) ||
    echo "run.sh: device benchmarks failed (see above)"
fi

python3 benchmarks/summarize.py "$out"
echo "== results in $out (summary.md)"
