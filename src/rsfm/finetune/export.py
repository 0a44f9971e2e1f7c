"""Test-set submissions for the two servers that keep their test labels, as mmengine metrics writing each format.

- DOTA v2.0 Task1: a flat zip of ``Task1_<class>.txt``, lines ``imgname score x1 y1 ... x4 y4`` in full-scene pixels
  (:class:`RateAwareDOTAMetric`: mmrotate's DOTAMetric for windows cut from rescaled scenes; :func:`read_task1`).
- LoveDA (CodaLab): a flat zip of one uint8 PNG per test image holding class indices 0-6, i.e. the mask values minus 1
  (:class:`LoveDASubmission`; mmseg 1.x's IoUMetric writes 1-7 and does not zip).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmrotate.evaluation.metrics import DOTAMetric
from mmrotate.registry import METRICS as ROTATE_METRICS
from mmseg.registry import METRICS as SEG_METRICS
from PIL import Image

from rsfm.finetune.benchmarks import LOVEDA
from rsfm.io import atomic_write, write_image

TASK1_PREFIX = "Task1_"
MAX_RATE = 16.0  # devkit rates are ~0.5-2; a larger middle field is mmrotate's window size, not a rate
LOVEDA_CLASSES = ("background", "building", "road", "water", "barren", "forest", "agriculture")
# <scene>__<rate>__<x>___<y>, the devkit's patch name that rsfm.data.dota_split writes
_PATCH_NAME = re.compile(r"^(?P<scene>.+?)__(?P<rate>\d+(?:\.\d*)?)__(?P<x>\d+)___(?P<y>\d+)$")

Task1Detection = tuple[str, float, tuple[float, ...]]


# --- DOTA v2.0 Task1 -----------------------------------------------------------------------------------------------


@ROTATE_METRICS.register_module()
class RateAwareDOTAMetric(DOTAMetric):
    """mmrotate's DOTAMetric for windows cut from rescaled scenes (DOTA devkit / :mod:`rsfm.data.dota_split`).

    Before merging, each patch's boxes are moved to full-scene pixels as ``(box + offset) / rate`` (centre, size and
    corners scale; angles do not change), with rate and offset parsed from ``<scene>__<rate>__<x>___<y>``. All other
    behaviour, arguments and outputs are DOTAMetric's. With ``merge_patches`` and a given ``outfile_prefix`` that
    already exists, it fails at construction instead of after the test run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.merge_patches and self.outfile_prefix is not None and os.path.exists(self.outfile_prefix):
            raise FileExistsError(
                f"outfile_prefix {self.outfile_prefix} exists; DOTAMetric writes the Task1 files into a new folder "
                f"there: remove it or choose another"
            )

    def merge_results(self, results: Sequence[dict], outfile_prefix: str) -> str:
        return super().merge_results([self._to_scene(result) for result in results], outfile_prefix)

    def _to_scene(self, result: dict) -> dict:
        """The patch result with boxes in full-scene pixels, renamed ``<scene>__1__0___0`` (nothing left to shift)."""
        img_id = str(result["img_id"])
        match = _PATCH_NAME.match(img_id)
        if match is None or "__" in match["scene"]:
            raise ValueError(
                f"patch id {img_id!r} is not <scene>__<rate>__<x>___<y> (scene without '__'), the window naming of "
                f"rsfm.data.dota_split that patch merging relies on"
            )
        rate, offset = float(match["rate"]), np.array([int(match["x"]), int(match["y"])], dtype=np.float64)
        if not 0 < rate <= MAX_RATE:
            # mmrotate's splitter writes the window size there (e.g. P0000__1024__0___0): use plain DOTAMetric
            raise ValueError(
                f"patch id {img_id!r}: rate {match['rate']} is not in (0, {MAX_RATE}]; windows named "
                f"<id>__<window size>__<x>___<y> by mmrotate's splitter need mmrotate's DOTAMetric instead"
            )
        boxes = np.asarray(result["bboxes"])
        scene = boxes.astype(np.float64)  # shift and scale in float64, hand back in the model's dtype
        if self.predict_box_type == "rbox":
            scene[..., :2] = (scene[..., :2] + offset) / rate
            scene[..., 2:4] = scene[..., 2:4] / rate
        elif self.predict_box_type == "qbox":
            scene = (scene + np.tile(offset, 4)) / rate
        else:
            raise NotImplementedError(f"predict_box_type {self.predict_box_type!r}")
        return {**result, "img_id": f"{match['scene']}__1__0___0", "bboxes": scene.astype(boxes.dtype)}


