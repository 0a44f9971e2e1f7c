"""MoCo v3 objective, its view augmentations, and MoCo runs (plain and slimmable) in the DeepSpeed engine on CPU."""

import copy
import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from rsfm.launch import torchrun_args
from rsfm.models.moco import MoCoV3, contrastive_loss, momentum_at
from rsfm.models.slimmable import SlimmableMoCo, width
from rsfm.models.vit import create_encoder
from rsfm.pretrain.augment import MOCO_VIEWS, ViewPolicy, augment_view

from .conftest import cpu_env, write_run


def tiny_moco(**kwargs):
    torch.manual_seed(0)
    encoder = create_encoder("vit_tiny12x4", img_size=32, patch_size=8)
    return MoCoV3(encoder, dim=16, mlp_dim=32, **kwargs)


def test_contrastive_loss_matches_an_independent_computation():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    t = 0.2
    qn, kn = q / q.norm(dim=1, keepdim=True), k / k.norm(dim=1, keepdim=True)
    logits = (qn @ kn.T).numpy() / t
    expected = np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(logits)]) * 2 * t
    assert float(contrastive_loss(q, k, t)) == pytest.approx(expected, rel=1e-5)
    # queries that are their own keys, far apart from each other: the loss goes to 0
    assert float(contrastive_loss(10 * torch.eye(6), torch.eye(6), 0.05)) < 1e-6


def test_moco_forward_is_the_symmetrised_loss_of_online_queries_and_momentum_keys():
    model = tiny_moco().train()
    v1, v2 = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    loss, k1, _ = model(v1, v2)
    # independently: queries through encoder -> projector -> predictor, keys through the momentum copies
    q1 = model.predictor(model.projector(model.encoder(v1)))
    q2 = model.predictor(model.projector(model.encoder(v2)))
    with torch.no_grad():
        key1 = model.momentum_projector(model.momentum_encoder(v1))
        key2 = model.momentum_projector(model.momentum_encoder(v2))
    expected = contrastive_loss(q1, key2, 0.2) + contrastive_loss(q2, key1, 0.2)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(k1, key1)
    # gradients reach the online branch only; the patch projection is frozen (MoCo v3's random patch projection)
    loss.backward()
    assert model.encoder.blocks[0].attns[0].attn.qkv.weight.grad is not None
    assert model.encoder.patch_embed.proj.weight.grad is None
    assert all(p.grad is None for p in model.momentum_encoder.parameters())


def test_momentum_update_is_an_exponential_moving_average_with_a_cosine_schedule():
    model = tiny_moco()
    online = model.encoder.blocks[0].attns[0].attn.qkv.weight
    average = model.momentum_encoder.blocks[0].attns[0].attn.qkv.weight
    with torch.no_grad():
        online.add_(1.0)
    before = average.detach().clone()
    model.update_momentum(0.9)
    torch.testing.assert_close(average, 0.9 * before + 0.1 * online.detach())
    assert momentum_at(0, 100, 0.99) == pytest.approx(0.99)
    assert momentum_at(50, 100, 0.99) == pytest.approx(0.995)
    assert momentum_at(100, 100, 0.99) == pytest.approx(1.0)


def test_slimmable_moco_trains_every_width_against_the_full_width_keys():
    model = SlimmableMoCo(tiny_moco())
    v1, v2 = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    total, full, subs = model(v1, v2, widths=[1.0, 0.25])
    moco = model.moco
    with torch.no_grad():
        k1 = moco.momentum_projector(moco.momentum_encoder(v1))
        k2 = moco.momentum_projector(moco.momentum_encoder(v2))
    with width(moco.encoder, 0.25):
        small = contrastive_loss(moco.query(v1), k2, 0.2) + contrastive_loss(moco.query(v2), k1, 0.2)
    torch.testing.assert_close(subs, small.detach().view(1))
    torch.testing.assert_close(total.detach(), full + small.detach())
    with pytest.raises(ValueError, match="full width"):
        model(v1, v2, widths=[0.5])


