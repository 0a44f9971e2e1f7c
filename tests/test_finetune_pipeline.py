"""Fine-tuning as the workflow runs it: generated mm configs, real mmrotate/mmseg runs on synthetic data, resume,
test-server exports, the tidy table and the figures."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from mmengine.config import Config

from rsfm.config import validate_config
from rsfm.data.annotations import DIOR_R_CLASSES, DOTA_V2_CLASSES
from rsfm.errors import ConfigError
from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.finetune.configs import build_config, even_taps, resolve_settings, write_config
from rsfm.finetune.run import collect, finetune, fraction_label, run_dir
from rsfm.finetune.train import validation_is_test
from rsfm.plots.finetune import metric_vs_fraction, metric_vs_size
from rsfm.pretrain.engine import RunConfig, build_model, export_encoder

from .checks import assert_finetune_run
from .conftest import REPO

BASES = REPO / "config/finetune"
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


def export_random_encoder(out, size):
    """A freshly initialised tiny encoder exported into ``out`` as the pretraining stage does (patch 8, 64 px)."""
    cfg = RunConfig(size, "", str(out), img_size=64, patch_size=8, decoder_dim=32, decoder_depth=1)
    export_encoder(build_model(cfg), cfg, 1, out)
    return out / "encoder.safetensors"


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """A freshly initialised tiny 12x4 encoder (:func:`export_random_encoder`)."""
    return export_random_encoder(tmp_path_factory.mktemp("encoder"), "vit_tiny12x4")


def default_settings(benchmark, size="vit_tiny12x4"):
    return resolve_settings(DEFAULT["finetune"], benchmark, size)


# ---------------------------------------------------------------------------------------------------- base configs
def test_base_configs_name_the_data_stage_classes():
    from mmseg.datasets import LoveDADataset, PotsdamDataset

    expected = {
        "dota_v2": DOTA_V2_CLASSES, "dior_r": DIOR_R_CLASSES, "potsdam": PotsdamDataset.METAINFO["classes"],
        "loveda": LoveDADataset.METAINFO["classes"],
    }  # fmt: skip
    for benchmark, classes in expected.items():
        cfg = Config.fromfile(str(BASES / f"{benchmark}.py"))
        assert tuple(cfg.classes) == tuple(classes), benchmark
        heads = [cfg.model.roi_head.bbox_head] if "roi_head" in cfg.model else [cfg.model.decode_head]
        assert all(head.num_classes == len(classes) for head in heads)
        assert cfg.train_dataloader.dataset.type == "FractionSubset"


# ---------------------------------------------------------------------------------------------------- generated configs
@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_generated_config_carries_encoder_input_size_schedule_and_fraction(encoder, tmp_path, benchmark):
    settings = default_settings(benchmark)
    cfg = build_config(
        benchmark, "vit_tiny12x4", 0.25, 3, encoder=encoder, data_root=tmp_path / "data", work_dir=tmp_path / "work",
        settings=settings, base_dir=BASES,
    )  # fmt: skip
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.patch_size, backbone.img_size) == ("vit_tiny12x4", 8, 128)
    assert backbone.pretrained == str(encoder.resolve()) and backbone.window_size == 4
    train = cfg.train_dataloader
    assert (train.dataset.fraction, train.dataset.seed, cfg.randomness["seed"]) == (0.25, 3, 3)
    assert train.dataset.dataset.data_root == str(tmp_path / "data") == cfg.val_dataloader.dataset.data_root
    assert cfg.train_cfg.max_iters == 12 and cfg.default_hooks.checkpoint.interval == 12
    assert [s["end"] for s in cfg.param_scheduler] == [3, 12]  # 2 warm-up iterations (mmengine: end exclusive)
    assert cfg.optim_wrapper.type == "OptimWrapper" and cfg.optim_wrapper.optimizer.lr == 1e-3
    if BENCHMARKS[benchmark].toolbox == "mmrotate":
        assert cfg.model.neck.in_channels == 96 and cfg.model.neck.patch_size == 8
        assert cfg.model.neck.out_channels == 32 == cfg.model.rpn_head.in_channels  # the default's slim heads
        scales = [t["scale"] for t in train.dataset.dataset.pipeline if t["type"] == "mmdet.Resize"]
        assert scales == [(128, 128)]  # 1024 (DOTA) or 800 (DIOR-R) windows scaled like the backbone
    else:
        assert backbone.out_indices == even_taps(12) == (2, 5, 8, 11)
        assert cfg.model.neck.embed_dim == 96 and cfg.model.neck.rescales == [2.0, 1.0, 0.5, 0.25]
        assert cfg.model.decode_head.in_channels == [96] * 4 and cfg.model.decode_head.norm_cfg.type == "BN"
        crops = [t["crop_size"] for t in train.dataset.dataset.pipeline if "crop_size" in t]
        assert crops == [(128, 128)] and cfg.model.data_preprocessor.size == (128, 128)
    written = write_config(cfg, tmp_path / "run/config.py")
    again = Config.fromfile(str(written))
    assert again.model.backbone == cfg.model.backbone and again.run == cfg.run


def test_generated_config_on_gpus_uses_bf16_and_syncbn(encoder, tmp_path):
    cfg = build_config(
        "potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=tmp_path, work_dir=tmp_path, settings={},
        base_dir=BASES, gpus=8,
    )  # fmt: skip
    assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.dtype == "bfloat16"
    assert cfg.model.decode_head.norm_cfg.type == "SyncBN" and cfg.env_cfg.dist_cfg["backend"] == "nccl"
    assert cfg.model.backbone.img_size == 512  # the base config's size when the pipeline sets none


@pytest.mark.parametrize("warmup", [0, 1, 2, 5])
def test_learning_rate_rises_to_its_peak_in_warmup_iterations_then_decays(encoder, tmp_path, warmup):
    """The generated schedulers, stepped as mmengine's Runner steps them: the lr reaches its peak at iteration
    `warmup` (at once for 0) and falls by cosine to 0; a LinearLR ending at 1 would hold it at 1e-3 x peak."""
    import torch
    from mmengine.registry import PARAM_SCHEDULERS

    settings = {"max_iters": 12, "warmup_iters": warmup, "lr": 1e-3}
    cfg = build_config(
        "potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=tmp_path, work_dir=tmp_path, settings=settings,
        base_dir=BASES,
    )  # fmt: skip
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedulers = [PARAM_SCHEDULERS.build({**s, "optimizer": optimizer}) for s in cfg.param_scheduler]
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        for scheduler in schedulers:
            scheduler.step()
    assert lrs[warmup] == pytest.approx(1e-3) and max(lrs) == pytest.approx(1e-3)
    assert all(a < b for a, b in itertools.pairwise(lrs[: warmup + 1]))  # rising
    assert all(a >= b for a, b in itertools.pairwise(lrs[warmup:])) and lrs[-1] < 1e-4


def test_settings_layer_schedule_benchmark_size():
    finetune_cfg = {
        "schedule": {"lr": 1e-4, "max_iters": 100, "options": {"a": 1}},
        "per_benchmark": {"potsdam": {"max_iters": 50, "options": {"b": 2}}},
        "per_size": {"vit_l12x4": {"lr": 5e-5, "nodes": 2}},
    }
    settings = resolve_settings(finetune_cfg, "potsdam", "vit_l12x4")
    assert settings == {"lr": 5e-5, "max_iters": 50, "options": {"a": 1, "b": 2}}  # nodes: a launch key
    assert resolve_settings(finetune_cfg, "loveda", "vit_b12x1")["max_iters"] == 100


def test_config_errors_name_the_problem(encoder, tmp_path):
    common = dict(encoder=encoder, data_root=tmp_path, work_dir=tmp_path, base_dir=BASES)
    with pytest.raises(ConfigError, match="unknown fine-tuning benchmark 'isaid'"):
        build_config("isaid", "vit_tiny12x4", 1.0, 0, settings={}, **common)
    with pytest.raises(ConfigError, match="holds a vit_tiny12x4 encoder, not vit_tiny12x1"):
        build_config("potsdam", "vit_tiny12x1", 1.0, 0, settings={}, **common)
    with pytest.raises(ConfigError, match="not a multiple of the encoder's patch size 8"):
        build_config("potsdam", "vit_tiny12x4", 1.0, 0, settings={"img_size": 100}, **common)
    with pytest.raises(ConfigError, match=r"unknown settings \['lrr'\]"):
        build_config("potsdam", "vit_tiny12x4", 1.0, 0, settings={"lrr": 1}, **common)
    with pytest.raises(ConfigError, match="run the pretraining stage"):
        build_config("potsdam", "vit_tiny12x4", 1.0, 0, settings={}, **{**common, "encoder": tmp_path / "none"})


def test_scratch_run_builds_the_same_architecture_without_the_weights(encoder, tmp_path):
    import torch
    from mmengine.registry import init_default_scope
    from safetensors.torch import load_file

    from rsfm.finetune.backbone import ParallelViTDet

    arch = json.loads(encoder.with_name("encoder.json").read_text())
    common = dict(data_root=tmp_path, work_dir=tmp_path / "work", settings=default_settings("potsdam"), base_dir=BASES)
    pretrained = build_config("potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, **common)
    scratch = build_config("potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, arch=arch, init="scratch", **common)
    assert scratch.model.backbone.pretrained is None and scratch.run["init"] == "scratch"
    assert pretrained.run["init"] == "pretrained"
    same = {k: v for k, v in scratch.model.backbone.items() if k != "pretrained"}
    assert same == {k: v for k, v in pretrained.model.backbone.items() if k != "pretrained"}
    init_default_scope("mmseg")
    built = {init: ParallelViTDet(**{k: v for k, v in cfg.model.backbone.items() if k != "type"})
             for init, cfg in (("pretrained", pretrained), ("scratch", scratch))}  # fmt: skip
    loaded, fresh = (dict(model.named_parameters()) for model in built.values())
    assert loaded.keys() == fresh.keys()
    file = load_file(str(encoder))
    assert torch.equal(loaded["blocks.0.attns.0.attn.qkv.weight"], file["blocks.0.attns.0.attn.qkv.weight"])
    matrices = [name for name, value in loaded.items() if value.ndim >= 2 and name != "pos_embed"]
    assert matrices and all(not torch.equal(loaded[name], fresh[name]) for name in matrices)  # drawn, not read
    with pytest.raises(ConfigError, match="scratch run needs the encoder's architecture"):
        build_config("potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, init="scratch", **common)
    with pytest.raises(ConfigError, match="unknown encoder init 'imagenet'"):
        build_config("potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, init="imagenet", **common)


def test_planned_runs_cover_each_init_at_its_fractions():
    from rsfm.finetune.run import planned_runs, planned_submissions

    section = {"benchmarks": ["dota_v2", "potsdam"], "sizes": ["vit_tiny12x1"], "fractions": [0.5, 1.0],
               "seeds": [0], "inits": ["pretrained", "scratch"], "init_fractions": {"scratch": [1.0]}}  # fmt: skip
    runs = planned_runs(section)
    assert ("potsdam", "vit_tiny12x1", "scratch", 1.0, 0) in runs and len(runs) == 2 * (2 + 1)
    assert not any(init == "scratch" and fraction == 0.5 for _, _, init, fraction, _ in runs)
    assert planned_submissions(section) == [("dota_v2", "vit_tiny12x1", "pretrained", 1.0, 0)]
    plain = {k: v for k, v in section.items() if k not in ("inits", "init_fractions")}
    assert {init for _, _, init, _, _ in planned_runs(plain)} == {"pretrained"}  # the default: pretrained only
    assert run_dir(*runs[-1]).parts[-3:] == ("vit_tiny12x1", "scratch", "f1_s0")


def test_pipeline_config_checks_sizes_and_benchmarks():
    config = json.loads(json.dumps(DEFAULT))
    config["finetune"]["sizes"] = ["vit_b12x1"]
    config["finetune"]["benchmarks"] = ["dota_v2", "dior_r"]
    del config["data"]["datasets"]["dior_r"]
    with pytest.raises(ConfigError) as error:
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    assert "'vit_b12x1' is not pretrained here" in str(error.value)
    assert "'dior_r' needs data.datasets.dior_r" in str(error.value)
    config = json.loads(json.dumps(DEFAULT))
    config["finetune"].update(inits=["pretrained"], init_fractions={"scratch": [1.0]})
    with pytest.raises(ConfigError, match=r"'finetune.init_fractions.scratch': 'scratch' is not in finetune.inits"):
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


# ---------------------------------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def data_root(default_data):
    return default_data


def quick(max_iters):
    config = json.loads(json.dumps(DEFAULT["finetune"]))
    config["schedule"].update(max_iters=max_iters, val_interval=max_iters, warmup_iters=1, log_interval=1)
    return config


@pytest.fixture(scope="module")
def potsdam_run(encoder, data_root, tmp_path_factory):
    """One 2-iteration run through rsfm.finetune.run (as rule finetune), on half the training set. Every benchmark's
    runs, and their test-server exports, are checked in the end-to-end workflow test (tests/checks.py)."""
    out = tmp_path_factory.mktemp("runs")
    folder = run_dir("potsdam", "vit_tiny12x4", "pretrained", 0.5, 0, root=out)
    result = finetune(
        quick(2), "potsdam", "vit_tiny12x4", 0.5, 0, encoder=encoder, data_root=data_root / "tiles/potsdam",
        out_dir=folder, log_path=out / "potsdam.log",
    )  # fmt: skip
    return folder, result


@pytest.mark.slow
def test_run_trains_scores_and_keeps_best_and_last_checkpoints(potsdam_run):
    folder, result = potsdam_run
    assert_finetune_run(folder, "potsdam", "vit_tiny12x4", 0.5, 0, iterations=2)
    assert json.loads((folder / "metrics.json").read_text()) == result


def test_validation_scores_the_test_split_only_where_it_is_the_test_split(encoder, tmp_path):
    # DOTA v2.0 and LoveDA test on val (their test labels are on the servers), Potsdam validates on its test tiles
    for benchmark in BENCHMARKS:
        cfg = build_config(
            benchmark, "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=tmp_path, work_dir=tmp_path / "work",
            settings=default_settings(benchmark), base_dir=BASES,
        )  # fmt: skip
        assert validation_is_test(cfg) == (benchmark != "dior_r"), benchmark


@pytest.mark.slow
def test_final_validation_is_the_test_score_and_a_rerun_tests_again(potsdam_run, encoder, data_root, tmp_path):
    folder, result = potsdam_run
    assert "scored the final model on the test split" in (folder.parents[3] / "potsdam.log").read_text()
    # a rerun of the finished run trains nothing, so no validation: the test pass scores it, and agrees
    log = tmp_path / "again.log"
    again = finetune(
        quick(2), "potsdam", "vit_tiny12x4", 0.5, 0, encoder=encoder, data_root=data_root / "tiles/potsdam",
        out_dir=folder, log_path=log,
    )  # fmt: skip
    assert "Iter(test)" in log.read_text() and "Iter(train)" not in log.read_text()
    assert again["rows"] == result["rows"]


@pytest.mark.slow
def test_rerun_with_other_settings_sets_the_old_run_aside_and_starts_afresh(potsdam_run, encoder, data_root, tmp_path):
    # a longer schedule is another run (its cosine ends elsewhere): resuming would report a model no fresh run makes
    folder, _ = potsdam_run
    log = tmp_path / "longer.log"
    result = finetune(
        quick(3), "potsdam", "vit_tiny12x4", 0.5, 0, encoder=encoder, data_root=data_root / "tiles/potsdam",
        out_dir=folder, log_path=log,
    )  # fmt: skip
    text = log.read_text()
    assert "resumed epoch" not in text and "Iter(train) [1/3]" in text and result["iterations"] == 3
    (kept,) = (folder / "superseded").iterdir()  # the earlier run, whole: checkpoints and its record
    assert (kept / "work/iter_2.pth").is_file() and json.loads((kept / "run.json").read_text())["settings"][
        "max_iters"
    ] == 2  # fmt: skip
    assert json.loads((folder / "run.json").read_text())["settings"]["max_iters"] == 3


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_last_checkpoint(encoder, data_root, tmp_path):
    # torch >= 2.6 loads with weights_only=True by default, which mmengine 0.10.7's checkpoints do not pass
    config = quick(2)
    config["schedule"].update(val_interval=1, options={"default_hooks.checkpoint.max_keep_ckpts": 2})
    folder = tmp_path / "run"
    args = ("potsdam", "vit_tiny12x4", 1.0, 0)
    kwargs = {"encoder": encoder, "data_root": data_root / "tiles/potsdam", "out_dir": folder}
    finetune(config, *args, **kwargs, log_path=tmp_path / "first.log")
    # as a job killed after its first iteration's checkpoint leaves the run
    (folder / "work/iter_2.pth").unlink()
    (folder / "metrics.json").unlink()
    (folder / "work/last_checkpoint").write_text(str(folder / "work/iter_1.pth"))
    log = tmp_path / "resume.log"
    result = finetune(config, *args, **kwargs, log_path=log)
    text = log.read_text()
    assert "resumed epoch: 0, iter: 1" in text and "Iter(train) [2/2]" in text and "Iter(train) [1/2]" not in text
    assert result["iterations"] == 2 and not (folder / "superseded").exists()


def test_checkpoints_are_resumed_only_from_the_same_encoder_data_and_settings(encoder, tmp_path):
    from rsfm.finetune.run import run_record, set_aside_stale_work

    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    (data / "train/index.csv").write_text("window,objects\na,1\n")
    settings = default_settings("potsdam")
    launch = {"nodes": 1, "gpus_per_node": 0}
    run = {"benchmark": "potsdam", "size": "vit_tiny12x4", "fraction": 1.0, "seed": 0}

    def record(settings=settings, **changes):
        inputs = {"encoder": encoder, "data_root": data, "base_config": BASES / "potsdam.py", **changes}
        return run_record(settings, launch, run=run, **inputs)

    out = tmp_path / "run"
    (out / "work").mkdir(parents=True)
    assert set_aside_stale_work(out, record()) == ["run.json"]  # checkpoints without a record: not ours to trust
    first = record()
    (out / "work").mkdir()
    (out / "run.json").write_text(json.dumps(first))
    assert set_aside_stale_work(out, record()) == []  # an interrupted run restarted as it was: resume
    # how it is logged or fed changes nothing it computes
    assert set_aside_stale_work(out, record(settings={**settings, "log_interval": 1, "loader_workers": 3})) == []
    retrained = tmp_path / "other.safetensors"
    retrained.write_bytes(encoder.read_bytes()[:-1] + b"\x01")
    assert set_aside_stale_work(out, record(encoder=retrained)) == ["encoder_sha256"]
    (out / "work").mkdir()
    (out / "run.json").write_text(json.dumps(first))
    (data / "train/index.csv").write_text("window,objects\na,1\nb,2\n")  # re-tiled
    assert set_aside_stale_work(out, record()) == ["data_index_sha256"]
    assert len(list((out / "superseded").iterdir())) == 3  # every set-aside run kept


@pytest.mark.slow
def test_two_processes_train_with_ddp_through_torchrun(encoder, data_root, tmp_path):
    # the multi-GPU / multi-node path (torchrun, mmengine's pytorch launcher, DDP), here 2 CPU processes on gloo
    config = quick(2)
    config["run"] = {"nodes": 1, "gpus_per_node": 0, "processes_per_node": 2}
    log = tmp_path / "ddp.log"
    result = finetune(
        config, "potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=data_root / "tiles/potsdam",
        out_dir=tmp_path / "run", log_path=log,
    )  # fmt: skip
    text = log.read_text()
    assert "Distributed launcher: pytorch" in text and "GPU number: 2" in text  # mmengine: the world size
    assert "Distributed training: True" in text and "Iter(train) [2/2]" in text
    assert any(row["metric"] == "mIoU" for row in result["rows"])


# ---------------------------------------------------------------------------------------------------- table and figures
def test_table_and_figures_from_tidy_rows(tmp_path):
    files = []
    rng = np.random.default_rng(0)
    for benchmark, metric in (("dior_r", "dota/mAP"), ("potsdam", "mIoU")):
        for size in ("vit_tiny12x1", "vit_tiny12x4"):
            for fraction in (0.1, 1.0):
                for seed in (0, 1):
                    run = {"benchmark": benchmark, "size": size, "fraction": fraction, "seed": seed}
                    rows = [{**run, "split": "test", "metric": m, "value": float(rng.uniform(0, 100))}
                            for m in (metric, "other")]  # fmt: skip
                    path = run_dir(benchmark, size, "pretrained", fraction, seed, root=tmp_path) / "metrics.json"
                    path.parent.mkdir(parents=True)
                    path.write_text(json.dumps({"run": run, "rows": rows}))
                    files.append(path)
    table = collect(files, tmp_path / "metrics.csv")
    assert len(table) == 2 * 2 * 2 * 2 * 2
    assert list(pd.read_csv(tmp_path / "metrics.csv").columns) == [
        "benchmark", "size", "init", "params_m", "fraction", "seed", "split", "metric", "value",
    ]  # fmt: skip
    params = table.groupby("size")["params_m"].first()
    assert params["vit_tiny12x4"] > 3 * params["vit_tiny12x1"]  # four parallel branches per block
    for draw, name in ((metric_vs_size, "size.png"), (metric_vs_fraction, "fraction.png")):
        draw(tmp_path / "metrics.csv", tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000
    assert fraction_label(1.0) == "1" and fraction_label(0.05) == "0.05"


# ---------------------------------------------------------------------------------------------------- protocols
def test_potsdam_scores_every_labelled_test_pixel_once(encoder, tmp_path):
    """The default's Potsdam test tile, whole, through the generated config's test loader and the real UperNet's slide
    inference: the summed confusion matrix counts each labelled pixel of the test tiles once (255 left out)."""
    import torch
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS, METRICS, MODELS
    from mmseg.utils import register_all_modules

    import rsfm.finetune.backbone
    import rsfm.finetune.scores  # noqa: F401 (registers ParallelViTDet and RSSegMetric)
    from rsfm.data import pipeline

    cfg_data = validate_config(DEFAULT, REPO / "workflow/schemas/config.schema.yaml")["data"]["datasets"]["potsdam"]
    raw, prepared, tiles = tmp_path / "raw", tmp_path / "prepared", tmp_path / "tiles"
    pipeline.synthesize("potsdam", cfg_data, raw)
    pipeline.convert("potsdam", cfg_data, raw, prepared, workers=1)
    pipeline.tile("potsdam", cfg_data, prepared, tiles, workers=1)
    cfg = build_config(
        "potsdam", "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=tiles, work_dir=tmp_path / "work",
        settings=default_settings("potsdam"), base_dir=BASES,
    )  # fmt: skip
    assert cfg.model.test_cfg == {"mode": "slide", "crop_size": (128, 128), "stride": (85, 85)}  # 512/341 x 0.25
    register_all_modules(init_default_scope=True)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    tile_side = cfg_data["synthetic"]["tile_size"]
    assert len(dataset) == len(cfg_data["splits"]["test"])  # whole tiles, not crops
    model = MODELS.build(cfg.model).eval()
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    with torch.no_grad():
        for i in range(len(dataset)):
            outputs = model.test_step(pseudo_collate([dataset[i]]))
            assert outputs[0].pred_sem_seg.data.shape[-2:] == (tile_side, tile_side)
            metric.process({}, [out.to_dict() for out in outputs])
    # the labelled pixels of the test tiles, from the release's label rasters (not from the tiler's counts)
    from rsfm.data.kinds.base import image_root
    from rsfm.data.kinds.potsdam import IGNORE_INDEX, colour_to_index
    from rsfm.io import read_image

    listed = pd.read_csv(prepared / "tiles.csv")
    labelled = sum(
        int((colour_to_index(read_image(image_root(prepared) / row.label)) != IGNORE_INDEX).sum())
        for row in listed[listed["split"] == "test"].itertuples()
    )
    assert 0 < labelled < tile_side**2 * len(dataset)  # eroded boundaries are ignored
    assert int(np.sum(metric.results)) == labelled


def test_a_split_trained_on_is_reported_as_seen(encoder, tmp_path):
    """train_splits [train, val]: the training set reads both splits, and DOTA's val score is labelled val_seen."""
    from rsfm.finetune.train import _split_of, training_splits

    def config(settings):
        return build_config(
            "dota_v2", "vit_tiny12x4", 1.0, 0, encoder=encoder, data_root=tmp_path, work_dir=tmp_path,
            settings=settings, base_dir=BASES,
        )  # fmt: skip

    plain, trainval = config({}), config({"train_splits": ["train", "val"]})
    assert training_splits(plain) == ["train"] and training_splits(trainval) == ["train", "val"]
    assert _split_of(trainval.test_dataloader) == "val"  # so run() writes the rows as split val_seen
    assert trainval.val_dataloader == plain.val_dataloader  # validation itself unchanged: merged val scenes
    assert resolve_settings({"per_benchmark": {"dota_v2": {"train_splits": ["train", "val"]}}}, "dota_v2", "x")[
        "train_splits"
    ] == ["train", "val"]


