"""The GPU benchmarks run on the CPU at a tiny size: they are run on a lent GPU node with little time on it, where a
broken flag would cost the session's device time."""

import subprocess
import sys

from .conftest import REPO, cpu_env


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO / "benchmarks", env=cpu_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_attention_benchmark_times_every_kernel_torch_has_here():
    out = _run("bench_attention.py", "--model", "vit_tiny12x4", "--batch", "2", "--img-size", "32", "--steps", "1",
               "--warmup", "0")  # fmt: skip
    rows = {tuple(line.split()[:2]): line for line in out.splitlines() if not line.startswith(("#", "kernel"))}
    kernels, parts = ("torch", "flash", "efficient", "cudnn", "math"), ("encoder", "decoder")
    assert set(rows) == {(kernel, part) for kernel in kernels for part in parts}
    for part in parts:
        assert "cannot run" in rows["cudnn", part] and "cannot run" in rows["efficient", part]  # no CPU kernels
        assert float(rows["math", part].split()[-1]) < 1e-4  # agrees with torch's choice
    assert "% of the step's FLOPs" in out


def test_step_benchmark_with_a_named_attention_kernel():
    out = _run("bench_pretrain_step.py", "--models", "vit_tiny12x4", "--batch", "2", "--img-size", "32",
               "--patch-size", "8", "--steps", "1", "--warmup", "0", "--attention", "math")  # fmt: skip
    assert "math attention" in out
    assert any(line.startswith("vit_tiny12x4 rsfm engine") for line in out.splitlines()), out


def test_slimming_memory_benchmark_prints_a_row_per_split_and_encoder():
    out = _run("bench_slimming_memory.py", "--sizes", "20", "40", "--encoders", "vit_tiny12x1", "vit_tiny12x4",
               "--img-size", "16", "--patch-size", "8", "--widths", "0.5", "1.0", "--batch", "16",
               "--test-images", "8", "--variants", "first-all", "random-mlp")  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.startswith("vit_")]
    assert [(r[0], int(r[1])) for r in rows] == [("vit_tiny12x1", 20), ("vit_tiny12x1", 40), ("vit_tiny12x4", 20)]
    for row in rows:
        weights, baseline, peak = map(float, row[2:5])
        assert 0 < weights < 100 and 0 < baseline <= peak
