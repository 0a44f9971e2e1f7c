"""Fine-tuning evaluation helpers: fraction subsets, RS segmentation scores and the DOTA / LoveDA submissions."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.dataset import BaseDataset, DefaultSampler, InfiniteSampler
from mmengine.registry import DATASETS, DefaultScope

from rsfm.data import synthetic
from rsfm.data.annotations import DOTA_V2_CLASSES, OrientedObject
from rsfm.data.dota_split import split_dataset
from rsfm.data.kinds import loveda, potsdam
from rsfm.data.polygons import clip_objects, sliding_windows
from rsfm.data.subsets import subset_size
from rsfm.data.synthetic.scene import rotated_box
from rsfm.finetune.export import (
    LOVEDA_CLASSES,
    dota_submission_evaluator,
    loveda_submission_evaluator,
    package_loveda_submission,
    read_task1,
)
from rsfm.finetune.scores import RotatedAPMetric, RSSegMetric, segmentation_scores
from rsfm.finetune.subset import FractionSubset
from rsfm.io import read_image

POTSDAM_CLASSES = potsdam.CLASSES


class ListDataset(BaseDataset):
    """n in-memory samples, two classes, sizes for mmdet's aspect-ratio batching."""

    METAINFO: ClassVar[dict] = {"classes": ("a", "b")}

    def __init__(self, n: int, **kwargs):
        self.n = n
        super().__init__(ann_file="", pipeline=[], serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        return [{"idx": i, "width": 30 + i % 7, "height": 20, "cat": i % 2} for i in range(self.n)]

    def get_cat_ids(self, idx: int) -> list[int]:
        return [self.get_data_info(idx)["cat"]]


@pytest.fixture(scope="module")
def tiles(tmp_path_factory) -> Path:
    """Two synthetic DOTA scenes split into 1024 windows, and one synthetic Potsdam tile cut into 9 crops."""
    root = tmp_path_factory.mktemp("finetune_eval")
    synthetic.write_dota_like(root / "dota", splits={"train": 2}, scene_size=1500, seed=1)
    split_dataset(root / "dota/train/images", root / "dota/train/labelTxt", root / "tiles/dota/train", workers=1)
    synthetic.write_potsdam_like(root / "potsdam", tiles={"train": ["2_10"]}, tile_size=1200, seed=3)
    tile = potsdam.find_tiles(root / "potsdam", {"train": ["2_10"]})
    potsdam.crop_dataset(tile, root / "tiles/potsdam", size=512, stride=384, workers=1)
    return root


# --- FractionSubset ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "size"), [(0.001, 1), (0.01, 2), (0.05, 10), (0.1, 20), (0.25, 50), (0.333, 67), (1.0, 200), (1, 200)]
)
def test_fraction_subset_sizes(fraction, size):
    subset = FractionSubset(ListDataset(200), fraction=fraction, seed=0)
    assert len(subset) == size == len(subset.indices)
    indices = subset.indices
    assert np.all(np.diff(indices) > 0) and indices[0] >= 0 and indices[-1] < 200  # ascending, unique, in range
    assert [subset[i]["idx"] for i in range(size)] == indices.tolist()
    assert subset.get_data_info(-1)["idx"] == indices[-1]
    with pytest.raises(IndexError):
        subset[size]


def test_fraction_subset_seeded_nested_and_distinct():
    inner = ListDataset(500)
    for seed in (0, 1, 7):
        runs = {f: set(FractionSubset(inner, fraction=f, seed=seed).indices.tolist()) for f in (0.01, 0.05, 0.1, 0.5)}
        assert runs[0.01] < runs[0.05] < runs[0.1] < runs[0.5]  # nested curves for one seed
        again = FractionSubset(ListDataset(500), fraction=0.1, seed=seed).indices
        assert set(again.tolist()) == runs[0.1]  # deterministic for a seed
        expected = np.sort(np.random.default_rng(seed).permutation(500)[:50])
        assert np.array_equal(again, expected)
    by_seed = [FractionSubset(inner, fraction=0.1, seed=seed).indices for seed in range(4)]
    assert len({tuple(indices.tolist()) for indices in by_seed}) == 4
    assert np.array_equal(FractionSubset(inner, fraction=1.0, seed=3).indices, np.arange(500))


@pytest.mark.parametrize("fraction", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf")])
def test_fraction_subset_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"\(0, 1\]") as error:
        FractionSubset(ListDataset(10), fraction=fraction)
    assert repr(fraction) in str(error.value)


@pytest.mark.parametrize("fraction", [True, "0.5", None])
def test_fraction_subset_rejects_non_numbers(fraction):
    with pytest.raises(TypeError, match="fraction"):
        FractionSubset(ListDataset(10), fraction=fraction)


def test_fraction_subset_empty_inner_dataset():
    with pytest.raises(ValueError, match="empty"):
        FractionSubset(ListDataset(0), fraction=0.5)


