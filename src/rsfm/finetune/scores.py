"""Scores as the remote-sensing literature reports them: rotated-box mAP with per-class AP (:class:`RotatedAPMetric`;
on whole scenes merged back from their windows, as the DOTA server scores, :class:`SceneAPMetric`) and, for
segmentation, OA, per-class IoU/F1, mIoU and mF1 (:class:`RSSegMetric`).

:class:`RSSegMetric` (registered in ``mmseg.registry.METRICS``) is mmseg's ``IoUMetric`` with a full confusion matrix
per image instead of the four per-class histograms, so that classes can be left out of the summary *and* out of the
pixels it is computed on.

Convention for ISPRS Potsdam (``exclude_classes=('clutter',)``): pixels whose reference is clutter/background take no
part in OA, mIoU and mF1, and the means run over the five other classes. This is how RSP (Wang et al. 2022, "An
Empirical Study of Remote Sensing Pretraining", code github.com/ViTAE-Transformer/ViTAE-Transformer-Remote-Sensing,
``Semantic Segmentation/mmseg/datasets/potsdam.py``: ``PotsdamDataset(reduce_zero_label=False, ignore_index=5)``, i.e.
clutter = 5 is the evaluation's ignore index) and RVSA (Wang et al. 2022, "Advancing Plain Vision Transformer Towards
Remote Sensing Foundation Model", github.com/ViTAE-Transformer/Remote-Sensing-RVSA, Potsdam configs
``..._class5_ignore5.py``: ``num_classes=5, ignore_index=5``) evaluate Potsdam, and Cha et al. 2023 compare against
those numbers. So OA is over the five classes, not six. A pixel of a kept class predicted as clutter still counts as
an error (RSP's 5-class heads cannot predict clutter; a 6-class head can, and should pay for it).
"""

from __future__ import annotations

import itertools
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmrotate.evaluation import eval_rbbox_map
from mmrotate.evaluation.functional import mean_ap
from mmrotate.registry import METRICS as ROTATE_METRICS
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from PIL import Image
from prettytable import PrettyTable

