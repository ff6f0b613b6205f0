#!/usr/bin/env bash
# Registers per allocation call site (docs/benchmarks.md, device section), from
# `nvcc --resource-usage`; needs nvcc, no GPU.
#
#   device/registers.sh [--arch "80 90"] [--cap N]
#
# Compiles device/registers.cu (one kernel per call site: per-thread try_allocate,
# the warp front, try_deallocate, hold_deallocate, checked and unchecked; the warp
# leader's try_take_run + claim alone; and, to see what growth costs,
# HeapRef::try_allocate and ExtentHeap::try_allocate) for each architecture, and
# prints one row per kernel: the registers ptxas gave it (they cover every function
# it calls) and its spills. --cap N adds -maxrregcount=N, to see what forcing the
# target would cost in spills. About 2.5 minutes per architecture on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

archs="80 90"
cap=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) archs="$2"; shift 2 ;;
    --cap) cap="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "device/registers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
nvcc=${NVCC:-nvcc}
command -v "$nvcc" >/dev/null || { echo "device/registers.sh: nvcc not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
extra=()
[[ -n "$cap" ]] && extra=(-maxrregcount="$cap")

printf '%-6s %-34s %9s %14s\n' arch "call site" registers "spill st/ld B"
for a in $archs; do
  "$nvcc" -std=c++20 -O3 -DNDEBUG -arch=sm_"$a" -Iinclude --resource-usage "${extra[@]}" \
    -c device/registers.cu -o "$tmp/registers.o" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; exit 1; }
  # ptxas prints, per entry function: "Compiling entry function '<mangled>'", then
  # "... N bytes spill stores, M bytes spill loads", then "Used R registers".
  awk -v arch="sm_$a" '
    /Compiling entry function/ {
      name = $0; sub(/.*function '\''/, "", name); sub(/'\''.*/, "", name)
      site = name
      if (name ~ /rc_thread_alloc/) site = "try_allocate"
      else if (name ~ /rc_warp_alloc/) site = "warp_try_allocate"
      else if (name ~ /rc_free/) site = "try_deallocate"
      else if (name ~ /rc_hold_free/) site = "hold_deallocate"
      else if (name ~ /rc_take_run/) site = "try_take_run + claim"
      else if (name ~ /rc_heap_ref/) site = "(growth) HeapRef::try_allocate"
      else if (name ~ /rc_extent/) site = "(growth) ExtentHeap::try_allocate"
      if (name ~ /ILb1E/) site = site " (checked)"
      else if (name ~ /ILb0E/) site = site " (unchecked)"
      spill = ""; want = 1; next
    }
    want && /spill stores/ && spill == "" {
      s = $0; sub(/.*frame, /, "", s); split(s, f, " "); spill = f[1] "/" f[5]
    }
    want && /Used [0-9]+ registers/ {
      r = $0; sub(/.*Used /, "", r); sub(/ registers.*/, "", r)
      printf "%-6s %-34s %9s %14s\n", arch, site, r, spill
      want = 0
    }' "$tmp/log" | sort -k2
done
