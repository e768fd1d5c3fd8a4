#!/usr/bin/env bash
# The GPU check, as one script for a machine with a GPU, CMake, ninja and a CUDA PyTorch but no
# Node (the device machine): builds the native core and gpu_check against that PyTorch's own
# libtorch (-DTORCHLOOP_LIBTORCH, no finder), has PyTorch compute the references on the GPU
# (scripts/gpu/reference.py) and runs gpu_check against them. Logs go to $OUT when set.
#
#   bash scripts/gpu/run.sh MODELS_DIR [--device cuda|cpu] [--iters N]
# MODELS_DIR: the zoo files it uses (go2, g1, the traffic-sign CNN) and 2.13's mlp_m2.pt;
# scripts/gpu/pack.sh gathers them into .gpu/. On the CPU it runs as a dry run of the same code.
set -uo pipefail
cd "$(dirname "$0")/../.."
models=$1; shift
device=cuda iters=20000
while [ $# -gt 0 ]; do case $1 in --device) device=$2; shift 2;; --iters) iters=$2; shift 2;; *) shift;; esac; done
out=${OUT:-/tmp/torchloop-gpu-out}; mkdir -p "$out"
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))') || exit 1
build=${GPU_BUILD:-/tmp/torchloop-gpu-build}
cuda_args=()
if [ "$device" != cpu ]; then
  nvidia-smi -L || true
  nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
  cuda_args=(-DTORCHLOOP_CUDA=ON -DCUDA_TOOLKIT_ROOT_DIR="$(dirname "$(dirname "$nvcc")")" -DCMAKE_CUDA_COMPILER="$nvcc")
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
t0=$(date +%s)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTORCHLOOP_LIBTORCH="$torch_dir" -DTORCHLOOP_TOOLS=ON "${cuda_args[@]}" \
  > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
cmake --build "$build" --target gpu_check core_check -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -m20 -B2 -A8 'error' "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s against $torch_dir"
work=/tmp/torchloop-gpu-work; rm -rf "$work"
"$python" scripts/gpu/reference.py "$work" "$models" --device "$device" --iters "$iters" 2>&1 | tee "$out/reference.log"
"$build/gpu_check" "$work" --device "$device" --iters "$iters" 2>&1 | tee "$out/gpu_check.log"
rc=${PIPESTATUS[0]}
"$build/core_check" "$work/m2.pt" 1x48 --device "$device" --iters "$iters" 2>&1 | tee "$out/core_check.log"
exit $rc