from rsfm.finetune.export import RateAwareDOTAMetric


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor, num_classes: int, ignore_index: int) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows = reference class, columns = predicted class.

    Pixels labelled ``ignore_index`` are skipped; any other label or prediction outside ``0..num_classes-1`` is a
    ValueError (mmseg's histograms would drop it silently; it usually means a wrong ``reduce_zero_label``).
    """
    mask = label != ignore_index
    pred, label = pred[mask].long(), label[mask].long()
    for name, values in (("label", label), ("prediction", pred)):
        bad = (values < 0) | (values >= num_classes)
        if bool(bad.any()):
            raise ValueError(
                f"{name} value {int(values[bad][0])} is outside 0..{num_classes - 1} and not the ignore index "
                f"{ignore_index}; check reduce_zero_label and the class list"
            )
    counts = torch.bincount(label * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def segmentation_scores(
    confusion: np.ndarray,
    classes: Sequence[str],
    exclude_classes: Sequence[str] = (),
    nan_to_num: float | None = None,
) -> dict[str, float]:
    """OA, mIoU, mF1 and per-class IoU/F1 (percent, 2 decimals) from a confusion matrix (rows = reference).

    Evaluated pixels are those whose reference class is not in ``exclude_classes``; OA, and IoU/F1 of the kept
    classes, count only them (a prediction on an excluded-class pixel is neither right nor wrong). mIoU and mF1
    average the kept classes, skipping NaN (a class absent from both reference and prediction). IoU and F1 of an
    excluded class are reported for information, from all non-ignored pixels. F1 = 2TP / (2TP + FP + FN), which is 0
    (not NaN, as mmseg's precision/recall route gives) for a class that is present but never predicted.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    n = len(classes)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {confusion.shape} does not fit {n} classes")
    unknown = sorted(set(exclude_classes) - set(classes))
    if unknown:
        raise ValueError(f"exclude_classes {unknown} are not classes of the dataset {tuple(classes)}")
    kept = np.array([name not in exclude_classes for name in classes])
    if not kept.any():
        raise ValueError(f"exclude_classes {tuple(exclude_classes)} leave no class to evaluate")

    tp = np.diag(confusion)
    reference = confusion.sum(axis=1)
    # predictions count against kept classes only where the reference is a kept class
    predicted = np.where(kept, confusion[kept].sum(axis=0), confusion.sum(axis=0))
    fp, fn = predicted - tp, reference - tp
    iou = _ratio(tp, tp + fp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    oa = _ratio(tp[kept].sum(), confusion[kept].sum())
    if nan_to_num is not None:
        iou, f1, oa = (np.nan_to_num(v, nan=nan_to_num) for v in (iou, f1, oa))

    def percent(value: Any) -> float:
        return float(np.round(value * 100, 2))

    def nanmean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if not np.isnan(values).all() else np.nan  # no "mean of empty" warning

    scores = {"OA": percent(oa), "mIoU": percent(nanmean(iou[kept])), "mF1": percent(nanmean(f1[kept]))}
    for name, class_iou, class_f1 in zip(classes, iou, f1, strict=True):
        scores[f"IoU.{name}"] = percent(class_iou)
        scores[f"F1.{name}"] = percent(class_f1)
    return scores


@METRICS.register_module()
class RSSegMetric(IoUMetric):
    """mmseg's IoUMetric reporting OA, per-class IoU/F1, mIoU and mF1 with some classes left out of the summary.

    Keys: ``OA``, ``mIoU``, ``mF1``, ``IoU.<class>``, ``F1.<class>`` (percent, as mmseg). See
    :func:`segmentation_scores` for how ``exclude_classes`` works and the module docstring for the Potsdam convention
    (``exclude_classes=('clutter',)``). ``output_dir``/``format_only`` behave as in IoUMetric (PNG per image, +1 with
    ``reduce_zero_label``).

    Args:
        exclude_classes: class names (as in the dataset's ``metainfo['classes']``) left out of OA, mIoU and mF1.
        ignore_index: label value skipped everywhere (255: boundaries, no-data).
        nan_to_num: replace NaN scores (classes absent from reference and prediction) by this value.
    """

    def __init__(
        self,
        exclude_classes: Sequence[str] = (),
        ignore_index: int = 255,
        nan_to_num: float | None = None,
        collect_device: str = "cpu",
        output_dir: str | None = None,
        format_only: bool = False,
        prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ignore_index=ignore_index, iou_metrics=["mIoU"], nan_to_num=nan_to_num, collect_device=collect_device,
            output_dir=output_dir, format_only=format_only, prefix=prefix, **kwargs,
        )  # fmt: skip
        if isinstance(exclude_classes, str):
            exclude_classes = (exclude_classes,)  # a bare name, not its characters
        self.exclude_classes = tuple(exclude_classes)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Add one confusion matrix per image (unless ``format_only``); write PNGs when ``output_dir`` is set."""
        num_classes = len(self.dataset_meta["classes"])
        for data_sample in data_samples:
            pred = data_sample["pred_sem_seg"]["data"].squeeze()
            if not self.format_only:
                label = data_sample["gt_sem_seg"]["data"].squeeze().to(pred)
                self.results.append(confusion_matrix(pred, label, num_classes, self.ignore_index))
            if self.output_dir is not None:
                mask = pred.cpu().numpy()
                if data_sample.get("reduce_zero_label", False):
                    mask = mask + 1  # back to the dataset's own label values, as IoUMetric writes them
                name = osp.splitext(osp.basename(data_sample["img_path"]))[0]
                Image.fromarray(mask.astype(np.uint8)).save(osp.join(self.output_dir, f"{name}.png"))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Scores from the summed confusion matrices; nothing when ``format_only``."""
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f"results are saved to {self.output_dir}")
            return OrderedDict()
        classes = tuple(self.dataset_meta["classes"])
        confusion = np.sum(results, axis=0) if results else np.zeros((len(classes), len(classes)), np.int64)
        scores = segmentation_scores(confusion, classes, self.exclude_classes, self.nan_to_num)
        table = PrettyTable()
        table.add_column("Class", [f"{c} (excluded)" if c in self.exclude_classes else c for c in classes])
        table.add_column("IoU", [scores[f"IoU.{c}"] for c in classes])
        table.add_column("F1", [scores[f"F1.{c}"] for c in classes])
        print_log("per class results:\n" + table.get_string(), logger)
        return scores


class _InProcessPool:
    """What ``eval_rbbox_map`` asks of its worker pool, run in this process."""

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Sequence[Any]]) -> list[Any]:
        return list(itertools.starmap(func, iterable))

    def close(self) -> None:
        pass


