#!/usr/bin/env bash
# Build mmcv (with compiled ops) from its sdist once per (mmcv, torch, flavour) and cache the wheel.
#
# Why: PyPI has no mmcv wheel with ops for torch 2.14, and the sdist does not build as is: build isolation lacks
# pkg_resources, and torch's headers need C++20 while mmcv's setup.py asks for -std=c++17 (see ../shared/STACK.md).
#
# Usage: build_mmcv.sh <python> <wheel-cache-dir>      prints the path of the cached wheel on stdout
# GPU cluster: run setup on a GPU node (or with FORCE_CUDA=1 and TORCH_CUDA_ARCH_LIST="8.0;9.0" where nvcc exists)
# and the CUDA ops are compiled; the flavour is part of the cache key, so CPU and CUDA wheels never mix.
set -euo pipefail
PY=$1
CACHE=$2
MMCV_VERSION=2.1.0
MMCV_SDIST_SHA256=d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f

torch_version=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
if [ "${FORCE_CUDA:-0}" = "1" ] || "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  flavour="cuda-$(echo "${TORCH_CUDA_ARCH_LIST:-native}" | tr -c 'A-Za-z0-9.\n' '_')"
  export FORCE_CUDA=1
else
  flavour=cpu
  export FORCE_CUDA=0
fi
dest="$CACHE/mmcv-$MMCV_VERSION-torch$torch_version-$flavour"
wheel=$(ls "$dest"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ]; then
  echo "$wheel"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mmcv-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "[build_mmcv] building mmcv $MMCV_VERSION ($flavour) for torch $torch_version; this takes ~15 min on 2 cores" >&2
# pip downloads the sdist; the hash pin makes a corrupted or substituted archive fail here.
echo "mmcv==$MMCV_VERSION --hash=sha256:$MMCV_SDIST_SHA256" >"$work/req.txt"
"$PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation --require-hashes \
  -r "$work/req.txt" -d "$work" >&2
tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
src="$work/mmcv-$MMCV_VERSION"
grep -q -- '-std=c++17' "$src/setup.py" || { echo "[build_mmcv] setup.py has no -std=c++17 to patch" >&2; exit 1; }
sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
# The compiler output is long; keep it in a log and show its end only if the build fails.
mkdir -p "$CACHE"
log="$CACHE/mmcv-build.log"
if ! MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
  "$PY" -m pip wheel --no-deps --no-build-isolation --wheel-dir "$work/dist" "$src" >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "[build_mmcv] build failed; full log: $log" >&2
  exit 1
fi
built=$(ls "$work"/dist/mmcv-*.whl)
# Cache atomically: a build interrupted half-way never leaves a wheel that looks complete.
tmp_dest=$(mktemp -d "$CACHE/.mmcv-tmp.XXXXXX")
cp "$built" "$tmp_dest/"
rm -rf "$dest"
mv "$tmp_dest" "$dest"
ls "$dest"/mmcv-*.whl
