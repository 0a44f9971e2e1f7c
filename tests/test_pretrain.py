"""Pretraining engine: schedule, parameter groups, data order, and real DeepSpeed runs on CPU ranks."""

import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from rsfm.launch import torchrun_args
from rsfm.models.objective import param_groups
from rsfm.pretrain.data import IMAGENET_MEAN, IMAGENET_STD, ShardImages, StepSampler, crop_resize, normalize
from rsfm.pretrain.engine import RunConfig, build_model, warmup_cosine

from .conftest import cpu_env, validate_default, write_run


def test_warmup_then_cosine():
    values = [warmup_cosine(s, total=100, warmup=10, min_ratio=0.0) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[55] == pytest.approx(0.5, abs=0.02)
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))


def test_no_weight_decay_on_norms_biases_and_embeddings():
    model = build_model(RunConfig("vit_tiny12x1", "", "", img_size=32, patch_size=8, decoder_depth=1, decoder_dim=32))
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "encoder.cls_token" in no_decay_names and "mask_token" in no_decay_names
    assert any(n.endswith("norm1.weight") or ".norm." in n for n in no_decay_names)
    assert all(p.ndim == 2 or p.ndim == 4 for p in decay["params"])
    assert "encoder.pos_embed" not in names.values() or not model.encoder.pos_embed.requires_grad
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0


def test_sampler_resumes_mid_epoch_exactly():
    full = StepSampler(50, micro_batch=3, rank=1, world=2, seed=7)
    stream = iter(full)
    items = [next(stream) for _ in range(3 * 20)]
    resumed = iter(StepSampler(50, micro_batch=3, rank=1, world=2, seed=7, start_step=11))
    assert [next(resumed) for _ in range(3 * 9)] == items[3 * 11 :]
    epochs = {e for e, _ in items}
    assert epochs == {0, 1, 2}  # 8 micro-batches per epoch for this rank
    other_rank = iter(StepSampler(50, micro_batch=3, rank=0, world=2, seed=7))
    first_epoch = {i for e, i in items if e == 0}
    assert not first_epoch & {next(other_rank)[1] for _ in range(24)}  # ranks see disjoint samples


def test_augmentation_is_a_function_of_epoch_and_sample(shards):
    dataset = ShardImages(shards, img_size=32, seed=0)
    first, again, other_epoch = dataset[(0, 5)], dataset[(0, 5)], dataset[(1, 5)]
    assert first.shape == (3, 32, 32) and first.dtype == torch.uint8
    assert torch.equal(first, again) and not torch.equal(first, other_epoch)


