#!/usr/bin/env bash
# Device workloads (the device targets of docs/benchmarks.md) on the GPU of this machine,
# if there is one.
#
#   device/bench/run.sh [--build-dir DIR] [--out FILE] [--quick]
#
# Runs build/<dir>/device/bench/swim_mem_device_bench twice (throughput at 1e5..1e7
# threads and 16 B..8 KiB; then usable heap before the first failure) and writes
# both into one JSON file (default <build dir>/device-bench.json) that
# benchmarks/summarize.py reads. Prints SKIPPED and exits 0 where there is no GPU
# or the binary was not built (CUDA disabled).
set -uo pipefail
cd "$(dirname "$0")/../.."

build_dir=build/release
out=""
quick=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "device/bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

skip() {
  echo "SKIPPED: $1"
  mkdir -p "$(dirname "$out")"
  printf '{"status":"skipped","reason":"%s"}\n' "$1" >"$out"
  exit 0
}

[[ -n "$out" ]] || out="$build_dir/device-bench.json"
bin="$build_dir/device/bench/swim_mem_device_bench"
if [[ ! -x "$bin" ]]; then
  # Build it if the tree was configured with CUDA (target absent otherwise).
  cmake --build "$build_dir" --target swim_mem_device_bench >/dev/null 2>&1 || true
fi
[[ -x "$bin" ]] || skip "swim_mem_device_bench is not built (CUDA disabled in $build_dir)"
command -v nvidia-smi >/dev/null 2>&1 || skip "no NVIDIA driver (nvidia-smi not found)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" "${quick[@]}" --mode throughput --json "$tmp/throughput.json"
rc=$?
[[ $rc == 77 ]] && skip "no usable CUDA device"
[[ $rc == 0 ]] || { echo "device/bench/run.sh: throughput run failed ($rc)" >&2; exit 1; }
"$bin" --mode oom --json "$tmp/oom.json" || { echo "device/bench/run.sh: oom run failed" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp/throughput.json" "$tmp/oom.json" "$out" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
o = json.load(open(sys.argv[2]))
t["results"] += o["results"]
t["mode"] = "throughput+oom"
json.dump(t, open(sys.argv[3], "w"), indent=1)
PY
else
  cp "$tmp/throughput.json" "$out"
  cp "$tmp/oom.json" "${out%.json}-oom.json"
fi
echo "device results: $out"
