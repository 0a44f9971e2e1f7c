"""The paper config plans the benchmarks' protocols: trainval DOTA v2.0 runs validated on merged scenes, DIOR-R on
trainval, Potsdam scored once per pixel; read from the jobs Snakemake plans and the mm configs their params build."""

from __future__ import annotations

import pytest

from rsfm.finetune.configs import build_config

from .conftest import REPO
from .workflow_dag import dag_jobs


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory):
    return dag_jobs(REPO / "config/paper.yaml", tmp_path_factory.mktemp("paper"))


def _configs(jobs, benchmark, tmp_path):
    """The mm config of every planned fine-tuning job of ``benchmark``, built from that job's params."""
    built = []
    for job in jobs:
        if job["rule"] != "finetune" or job["wildcards"]["benchmark"] != benchmark:
            continue
        wc, params = job["wildcards"], job["params"]["finetune_cfg"]
        built.append(build_config(
            benchmark, wc["size"], float(wc["fraction"]), int(wc["seed"]), encoder="encoder.safetensors",
            data_root=tmp_path / benchmark, work_dir=tmp_path / "work", settings=params["schedule"],
            base_dir=REPO / params.get("configs", "config/finetune"), arch={"model": wc["size"], "patch_size": 16},
        ))  # fmt: skip
    assert built, f"the paper config plans no {benchmark} fine-tuning"
    return built


def _reads(dataset) -> list[str]:
    while "dataset" in dataset:
        dataset = dataset["dataset"]
    return [part["data_prefix"]["img_path"] for part in dataset.get("datasets", [dataset])]


def test_dota_v2_trains_on_trainval_and_validates_on_merged_scenes(paper_jobs, tmp_path):
    for cfg in _configs(paper_jobs, "dota_v2", tmp_path):
        assert _reads(cfg.train_dataloader.dataset) == ["train/images/", "val/images/"]
        assert cfg.train_dataloader.dataset.dataset.type == "ConcatDataset"
        assert _reads(cfg.val_dataloader.dataset) == ["val/images/"]
        evaluator = cfg.val_evaluator
        assert evaluator.type == "SceneAPMetric" and not evaluator.get("merge_patches")
        assert evaluator.data_root == str(tmp_path / "dota_v2") and evaluator.scene_labels == "val/scenes/"
    tiling = [job for job in paper_jobs if job["rule"] == "tile" and job["wildcards"]["dataset"] == "dota_v2"]
    assert len(tiling) == 1  # the data stage that writes val's windows and scenes
    submissions = [job for job in paper_jobs if job["rule"] == "finetune_submission"]
    assert {job["wildcards"]["benchmark"] for job in submissions} == {"dota_v2", "loveda"}


def test_dior_r_trains_on_trainval_and_scores_test(paper_jobs, tmp_path):
    for cfg in _configs(paper_jobs, "dior_r", tmp_path):
        assert _reads(cfg.train_dataloader.dataset) == ["train/images/", "val/images/"]
        assert _reads(cfg.test_dataloader.dataset) == ["test/images/"]


def test_potsdam_scores_whole_test_tiles_by_sliding_window(paper_jobs, tmp_path):
    from rsfm.data.kinds.potsdam import CROPPED_SPLITS

    assert "test" not in CROPPED_SPLITS  # the data stage writes the test tiles whole
    for cfg in _configs(paper_jobs, "potsdam", tmp_path):
        assert cfg.model.test_cfg == {"mode": "slide", "crop_size": (512, 512), "stride": (341, 341)}
        assert _reads(cfg.test_dataloader.dataset) == ["img_dir/test"]
        resize = [t for t in cfg.test_dataloader.dataset.pipeline if t["type"] == "Resize"]
        assert resize == [{"type": "Resize", "scale_factor": 1.0, "keep_ratio": True}]  # the tile at its own size