def test_fraction_subset_lazy_init_and_passthrough():
    inner = ListDataset(40, lazy_init=True)
    subset = FractionSubset(inner, fraction=0.25, seed=2, lazy_init=True)
    assert not inner._fully_initialized and not subset._fully_initialized
    assert subset.metainfo == {"classes": ("a", "b")}  # available before loading, like BaseDataset's
    subset.metainfo["classes"] = ("changed",)
    assert inner.metainfo["classes"] == ("a", "b")
    subset.full_init()
    assert inner._fully_initialized and len(subset) == 10
    assert [subset.get_cat_ids(i) for i in range(3)] == [[int(k) % 2] for k in subset.indices[:3]]
    assert "10 samples" in repr(subset)


def test_fraction_subset_with_samplers():
    from mmdet.datasets.samplers import AspectRatioBatchSampler, ClassAwareSampler

    subset = FractionSubset(ListDataset(100), fraction=0.3, seed=0)
    assert sorted(DefaultSampler(subset, shuffle=True, seed=0)) == list(range(30))
    infinite = iter(InfiniteSampler(subset, shuffle=True, seed=0))
    assert sorted(next(infinite) for _ in range(30)) == list(range(30))
    batches = list(AspectRatioBatchSampler(DefaultSampler(subset, shuffle=False), batch_size=4))
    assert sorted(i for batch in batches for i in batch) == list(range(30))  # one aspect-ratio group, last batch kept
    class_aware = iter(ClassAwareSampler(subset, seed=0, num_sample_class=1))
    assert all(0 <= next(class_aware) < 30 for _ in range(10))


def test_fraction_subset_in_mmrotate_registry(tiles):
    from mmdet.registry import DATASETS as MMDET_DATASETS
    from mmrotate.datasets import DOTADataset
    from mmrotate.registry import DATASETS as ROTATE_DATASETS
    from mmrotate.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    assert MMDET_DATASETS.get("FractionSubset") is FractionSubset
    inner_cfg = dict(
        type="DOTADataset", data_root=str(tiles / "tiles/dota/train"), ann_file="annfiles/",
        data_prefix=dict(img_path="images/"), metainfo=dict(classes=DOTA_V2_CLASSES),
        filter_cfg=dict(filter_empty_gt=True), pipeline=[],
    )  # fmt: skip
    with DefaultScope.overwrite_default_scope("mmrotate"):
        subset = ROTATE_DATASETS.build(dict(type="FractionSubset", fraction=0.5, seed=0, dataset=inner_cfg))
    assert isinstance(subset.dataset, DOTADataset)
    full = DOTADataset(**{k: v for k, v in inner_cfg.items() if k != "type"})
    assert len(full) == 8 and len(subset) == 4
    assert [subset.get_data_info(i)["img_id"] for i in range(4)] == [
        full.get_data_info(int(i))["img_id"] for i in subset.indices
    ]
    assert subset.metainfo["classes"] == DOTA_V2_CLASSES


def test_fraction_subset_in_mmseg_registry_and_runner(tiles):
    from mmengine.runner import Runner
    from mmseg.datasets import PotsdamDataset
    from mmseg.registry import DATASETS as SEG_DATASETS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    inner_cfg = dict(
        type="PotsdamDataset", data_root=str(tiles / "tiles/potsdam"), reduce_zero_label=False, pipeline=[],
        data_prefix=dict(img_path="img_dir/train", seg_map_path="ann_dir/train"),
    )  # fmt: skip
    with DefaultScope.overwrite_default_scope("mmseg"):
        subset = SEG_DATASETS.build(dict(type="FractionSubset", fraction=0.3, seed=1, dataset=inner_cfg))
        # as the Runner builds a training loader: sampler, lazy wrapper, full_init, collate
        loader = Runner.build_dataloader(
            dict(batch_size=2, num_workers=0, sampler=dict(type="InfiniteSampler", shuffle=True),
                 collate_fn=dict(type="pseudo_collate"),
                 dataset=dict(type="FractionSubset", fraction=0.5, seed=1, lazy_init=True, dataset=inner_cfg)),
            seed=0,
        )  # fmt: skip
    assert isinstance(subset.dataset, PotsdamDataset) and len(subset.dataset) == 9
    assert len(subset) == 3  # round(2.7)
    assert subset.metainfo["classes"] == POTSDAM_CLASSES
    assert loader.dataset._fully_initialized and len(loader.dataset) == 4  # round(4.5) -> 4 (to even)
    batch = next(iter(loader))
    assert len(batch["img_path"]) == 2 and all(p.endswith(".png") for p in batch["img_path"])
    # scoped type: builds from the root registry whatever the default scope
    built = PotsdamDataset(**{k: v for k, v in inner_cfg.items() if k != "type"})
    root_built = DATASETS.build(
        dict(type="FractionSubset", fraction=1.0, dataset={**inner_cfg, "type": "mmseg.PotsdamDataset"})
    )
    assert len(root_built) == len(built)
    assert FractionSubset(built, fraction=0.3, seed=1).indices.tolist() == subset.indices.tolist()


# --- RSSegMetric ---------------------------------------------------------------------------------------------------

