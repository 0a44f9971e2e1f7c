#!/usr/bin/env bash
# The wheels a bare GPU node needs for benchmarks/pretrain_gpu.sh when it has torch (and numpy, safetensors) but not
# the rest of the pretraining stack: DeepSpeed (its pure-Python wheel, ops JIT-built on first use), timm, and their
# dependencies, at the versions of envs/lock.txt. Run here (package registries reachable), carry DIR to the node:
#   bash benchmarks/gpu_wheels.sh [DIR (.whl)] [NODE_PYTHON (312)]
#   node: python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
py=${2:-312}
pin() { grep -iE "^$1==" envs/lock.txt; }
pip=(.venv/bin/python -m pip)
mkdir -p "$dir"
"${pip[@]}" download -q --no-deps --only-binary=:all: --python-version "$py" --platform manylinux2014_x86_64 \
  --implementation cp -d "$dir" "$(pin timm)" "$(pin hjson)" "$(pin pydantic)" "$(pin pydantic_core)" \
  "$(pin annotated-types)" "$(pin typing-inspection)"
# DeepSpeed publishes a source distribution only: build its wheel without ops (they JIT-build on the node)
DS_BUILD_OPS=0 "${pip[@]}" wheel -q --no-deps --no-build-isolation -w "$dir" "$(pin deepspeed)"
ls "$dir"
