"""Where the deployable slimmed encoders go (rule slim_export, ``rsfm export-slim``), free of torch and timm: the
Snakefile plans these targets at every start, inside every cluster job too, and rsfm.slimming.export's imports cost
seconds there."""

from __future__ import annotations

from typing import Any

from rsfm.errors import ConfigError

EXPORT_ROOT = "results/slimming/export"


def budget_label(*, flops: float | None = None, width: float | None = None) -> str:
    """The folder name of an export: ``flops0.6`` (a budget) or ``width0.25``."""
    if (flops is None) == (width is None):
        raise ConfigError("give exactly one of flops (a budget relative to the full encoder) and width")
    return f"flops{flops:g}" if flops is not None else f"width{width:g}"


def parse_budget(label: str) -> dict[str, float]:
    """``flops0.6`` -> {"flops": 0.6}; ``width0.25`` -> {"width": 0.25}."""
    for key in ("flops", "width"):
        if label.startswith(key):
            value = float(label.removeprefix(key))
            if not 0 < value <= 1:
                raise ConfigError(f"export budget {label!r}: {key} must be in (0, 1]")
            return {key: value}
    raise ConfigError(f"export budget {label!r} must be flops<F> or width<W>, e.g. flops0.6")


def export_folder(encoder: str, *, flops: float | None = None, width: float | None = None) -> str:
    """Where rule slim_export (and ``rsfm export-slim`` by default) writes an export."""
    return f"{EXPORT_ROOT}/{encoder}/{budget_label(flops=flops, width=width)}"


def export_targets(slim_cfg: dict[str, Any]) -> list[str]:
    """The folders of slimming.export's entries (``{encoder, flops}`` or ``{encoder, width}``; their encoders are
    checked against slimming.encoders by rsfm.config)."""
    return [export_folder(e["encoder"], flops=e.get("flops"), width=e.get("width")) for e in slim_cfg.get("export", [])]


__all__ = ["EXPORT_ROOT", "budget_label", "export_folder", "export_targets", "parse_budget"]