# rows: reference, columns: prediction (impervious, building, low_vegetation, tree, car, clutter)
CONFUSION = np.array(
    [
        [8, 1, 0, 0, 0, 1],
        [0, 9, 0, 0, 0, 1],
        [0, 0, 6, 2, 0, 0],
        [0, 0, 2, 6, 0, 0],
        [1, 0, 0, 0, 3, 0],
        [2, 0, 0, 0, 0, 3],
    ]
)
# by hand: e.g. impervious, all six: TP 8, FP 3 (1 car, 2 clutter pixels), FN 2 -> IoU 8/13, F1 16/21;
# clutter excluded: FP 1 -> IoU 8/11, F1 16/19; OA 35/45 (six) vs 32/40 (five)
EXPECTED_ALL = {
    "OA": 77.78, "mIoU": 63.54, "mF1": 76.98,
    "IoU.impervious_surface": 61.54, "F1.impervious_surface": 76.19, "IoU.building": 81.82, "F1.building": 90.0,
    "IoU.low_vegetation": 60.0, "F1.low_vegetation": 75.0, "IoU.tree": 60.0, "F1.tree": 75.0,
    "IoU.car": 75.0, "F1.car": 85.71, "IoU.clutter": 42.86, "F1.clutter": 60.0,
}  # fmt: skip
EXPECTED_NO_CLUTTER = {
    **EXPECTED_ALL, "OA": 80.0, "mIoU": 69.91, "mF1": 81.98,
    "IoU.impervious_surface": 72.73, "F1.impervious_surface": 84.21,
}  # fmt: skip


def _seg_samples(confusion: np.ndarray, ignored: int = 5) -> list[dict]:
    """Two data samples whose pixels realise ``confusion``, plus ``ignored`` 255-labelled pixels, shuffled."""
    label = np.repeat(np.arange(confusion.shape[0]), confusion.sum(axis=1))
    pred = np.concatenate([np.repeat(np.arange(confusion.shape[1]), row) for row in confusion])
    label = np.concatenate([label, np.full(ignored, 255)])
    pred = np.concatenate([pred, np.arange(ignored) % confusion.shape[1]])  # predictions on ignored pixels: any
    order = np.random.default_rng(0).permutation(len(label))
    label, pred = label[order].reshape(5, 10), pred[order].reshape(5, 10)
    return [
        {"pred_sem_seg": {"data": torch.from_numpy(pred[rows][None])},
         "gt_sem_seg": {"data": torch.from_numpy(label[rows][None])}, "img_path": f"/x/{i}.png"}
        for i, rows in enumerate((slice(0, 3), slice(3, 5)))
    ]  # fmt: skip


def _evaluate(metric, samples: list[dict], classes) -> dict:
    metric.dataset_meta = {"classes": classes}
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize(("exclude", "expected"), [((), EXPECTED_ALL), (("clutter",), EXPECTED_NO_CLUTTER)])
def test_rs_seg_metric_hand_computed(exclude, expected):
    from mmseg.registry import METRICS

    metric = METRICS.build(dict(type="mmseg.RSSegMetric", exclude_classes=exclude))
    assert isinstance(metric, RSSegMetric)
    assert _evaluate(metric, _seg_samples(CONFUSION), POTSDAM_CLASSES) == expected
    assert segmentation_scores(CONFUSION, POTSDAM_CLASSES, exclude) == expected


def test_rs_seg_metric_agrees_with_mmseg_iou_metric():
    from mmseg.evaluation.metrics import IoUMetric

    mmseg_scores = _evaluate(IoUMetric(iou_metrics=["mIoU", "mFscore"]), _seg_samples(CONFUSION), POTSDAM_CLASSES)
    assert mmseg_scores["aAcc"] == EXPECTED_ALL["OA"] and mmseg_scores["mIoU"] == EXPECTED_ALL["mIoU"]
    assert mmseg_scores["mFscore"] == EXPECTED_ALL["mF1"]


def test_rs_seg_metric_as_evaluator_with_seg_data_samples(tmp_path):
    from mmengine.evaluator import Evaluator
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    samples = []
    for sample in _seg_samples(CONFUSION):
        data_sample = SegDataSample(metainfo={"img_path": sample["img_path"], "reduce_zero_label": False})
        data_sample.pred_sem_seg = PixelData(data=sample["pred_sem_seg"]["data"])
        data_sample.gt_sem_seg = PixelData(data=sample["gt_sem_seg"]["data"])
        samples.append(data_sample)
    with DefaultScope.overwrite_default_scope("mmseg"):
        evaluator = Evaluator(
            dict(type="RSSegMetric", exclude_classes=["clutter"], output_dir=str(tmp_path / "png"), prefix="val")
        )
    evaluator.dataset_meta = {"classes": POTSDAM_CLASSES}
    evaluator.process(samples, {})
    scores = evaluator.evaluate(len(samples))
    assert scores == {f"val/{key}": value for key, value in EXPECTED_NO_CLUTTER.items()}
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["0.png", "1.png"]


def test_rs_seg_metric_errors_and_empty_classes():
    with pytest.raises(ValueError, match="not classes of the dataset"):
        segmentation_scores(CONFUSION, POTSDAM_CLASSES, ("background",))
    with pytest.raises(ValueError, match=r"outside 0\.\.5"):
        _evaluate(RSSegMetric(), [{"pred_sem_seg": {"data": torch.zeros(1, 2, 2, dtype=torch.long)},
                                   "gt_sem_seg": {"data": torch.full((1, 2, 2), 6)}}], POTSDAM_CLASSES)  # fmt: skip
    # a class absent from reference and prediction is NaN and skipped by the means; present but never predicted is 0
    confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 0]])
    scores = segmentation_scores(confusion, ("x", "y", "z"))
    assert scores["IoU.y"] == 0.0 and scores["F1.y"] == 0.0  # predicted once, never present
    assert scores["IoU.z"] == 0.0 and scores["F1.z"] == 0.0
    assert scores["mIoU"] == round((3 / 6 + 0 + 0) / 3 * 100, 2)
    absent = segmentation_scores(np.array([[4, 0], [0, 0]]), ("x", "y"))
    assert np.isnan(absent["IoU.y"]) and absent["mIoU"] == 100.0