@contextmanager
def matching_in_process() -> Iterator[None]:
    """Run mmrotate's per-image box matching in this process instead of a pool of spawned workers.

    ``eval_rbbox_map`` always starts ``nproc`` *spawned* processes, each of which imports torch, mmcv and mmrotate
    again before matching anything (~5 s per evaluation on 2 CPU cores, whatever the set's size). With one process
    asked for, that start-up buys nothing; the matching itself is mmrotate's, unchanged.
    """
    spawn = mean_ap.get_context
    mean_ap.get_context = lambda method=None: SimpleNamespace(Pool=lambda processes=None: _InProcessPool())
    try:
        yield
    finally:
        mean_ap.get_context = spawn


@ROTATE_METRICS.register_module()
class RotatedAPMetric(RateAwareDOTAMetric):
    """mmrotate's DOTA mAP (``eval_rbbox_map``: VOC07 11-point AP by default, the DOTA server's) in percent, with the
    AP of every class that has ground truth.

    Keys (prefix ``dota/`` as DOTAMetric): ``mAP`` (mean over ``iou_thrs``), ``AP50`` (one per threshold) and
    ``AP50.<class>``. Classes without ground truth in the evaluated set have no per-class key and do not enter the
    mean, as in mmrotate. ``nproc``: processes for matching (mmrotate's 4; 1 matches in this process, which saves
    the workers' start-up on a small set).
    ``format_only`` and ``merge_patches`` behave as in :class:`RateAwareDOTAMetric`.
    """

    def __init__(self, *args: Any, nproc: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nproc = int(nproc)

    def compute_metrics(self, results: list) -> dict[str, float]:
        if self.merge_patches or self.format_only or self.metric != "mAP":
            return super().compute_metrics(results)
        gts, preds = zip(*results, strict=True)
        return self.scores([pred["pred_bbox_scores"] for pred in preds], list(gts))

    def scores(self, dets: list[list[np.ndarray]], gts: list[dict]) -> dict[str, float]:
        """``eval_rbbox_map`` of per-image detections (per class, boxes + score) against ``gts``, as percentages."""
        logger: MMLogger = MMLogger.get_current_instance()
        classes = tuple(self.dataset_meta["classes"])
        scores: dict[str, float] = OrderedDict()
        means = []
        for iou_thr in self.iou_thrs:
            with matching_in_process() if self.nproc <= 1 else nullcontext():
                mean, per_class = eval_rbbox_map(
                    dets, gts, scale_ranges=self.scale_ranges, iou_thr=iou_thr, use_07_metric=self.use_07_metric,
                    box_type=self.predict_box_type, dataset=classes, logger=logger, nproc=self.nproc,
                )  # fmt: skip
            tag = f"AP{round(iou_thr * 100):02d}"
            scores[tag] = round(100 * float(mean), 2)
            means.append(100 * float(mean))
            for name, result in zip(classes, per_class, strict=True):
                if np.all(np.asarray(result["num_gts"]) > 0):
                    scores[f"{tag}.{name}"] = round(100 * float(np.mean(result["ap"])), 2)
        scores["mAP"] = round(sum(means) / len(means), 2)
        scores.move_to_end("mAP", last=False)
        return scores


def scene_ground_truth(label_file: str | os.PathLike[str], classes: Sequence[str], ignore_difficult: bool) -> dict:
    """A scene's DOTA label file as ``eval_rbbox_map`` ground truth (le90 rboxes); difficult objects (flag >= 1) go
    to the ignored boxes when ``ignore_difficult``, as the devkit's Task1 evaluation (and the server) treat them."""
    from mmrotate.structures.bbox import RotatedBoxes, qbox2rbox

    from rsfm.data.annotations import read_dota_label

    objects = read_dota_label(label_file).objects
    unknown = sorted({obj.name for obj in objects} - set(classes))
    if unknown:
        raise ValueError(f"{label_file}: classes {unknown} are not the dataset's {tuple(classes)}")
    polys = np.array([obj.poly for obj in objects], dtype=np.float32).reshape(-1, 8)
    rboxes = RotatedBoxes(qbox2rbox(torch.from_numpy(polys))).regularize_boxes("le90").numpy().reshape(-1, 5)
    labels = np.array([classes.index(obj.name) for obj in objects], dtype=np.int64)
    ignored = np.array([ignore_difficult and obj.difficult >= 1 for obj in objects], dtype=bool)
    return {"bboxes": rboxes[~ignored], "labels": labels[~ignored], "bboxes_ignore": rboxes[ignored],
            "labels_ignore": labels[ignored]}  # fmt: skip


@ROTATE_METRICS.register_module()
class SceneAPMetric(RotatedAPMetric):
    """DOTA mAP on whole scenes, as the DOTA server scores: every window's detections moved to scene pixels (rate and
    offset from its name, :class:`RateAwareDOTAMetric`), merged class-wise by rotated NMS (``iou_thr``, mmrotate's
    0.1 for submissions), then matched against the scene's own labels (``<data_root>/<scene_labels>/<scene>.txt``,
    the uncut objects) with ``eval_rbbox_map``. Window-level mAP instead scores the cut pieces of objects, counts an
    object seen by several windows several times and never sees the duplicates merging leaves.

    Every scene with a label file is scored, windows or not (a scene without detections only adds misses). Keys as
    :class:`RotatedAPMetric`. ``ignore_difficult``: difficult objects neither count as misses nor make a detection
    false, as in the devkit's Task1 evaluation (mmrotate's DOTADataset keeps them as ordinary ground truth).
    """

    def __init__(
        self, *args: Any, data_root: str = "", scene_labels: str = "val/scenes/", ignore_difficult: bool = True,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        if self.merge_patches or self.format_only:
            raise ValueError("SceneAPMetric scores merged scenes; for a submission use RateAwareDOTAMetric")
        if self.predict_box_type != "rbox":
            raise ValueError(
                f"SceneAPMetric merges rbox predictions, not {self.predict_box_type!r}: set "
                "predict_box_type='rbox' (Oriented R-CNN's output)"
            )
        self.scene_labels = Path(data_root) / scene_labels
        self.ignore_difficult = bool(ignore_difficult)

    def merged_scenes(self, results: Sequence[dict]) -> dict[str, list[np.ndarray]]:
        """{scene: per class, the (n, 6) rboxes + scores left after moving every window's to the scene and rotated
        NMS of each class over the scene}."""
        from mmcv.ops import nms_rotated

        per_scene: dict[str, list[dict]] = defaultdict(list)
        for result in results:
            scene = self._to_scene(result)
            per_scene[scene["img_id"].split("__")[0]].append(scene)
        merged = {}
        for scene, windows in per_scene.items():
            boxes = np.concatenate([np.asarray(w["bboxes"], dtype=np.float64).reshape(-1, 5) for w in windows])
            scores = np.concatenate([np.asarray(w["scores"], dtype=np.float64).reshape(-1) for w in windows])
            labels = np.concatenate([np.asarray(w["labels"]).reshape(-1) for w in windows])
            classes = []
            for label in range(len(self.dataset_meta["classes"])):
                keep = labels == label
                if not keep.any():
                    classes.append(np.zeros((0, 6), dtype=np.float32))
                    continue
                kept, _ = nms_rotated(torch.from_numpy(boxes[keep]), torch.from_numpy(scores[keep]), self.iou_thr)
                classes.append(kept.numpy())
            merged[scene] = classes
        return merged

    def compute_metrics(self, results: list) -> dict[str, float]:
        classes = tuple(self.dataset_meta["classes"])
        label_files = sorted(self.scene_labels.glob("*.txt"))
        if not label_files:
            raise FileNotFoundError(
                f"no scene label files in {self.scene_labels}: the tile stage writes <split>/scenes/<scene>.txt "
                f"beside the windows (data_root and scene_labels of SceneAPMetric name that folder)"
            )
        merged = self.merged_scenes([pred for _, pred in results])
        stray = sorted(set(merged) - {f.stem for f in label_files})
        if stray:
            raise ValueError(f"windows of scenes {stray[:5]} have no label file in {self.scene_labels}")
        empty = [np.zeros((0, 6), dtype=np.float32) for _ in classes]
        dets = [merged.get(f.stem, empty) for f in label_files]
        gts = [scene_ground_truth(f, classes, self.ignore_difficult) for f in label_files]
        MMLogger.get_current_instance().info(
            f"scene mAP over {len(label_files)} scenes merged from {len(results)} windows"
        )
        return self.scores(dets, gts)