def test_view_augmentations_are_seeded_bounded_and_do_what_they_say():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(8, 3, 24, 24, generator=gen)
    a = augment_view(images, MOCO_VIEWS[0], torch.Generator().manual_seed(5))
    b = augment_view(images, MOCO_VIEWS[0], torch.Generator().manual_seed(5))
    c = augment_view(images, MOCO_VIEWS[0], torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b)  # same generator state, same views (resumed runs)
    assert not torch.equal(a, c) and a.min() >= 0 and a.max() <= 1 and a.shape == images.shape
    # a flat grey image stays flat through jitter, grayscale and blur (only solarisation flips it)
    flat = torch.full((4, 3, 16, 16), 0.3)
    out = augment_view(flat, ViewPolicy(blur=1.0, solarize=0.0), torch.Generator().manual_seed(1))
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out), atol=1e-5)
    solarised = augment_view(torch.full((64, 3, 4, 4), 0.8), ViewPolicy(blur=0.0, solarize=1.0),
                             torch.Generator().manual_seed(2))  # fmt: skip
    assert (solarised <= 0.5 + 1e-6).all()  # every pixel >= 0.5 became 1 - x


def test_moco_run_on_two_cpu_ranks_trains_and_exports_a_plain_encoder(shards, tmp_path):
    run = write_run(tmp_path / "moco.json", shards, tmp_path / "moco", method="moco", epochs=3, global_batch=8,
                    micro_batch=4, moco={"dim": 16, "mlp_dim": 32}, base_lr=1e-3)  # fmt: skip
    subprocess.run(torchrun_args(run, nproc_per_node=2), env=cpu_env(), check=True, timeout=600, capture_output=True)
    metrics = pd.read_csv(tmp_path / "moco/metrics.csv")
    assert len(metrics) == 18 and np.isfinite(metrics["loss"]).all()
    # each of the two InfoNCE terms over the 8 keys of the global batch (gathered from both ranks) starts near
    # 2T ln 8 (an untrained model: keys are as good as random); 4 keys would give 2T ln 4
    assert metrics["loss"].iloc[0] == pytest.approx(2 * 2 * 0.2 * math.log(8), rel=0.1)
    arch = json.loads((tmp_path / "moco/encoder.json").read_text())
    assert arch["pretraining"]["method"] == "moco" and arch["pretraining"]["moco"]["dim"] == 16
    from rsfm.slimming.encoders import load_pretrained

    model, _ = load_pretrained("moco", tmp_path)
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 96)


def test_slimmable_moco_run_in_bf16(shards, tmp_path):
    # the sandwich rule with MoCo, in DeepSpeed's bf16 weights (ZeRO 1): the moving average stays fp32
    run = write_run(tmp_path / "s.json", shards, tmp_path / "s", method="moco", epochs=1, global_batch=8,
                    micro_batch=8, moco={"dim": 16, "mlp_dim": 32}, precision="bf16",
                    slimmable={"smallest": 0.25, "random_widths": 1})  # fmt: skip
    subprocess.run(torchrun_args(run, nproc_per_node=1), env=cpu_env(), check=True, timeout=600, capture_output=True)
    metrics = pd.read_csv(tmp_path / "s/metrics.csv")
    assert len(metrics) == 6 and np.isfinite(metrics["loss"]).all()


def test_moco_at_zero3_is_refused_with_the_reason():
    from rsfm.errors import ConfigError
    from rsfm.pretrain.engine import RunConfig, build_model

    cfg = RunConfig(model="vit_tiny12x1", shard_dir="", out_dir="", method="moco", zero_stage=3)
    with pytest.raises(ConfigError, match="momentum encoder"):
        build_model(cfg)
    with pytest.raises(ConfigError, match="unknown settings"):
        build_model(RunConfig(model="vit_tiny12x1", shard_dir="", out_dir="", method="moco", moco={"tau": 1}))


def test_flops_of_a_moco_step_count_both_views_and_the_momentum_branch():
    from torch.utils.flop_counter import FlopCounterMode

    model = tiny_moco().eval()
    meta = copy.deepcopy(model).to("meta")  # on the meta device, as the engine counts (CPU flash attention is hidden)

    def flops(module, x):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            module(x)
        return counter.get_total_flops()

    image = torch.empty(1, 3, 32, 32, device="meta")
    enc = flops(meta.encoder, image)
    proj = flops(meta.projector, meta.encoder(image))
    pred = flops(meta.predictor, meta.projector(meta.encoder(image)))
    # two views; the online branch forward + backward (3x), the momentum branch forward only
    assert model.train_flops_per_image(32) == pytest.approx(2 * (3 * (enc + proj + pred) + enc + proj), rel=1e-6)