# --- rotated-box mAP -----------------------------------------------------------------------------------------------


def _ap_results(classes: int = 3) -> list[tuple[dict, dict]]:
    """Two images, as DOTAMetric.process stores them: class 0 has a ground truth in each image, detected at 0.9 and
    0.7 with a false positive at 0.8 between them; class 1 has one ground truth, never detected; class 2 has none."""

    def dets(*rows):
        per_class = [np.zeros((0, 6), np.float32) for _ in range(classes)]
        for label, box, score in rows:
            per_class[label] = np.vstack([per_class[label], [*box, score]]).astype(np.float32)
        return {"pred_bbox_scores": per_class}

    def gts(*rows):
        return {
            "bboxes": np.array([box for _, box in rows], np.float32), "labels": np.array([c for c, _ in rows]),
            "bboxes_ignore": np.zeros((0, 5), np.float32), "labels_ignore": np.zeros(0, np.int64),
        }  # fmt: skip

    a, b, far, ship = (50, 50, 40, 20, 0.3), (120, 80, 30, 30, 0.0), (400, 400, 30, 10, 0.5), (200, 60, 50, 12, -0.4)
    return [
        (gts((0, a)), dets((0, a, 0.9), (0, far, 0.8))),
        (gts((0, b), (1, ship)), dets((0, b, 0.7))),
    ]


def _rotated_ap(nproc: int) -> dict[str, float]:
    metric = RotatedAPMetric(iou_thrs=[0.5], nproc=nproc)
    metric.dataset_meta = {"classes": ("plane", "ship", "storage-tank")}
    return metric.compute_metrics(_ap_results())


def test_rotated_ap_hand_computed_in_process(monkeypatch):
    import multiprocessing.pool

    def no_pool(*args, **kwargs):
        raise AssertionError("nproc=1 started a worker pool")

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", no_pool)
    scores = _rotated_ap(nproc=1)
    # plane: TP, FP, TP over 2 ground truths -> recall .5 .5 1, precision 1 .5 2/3; VOC07 11 points: 6 x 1 + 5 x 2/3
    plane = round(100 * (6 + 5 * 2 / 3) / 11, 2)
    assert scores == {"mAP": round((plane + 0.0) / 2, 2), "AP50": round((plane + 0.0) / 2, 2), "AP50.plane": plane,
                      "AP50.ship": 0.0}  # fmt: skip
    assert next(iter(scores)) == "mAP"


def test_rotated_ap_in_process_equals_mmrotates_worker_pool():
    assert _rotated_ap(nproc=1) == _rotated_ap(nproc=2)


# --- DOTA v2.0 Task1 patch merging ---------------------------------------------------------------------------------


def _scene_objects(
    rng: np.random.Generator, size: int, count: int, fixed: tuple[OrientedObject, ...] = ()
) -> list[OrientedObject]:
    """``fixed`` and then non-overlapping rotated rectangles (10-300 px) wholly inside a size x size scene, random DOTA
    classes, ``count`` in all."""
    objects = list(fixed)
    discs = [(obj.poly.mean(axis=0), np.linalg.norm(obj.poly[0] - obj.poly[2]) / 2) for obj in fixed]
    while len(objects) < count:
        length = rng.uniform(20, 300)
        width, angle = rng.uniform(10, length), rng.uniform(0, np.pi)
        radius = np.hypot(length, width) / 2
        centre = rng.uniform(radius, size - radius, 2)
        if all(np.hypot(*(centre - c)) > radius + r + 2 for c, r in discs):
            discs.append((centre, radius))
            name = DOTA_V2_CLASSES[int(rng.integers(len(DOTA_V2_CLASSES)))]
            objects.append(OrientedObject(rotated_box(centre, length, width, angle), name))
    return objects


def _le90(polys: np.ndarray) -> torch.Tensor:
    from mmrotate.structures.bbox import RotatedBoxes, qbox2rbox

    qboxes = torch.as_tensor(np.asarray(polys, dtype=np.float32).reshape(-1, 8))
    return RotatedBoxes(qbox2rbox(qboxes)).regularize_boxes("le90")


