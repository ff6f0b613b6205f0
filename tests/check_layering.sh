#!/usr/bin/env bash
# Checks the include rules of docs/design.md:
#  1. a header of layer N includes swim-mem headers of layers <= N only;
#  2. device-reachable headers include no host-only standard library header
#     (layer 8, integrations, is host only and exempt);
#  3. nothing but config/macros.hpp tests __CUDA_ARCH__ / __HIP_DEVICE_COMPILE__.
# Usage: check_layering.sh <repository root>
set -euo pipefail
root=${1:-.}
cd "$root/include"
rank() {
  case "$1" in
    swim/mem/config*) echo 1 ;;
    swim/mem/physical*) echo 2 ;;
    swim/mem/sources*) echo 3 ;;
    swim/mem/heaps*) echo 4 ;;
    swim/mem/holds*) echo 5 ;;
    swim/mem/leases*) echo 6 ;;
    swim/mem/residents*) echo 7 ;;
    swim/mem/integrations*) echo 8 ;;
    swim/mem.hpp) echo 99 ;;
    *) echo 0 ;;
  esac
}
fail=0
host_only='<(atomic|mutex|thread|vector|string|map|memory|iostream|sstream|bit|functional|regex)>'
while IFS= read -r header; do
  mine=$(rank "$header")
  while IFS= read -r inc; do
    theirs=$(rank "$inc")
    if [ "$theirs" -gt "$mine" ]; then
      echo "layering: $header (layer $mine) includes $inc (layer $theirs)"
      fail=1
    fi
  done < <(sed -n 's/^#include "\(swim\/[^"]*\)".*/\1/p' "$header")
  case "$header" in
    swim/mem/physical/exceptions.hpp|swim/mem/sources/os_pages.hpp|swim/mem/heaps/extent_arena.hpp|swim/mem/residents/device_buf.hpp|swim/mem/sources/cuda_memory.hpp|swim/mem/sources/hip_memory.hpp|swim/mem.hpp) ;;
    swim/mem/integrations*) ;;  # layer 8: host only
    *)
      # config/atomic.hpp may include <atomic> in its host-compiler branch only.
      if [ "$header" != swim/mem/config/atomic.hpp ] && grep -Eq "^#include $host_only" "$header"; then
        echo "device-reachable $header includes a host-only standard header:"
        grep -En "^#include $host_only" "$header"
        fail=1
      fi ;;
  esac
  if [ "$header" != swim/mem/config/macros.hpp ] &&
     grep -Eq '__CUDA_ARCH__|__HIP_DEVICE_COMPILE__' "$header"; then
    echo "$header tests the device architecture directly; use SWIM_MEM_IF_TARGET"
    fail=1
  fi
done < <(find swim -name '*.hpp' | sort)
if [ "$fail" -ne 0 ]; then
  echo "layering check FAILED"
  exit 1
fi
echo "layering check passed ($(find swim -name '*.hpp' | wc -l) headers)"
