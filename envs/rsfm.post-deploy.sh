#!/usr/bin/env bash
# Run by Snakemake inside the freshly created conda environment of envs/rsfm.yaml: the OpenMMLab stack (no deps),
# mmcv from the shared wheel cache (built once per torch version and flavour), and this repository's package.
set -euo pipefail
envs=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python -m pip install --no-deps -r "$envs/requirements-mm.txt"
wheel=$(bash "$envs/build_mmcv.sh" "$(command -v python)" "${RSFM_HOME:-$HOME/.cache/rsfm}/wheels" | tail -n 1)
python -m pip install --no-deps "$wheel"
python -m pip install --no-deps --no-build-isolation -e "$envs/.."
