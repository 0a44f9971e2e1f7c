#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and point ./.venv at it.
#
# The environment lives outside the clone, keyed by a hash of the files under envs/, so a fresh clone on a machine
# that already has it is ready in seconds, and a change to any pin builds a new one beside the old.
#   RSFM_HOME   cache root (default ~/.cache/rsfm): venvs, the mmcv wheel
#   RSFM_VENV   use exactly this venv path instead (e.g. on a cluster's shared filesystem)
#   RSFM_PYTHON interpreter to build it from (default python3.11)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RSFM_HOME=${RSFM_HOME:-$HOME/.cache/rsfm}
PYTHON=${RSFM_PYTHON:-python3.11}
key_files=(envs/requirements.txt envs/requirements-mm.txt envs/setup.sh envs/build_mmcv.sh)
[ -f envs/lock.txt ] && key_files+=(envs/lock.txt)
key=$(cat "${key_files[@]}" | sha256sum | cut -c1-12)
venv=${RSFM_VENV:-$RSFM_HOME/venv-$key}

if [ ! -f "$venv/.rsfm-complete" ]; then
  start=$(date +%s)
  echo "[setup] creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PYTHON" -m venv "$venv"
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)
  constraints=()
  [ -f envs/lock.txt ] && constraints=(-c envs/lock.txt)
  "${pip[@]}" --upgrade pip
  "${pip[@]}" "${constraints[@]}" -r envs/requirements.txt
  "${pip[@]}" "${constraints[@]}" --no-deps -r envs/requirements-mm.txt
  wheel=$(bash envs/build_mmcv.sh "$venv/bin/python" "$RSFM_HOME/wheels" | tail -n 1)
  "${pip[@]}" --no-deps "$wheel"
  "$venv/bin/python" -c 'import mmcv.ops, mmdet, mmrotate, mmseg, deepspeed, timm, snakemake' \
    || { echo "[setup] the new environment does not import the stack; see the messages above" >&2; exit 1; }
  touch "$venv/.rsfm-complete"
  echo "[setup] environment ready in $(( $(date +%s) - start )) s" >&2
fi

# The package itself: editable, so the venv follows this clone's src/. Re-pointed when another clone used the venv.
if [ "$("$venv/bin/python" -c 'import rsfm, os; print(os.path.dirname(os.path.dirname(os.path.dirname(rsfm.__file__))))' 2>/dev/null)" != "$root" ]; then
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps --no-build-isolation -e "$root"
fi
if [ "$(readlink .venv 2>/dev/null)" != "$venv" ]; then
  rm -rf .venv
  ln -s "$venv" .venv
fi
