"""The published numbers of the two papers this pipeline reproduces: the one home of every number the comparison
table (rsfm.comparison, rule paper_comparison) and the figures' reference marks (rsfm.plots) show.

Each number carries its source (paper, where in it) and the protocol it was measured under. Only numbers found in
the papers' text are here; cells a paper reports in a figure or table whose values were not located are left out
(the comparison says "no paper number" for them). Free of torch: the planning of the workflow may import it.

Names are ours where a number meets ours: ``benchmark`` is a key of rsfm.finetune.benchmarks.BENCHMARKS, ``metric``
a metric of our fine-tuning table; ``model`` is the paper's own model name (rsfm.sizes maps our sizes to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rsfm.finetune.benchmarks import DIOR_R, LOVEDA, POTSDAM

PAPER1 = "Cha et al. 2023, A Billion-scale Foundation Model for Remote Sensing Images (arXiv 2304.05215)"
PAPER2 = "Hackel et al. 2026, How Much of a Model Do We Need? (arXiv 2601.22841v1)"

Quantity = Literal["parameters", "finetune", "retention_at_1pct_flops", "retention_ratio"]


@dataclass(frozen=True)
class PaperNumber:
    """One published number. ``bound``: ``=`` a value, ``>``/``<`` a bound the paper states ("over 71%"), ``~`` an
    approximate value ("sevenfold")."""

    key: str
    paper: str
    quantity: Quantity
    value: float
    unit: str
    source: str
    protocol: str
    bound: Literal["=", ">", "<", "~"] = "="
    model: str | None = None  # paper 1's model name (ViT-G12X4)
    benchmark: str | None = None
    metric: str | None = None
    fraction: float | None = None  # share of the benchmark's training data
    cohort: str | None = None  # paper 2's group of encoders (COHORTS)


_PARAMS_SOURCE = "abstract ('86M, 605.26M, 1.3B, and 2.4B')"
_PARAMS_PROTOCOL = "encoder parameters of the MAE-pretrained ViT, as the paper states them (rounded by the paper)"
# The table of these four scores was not located in the stored paper text: the values are those the project's
# issue 17 and shared notes record for ViT-G12X4, the paper's comparison with the state of the art.
_SOTA_SOURCE = "comparison with state-of-the-art methods, ViT-G12X4 row (table number not located in the stored text)"
_DET = "ViTDet-style adaptation of the pretrained encoder, rotated detector in mmrotate, whole training set"
_SEG = "ViTDet-style adaptation of the pretrained encoder, UperNet in mmsegmentation, whole training set"

_PAPER2_PROTOCOL = (
    "post-hoc uniform width slimming (one factor s for every attention head and MLP, no retraining), frozen "
    "features, k-NN probe (k = 5), five seeds, four GEO-Bench classification tasks; relative accuracy = "
    "metric(s) / metric(1) at 1% of the full encoder's FLOPs"
)

# fmt: off
PAPER_NUMBERS: tuple[PaperNumber, ...] = (
    *(
        PaperNumber(f"params_{model.lower()}", PAPER1, "parameters", value, "M", _PARAMS_SOURCE, _PARAMS_PROTOCOL,
                    model=model)
        for model, value in (("ViT-B12X1", 86.0), ("ViT-L12X4", 605.26), ("ViT-H12X4", 1300.0), ("ViT-G12X4", 2400.0))
    ),
    PaperNumber("dior_r_map_vit-g12x4", PAPER1, "finetune", 73.60, "%", _SOTA_SOURCE,
                f"DIOR-R test split, mAP (IoU 0.5); {_DET}", model="ViT-G12X4", benchmark=DIOR_R.name,
                metric="dota/mAP", fraction=1.0),
    PaperNumber("potsdam_oa_vit-g12x4", PAPER1, "finetune", 92.58, "%", _SOTA_SOURCE,
                f"ISPRS Potsdam test tiles, overall accuracy over the five classes without clutter; {_SEG}",
                model="ViT-G12X4", benchmark=POTSDAM.name, metric="OA", fraction=1.0),
    PaperNumber("potsdam_mf1_vit-g12x4", PAPER1, "finetune", 92.12, "%", _SOTA_SOURCE,
                f"ISPRS Potsdam test tiles, mean F1 over the five classes without clutter; {_SEG}",
                model="ViT-G12X4", benchmark=POTSDAM.name, metric="mF1", fraction=1.0),
    PaperNumber("loveda_miou_vit-g12x4", PAPER1, "finetune", 54.4, "%", _SOTA_SOURCE,
                f"LoveDA, mIoU over the seven classes (the split, test server or val, is not recorded here); {_SEG}",
                model="ViT-G12X4", benchmark=LOVEDA.name, metric="mIoU", fraction=1.0),
    PaperNumber("rs_retention_1pct", PAPER2, "retention_at_1pct_flops", 71.0, "%", "abstract",
                f"{_PAPER2_PROTOCOL}; every one of six RS foundation models keeps over 71%", bound=">",
                cohort="RS"),
    PaperNumber("imagenet_retention_1pct", PAPER2, "retention_at_1pct_flops", 10.0, "%", "abstract",
                f"{_PAPER2_PROTOCOL}; MAE pretrained on ImageNet (the abstract does not name the evaluation data)",
                bound="<", cohort="ImageNet"),
    PaperNumber("rs_over_imagenet_retention", PAPER2, "retention_ratio", 7.0, "x", "abstract ('sevenfold difference')",
                "RS foundation models' retention at 1% FLOPs over the ImageNet MAE's (over 71% against under 10%)",
                bound="~"),
)
# fmt: on

# Paper 2's groups of encoders and the `group` names of our slimming study (slimming.encoders.<name>.group; our
# own pretrained encoders are "RS (ours)") that stand for them.
COHORTS: dict[str, tuple[str, ...]] = {"RS": ("RS", "RS (ours)"), "ImageNet": ("ImageNet",)}
TARGET_REL_FLOPS = 0.01  # paper 2's budget: 1% of the full encoder's FLOPs


def paper_numbers(paper: str | None = None, quantity: str | None = None) -> list[PaperNumber]:
    """The published numbers, optionally of one paper and one quantity."""
    return [n for n in PAPER_NUMBERS if paper in (None, n.paper) and quantity in (None, n.quantity)]


def parameter_count(model: str | None) -> float | None:
    """Paper 1's parameter count of its model ``model`` (millions), None for a model it does not name."""
    counts = {n.model: n.value for n in paper_numbers(quantity="parameters")}
    return counts.get(model)


def cohort_of(group: str) -> str | None:
    """The paper-2 cohort an encoder group of our study stands for, None if none."""
    return next((cohort for cohort, groups in COHORTS.items() if group in groups), None)


__all__ = [
    "COHORTS", "PAPER1", "PAPER2", "PAPER_NUMBERS", "TARGET_REL_FLOPS", "PaperNumber", "cohort_of",
    "paper_numbers", "parameter_count",
]  # fmt: skip