def dota_submission_evaluator(outfile_prefix: str | os.PathLike[str], iou_thr: float = 0.1) -> dict:
    """Test evaluator config writing the DOTA v2.0 Task1 submission (``<prefix>/<name>.zip``) for the test windows.

    ``outfile_prefix`` must not exist. ``iou_thr`` is the rotated-NMS threshold that merges detections of
    overlapping windows (mmrotate's default 0.1). The type carries its scope, so it builds from any default scope
    once this module has been imported (``custom_imports=dict(imports=['rsfm.finetune.export'])`` in a config file).
    """
    return dict(
        type="mmrotate.RateAwareDOTAMetric",
        format_only=True,
        merge_patches=True,
        outfile_prefix=os.fspath(outfile_prefix),
        iou_thr=float(iou_thr),
    )


def read_task1(path: str | os.PathLike[str]) -> dict[str, list[Task1Detection]]:
    """Read Task1 results (a folder of ``Task1_<class>.txt`` or the submission zip) into
    {image id: [(class, score, (x1, y1, ..., x4, y4)), ...]}, per image in file order, classes sorted by name."""
    path = Path(path)
    texts: dict[str, str] = {}
    if path.is_dir():
        for file in sorted(path.glob(f"{TASK1_PREFIX}*.txt")):
            texts[file.name] = file.read_text(encoding="utf-8")
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if "/" not in name and name.startswith(TASK1_PREFIX) and name.endswith(".txt"):
                    texts[name] = archive.read(name).decode("utf-8")
    else:
        raise FileNotFoundError(f"{path} is neither a folder nor a zip of {TASK1_PREFIX}<class>.txt files")
    if not texts:
        raise ValueError(f"no {TASK1_PREFIX}<class>.txt files (at the top level) in {path}")
    detections: dict[str, list[Task1Detection]] = defaultdict(list)
    for name, text in texts.items():
        cls = name[len(TASK1_PREFIX) : -len(".txt")]
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 10:
                    raise ValueError(f"{len(fields)} fields")
                score, coords = float(fields[1]), tuple(float(v) for v in fields[2:])
            except ValueError as error:
                raise ValueError(
                    f"{path / name}:{number}: expected 'imgname score x1 y1 x2 y2 x3 y3 x4 y4' ({error})"
                ) from None
            detections[fields[0]].append((cls, score, coords))
    return dict(detections)


# --- LoveDA --------------------------------------------------------------------------------------------------------


def _check_classes(mask: np.ndarray, source: str) -> np.ndarray:
    if mask.ndim != 2:
        raise ValueError(f"{source}: a LoveDA prediction must be a single-channel image, got shape {mask.shape}")
    bad = (mask < 0) | (mask >= len(LOVEDA_CLASSES))
    if bad.any():
        values = sorted(int(v) for v in np.unique(mask[bad]))[:5]
        raise ValueError(
            f"{source}: class values {values} outside 0..{len(LOVEDA_CLASSES) - 1}; the LoveDA server takes the "
            f"mask values minus 1 (0 background ... 6 agriculture)"
        )
    return mask.astype(np.uint8)