def _window_predictions(scene: str, objects: list[OrientedObject], rate: float, extent: int = 2000) -> list[dict]:
    """What a perfect detector predicts per 1024/200 window of the scene resized by ``rate`` to ``extent`` pixels (le90
    rboxes in window pixels): score 1 for whole objects, 0.5 for the truncated pieces a window shows."""
    scaled = [OrientedObject(obj.poly * rate, obj.name) for obj in objects]
    size, samples = 1024, []
    for x, y in sliding_windows(extent, extent, size, 200):
        seen = clip_objects(scaled, x, y, size, iof_thr=0.7)
        polys = np.stack([obj.poly for obj in seen]) if seen else np.zeros((0, 4, 2))
        samples.append({
            "img_id": f"{scene}__{rate:g}__{x}___{y}", "gt_instances": {}, "ignored_instances": {},
            "pred_instances": {
                "bboxes": _le90(polys),
                "scores": torch.tensor([0.5 if obj.difficult == 2 else 1.0 for obj in seen]),
                "labels": torch.tensor([DOTA_V2_CLASSES.index(obj.name) for obj in seen], dtype=torch.long),
            },
        })  # fmt: skip
    return samples


def _wholly_inside_a_window(obj: OrientedObject, rate: float, extent: int, size: int = 1024) -> bool:
    low, high = obj.poly.min(axis=0) * rate, obj.poly.max(axis=0) * rate
    return any(
        (low >= (x, y)).all() and (high <= (x + size, y + size)).all()
        for x, y in sliding_windows(extent, extent, size, 200)
    )


def _run_merge(metric_cfg: dict, samples: list[dict]) -> None:
    from mmrotate.registry import METRICS
    from mmrotate.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope("mmrotate"):
        metric = METRICS.build(metric_cfg)
    metric.dataset_meta = {"classes": DOTA_V2_CLASSES}
    metric.process({}, samples)
    assert metric.evaluate(len(samples)) == {}


def _matches(objects: list[OrientedObject], detections: list, scale: float = 1.0) -> list[list[tuple]]:
    """Per object, the detections with rotated IoU > 0.95 against it (object scaled by ``scale``)."""
    from mmcv.ops import box_iou_rotated

    truth = _le90(np.stack([obj.poly * scale for obj in objects]))
    found = _le90(np.array([coords for _, _, coords in detections]))
    iou = box_iou_rotated(truth, found).numpy()
    return [[detections[j] for j in np.flatnonzero(row > 0.95)] for row in iou]


