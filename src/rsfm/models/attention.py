"""Which kernel computes scaled dot-product attention in a training process.

torch picks a kernel per call (flash, memory-efficient, cuDNN, or the math path) by its own priority. MAE's
attention is short and narrow (50 encoder tokens of 64 dims per head, 197 decoder tokens of 32 at 224 px), shapes
the flash kernel tiles poorly: profiled on an H100, attention took ~15% of a vit_l12x4 step's kernel time for under
2% of its FLOPs (``benchmarks/bench_attention.py`` times each kernel at these shapes). ``attention`` in a run's
config names one kernel for the whole process instead; None keeps torch's choice. The switches are torch's
process-wide ones (``torch.backends.cuda.enable_*_sdp``, which the CPU kernels obey too), read when torch.compile
traces, so compiled blocks use the chosen kernel as well.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from rsfm.errors import ConfigError

BACKENDS = ("flash", "efficient", "cudnn", "math")
_SWITCHES = {
    "flash": torch.backends.cuda.enable_flash_sdp,
    "efficient": torch.backends.cuda.enable_mem_efficient_sdp,
    "cudnn": torch.backends.cuda.enable_cudnn_sdp,
    "math": torch.backends.cuda.enable_math_sdp,
}
_STATES = {
    "flash": torch.backends.cuda.flash_sdp_enabled,
    "efficient": torch.backends.cuda.mem_efficient_sdp_enabled,
    "cudnn": torch.backends.cuda.cudnn_sdp_enabled,
    "math": torch.backends.cuda.math_sdp_enabled,
}


def enabled_backends() -> dict[str, bool]:
    """Which attention kernels torch may use now."""
    return {name: state() for name, state in _STATES.items()}


def set_backends(enabled: dict[str, bool]) -> None:
    """Turn torch's attention kernels on and off (e.g. back to what :func:`enabled_backends` returned)."""
    for name, on in enabled.items():
        _SWITCHES[name](on)


def use_attention(
    backend: str | None, device: torch.device, dtype: torch.dtype, head_dims: tuple[int, ...]
) -> dict[str, bool]:
    """Let only ``backend`` compute attention in this process (None: torch's own choice, nothing changes), after
    checking that it runs forward and backward for every head size in ``head_dims`` on ``device`` in ``dtype``.

    Returns the switches as they were before. Raises ConfigError naming the setting when the kernel cannot run
    these shapes here (cuDNN and memory-efficient attention have no CPU kernel, flash needs a recent GPU and
    fp16/bf16 on CUDA), with the switches left as they were."""
    before = enabled_backends()
    if backend is None:
        return before
    if backend not in BACKENDS:
        raise ConfigError(f"attention: {backend!r} is not one of {', '.join(BACKENDS)} (or null for torch's choice)")
    set_backends({name: name == backend for name in BACKENDS})
    for head_dim in sorted(set(head_dims)):
        q = torch.randn(2, 2, 16, head_dim, device=device, dtype=dtype, requires_grad=True)
        try:
            with warnings.catch_warnings(record=True) as reasons:
                warnings.simplefilter("always")
                F.scaled_dot_product_attention(q, q, q).sum().backward()
        except RuntimeError as error:
            set_backends(before)
            why = "; ".join(str(w.message).split("\n")[0] for w in reasons) or str(error).split("\n")[0]
            raise ConfigError(
                f"attention: {backend!r} cannot run {dtype} attention with {head_dim}-dim heads on {device.type} "
                f"({why}): choose another of {', '.join(BACKENDS)}, or null for torch's choice"
            ) from error
    return before


__all__ = ["BACKENDS", "enabled_backends", "set_backends", "use_attention"]
