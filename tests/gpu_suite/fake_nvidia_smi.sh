#!/usr/bin/env bash
# Test double for nvidia-smi (tests/gpu_suite/check.py): one "Fake GPU 80GB".
case "${1:-}" in
  --query-gpu=*) echo "Fake GPU 80GB, 999.01.02, 81559 MiB, 9.0" ;;
  "") echo "| NVIDIA-SMI 999.01.02    Driver Version: 999.01.02    CUDA Version: 13.0 |" ;;
  *) echo "fake nvidia-smi: unexpected $*" >&2; exit 2 ;;
esac