def _jpeg(side, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(side // 64, side // 64, 3)).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_crop_without_draft_is_torchvisions_random_resized_crop():
    payload = _jpeg(256)
    box = (40, 17, 150, 180)  # top, left, height, width
    ours = crop_resize(Image.open(io.BytesIO(payload)), box, 64, flip=True, draft=False)
    image = Image.open(io.BytesIO(payload)).convert("RGB")
    expected = TF.hflip(TF.resized_crop(image, *box, [64, 64], interpolation=TF.InterpolationMode.BICUBIC))
    assert torch.equal(ours, TF.pil_to_tensor(expected))


@pytest.mark.parametrize(("box", "reduced_side"), [((0, 0, 2048, 2048), 256), ((100, 300, 700, 900), 512)])
def test_draft_decodes_large_crops_at_reduced_scale_and_nearly_the_same_pixels(box, reduced_side):
    payload = _jpeg(2048)
    image = Image.open(io.BytesIO(payload))
    fast = crop_resize(image, box, 112, flip=False)
    # decoded at 1/8 for the whole scene, at 1/4 for a 700-pixel crop (175 >= 112 pixels left)
    assert image.size == (reduced_side, reduced_side)
    exact = crop_resize(Image.open(io.BytesIO(payload)), box, 112, flip=False, draft=False)
    assert fast.shape == exact.shape == (3, 112, 112)
    assert (fast.float() - exact.float()).abs().mean() < 2.0  # grey levels of 255


def test_normalize_on_device_matches_imagenet_statistics():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    expected = TF.normalize(images.float() / 255, IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(normalize(images), expected)
    assert normalize(images, torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize("zero_stage", [0, 1])
def test_bf16_run_trains_and_exports_fp32(shards, tmp_path, zero_stage):
    # the paths GPUs take, run here on the CPU, where DeepSpeed supports bf16 too. ZeRO 0: torch autocast over fp32
    # weights; ZeRO 1: DeepSpeed's bf16 casts parameters, not buffers (the decoder's fixed position table stays fp32)
    # (with one attention kernel named, as a GPU config may: flash runs bf16 on the CPU too)
    run = write_run(tmp_path / "bf16.json", shards, tmp_path / "bf16", precision="bf16", epochs=1, global_batch=8,
                    micro_batch=8, zero_stage=zero_stage, model="vit_tiny12x4", attention="flash")  # fmt: skip
    subprocess.run(torchrun_args(run, nproc_per_node=1), env=cpu_env(), check=True, timeout=600, capture_output=True)
    metrics = pd.read_csv(tmp_path / "bf16/metrics.csv")
    assert len(metrics) == 6 and np.isfinite(metrics["loss"]).all() and (metrics["loss"] > 0).all()
    # logged at every stage: DeepSpeed's ZeRO optimiser reports it, at stage 0 the engine computes it
    assert np.isfinite(metrics["grad_norm"]).all() and (metrics["grad_norm"] > 0).all()
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(tmp_path / "bf16/encoder.safetensors").values()} == {torch.float32}


def test_slimmable_sandwich_run_exports_a_plain_encoder(shards, tmp_path):
    # learned slimmable training (paper 2) in the same engine: full, smallest and random widths every step
    run = write_run(tmp_path / "s.json", shards, tmp_path / "s", epochs=1, global_batch=8, micro_batch=8,
                    slimmable={"smallest": 0.25, "random_widths": 1})  # fmt: skip
    subprocess.run(torchrun_args(run, nproc_per_node=1), env=cpu_env(), check=True, timeout=600, capture_output=True)
    metrics = pd.read_csv(tmp_path / "s/metrics.csv")
    assert len(metrics) == 6 and np.isfinite(metrics["loss"]).all()
    from safetensors.torch import load_file

    from rsfm.models.vit import create_encoder

    encoder = create_encoder("vit_tiny12x1", img_size=64, patch_size=8)
    encoder.load_state_dict(load_file(tmp_path / "s/encoder.safetensors"), strict=True)  # exports like any run
    arch = json.loads((tmp_path / "s/encoder.json").read_text())
    assert arch["pretraining"]["slimmable"] == {"smallest": 0.25, "random_widths": 1}


@pytest.mark.slow
def test_kill_and_resume_matches_uninterrupted_run(shards, tmp_path):
    # 48 images / global batch 8 = 6 steps per epoch, 5 epochs = 30 steps; 2 ranks x 2 micro-batches of 2
    reference = write_run(tmp_path / "a.json", shards, tmp_path / "a")
    subprocess.run(torchrun_args(reference, nproc_per_node=2), env=cpu_env(), check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    expected = pd.read_csv(tmp_path / "a/metrics.csv")
    assert len(expected) == 30 and expected["loss"].iloc[-5:].mean() < expected["loss"].iloc[:5].mean()

    interrupted = write_run(tmp_path / "b.json", shards, tmp_path / "b")
    process = subprocess.Popen(torchrun_args(interrupted, nproc_per_node=2), env=cpu_env(), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    metrics = tmp_path / "b/log.csv"
    deadline = time.time() + 600
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) > 1 + 10:  # header + 10 steps logged
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the whole launcher and both ranks, mid-run
    process.wait()
    assert not (tmp_path / "b/encoder.safetensors").exists()
    assert (tmp_path / "b/checkpoints/latest").is_file()

    subprocess.run(torchrun_args(interrupted, nproc_per_node=2), env=cpu_env(), check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    resumed = pd.read_csv(tmp_path / "b/metrics.csv")
    assert resumed["step"].tolist() == list(range(30))
    np.testing.assert_allclose(resumed["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed["lr"], expected["lr"], rtol=1e-6)
    live = pd.read_csv(tmp_path / "b/dvclive/plots/metrics/loss.tsv", sep="\t")  # DVCLive's log, continued too
    assert live["step"].tolist() == list(range(30))
    np.testing.assert_allclose(live["loss"], expected["loss"], rtol=1e-5)

    from safetensors.torch import load_file

    exported = load_file(tmp_path / "b/encoder.safetensors")
    reference_weights = load_file(tmp_path / "a/encoder.safetensors")
    assert exported.keys() == reference_weights.keys()
    for key, value in exported.items():
        torch.testing.assert_close(value, reference_weights[key], rtol=1e-5, atol=1e-6)
    arch = json.loads((tmp_path / "b/encoder.json").read_text())
    assert arch["model"] == "vit_tiny12x1" and arch["pretraining"]["steps"] == 30


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_node_rendezvous_on_localhost(shards, tmp_path):
    config = write_run(tmp_path / "run.json", shards, tmp_path / "out", epochs=1, checkpoint_every=3)
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            torchrun_args(config, nnodes=2, nproc_per_node=1, rdzv_endpoint=endpoint, rdzv_id="t", node_rank=rank),
            env=cpu_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    metrics = pd.read_csv(tmp_path / "out/metrics.csv")
    assert metrics["step"].tolist() == list(range(6))
    assert (tmp_path / "out/checkpoints/latest").read_text().strip() == "step00000006"
    assert (tmp_path / "out/encoder.safetensors").is_file()


def test_launcher_command_lines():
    single = torchrun_args("run.json", nproc_per_node=2)
    assert "--standalone" in single and single[-3:] == ["rsfm.pretrain.engine", "--config", "run.json"]
    multi = torchrun_args("run.json", nnodes=4, nproc_per_node=8, rdzv_endpoint="node1:29500", rdzv_id="42")
    assert "--rdzv-backend=c10d" in multi and "--rdzv-endpoint=node1:29500" in multi and "--nnodes=4" in multi
    assert sys.executable == multi[0]


def test_each_rank_gets_its_share_of_the_jobs_threads(tmp_path, monkeypatch):
    # Snakemake exports the job's threads to the job; the launcher divides them among the ranks it starts
    from rsfm.launch import launch

    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    script = tmp_path / "rank.py"
    script.write_text(
        "import os, sys\n"
        "rank = os.environ['RANK']\n"
        "keys = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS')\n"
        "open(sys.argv[1] + rank, 'w').write(' '.join(os.environ[k] for k in keys))\n"
    )
    launch("unused.json", {"processes_per_node": 2, "cpus_per_task": 4}, entry=[str(script), str(tmp_path / "r")])
    assert (tmp_path / "r0").read_text() == (tmp_path / "r1").read_text() == "2 2 2"
    launch("unused.json", {"processes_per_node": 2, "cpus_per_task": 3}, entry=[str(script), str(tmp_path / "s")])
    assert (tmp_path / "s0").read_text() == "1 1 1"


@pytest.mark.slow
def test_zero3_with_activation_checkpointing_matches_zero1(shards, tmp_path):
    """Sharded parameters and recomputed activations change memory, not the math; the export is gathered whole."""
    runs = {}
    for name, overrides in (("zero1", {}), ("zero3", {"zero_stage": 3, "activation_checkpointing": True})):
        config = write_run(tmp_path / f"{name}.json", shards, tmp_path / name, epochs=1, micro_batch=4, **overrides)
        subprocess.run(torchrun_args(config, nproc_per_node=2), env=cpu_env(), check=True, timeout=600,
                       capture_output=True)  # fmt: skip
        runs[name] = pd.read_csv(tmp_path / name / "metrics.csv")
    np.testing.assert_allclose(runs["zero3"]["loss"], runs["zero1"]["loss"], rtol=1e-4)

    from safetensors.torch import load_file

    sharded, plain = (
        load_file(tmp_path / "zero3/encoder.safetensors"),
        load_file(tmp_path / "zero1/encoder.safetensors"),
    )
    assert {k: v.shape for k, v in sharded.items()} == {k: v.shape for k, v in plain.items()}
    for key, value in sharded.items():
        torch.testing.assert_close(value, plain[key], rtol=1e-3, atol=1e-5)


def test_a_rerun_with_other_settings_sets_old_checkpoints_aside(tmp_path):
    from dataclasses import asdict

    from rsfm.pretrain.run import set_aside_stale_state

    cfg = asdict(RunConfig(model="vit_tiny12x1", shard_dir="s", out_dir=str(tmp_path)))
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints/latest").write_text("step00000010")
    (tmp_path / "log.csv").write_text("step,loss\n")
    # an interrupted run restarted as it was (or with other logging): resume, keep everything
    assert set_aside_stale_state(tmp_path, {**cfg, "log_every": 1, "loader_workers": 4}) == []
    assert (tmp_path / "checkpoints/latest").is_file()
    # a run.json written before a setting existed: that setting had its default then
    older = {k: v for k, v in cfg.items() if k != "fuse_parallel"}
    (tmp_path / "run.json").write_text(json.dumps(older))
    assert set_aside_stale_state(tmp_path, cfg) == []
    # how it is computed (fused blocks, compiled, checkpointed activations, attention kernel) is not what it computes
    how = {"fuse_parallel": False, "compile": True, "activation_checkpointing": True, "attention": "math"}
    assert set_aside_stale_state(tmp_path, {**cfg, **how}) == []
    # another schedule: the old state moves to superseded/<time>/, nothing is deleted
    assert set_aside_stale_state(tmp_path, {**cfg, "epochs": 10}) == ["epochs"]
    (first,) = (tmp_path / "superseded").iterdir()
    assert not (tmp_path / "checkpoints").exists() and (first / "checkpoints/latest").is_file()
    assert (first / "log.csv").is_file() and (first / "run.json").is_file()
    # other shards (re-tiled data) are another run too; the run set aside before stays where it is
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    (tmp_path / "inputs.json").write_text(json.dumps({"shards": "a"}))
    (tmp_path / "checkpoints").mkdir()
    assert set_aside_stale_state(tmp_path, cfg, {"shards": "a"}) == []
    assert set_aside_stale_state(tmp_path, cfg, {"shards": "b"}) == ["inputs.shards"]
    assert len(list((tmp_path / "superseded").iterdir())) == 2 and (first / "checkpoints/latest").is_file()


def test_each_pretraining_job_gets_only_the_settings_of_its_run():
    import copy

    from rsfm.pretrain.run import run_config
    from rsfm.pretrain.runs import job_config, run_settings

    section = validate_default()["pretrain"]
    edited = copy.deepcopy(section)
    edited["per_size"] = {"vit_tiny12x4": {"micro_batch": 2}}
    edited["run"]["mem_mb"] = 9999  # the scheduler's: no job's settings
    edited["runs"]["vit_tiny12x1_moco"]["epochs"] = 11
    for name in ("vit_tiny12x1", "vit_tiny12x1_slimmable", "vit_tiny12x1_moco_slimmable"):
        assert job_config(edited, name) == job_config(section, name), name
    assert job_config(edited, "vit_tiny12x4") != job_config(section, "vit_tiny12x4")
    assert job_config(edited, "vit_tiny12x1_moco") != job_config(section, "vit_tiny12x1_moco")
    # what a job reads of its slice is what it would read of the whole section, less the scheduler's resources
    for name in ("vit_tiny12x4", "vit_tiny12x1_moco"):
        whole = {k: v for k, v in run_settings(edited, name).items() if k not in ("mem_mb", "runtime", "cpus_per_task")}
        assert run_settings(job_config(edited, name), name) == whole
        assert run_config(job_config(edited, name), name, "s", "o") == run_config(edited, name, "s", "o")


def test_deepspeed_op_builds_are_kept_apart_per_environment_path_and_ninja(monkeypatch, tmp_path):
    import importlib.util
    import shutil
    from types import SimpleNamespace

    from rsfm.pretrain.engine import separate_extension_builds

    # recorded, so the folder the function sets below is undone after the test: left in this process's environment,
    # every later test's DeepSpeed processes shared one folder whatever their ninja, and rebuilt the op in turn
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "")

    def folder(origin, ninja):
        os.environ.pop("TORCH_EXTENSIONS_DIR")
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(origin=origin))
        monkeypatch.setattr(shutil, "which", lambda name: ninja if name == "ninja" else None)
        separate_extension_builds()
        return os.environ["TORCH_EXTENSIONS_DIR"]

    a, b = "/clone-a/.venv/lib/deepspeed/__init__.py", "/clone-b/.venv/lib/deepspeed/__init__.py"
    folders = {folder(a, "/usr/bin/ninja"), folder(b, "/usr/bin/ninja"), folder(a, "/venv/bin/ninja")}
    assert len(folders) == 3 and all("deepspeed-" in f for f in folders)
    assert folder(a, "/usr/bin/ninja") in folders  # the same pair finds its build again
    ninja = tmp_path / "bin/ninja"
    ninja.parent.mkdir()
    ninja.touch()
    (tmp_path / "link").symlink_to(tmp_path / "bin")
    assert folder(a, str(tmp_path / "link/ninja")) == folder(a, str(ninja))  # one binary, one folder
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "/mine")
    separate_extension_builds()
    assert os.environ["TORCH_EXTENSIONS_DIR"] == "/mine"  # the user's choice wins


def test_per_size_engine_settings_reach_the_run_and_bad_ones_are_named():
    import copy

    import yaml

    from rsfm.config import validate_config
    from rsfm.errors import ConfigError
    from rsfm.pretrain.run import run_config

    from .conftest import REPO

    schema = REPO / "workflow/schemas/config.schema.yaml"
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["pretrain"]["per_size"] = {"vit_tiny12x4": {"attention": "math", "compile": "blocks"}}
    pretrain_cfg = validate_config(copy.deepcopy(config), schema)["pretrain"]
    wide = run_config(pretrain_cfg, "vit_tiny12x4", "shards", "out")
    assert (wide.attention, wide.compile) == ("math", "blocks")
    assert run_config(pretrain_cfg, "vit_tiny12x1", "shards", "out").attention is None  # torch's choice
    config["pretrain"]["per_size"]["vit_tiny12x4"]["attention"] = "fast"
    with pytest.raises(ConfigError, match=r"per_size\.vit_tiny12x4\.attention' must be one of .*'cudnn'"):
        validate_config(config, schema)


def test_data_fractions_are_nested_shares_of_the_shards_seen_as_the_full_set_sees_them(shards):
    from rsfm.data.subsets import subset_size

    full = ShardImages(shards, img_size=32, seed=0)
    quarter, half = (ShardImages(shards, img_size=32, seed=0, fraction=f) for f in (0.25, 0.5))
    assert (len(quarter), len(half), half.all_images) == (subset_size(48, 0.25), 24, 48)
    assert set(quarter.images) < set(half.images) < set(range(48))  # nested, so a curve adds images only
    # a kept image is read and augmented exactly as the full set reads it
    position = int(half.images[3])
    assert torch.equal(half[(2, 3)], full[(2, position)])
    assert set(ShardImages(shards, img_size=32, seed=1, fraction=0.5).images) != set(half.images)


@pytest.mark.parametrize(("budget", "total", "warmup"), [("epochs", 5 * 3, 3), ("steps", 5 * 6, 6)])
def test_a_share_trains_for_its_own_epochs_or_the_full_sets_steps(budget, total, warmup):
    from rsfm.pretrain.engine import schedule

    cfg = RunConfig("vit_tiny12x1", "", "", epochs=5, warmup_epochs=1, global_batch=8, data_fraction=0.5, budget=budget)
    plan = schedule(cfg, images=24, all_images=48)
    assert (plan.total_steps, plan.warmup_steps, plan.steps_per_epoch) == (total, warmup, 3)
    assert plan.epochs == total / 3  # passes over its 24 images: 5, or 10 for the full set's steps
    with pytest.raises(Exception, match="budget 'flops' is not one of epochs, steps"):
        schedule(RunConfig("vit_tiny12x1", "", "", budget="flops"), images=24, all_images=48)


def test_data_scaling_adds_a_run_per_size_and_share_and_leaves_the_others_alone():
    import copy

    from rsfm.pretrain.run import run_config
    from rsfm.pretrain.runs import data_run_name, job_config, pretrain_runs

    section = validate_default()["pretrain"]
    runs = pretrain_runs(section)
    assert runs["vit_tiny12x1_data0.5"] == {"size": "vit_tiny12x1", "data_fraction": 0.5, "budget": "steps"}
    assert data_run_name("vit_b12x1", 0.1) == "vit_b12x1_data0.1" and data_run_name("vit_b12x1", 1.0) == "vit_b12x1"
    config = run_config(job_config(section, "vit_tiny12x1_data0.5"), "vit_tiny12x1_data0.5", "s", "o")
    assert (config.model, config.data_fraction, config.budget) == ("vit_tiny12x1", 0.5, "steps")
    assert config.epochs == run_config(section, "vit_tiny12x1", "s", "o").epochs  # the size's own settings
    edited = copy.deepcopy(section)  # another share or budget: no other run's job changes
    edited["data_scaling"] = {"sizes": ["vit_tiny12x1", "vit_tiny12x4"], "fractions": [0.1, 0.5], "budget": "epochs"}
    for name in ("vit_tiny12x1", "vit_tiny12x4", "vit_tiny12x1_moco"):
        assert job_config(edited, name) == job_config(section, name), name
    assert job_config(edited, "vit_tiny12x1_data0.5") != job_config(section, "vit_tiny12x1_data0.5")
    assert {"vit_tiny12x4_data0.1", "vit_tiny12x1_data0.1"} <= set(pretrain_runs(edited))
