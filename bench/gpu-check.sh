#!/usr/bin/env bash
# Encoder check on a borrowed GPU machine (see BENCHMARKS.md "## Encoder"). Prepare first, here:
#   npx tsx bench/gpu-prepare.ts        # writes .gpu/ (git-ignored via .git/info/exclude)
# then run this script there with .gpu carried. It records what the machine offers (GPU, Node, onnxruntime builds,
# CUDA provider libraries) and, when onnxruntime's CUDA provider loads, runs bench/gpu_check.py.
set -u
OUT=${OUT:-/tmp/gpu-check-out}; mkdir -p "$OUT"
{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  echo "== node"; (command -v node && node --version) 2>&1 || echo "node: not installed"
  echo "== python onnxruntime"; python3 -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers(), o.__file__)' 2>&1
  echo "== pip onnxruntime packages"; python3 -m pip list 2>/dev/null | grep -i -E 'onnx|cuda-runtime|cudnn|cublas' || true
  echo "== CUDA provider libraries on disk"
  timeout 120 find / -xdev \( -path /proc -o -path /sys \) -prune -o \( -name 'libonnxruntime_providers_cuda.so*' -o -name 'libonnxruntime.so*' \) -print 2>/dev/null | head -20
  echo "== gpu_check.py"; timeout 300 python3 bench/gpu_check.py "$@" 2>&1
} 2>&1 | tee "$OUT/gpu-check.log"
