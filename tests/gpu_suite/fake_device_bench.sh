#!/usr/bin/env bash
# Test double for swim_mem_device_bench (tests/gpu_suite/check.py): with $FAKE_GPU=skip
# it says SKIPPED and exits 77, as the real one does without a device; otherwise it
# writes two rows in the real one's JSON layout for --mode throughput or oom.
set -u
mode=throughput json=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) shift ;;
    --mode) mode=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "fake_device_bench.sh: unexpected argument $1" >&2; exit 2 ;;
  esac
done
if [[ ${FAKE_GPU:-pass} == skip ]]; then
  echo "SKIPPED: no usable CUDA device (fake driver missing)"
  exit 77
fi
if [[ $mode == oom ]]; then
  rows='{"test":"oom","allocator":"swim-slab-thread","threads":0,"size":16,"ok":16000000,"failed":16777216,"seconds":0.01,"allocs_per_s":1.6e+09,"max_recalls":0,"max_cycles":900,"mean_cycles":300,"heap_bytes":268435456,"usable":0.96},{"test":"oom","allocator":"cuda-malloc","threads":0,"size":16,"ok":8000000,"failed":24000000,"seconds":0.5,"allocs_per_s":1.6e+07,"max_recalls":0,"max_cycles":90000,"mean_cycles":30000,"heap_bytes":268435456,"usable":0.48}'
else
  rows='{"test":"throughput","allocator":"swim-slab-warp","threads":10000000,"size":16,"ok":10000000,"failed":0,"seconds":0.005,"allocs_per_s":2e+09,"max_recalls":1,"max_cycles":1200,"mean_cycles":400,"heap_bytes":4294967296,"usable":0},{"test":"throughput","allocator":"cuda-malloc","threads":10000000,"size":16,"ok":10000000,"failed":0,"seconds":1,"allocs_per_s":1e+07,"max_recalls":0,"max_cycles":80000,"mean_cycles":20000,"heap_bytes":4294967296,"usable":0}'
fi
echo "test        allocator           threads   size     allocs/s"
[[ -n $json ]] && printf '{"status":"ok","device":"Fake GPU 80GB","mode":"%s","results":[%s],"headline":{"threads":10000000}}\n' "$mode" "$rows" >"$json"
exit 0
