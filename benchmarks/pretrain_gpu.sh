#!/usr/bin/env bash
# The pretraining benchmarks on one GPU node, in one go: training-step images/s and MFU of our engine against the plain
# PyTorch MAE at the same batch, a profile of the engine's step, and the loader's images/s per worker count.
#   bash benchmarks/pretrain_gpu.sh OUT_DIR [PEAK_TFLOPS] [SET ...]   (PEAK_TFLOPS: dense bf16 peak, 989 for an H100 SXM)
# SETs (default: baseline):
#   baseline    the table in docs/performance.md: vit_b12x1 and vit_l12x4 at batch 256 and 384, fused/timm blocks, a profile (~6 min)
#   candidates  what might lift vit_l12x4's MFU further: the whole MAE compiled as one graph, batch 512 (engine only:
#               the plain loop runs out of memory there), and a profile of the compiled step (~7 min)
#   attention   each attention kernel alone at vit_l12x4's shapes (batch 384), then the compiled engine's step with
#               the cuDNN and the memory-efficient kernel (the profile gives flash ~15% of the kernel time, ~3 min)
#   loader      the shard loader's images/s per worker count
# Needs torch, timm, deepspeed and safetensors importable (the project's environment, or PYTHONPATH to them: on a
# node with torch only, the wheels from benchmarks/gpu_wheels.sh).
set -uo pipefail
out=${1:?usage: pretrain_gpu.sh OUT_DIR [PEAK_TFLOPS] [baseline|candidates|attention|loader ...]}
peak=${2:-989}
shift $(($# < 2 ? $# : 2))
sets=("${@:-baseline}")
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv | tee "$out/gpu.txt"
python3 -c 'import torch, timm, deepspeed; print("torch", torch.__version__, "timm", timm.__version__, "deepspeed", deepspeed.__version__)' \
  | tee -a "$out/gpu.txt"

step=(python3 benchmarks/bench_pretrain_step.py --peak-tflops "$peak" --warmup 3 --steps 10)
profile=(python3 benchmarks/profile_pretrain_step.py --model vit_l12x4)
# Each setting in its own process, so a failure or an out-of-memory in one leaves the others' rows. The engine runs
# as the paper config has it for B and L (ZeRO 0, fused parallel blocks) unless a flag says otherwise.
for set in "${sets[@]}"; do
  case $set in
    baseline)
      timeout 100 "${step[@]}" --models vit_l12x4 vit_b12x1 --batch 256 2>&1 | tee "$out/step_256.txt"
      timeout 70 "${step[@]}" --models vit_l12x4 --batch 256 --no-fuse 2>&1 | tee "$out/step_256_timm_blocks.txt"
      timeout 70 "${profile[@]}" --batch 256 2>&1 | tee "$out/profile_l12x4_256.txt"
      # the largest batch at which the plain MAE's explicit attention still fits in 80 GB
      timeout 90 "${step[@]}" --models vit_l12x4 --batch 384 --compile 2>&1 | tee "$out/step_384.txt"
      ;;
    candidates)
      timeout 150 "${step[@]}" --models vit_l12x4 --batch 384 --compile model 2>&1 | tee "$out/step_384_model.txt"
      timeout 100 "${step[@]}" --models vit_l12x4 --batch 512 --compile --no-reference 2>&1 \
        | tee "$out/step_512_blocks.txt"
      timeout 120 "${step[@]}" --models vit_l12x4 --batch 512 --compile model --no-reference 2>&1 \
        | tee "$out/step_512_model.txt"
      timeout 100 "${profile[@]}" --batch 384 --compile --warmup 4 2>&1 | tee "$out/profile_l12x4_384_compiled.txt"
      ;;
    attention)
      timeout 60 python3 benchmarks/bench_attention.py --model vit_l12x4 --batch 384 2>&1 | tee "$out/attention.txt"
      for kernel in cudnn efficient; do
        timeout 100 "${step[@]}" --models vit_l12x4 --batch 384 --compile --no-reference --attention $kernel 2>&1 \
          | tee "$out/step_384_blocks_$kernel.txt"
      done
      ;;
    loader)
      for side in 640 1536; do
        timeout 45 python3 benchmarks/bench_loader.py --workers 8 16 --images 192 --side $side --batch 128 \
          --batches 12 2>&1 | tee -a "$out/loader.txt"
      done
      ;;
    *) echo "unknown set $set: baseline, candidates, attention or loader" >&2; exit 2 ;;
  esac
done
grep -h -E "^(#|model|vit_|workers|kernel|torch|flash|efficient|cudnn|math| +[0-9])" "$out"/step_*.txt \
  "$out"/attention.txt "$out"/profile_*.txt "$out"/loader.txt 2>/dev/null
