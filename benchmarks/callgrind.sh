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
# Pairs are counted with nothing else of the size live (`…_pair`) and with one
# object kept live beside them (`…_pair_one_live`); see callgrind_ops.cpp.
# A row whose program fails (not built, or refusing to count because the heap is not
# in the state the row claims) is printed with the reason, never dropped.
# Prints a markdown table; with --out, also writes it and a CSV beside it
# (label,allocator,op,raw,net; the allocator as the Google Benchmark names it).
# Builds the programs with the release preset unless --build-dir is given.
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
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
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
  cmake --build --preset release --target swim_callgrind swim_callgrind_mimalloc \
    swim_callgrind_jemalloc swim_callgrind_tcmalloc >/dev/null
fi
bench_dir="$build_dir/benchmarks"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# instructions <binary> <op> <n>: instructions counted inside cg_measure_* for n iterations.
instructions() {
  local file="$tmp/cg.out"
  valgrind --tool=callgrind --toggle-collect='cg_measure_*' --callgrind-out-file="$file" \
    "$1" "$2" "$3" >/dev/null 2>"$tmp/valgrind.log" || return 1
  awk '/^summary:/ { print $2 }' "$file"
}

# per_op <binary> <op>: instructions per iteration, loop included.
per_op() {
  local a b
  a=$(instructions "$1" "$2" "$n") || return 1
  b=$(instructions "$1" "$2" $((2 * n))) || return 1
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }'
}

swim="$bench_dir/swim_callgrind"
mi="$bench_dir/swim_callgrind_mimalloc"
je="$bench_dir/swim_callgrind_jemalloc"
tc="$bench_dir/swim_callgrind_tcmalloc"
[[ -x "$swim" ]] || { echo "callgrind.sh: $swim is missing" >&2; exit 1; }

loop=$(per_op "$swim" empty)