def _png_bytes(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    return buffer.getvalue()


def package_loveda_submission(
    pred_dir: str | os.PathLike[str],
    zip_path: str | os.PathLike[str],
    *,
    offset: int = 0,
    names: Iterable[str] | None = None,
) -> Path:
    """Zip LoveDA test predictions in the server's format: ``<id>.png`` (uint8, 0-6) at the archive root.

    ``pred_dir`` holds one single-channel PNG per test image, named like the image; ``offset`` is subtracted first
    (1 for a folder written by mmseg's IoUMetric with ``reduce_zero_label=True``, whose values are 1-7). ``names``
    restricts the archive to those files (default: every ``*.png``). Values outside 0-6 after the offset, or a
    multi-channel image, are a ValueError naming the file. Written atomically; returns the zip's path.
    """
    pred_dir, zip_path = Path(pred_dir), Path(zip_path)
    files = sorted(pred_dir / name for name in names) if names is not None else sorted(pred_dir.glob("*.png"))
    if not files:
        raise ValueError(f"no prediction PNGs in {pred_dir}")
    missing = [str(file) for file in files if not file.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} predictions are missing, e.g. {missing[0]}")
    with atomic_write(zip_path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            with Image.open(file) as image:
                mask = np.asarray(image).astype(np.int64) - offset
            archive.writestr(file.stem + ".png", _png_bytes(_check_classes(mask, str(file))))
    return zip_path


@SEG_METRICS.register_module()
class LoveDASubmission(BaseMetric):
    """Write LoveDA test predictions as the CodaLab server expects and zip them.

    Each prediction goes to ``output_dir/<image id>.png`` as class indices 0-6: mmseg's LoveDADataset uses
    ``reduce_zero_label=True``, whose predictions already are 0-6; with ``reduce_zero_label=False`` (no-data as
    class 0) they are shifted down by 1 and a predicted no-data is an error. After the last batch, the images of the
    run are zipped (flat) into ``zip_path`` (default ``<output_dir>.zip``). Computes no score.
    """

    default_prefix: str | None = LOVEDA.name

    def __init__(
        self,
        output_dir: str,
        zip_path: str | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.output_dir = os.fspath(output_dir)
        self.zip_path = os.fspath(zip_path) if zip_path else os.path.normpath(self.output_dir) + ".zip"
        if is_main_process():
            os.makedirs(self.output_dir, exist_ok=True)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for data_sample in data_samples:
            pred = data_sample["pred_sem_seg"]["data"].squeeze().cpu().numpy().astype(np.int64)
            if not data_sample.get("reduce_zero_label", False):
                pred = pred - 1  # labels kept as released (0 no-data, 1-7 classes)
            name = Path(data_sample["img_path"]).stem + ".png"
            mask = _check_classes(pred, f"prediction for {data_sample['img_path']}")
            os.makedirs(self.output_dir, exist_ok=True)  # other ranks may run before the main one made it
            write_image(Path(self.output_dir) / name, mask)
            self.results.append(name)

    def compute_metrics(self, results: list) -> dict[str, float]:
        names = sorted(set(results))
        if len(names) != len(results):
            MMLogger.get_current_instance().warning("some test images were predicted more than once")
        zip_path = package_loveda_submission(self.output_dir, self.zip_path, names=names)
        MMLogger.get_current_instance().info(f"LoveDA submission ({len(names)} images) written to {zip_path}")
        return {}


def loveda_submission_evaluator(
    output_dir: str | os.PathLike[str], zip_path: str | os.PathLike[str] | None = None
) -> dict:
    """Test evaluator config writing LoveDA server PNGs into ``output_dir`` and the upload zip (see LoveDASubmission).

    The type carries its scope (``mmseg.``); a config file also needs
    ``custom_imports=dict(imports=['rsfm.finetune.export'])``.
    """
    return dict(
        type="mmseg.LoveDASubmission",
        output_dir=os.fspath(output_dir),
        zip_path=os.fspath(zip_path) if zip_path is not None else None,
    )


def server_evaluator(server: str, scratch: str | os.PathLike[str]) -> dict:
    """Test evaluator config writing the submission format ``server`` (a benchmark's, rsfm.finetune.benchmarks) into
    the folder ``scratch``; the zip to upload is the one ``*.zip`` under it once the test run ends."""
    scratch = Path(scratch)
    if server == "dota_task1":
        return dota_submission_evaluator(scratch / server)
    if server == "loveda_png":
        return loveda_submission_evaluator(scratch / server, zip_path=scratch / f"{server}.zip")
    raise ValueError(f"unknown test-server format {server!r}; known: dota_task1, loveda_png")
