#!/usr/bin/env bash
# The pretraining benchmarks on one GPU node, in one go: training-step images/s and MFU of our engine against the plain
# PyTorch MAE at the same batch, a profile of the engine's step, and the loader's images/s per worker count.
#   bash benchmarks/pretrain_gpu.sh OUT_DIR [PEAK_TFLOPS] [--loader]   (PEAK_TFLOPS: dense bf16 peak, 989 for an H100 SXM)
# Needs torch, timm, deepspeed and safetensors importable (the project's environment, or PYTHONPATH to them).
set -uo pipefail
out=${1:?usage: pretrain_gpu.sh OUT_DIR [PEAK_TFLOPS] [--loader]}
peak=${2:-989}
loader=${3:-}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv | tee "$out/gpu.txt"
python3 -c 'import torch, timm, deepspeed; print("torch", torch.__version__, "timm", timm.__version__, "deepspeed", deepspeed.__version__)' \
  | tee -a "$out/gpu.txt"

step=(python3 benchmarks/bench_pretrain_step.py --peak-tflops "$peak" --warmup 3 --steps 10)
# Each setting in its own process, so a failure or an out-of-memory in one leaves the others' rows. The engine runs
# as the paper config has it for B and L (ZeRO 0, fused parallel blocks) unless a flag says otherwise.
timeout 100 "${step[@]}" --models vit_l12x4 vit_b12x1 --batch 256 2>&1 | tee "$out/step_256.txt"
timeout 70 "${step[@]}" --models vit_l12x4 --batch 256 --no-fuse 2>&1 | tee "$out/step_256_timm_blocks.txt"
timeout 70 python3 benchmarks/profile_pretrain_step.py --model vit_l12x4 --batch 256 2>&1 | tee "$out/profile_l12x4_256.txt"
# the largest batch at which the plain MAE's explicit attention still fits in 80 GB
timeout 90 "${step[@]}" --models vit_l12x4 --batch 384 2>&1 | tee "$out/step_384.txt"
if [[ $loader == --loader ]]; then
  for side in 640 1536; do
    timeout 45 python3 benchmarks/bench_loader.py --workers 8 16 --images 192 --side $side --batch 128 --batches 12 2>&1 \
      | tee -a "$out/loader.txt"
  done
fi
grep -h -E "^(#|model|vit_|workers| +[0-9])" "$out"/step_*.txt "$out"/profile_*.txt "$out"/loader.txt 2>/dev/null