# label | binary | op | allocator (as the Google Benchmark workloads name it)
rows=(
  "trivial free list (the physical limit): pop+push pair|$swim|freelist_pair|trivial-freelist"
  "foonathan memory_pool: allocate_node+deallocate_node pair|$swim|foonathan_pool_pair|foonathan-pool"
  "swim-mem Slab (single-owner): allocate+free pair|$swim|slab_so_pair|swim-Slab(so)"
  "swim-mem Slab (lock-free): allocate+free pair|$swim|slab_lf_pair|swim-Slab(lf)"
  "swim-mem SlabCache over lock-free Slab: allocate+free pair|$swim|slabcache_pair|swim-SlabCache"
  "swim-mem Pack (single-owner): allocation|$swim|pack_so_alloc|swim-Pack(so)"
  "swim-mem Pack (lock-free): allocation|$swim|pack_lf_alloc|swim-Pack(lf)"
  "swim-mem Pack (single-owner): allocate+free pair, nothing else live (reset)|$swim|pack_so_pair|swim-Pack(so)"
  "swim-mem Pack (lock-free): allocate+free pair, nothing else live (reset)|$swim|pack_lf_pair|swim-Pack(lf)"
  "swim-mem Pack (single-owner): allocate+free pair, one kept live (LIFO)|$swim|pack_so_pair_one_live|swim-Pack(so)"
  "swim-mem Pack (lock-free): allocate+free pair, one kept live (LIFO)|$swim|pack_lf_pair_one_live|swim-Pack(lf)"
  "swim-mem Pool (single-owner, over AddrSpace): allocation|$swim|pool_so_alloc|swim-Pool(so)"
  "swim-mem Pool (lock-free, over AddrSpace): allocation|$swim|pool_lf_alloc|swim-Pool(lf)"
  "swim-mem Pool (single-owner, over AddrSpace): allocate+free pair, nothing else live (reset)|$swim|pool_so_pair|swim-Pool(so)"
  "swim-mem Pool (lock-free, over AddrSpace): allocate+free pair, nothing else live (reset)|$swim|pool_lf_pair|swim-Pool(lf)"
  "swim-mem Pool (single-owner, over AddrSpace): allocate+free pair, one kept live (LIFO)|$swim|pool_so_pair_one_live|swim-Pool(so)"
  "swim-mem Pool (lock-free, over AddrSpace): allocate+free pair, one kept live (LIFO)|$swim|pool_lf_pair_one_live|swim-Pool(lf)"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e3 live|$swim|extent_so_pair_1000|swim-ExtentHeap(so)"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e4 live|$swim|extent_so_pair_10000|swim-ExtentHeap(so)"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e5 live|$swim|extent_so_pair_100000|swim-ExtentHeap(so)"
  "swim-mem ExtentHeap (single-owner): free+allocate, 1..16 granules, 1e6 live|$swim|extent_so_pair_1000000|swim-ExtentHeap(so)"
  "swim-mem AddrSpace (single-owner): free+allocate, 1..16 pages, 1e3 live|$swim|buddy_so_pair_1000|swim-AddrSpace(so)"
  "swim-mem AddrSpace (single-owner): free+allocate, 1..16 pages, 1e6 live|$swim|buddy_so_pair_1000000|swim-AddrSpace(so)"
  "swim-mem SizeClasses (single-owner, over ExtentHeap): allocate+free pair, nothing else live|$swim|classes_so_pair|swim-SizeClasses(so)"
  "swim-mem SizeClasses (single-owner, over ExtentHeap): allocate+free pair, one kept live|$swim|classes_so_pair_one_live|swim-SizeClasses(so)"
  "swim-mem SizeClasses (lock-free, over ExtentHeap): allocate+free pair, nothing else live|$swim|classes_lf_pair|swim-SizeClasses(lf)"
  "swim-mem SizeClasses (lock-free, over ExtentHeap): allocate+free pair, one kept live|$swim|classes_lf_pair_one_live|swim-SizeClasses(lf)"
  "swim-mem try_malloc + try_free (per-thread cache): pair, nothing else live|$swim|try_malloc_pair|swim-try_malloc"
  "swim-mem try_malloc + try_free (per-thread cache): pair, one kept live|$swim|try_malloc_pair_one_live|swim-try_malloc"
  "glibc malloc: malloc+free pair, nothing else live|$swim|malloc_pair|glibc"
  "glibc malloc: malloc+free pair, one kept live|$swim|malloc_pair_one_live|glibc"
  "glibc malloc: malloc|$swim|malloc_alloc|glibc"
  "mimalloc: malloc+free pair, nothing else live (its page emptied at every free)|$mi|malloc_pair|mimalloc"
  "mimalloc: malloc+free pair, one kept live|$mi|malloc_pair_one_live|mimalloc"
  "mimalloc: malloc|$mi|malloc_alloc|mimalloc"
  "jemalloc: malloc+free pair, nothing else live|$je|malloc_pair|jemalloc"
  "jemalloc: malloc+free pair, one kept live|$je|malloc_pair_one_live|jemalloc"
  "tcmalloc: malloc+free pair, nothing else live|$tc|malloc_pair|tcmalloc"
  "tcmalloc: malloc+free pair, one kept live|$tc|malloc_pair_one_live|tcmalloc"
  "oneTBB scalable_malloc: pair, nothing else live|$swim|tbb_pair|tbbmalloc"
  "oneTBB scalable_malloc: pair, one kept live|$swim|tbb_pair_one_live|tbbmalloc"
)

table="| operation (64 bytes) | instructions, loop included | instructions per operation |
|---|---:|---:|
| empty loop (subtracted) | $loop | 0 |"
csv="operation,allocator,op,raw,net"
for row in "${rows[@]}"; do
  IFS='|' read -r label bin op alloc <<<"$row"
  if [[ ! -x "$bin" ]]; then
    table+=$'\n'"| $label | not built ($(basename "$bin")) | not measured |"
    continue
  fi
  if ! raw=$(per_op "$bin" "$op"); then
    why=$(grep -v '^==' "$tmp/valgrind.log" | grep -v '^$' | tail -1)
    [[ -n "$why" ]] || why="the program failed under valgrind"
    table+=$'\n'"| $label | failed: ${why//|/\\|} | not measured |"
    echo "callgrind.sh: $op in $(basename "$bin") failed: $why" >&2
    continue
  fi
  net=$(awk -v r="$raw" -v l="$loop" 'BEGIN { printf "%.1f", r - l }')
  table+=$'\n'"| $label | $raw | **$net** |"
  csv+=$'\n'"$label,$alloc,$op,$raw,$net"
done

echo "$table"
if [[ -n "$out" ]]; then
  mkdir -p "$(dirname "$out")"
  echo "$table" >"$out"
  echo "$csv" >"${out%.*}.csv"
fi