@pytest.mark.slow
def test_detector_learns_the_scene_it_trains_on(tmp_path):
    """The detection chain learns: Oriented R-CNN on a random-init tiny encoder, trained on one synthetic DIOR-R image
    (a plane and three tennis courts, 12-25 px at the 128-px input) for 300 iterations and scored on that same image,
    reaches a mAP far above 0 (92 when measured). The default's 12-iteration runs score 0, so this is what shows
    that boxes are encoded, rescaled and scored consistently from data stage to metric (docs/finetuning.md)."""
    from rsfm.data import pipeline

    (tmp_path / "encoder").mkdir()
    weights = export_random_encoder(tmp_path / "encoder", "vit_tiny12x1")
    dataset = validate_config(
        {"data": {"datasets": {"dior_r": {
            "source": "synthetic",
            "synthetic": {"splits": {"train": 1, "val": 1, "test": 1}, "image_size": 256, "seed": 2, "gsd": [0.5, 0.7],
                          "classes": ["airplane", "tenniscourt"], "object_density": 20},
            "tiling": {"size": 256, "gap": 0, "rates": [1.0], "iof_thr": 0.7, "keep_empty": True},
        }}}},
        REPO / "workflow/schemas/config.schema.yaml",
    )["data"]["datasets"]["dior_r"]  # fmt: skip
    pipeline.synthesize("dior_r", dataset, tmp_path / "raw")
    pipeline.convert("dior_r", dataset, tmp_path / "raw", tmp_path / "prepared", workers=1)
    pipeline.tile("dior_r", dataset, tmp_path / "prepared", tmp_path / "tiles", workers=1)
    for split in ("val", "test"):  # score the image trained on
        for sub in ("images", "annfiles"):
            for path in (tmp_path / "tiles" / split / sub).iterdir():
                path.unlink()
            for path in (tmp_path / "tiles/train" / sub).iterdir():
                (tmp_path / "tiles" / split / sub / path.name).write_bytes(path.read_bytes())
    objects = len((next((tmp_path / "tiles/train/annfiles").iterdir())).read_text().splitlines())
    assert objects >= 4
    config = quick(300)
    config["per_benchmark"]["dior_r"]["options"]["model.rpn_head.anchor_generator.scales"] = [4]  # 16-px anchors
    result = finetune(
        config, "dior_r", "vit_tiny12x1", 1.0, 0, encoder=weights, data_root=tmp_path / "tiles",
        out_dir=tmp_path / "run", log_path=tmp_path / "run.log",
    )  # fmt: skip
    score = next(r["value"] for r in result["rows"] if r["metric"] == "dota/mAP")
    assert score > 30, (score, objects)
