#!/usr/bin/env bash
# Workload (f): instructions per operation, counted by valgrind's callgrind, which
# is exact and repeatable on a noisy machine (unlike time).
#
#   benchmarks/callgrind.sh [--build-dir DIR] [--n N] [--out FILE]
#
# For each operation, the loop in benchmarks/callgrind_ops.cpp runs n and 2n times
# under `valgrind --tool=callgrind --toggle-collect=cg_measure_*` (only the loop's
# function and what it calls are counted, not the setup); (I(2n) - I(n)) / n is the
# cost of one iteration, and the `empty` loop's cost (loop counter and the asm
# barrier that keeps the pointer alive) is subtracted from it.
# Prints a markdown table; with --out, also writes it (and a CSV beside it).
# Builds the two programs with the release preset unless --build-dir is given.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=""
n=200000
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --n) n="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v valgrind >/dev/null 2>&1; then
  echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi

if [[ -z "$build_dir" ]]; then
  build_dir=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target swim_callgrind swim_callgrind_mimalloc >/dev/null
fi
bench_dir="$build_dir/benchmarks"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# instructions <binary> <op> <n>: instructions counted inside cg_measure_* for n iterations.
instructions() {
  local file="$tmp/cg.out"
  valgrind --tool=callgrind --toggle-collect='cg_measure_*' --callgrind-out-file="$file" \
    "$1" "$2" "$3" >/dev/null 2>"$tmp/valgrind.log" || { cat "$tmp/valgrind.log" >&2; return 1; }
  awk '/^summary:/ { print $2 }' "$file"
}

# per_op <binary> <op>: instructions per iteration, loop included.
per_op() {
  local a b
  a=$(instructions "$1" "$2" "$n")
  b=$(instructions "$1" "$2" $((2 * n)))
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }'
}

swim="$bench_dir/swim_callgrind"
mi="$bench_dir/swim_callgrind_mimalloc"
[[ -x "$swim" ]] || { echo "callgrind.sh: $swim is missing" >&2; exit 1; }

loop=$(per_op "$swim" empty)

# label | binary | op | what one iteration is
rows=(
  "swim-mem Slab (single-owner): allocate+free pair|$swim|slab_so_pair"
  "swim-mem Slab (lock-free): allocate+free pair|$swim|slab_lf_pair"
  "swim-mem SlabCache over lock-free Slab: allocate+free pair|$swim|slabcache_pair"
  "swim-mem Pack (single-owner): allocation|$swim|pack_so_alloc"
  "swim-mem Pack (lock-free): allocation|$swim|pack_lf_alloc"
  "swim-mem Pack (single-owner): allocate+free pair|$swim|pack_so_pair"
  "swim-mem Pool (single-owner, over AddrSpace): allocation|$swim|pool_so_alloc"
  "swim-mem Pool (lock-free, over AddrSpace): allocation|$swim|pool_lf_alloc"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e3 live|$swim|extent_so_pair_1000"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e4 live|$swim|extent_so_pair_10000"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e5 live|$swim|extent_so_pair_100000"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e6 live|$swim|extent_so_pair_1000000"
  "swim-mem AddrSpace (single-owner): free+allocate, 1..16 pages, 1e3 live|$swim|buddy_so_pair_1000"
  "swim-mem AddrSpace (single-owner): free+allocate, 1..16 pages, 1e6 live|$swim|buddy_so_pair_1000000"
  "swim-mem SizeClasses (single-owner, over ExtentHeap): allocate+free pair, one kept live|$swim|classes_so_pair"
  "swim-mem SizeClasses (lock-free, over ExtentHeap): allocate+free pair, one kept live|$swim|classes_lf_pair"
  "swim-mem try_malloc + try_free (per-thread cache): pair, one kept live|$swim|try_malloc_pair"
  "glibc malloc: malloc+free pair|$swim|malloc_pair"
  "glibc malloc: malloc|$swim|malloc_alloc"
  "mimalloc: malloc+free pair|$mi|malloc_pair"
  "mimalloc: malloc|$mi|malloc_alloc"
)

table="| operation (64 bytes) | instructions, loop included | instructions per operation |
|---|---:|---:|
| empty loop (subtracted) | $loop | 0 |"
csv="operation,op,raw,net"
for row in "${rows[@]}"; do
  IFS='|' read -r label bin op <<<"$row"
  if [[ ! -x "$bin" ]]; then
    table+=$'\n'"| $label | not built | |"
    continue
  fi
  raw=$(per_op "$bin" "$op")
  net=$(awk -v r="$raw" -v l="$loop" 'BEGIN { printf "%.1f", r - l }')
  table+=$'\n'"| $label | $raw | **$net** |"
  csv+=$'\n'"$label,$op,$raw,$net"
done

echo "$table"
if [[ -n "$out" ]]; then
  mkdir -p "$(dirname "$out")"
  echo "$table" >"$out"
  echo "$csv" >"${out%.*}.csv"
fi
