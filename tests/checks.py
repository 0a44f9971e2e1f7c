"""Assertions on what fine-tuning leaves behind, shared by the pipeline tests and the end-to-end workflow test."""

import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
from mmengine.config import Config
from PIL import Image

from rsfm.data.annotations import DOTA_V2_CLASSES
from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.finetune.export import read_task1


def assert_finetune_run(folder: Path, benchmark: str, size: str, fraction: float, seed: int, iterations: int) -> None:
    """A finished run: headline and per-class metrics of the right split, best and last checkpoints only, the
    metrics.json the table reads, and the config as generated (the Runner did not rewrite it)."""
    result = json.loads((folder / "metrics.json").read_text())
    rows = {row["metric"]: row for row in result["rows"]}
    facts = BENCHMARKS[benchmark]
    headline = rows[facts.headline]
    assert 0 <= headline["value"] <= 100 and headline["split"] == facts.headline_split, headline
    assert {k: headline[k] for k in ("benchmark", "size", "fraction", "seed")} == {
        "benchmark": benchmark, "size": size, "fraction": fraction, "seed": seed,
    }  # fmt: skip
    if facts.toolbox == "mmseg":
        assert {"OA", "mF1", "IoU.building"} <= set(rows)
    else:
        assert any(name.startswith("dota/AP50.") for name in rows)  # per-class AP
    checkpoints = sorted(p.name for p in (folder / "work").glob("*.pth"))
    assert checkpoints == sorted([result["best_checkpoint"], f"iter_{iterations}.pth"]), checkpoints
    assert Config.fromfile(str(folder / "config.py")).run["fraction"] == fraction


def assert_dota_submission(path: Path) -> None:
    """DOTA's Task1 format: one file per class, flat, image ids of whole scenes (not windows)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert sorted(names) == sorted(f"Task1_{c}.txt" for c in DOTA_V2_CLASSES)
    assert all("__" not in image for image in read_task1(path))


def assert_loveda_submission(path: Path) -> None:
    """LoveDA's server format: one PNG of class indices (0-6) per test image, flat."""
    with zipfile.ZipFile(path) as archive:
        pngs = archive.namelist()
        assert pngs and all("/" not in n and n.endswith(".png") for n in pngs)
        mask = np.asarray(Image.open(BytesIO(archive.read(pngs[0]))))
    assert mask.ndim == 2 and mask.max() <= 6


def majority_class_miou(config_path: Path) -> float:
    """The mIoU (percent) of the best constant prediction on a segmentation run's test split, scored as the run's
    evaluator scores it (its excluded classes left out): the trivial baseline a trained segmenter must beat."""
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules

    from rsfm.finetune.scores import segmentation_scores

    register_all_modules()
    cfg = Config.fromfile(str(config_path))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = list(dataset.metainfo["classes"])
    reference = np.zeros(len(classes), np.int64)
    for index in range(len(dataset)):
        label = np.array(Image.open(dataset.get_data_info(index)["seg_map_path"])).astype(np.int64)
        if dataset.reduce_zero_label:  # mmseg's convention: 0 is no-data, classes shift down by one
            label = np.where(label == 0, 255, label - 1)
        reference += np.bincount(label[label < len(classes)], minlength=len(classes))
    exclude = tuple(cfg.test_evaluator.get("exclude_classes", ()))
    scores = []
    for constant in range(len(classes)):
        confusion = np.zeros((len(classes), len(classes)))
        confusion[:, constant] = reference  # every pixel predicted as `constant`
        scores.append(segmentation_scores(confusion, classes, exclude)["mIoU"])
    return float(np.nanmax(scores))