@pytest.mark.parametrize("metric", ["DOTAMetric", "submission"])
def test_dota_patch_merge_round_trip(tmp_path, metric):
    # two long objects across x = 700..1300, which no window (x from 0, 824 or 976, 1024 wide) holds whole
    across = tuple(OrientedObject(rotated_box((1000, y), 600, 40, 0.0), "bridge") for y in (300, 1700))
    objects = _scene_objects(np.random.default_rng(0), 2000, 70, fixed=across)
    samples = _window_predictions("P0000", objects, rate=1.0)
    assert len(samples) == 9  # starts 0, 824, 976 on both axes
    prefix = tmp_path / "Task1"
    if metric == "DOTAMetric":
        cfg = dict(type="DOTAMetric", format_only=True, merge_patches=True, outfile_prefix=str(prefix))
    else:
        cfg = dota_submission_evaluator(prefix)
        assert cfg["iou_thr"] == 0.1 and cfg["format_only"] and cfg["merge_patches"]
    _run_merge(cfg, samples)

    # what DOTAMetric writes: one Task1_<class>.txt per class (empty ones too) and <prefix>/<name>.zip of them, flat
    assert sorted(p.name for p in prefix.glob("Task1_*.txt")) == sorted(f"Task1_{c}.txt" for c in DOTA_V2_CLASSES)
    with zipfile.ZipFile(prefix / "Task1.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"Task1_{c}.txt" for c in DOTA_V2_CLASSES)
    results = read_task1(prefix)
    assert read_task1(prefix / "Task1.zip") == results
    assert list(results) == ["P0000"]
    detections = results["P0000"]
    whole_in_windows = sum(int((s["pred_instances"]["scores"] == 1).sum()) for s in samples)
    checked = 0
    for obj, matched in zip(objects, _matches(objects, detections), strict=True):
        if not _wholly_inside_a_window(obj, 1.0, 2000):
            continue
        checked += 1
        assert len(matched) == 1, f"{obj.name} at {obj.poly.mean(axis=0)}: {len(matched)} matches (duplicates kept?)"
        cls, score, _ = matched[0]
        assert cls == obj.name and score == 1.0
    assert 60 <= checked < len(objects)  # some big objects are whole in no window: only their pieces come back
    assert whole_in_windows > checked + 10  # many objects were whole in 2-4 overlapping windows: NMS merged them


def test_dota_patch_merge_with_rescaled_windows(tmp_path):
    """Windows of the scene resized by 0.5 (devkit-style names P0001__0.5__x___y) come back in full-scene pixels."""
    objects = _scene_objects(np.random.default_rng(1), 2000, 50)
    objects = [OrientedObject(obj.poly * 2, obj.name) for obj in objects]  # a 4000 x 4000 scene
    samples = _window_predictions("P0001", objects, rate=0.5)
    _run_merge(dota_submission_evaluator(tmp_path / "rate_aware"), samples)
    detections = read_task1(tmp_path / "rate_aware")["P0001"]
    inside = [_wholly_inside_a_window(obj, 0.5, 2000) for obj in objects]
    matched = _matches(objects, detections)
    assert sum(inside) >= 40
    assert all(len(m) == 1 and m[0][0] == obj.name for m, obj, ok in zip(matched, objects, inside, strict=True) if ok)
    # plain DOTAMetric ignores the rate: its boxes sit at half the scene's coordinates
    _run_merge(
        dict(type="DOTAMetric", format_only=True, merge_patches=True, outfile_prefix=str(tmp_path / "plain")), samples
    )
    plain = read_task1(tmp_path / "plain")["P0001"]
    assert not any(_matches(objects, plain)[i] for i in range(len(objects)) if inside[i])
    assert sum(len(m) == 1 for m in _matches(objects, plain, scale=0.5)) >= 40


def _read_scene_labels(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A DOTA labelTxt read here, apart from the package's reader: (n, 8) corners, class names, difficult flags."""
    polys, names, difficult = [], [], []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 9 and not line.startswith(("imagesource", "gsd")):
            polys.append([float(v) for v in fields[:8]])
            names.append(fields[8])
            difficult.append(int(fields[9]) if len(fields) > 9 else 0)
    return np.array(polys, dtype=np.float32).reshape(-1, 8), names, np.array(difficult, dtype=bool)


@pytest.fixture(scope="module")
def multiscale_val(tmp_path_factory) -> Path:
    """Synthetic DOTA v2.0 scenes (one train, two val) through the data stage, split at rates 0.5 and 1.0."""
    from rsfm.config import validate_config
    from rsfm.data import pipeline

    from .conftest import REPO

    root = tmp_path_factory.mktemp("multiscale")
    cfg = {"source": "synthetic", "synthetic": {"splits": {"train": 1, "val": 2}, "scene_size": 2000, "seed": 5},
           "tiling": {"size": 1024, "gap": 200, "rates": [0.5, 1.0], "splits": ["train", "val"]}}  # fmt: skip
    config = {"data": {"root": "data", "datasets": {"dota_v2": cfg}}}
    cfg = validate_config(config, REPO / "workflow/schemas/config.schema.yaml")["data"]["datasets"]["dota_v2"]
    pipeline.synthesize("dota_v2", cfg, root / "raw")
    pipeline.convert("dota_v2", cfg, root / "raw", root / "prepared", workers=1)
    pipeline.tile("dota_v2", cfg, root / "prepared", root / "tiles", workers=1)
    return root


def _noisy_window_detections(tiles: Path, rng: np.random.Generator) -> list[dict]:
    """Per val window, a detector's output made from the window's own labels: most objects (pieces too) found with a
    jittered centre, some missed or given another class, one false alarm per window; scores on 0.01 steps, as the
    Task1 files keep them, so both evaluation paths see the same scores."""
    from rsfm.data.annotations import read_dota_label

    samples = []
    for label_file in sorted((tiles / "val/annfiles").glob("*.txt")):
        objects = [obj for obj in read_dota_label(label_file).objects if rng.random() > 0.15]
        polys = np.stack([obj.poly for obj in objects]) if objects else np.zeros((0, 4, 2))
        boxes = _le90(polys)
        boxes[:, :2] += torch.from_numpy(rng.normal(0, 1.5, (len(objects), 2)).astype(np.float32))
        labels = [DOTA_V2_CLASSES.index(obj.name) for obj in objects]
        labels = [int(rng.integers(len(DOTA_V2_CLASSES))) if rng.random() < 0.1 else label for label in labels]
        alarm = torch.tensor([[*rng.uniform(100, 900, 2), 60.0, 30.0, rng.uniform(-1.5, 1.5)]], dtype=torch.float32)
        samples.append({
            "img_id": label_file.stem, "gt_instances": {}, "ignored_instances": {},
            "pred_instances": {
                "bboxes": torch.cat([boxes, alarm]),
                "scores": torch.from_numpy(rng.integers(5, 100, len(objects) + 1) / 100).float(),
                "labels": torch.tensor([*labels, int(rng.integers(len(DOTA_V2_CLASSES)))], dtype=torch.long),
            },
        })  # fmt: skip
    return samples


def test_merged_scene_map_equals_the_server_style_evaluation_of_the_submission(multiscale_val, tmp_path):
    """SceneAPMetric's mAP on windows of two scales equals scoring the Task1 submission written from the same windows
    (mmrotate's merge and writer, read back from the files) against the scenes' labelTxt read by this file's own
    reader, with the same matcher (eval_rbbox_map) on both routes."""
    from mmrotate.evaluation import eval_rbbox_map
    from mmrotate.registry import METRICS

    from rsfm.finetune.scores import SceneAPMetric, matching_in_process

    tiles = multiscale_val / "tiles"
    index = pd.read_csv(tiles / "val/index.csv")
    assert set(index["rate"]) == {0.5, 1.0} and index["image"].str.contains("__0.5__").any()
    assert sorted(p.name for p in (tiles / "val/scenes").iterdir()) == sorted(
        p.name for p in (multiscale_val / "prepared/val/labelTxt").iterdir()
    )
    samples = _noisy_window_detections(tiles, np.random.default_rng(0))

    scene_metric = METRICS.build(dict(type="SceneAPMetric", data_root=str(tiles), scene_labels="val/scenes/", nproc=1))
    assert isinstance(scene_metric, SceneAPMetric)
    scene_metric.dataset_meta = {"classes": DOTA_V2_CLASSES}
    scene_metric.process({}, samples)
    ours = scene_metric.evaluate(len(samples))

    _run_merge(dota_submission_evaluator(tmp_path / "Task1"), samples)
    submitted = read_task1(tmp_path / "Task1" / "Task1.zip")  # the upload itself
    dets, gts = [], []
    for label_file in sorted((multiscale_val / "prepared/val/labelTxt").glob("*.txt")):
        polys, names, difficult = _read_scene_labels(label_file)
        boxes = _le90(polys).numpy().reshape(-1, 5)  # as the model's boxes: the same IoU on both routes
        labels = np.array([DOTA_V2_CLASSES.index(name) for name in names], dtype=np.int64)
        gts.append({"bboxes": boxes[~difficult], "labels": labels[~difficult], "bboxes_ignore": boxes[difficult],
                    "labels_ignore": labels[difficult]})  # fmt: skip
        found = submitted.get(label_file.stem, [])
        per_class = []
        for name in DOTA_V2_CLASSES:
            mine = [(score, coords) for cls, score, coords in found if cls == name]
            corners = np.array([coords for _, coords in mine], dtype=np.float32).reshape(-1, 8)
            scores = np.array([score for score, _ in mine], dtype=np.float32).reshape(-1, 1)
            per_class.append(np.hstack([_le90(corners).numpy().reshape(-1, 5), scores]))
        dets.append(per_class)
    with matching_in_process():
        server, _ = eval_rbbox_map(dets, gts, iou_thr=0.5, use_07_metric=True, box_type="rbox",
                                   dataset=DOTA_V2_CLASSES, nproc=1)  # fmt: skip
    assert 20 < ours["dota/mAP"] < 95  # misses, confusions and false alarms: neither trivial nor perfect
    assert ours["dota/mAP"] == pytest.approx(100 * server, abs=0.01)

    # per window (cut pieces as objects, an object once per window showing it) the same detections score otherwise
    window_metric = RotatedAPMetric(nproc=1)
    window_metric.dataset_meta = {"classes": DOTA_V2_CLASSES}
    from rsfm.data.annotations import read_dota_label

    for sample in samples:
        objects = read_dota_label(tiles / "val/annfiles" / f"{sample['img_id']}.txt").objects
        polys = np.stack([obj.poly for obj in objects]) if objects else np.zeros((0, 4, 2))
        gt = {"bboxes": _le90(polys), "labels": torch.tensor([DOTA_V2_CLASSES.index(o.name) for o in objects])}
        empty = {"bboxes": torch.zeros(0, 5), "labels": torch.zeros(0, dtype=torch.long)}
        window_metric.process({}, [{**sample, "gt_instances": gt, "ignored_instances": empty}])
    assert window_metric.evaluate(len(samples))["dota/mAP"] != ours["dota/mAP"]


def test_dota_submission_refuses_existing_prefix_and_bad_names(tmp_path):
    from mmrotate.registry import METRICS

    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        METRICS.build(dota_submission_evaluator(tmp_path / "exists"))
    metric = METRICS.build(dota_submission_evaluator(tmp_path / "new"))
    metric.dataset_meta = {"classes": DOTA_V2_CLASSES}
    sample = _window_predictions("P0002", [], rate=1.0)[0]
    metric.process({}, [{**sample, "img_id": "P0002"}])
    with pytest.raises(ValueError, match="<scene>__<rate>__<x>___<y>"):
        metric.evaluate(1)
    metric = METRICS.build(dota_submission_evaluator(tmp_path / "mmrotate_names"))
    metric.dataset_meta = {"classes": DOTA_V2_CLASSES}
    metric.process({}, [{**sample, "img_id": "P0002__1024__0___0"}])  # mmrotate's splitter: window size, not rate
    with pytest.raises(ValueError, match="window size"):
        metric.evaluate(1)


def test_read_task1_rejects_malformed_lines(tmp_path):
    (tmp_path / "Task1_plane.txt").write_text("P0001 0.9 1 2 3 4 5 6 7 8\nP0001 0.8 1 2 3\n")
    with pytest.raises(ValueError, match=r"Task1_plane.txt:2"):
        read_task1(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no Task1_"):
        read_task1(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        read_task1(tmp_path / "missing.zip")


# --- LoveDA --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loveda_test(tmp_path_factory):
    """mmseg's LoveDADataset over a tiny synthetic test split (2 images per domain)."""
    from mmseg.datasets import LoveDADataset

    root = tmp_path_factory.mktemp("loveda")
    synthetic.write_loveda_like(root / "raw", splits={"Train": 1, "Val": 1, "Test": 2}, image_size=64, seed=4)
    loveda.prepare(root / "raw", root / "prepared", workers=1)
    return LoveDADataset(data_root=str(root / "prepared"), data_prefix={"img_path": "img_dir/test"}, pipeline=[])


def _loveda_samples(dataset, rng: np.random.Generator) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Predictions 0..6 (the model's classes under reduce_zero_label) for every test image."""
    samples, expected = [], {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        pred = rng.integers(0, 7, (64, 64))
        pred[0, :7] = np.arange(7)  # every class present
        samples.append({"img_path": info["img_path"], "reduce_zero_label": info["reduce_zero_label"],
                        "pred_sem_seg": {"data": torch.from_numpy(pred)[None]}})  # fmt: skip
        expected[Path(info["img_path"]).name] = pred
    return samples, expected


def _zip_contents(path: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    contents = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as handle, Image.open(handle) as image:
                assert image.mode == "L"
                contents[name] = np.asarray(image)
    return contents


def test_loveda_submission_server_format(loveda_test, tmp_path):
    from mmseg.registry import METRICS

    samples, expected = _loveda_samples(loveda_test, np.random.default_rng(0))
    assert len(samples) == 4 and all(s["reduce_zero_label"] for s in samples)
    metric = METRICS.build(loveda_submission_evaluator(tmp_path / "pred", tmp_path / "submission.zip"))
    metric.dataset_meta = {"classes": LOVEDA_CLASSES}
    metric.process({}, samples)
    assert metric.evaluate(len(samples)) == {}
    contents = _zip_contents(tmp_path / "submission.zip")
    assert sorted(contents) == sorted(expected)  # <id>.png at the archive root, ids as the test images
    assert all(name.removesuffix(".png").isdigit() for name in contents)
    for name, mask in contents.items():
        assert mask.dtype == np.uint8 and mask.shape == (64, 64) and mask.max() == 6 and mask.min() == 0
        assert np.array_equal(mask, expected[name])
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == sorted(expected)
    # default zip path: next to the folder
    metric = METRICS.build(loveda_submission_evaluator(tmp_path / "again"))
    metric.dataset_meta = {"classes": LOVEDA_CLASSES}
    metric.process({}, samples[:1])
    metric.evaluate(1)
    assert list(_zip_contents(tmp_path / "again.zip")) == [Path(samples[0]["img_path"]).name]


def test_mmseg_iou_metric_output_needs_offset_for_loveda(loveda_test, tmp_path):
    from mmseg.evaluation.metrics import IoUMetric

    samples, expected = _loveda_samples(loveda_test, np.random.default_rng(1))
    metric = IoUMetric(format_only=True, output_dir=str(tmp_path / "mmseg"))
    metric.dataset_meta = {"classes": LOVEDA_CLASSES}
    metric.process({}, samples)
    metric.evaluate(len(samples))
    written = [read_image(p) for p in (tmp_path / "mmseg").iterdir()]
    assert max(int(m.max()) for m in written) == 7  # mmseg 1.x writes 1..7: not what the server reads
    with pytest.raises(ValueError, match=r"class values \[7\]"):
        package_loveda_submission(tmp_path / "mmseg", tmp_path / "bad.zip")
    assert not (tmp_path / "bad.zip").exists()
    package_loveda_submission(tmp_path / "mmseg", tmp_path / "fixed.zip", offset=1)
    fixed = _zip_contents(tmp_path / "fixed.zip")
    assert sorted(fixed) == sorted(expected) and all(np.array_equal(fixed[n], expected[n]) for n in expected)


def test_loveda_submission_label_conventions(tmp_path):
    from rsfm.finetune.export import LoveDASubmission

    metric = LoveDASubmission(output_dir=str(tmp_path / "pred"))
    sample = {"img_path": "/d/4191.png", "reduce_zero_label": True, "pred_sem_seg": {"data": torch.full((1, 4, 4), 7)}}
    with pytest.raises(ValueError, match=r"4191\.png"):
        metric.process({}, [sample])
    # a model trained on the released values (reduce_zero_label=False, 1..7 classes) is shifted down to 0..6
    released = torch.arange(1, 8).repeat(2, 1)[None]
    metric.process({}, [{**sample, "reduce_zero_label": False, "pred_sem_seg": {"data": released}}])
    assert np.array_equal(read_image(tmp_path / "pred/4191.png"), np.tile(np.arange(7), (2, 1)))
    (tmp_path / "pred/4191.png").unlink()
    with pytest.raises(ValueError, match="no prediction PNGs"):
        package_loveda_submission(tmp_path / "pred", tmp_path / "x.zip")


def test_train_splits_concatenate_under_one_fraction(multiscale_val, tmp_path):
    """train_splits [train, val]: one FractionSubset over the windows of both splits (a fraction of trainval)."""
    from mmrotate.utils import register_all_modules

    from rsfm.finetune.configs import build_config

    from .conftest import REPO

    tiles = multiscale_val / "tiles"
    register_all_modules(init_default_scope=False)

    def built(fraction, splits):
        cfg = build_config(
            "dota_v2", "vit_tiny12x4", fraction, 0, encoder="encoder.safetensors", data_root=tiles,
            work_dir=tmp_path, settings={"train_splits": splits}, base_dir=REPO / "config/finetune",
            arch={"model": "vit_tiny12x4", "patch_size": 8},
        )  # fmt: skip
        with DefaultScope.overwrite_default_scope("mmrotate"):
            return DATASETS.build(cfg.train_dataloader.dataset)

    train, val, both = built(1.0, ["train"]), built(1.0, ["val"]), built(1.0, ["train", "val"])
    assert len(both) == len(train) + len(val) and len(train) > 0 and len(val) > 0
    paths = {Path(both.get_data_info(i)["img_path"]).parent.parent.name for i in range(len(both))}
    assert paths == {"train", "val"}
    assert len(built(0.5, ["train", "val"])) == subset_size(len(both), 0.5)
