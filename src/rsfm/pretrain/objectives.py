"""The pretraining objectives a run config can name: one row per (``method``, trained ``slimmable`` or not), each the
objective's class (what it refuses before anything is built) and how the run's settings build it around an encoder.

Adding an objective: its class beside its model (an rsfm.models.objective.Objective), its settings in RunConfig and
the config schema, one builder and one row here; the engine's loop stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from timm.models.vision_transformer import VisionTransformer

from rsfm.errors import ConfigError
from rsfm.models.mae import MaskedAutoencoder
from rsfm.models.moco import DEFAULTS as MOCO_DEFAULTS
from rsfm.models.moco import MoCoV3
from rsfm.models.objective import Objective
from rsfm.models.slimmable import SANDWICH_DEFAULTS, SlimmableMAE, SlimmableMoCo, SlimmableObjective

if TYPE_CHECKING:
    from rsfm.pretrain.engine import RunConfig

Build = Callable[["RunConfig", VisionTransformer], Objective]


def moco_settings(cfg: RunConfig) -> dict[str, Any]:
    """``cfg.moco`` over MoCo v3's defaults, unknown keys refused."""
    unknown = set(cfg.moco or {}) - set(MOCO_DEFAULTS)
    if unknown:
        raise ConfigError(f"moco: unknown settings {sorted(unknown)}; known: {', '.join(MOCO_DEFAULTS)}")
    return {**MOCO_DEFAULTS, **(cfg.moco or {})}


def _mae(cfg: RunConfig, encoder: VisionTransformer) -> Objective:
    return MaskedAutoencoder(
        encoder, decoder_dim=cfg.decoder_dim, decoder_depth=cfg.decoder_depth, decoder_heads=cfg.decoder_heads,
        mask_ratio=cfg.mask_ratio, norm_pix_loss=cfg.norm_pix_loss,
    )  # fmt: skip


def _moco(cfg: RunConfig, encoder: VisionTransformer) -> Objective:
    if cfg.zero_stage == 3:
        raise ConfigError("MoCo runs need ZeRO stage 0-2: its momentum encoder is updated in place every step")
    return MoCoV3(encoder, **moco_settings(cfg))


def _slimmable(wrapper: type[SlimmableObjective], inner: Build) -> Build:
    """Builds ``inner``'s objective inside ``wrapper``, with the run's sandwich settings (``cfg.slimmable``)."""

    def build(cfg: RunConfig, encoder: VisionTransformer) -> Objective:
        sandwich = {**SANDWICH_DEFAULTS, **(cfg.slimmable or {})}
        if set(sandwich) - set(SANDWICH_DEFAULTS) or not 0 < float(sandwich["smallest"]) < 1:
            raise ConfigError(f"slimmable: keys smallest (in (0, 1)) and random_widths, got {cfg.slimmable}")
        if cfg.attention:  # a kernel checked at full width may lack the narrow heads of a slimmed width
            raise ConfigError("slimmable training runs heads of every width: leave attention unset for it")
        return wrapper(inner(cfg, encoder), **sandwich)

    return build


OBJECTIVES: dict[tuple[str, bool], tuple[type[Objective], Build]] = {
    ("mae", False): (MaskedAutoencoder, _mae),
    ("moco", False): (MoCoV3, _moco),
    ("mae", True): (SlimmableMAE, _slimmable(SlimmableMAE, _mae)),
    ("moco", True): (SlimmableMoCo, _slimmable(SlimmableMoCo, _moco)),
}


def objective_row(cfg: RunConfig) -> tuple[type[Objective], Build]:
    """The row of ``cfg``'s objective: its ``method``, trained slimmable or not."""
    row = OBJECTIVES.get((cfg.method, bool(cfg.slimmable)))
    if row is None:
        known = ", ".join(dict.fromkeys(method for method, _ in OBJECTIVES))
        raise ConfigError(f"unknown pretraining method {cfg.method!r}; known: {known}")
    return row


__all__ = ["OBJECTIVES", "moco_settings", "objective_row"]
