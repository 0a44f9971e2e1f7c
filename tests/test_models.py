"""Parallel-scaled ViT sizes and MAE, checked against independent computations."""

import math

import pytest
import timm
import torch
import torch.nn.functional as F

import rsfm.models  # noqa: F401  (registers the sizes with timm)
from rsfm.models.accounting import count_flops, count_params
from rsfm.models.mae import MaskedAutoencoder, num_masked, sincos_2d
from rsfm.models.vit import SIZES


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("vit_b12x1", 85.5e6, 86.5e6),  # "86M"
        ("vit_l12x4", 605.26e6 * 0.995, 605.26e6 * 1.005),  # 605.26M within 0.5%
        ("vit_h12x4", 1.25e9, 1.35e9),  # "1.3B"
        ("vit_g12x4", 2.35e9, 2.45e9),  # "2.4B"
    ],
)
def test_parameter_counts_match_the_paper(name, low, high):
    assert low <= count_params(name) <= high


def test_parallel_blocks_and_flops():
    model = timm.create_model("vit_tiny12x4", img_size=32, patch_size=8)
    block = model.blocks[0]
    assert type(block).__name__ == "ParallelThingsBlock" and len(block.attns) == 4 and len(block.ffns) == 4
    # each branch has its own LayerNorm
    assert len({id(branch.norm) for branch in block.attns}) == 4
    size = SIZES["vit_tiny12x1"]
    d, tokens = size.embed_dim, (224 // 16) ** 2 + 1
    # per block: qkv 3d^2 + proj d^2 + mlp 8d^2 weights per token, plus attention's two T x T x d products
    expected = 12 * 2 * (tokens * 12 * d * d + 2 * tokens * tokens * d) + 2 * (tokens - 1) * 3 * 256 * d
    assert count_flops("vit_tiny12x1") == pytest.approx(expected, rel=1e-3)
    assert count_flops("vit_tiny12x4") > 3.5 * count_flops("vit_tiny12x1")


def reference_sincos(dim, h, w):
    table = torch.zeros(1 + h * w, dim, dtype=torch.float64)
    quarter = dim // 4
    for row in range(h):
        for col in range(w):
            for i in range(quarter):
                omega = 1.0 / 10000 ** (i / quarter)
                table[1 + row * w + col, i] = math.sin(col * omega)
                table[1 + row * w + col, quarter + i] = math.cos(col * omega)
                table[1 + row * w + col, 2 * quarter + i] = math.sin(row * omega)
                table[1 + row * w + col, 3 * quarter + i] = math.cos(row * omega)
    return table.float()


def test_sincos_position_embedding():
    torch.testing.assert_close(sincos_2d(16, 3, 4), reference_sincos(16, 3, 4))


def tiny_mae(**kwargs):
    torch.manual_seed(0)
    encoder = timm.create_model("vit_tiny12x4", img_size=32, patch_size=8, depth=2)
    return MaskedAutoencoder(encoder, decoder_dim=32, decoder_depth=2, decoder_heads=4, **kwargs)


def test_every_layernorm_uses_the_reference_eps():
    # He et al.'s MAE builds encoder and decoder with partial(nn.LayerNorm, eps=1e-6); torch's default is 1e-5
    model = tiny_mae()
    decoder = [m for m in [*model.decoder_blocks.modules(), model.decoder_norm] if isinstance(m, torch.nn.LayerNorm)]
    assert len(decoder) == 2 * 2 + 1  # two per decoder block and the final norm
    assert {m.eps for m in model.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-6}


def test_masking_is_per_sample_and_exact():
    model = tiny_mae()
    tokens = torch.randn(5, 16, 8)
    kept, mask, _ = model.random_masking(tokens, 0.75)
    assert kept.shape == (5, 4, 8) and (mask.sum(1) == num_masked(16, 0.75)).all()
    assert len({tuple(m.tolist()) for m in mask}) > 1  # masks differ between samples
    for n in range(5):  # kept tokens are exactly the unmasked ones
        visible = tokens[n][mask[n] == 0]
        assert sorted(map(tuple, visible.tolist())) == sorted(map(tuple, kept[n].tolist()))


def test_patchify_round_trip():
    model = tiny_mae()
    images = torch.randn(2, 3, 32, 32)
    patches = model.patchify(images)
    assert patches.shape == (2, 16, 8 * 8 * 3)
    torch.testing.assert_close(model.unpatchify(patches), images)
    # patch 5 = row 1, column 1: pixel (row, col, channel) order inside
    torch.testing.assert_close(patches[0, 5].reshape(8, 8, 3), images[0, :, 8:16, 8:16].permute(1, 2, 0))


def independent_loss(model, images, noise):
    """MAE's loss for each sample on its own: visible patches chosen from the noise, explicit unfold targets."""
    enc = model.encoder
    losses, masked = [], []
    for n in range(images.shape[0]):
        order = torch.argsort(noise[n])
        keep = order[: int(16 * (1 - model.mask_ratio))]
        tokens = enc.patch_embed(images[n : n + 1])[0] + enc.pos_embed[0, 1:]
        x = torch.cat([enc.cls_token[0] + enc.pos_embed[0, :1], tokens[keep]])[None]
        for block in enc.blocks:
            x = block(x)
        latent = model.decoder_embed(enc.norm(x))[0]
        full = model.mask_token[0].repeat(17, 1)
        full[0] = latent[0]
        full[1 + keep] = latent[1:]
        y = full[None] + model.decoder_pos_embed
        for block in model.decoder_blocks:
            y = block(y)
        pred = model.decoder_pred(model.decoder_norm(y))[0, 1:]
        target = F.unfold(images[n : n + 1], kernel_size=8, stride=8)[0].T  # (L, C*p*p), channel-major
        target = target.reshape(16, 3, 64).permute(0, 2, 1).reshape(16, 192)  # to (row, col, channel)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        is_masked = torch.ones(16, dtype=torch.bool)
        is_masked[keep] = False
        losses.append(((pred - target) ** 2).mean(-1)[is_masked])
        masked.append(is_masked)
    return torch.cat(losses).mean(), torch.stack(masked)


def test_loss_matches_independent_computation():
    model = tiny_mae().eval()
    images = torch.randn(3, 3, 32, 32)
    noise = torch.rand(3, 16)
    loss, _, mask = model(images, noise=noise)
    expected, expected_mask = independent_loss(model, images, noise)
    assert torch.equal(mask.bool(), expected_mask)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    assert not model.encoder.pos_embed.requires_grad


def test_mae_learns():
    model = tiny_mae()
    # smooth ramps of random orientation: a masked patch's normalised pixels are predictable from its neighbours
    # (pure noise would not be: its loss cannot fall below 1)
    angles = torch.rand(8, 1, 1, 1) * 2 * math.pi
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    images = (torch.cos(angles) * xx + torch.sin(angles) * yy).expand(-1, 3, -1, -1).contiguous()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss, _, _ = model(images, noise=torch.rand(8, 16, generator=generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def _perturbed(name, **kwargs):
    """An encoder whose norms and biases are not at their init (ones/zeros would hide a folding error)."""
    torch.manual_seed(0)
    model = timm.create_model(name, img_size=32, patch_size=8, **kwargs).double()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.mark.parametrize("name", ["vit_tiny12x4", "vit_tiny12x1"])
def test_fused_parallel_blocks_equal_timm_blocks_in_outputs_and_gradients(name):
    import copy

    from rsfm.models.fused import FusedParallelBlock, fuse_parallel_blocks

    reference = _perturbed(name)
    fused = copy.deepcopy(reference)
    assert fuse_parallel_blocks(fused) == 12
    assert all(type(block) is FusedParallelBlock for block in fused.blocks)
    assert list(fused.state_dict()) == list(reference.state_dict())  # checkpoints and exports unchanged
    images = torch.randn(3, 3, 32, 32, dtype=torch.double)
    out, expected = fused(images), reference(images)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    (out**2).sum().backward()
    (expected**2).sum().backward()
    for (key, a), b in zip(fused.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-10, msg=key)


def test_blocks_the_folding_does_not_cover_keep_timms_forward():
    from rsfm.models.fused import fuse_parallel_blocks

    assert fuse_parallel_blocks(_perturbed("vit_tiny12x4", init_values=0.1)) == 0  # layer scale
    assert fuse_parallel_blocks(_perturbed("vit_tiny12x4", qk_norm=True)) == 0
    # drop path: fused in eval, timm's own forward while training (the branches drop independently)
    model = _perturbed("vit_tiny12x4", drop_path_rate=0.5)
    assert fuse_parallel_blocks(model) == 12
    images = torch.randn(2, 3, 32, 32, dtype=torch.double)
    torch.manual_seed(1)
    dropped = model.train()(images)
    torch.manual_seed(1)
    for block in model.blocks:
        block.__class__ = block.__class__.__bases__[0]
    torch.testing.assert_close(dropped, model(images))


@pytest.mark.parametrize("scope", ["blocks", "model"])
def test_compiled_mae_computes_what_the_eager_one_does(scope, monkeypatch):
    """torch.compile of the blocks or of the whole MAE: same loss and gradients as eager on the same weights, batch
    and mask, and the same parameter names (checkpoints, exported encoder). Graph capture and autograd as compiled
    for real (dynamo, AOTAutograd); code generation by the aot_eager backend, since inductor's CPU code is not what
    runs on a GPU and takes a minute or two to build here."""
    from rsfm.pretrain.engine import RunConfig, build_model

    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_module(self, backend="aot_eager", **kw))

    cfg = dict(model="vit_tiny12x4", shard_dir="", out_dir="", img_size=32, patch_size=8, decoder_depth=1,
               decoder_dim=32, decoder_heads=4)  # fmt: skip
    eager, compiled = build_model(RunConfig(**cfg)), build_model(RunConfig(**cfg, compile=scope))
    assert list(compiled.state_dict()) == list(eager.state_dict())
    compiled_parts = [compiled] if scope == "model" else [*compiled.encoder.blocks, *compiled.decoder_blocks]
    assert all(part._compiled_call_impl is not None for part in compiled_parts)
    images, noise = torch.randn(4, 3, 32, 32), torch.rand(4, 16)
    for _ in range(2):  # the second call runs the cached graph
        loss, expected = compiled(images, noise=noise)[0], eager(images, noise=noise)[0]
        torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)
    loss.backward()
    expected.backward()
    for (key, a), b in zip(compiled.named_parameters(), eager.parameters(), strict=True):
        if b.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-5, msg=key)


def test_compile_settings_that_cannot_work_fail_clearly():
    from rsfm.errors import ConfigError
    from rsfm.pretrain.engine import RunConfig, compile_scope

    assert compile_scope(RunConfig("vit_tiny12x1", "", "", compile=True)) == "blocks"
    assert compile_scope(RunConfig("vit_tiny12x1", "", "", compile=False)) is None
    for bad, words in (({"compile": "everything"}, "not one of"), ({"compile": 1}, "not one of"),
                       ({"compile": "model", "method": "moco"}, "MAE only"),
                       ({"compile": "model", "activation_checkpointing": True}, "compile: blocks")):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            compile_scope(RunConfig("vit_tiny12x1", "", "", **bad))


@pytest.fixture
def attention_switches():
    """torch's attention switches are process-wide: put them back after a test that sets them."""
    from rsfm.models.attention import enabled_backends, set_backends

    before = enabled_backends()
    yield
    set_backends(before)


def _attention_ops(model, images, noise):
    """The loss, and the attention kernels the forward and backward ran."""
    from torch.profiler import profile

    with profile() as prof:
        loss = model(images, noise=noise)[0]
        loss.backward()
    return loss.detach(), {e.key for e in prof.key_averages() if "dot_product" in e.key and "backward" not in e.key}


def test_a_run_can_name_the_one_attention_kernel_it_uses(attention_switches):
    from rsfm.errors import ConfigError
    from rsfm.models.attention import enabled_backends
    from rsfm.pretrain.engine import RunConfig, build_model, select_attention

    cfg = dict(model="vit_tiny12x4", shard_dir="", out_dir="", img_size=32, patch_size=8, decoder_depth=1,
               decoder_dim=32, decoder_heads=4)  # fmt: skip
    model = build_model(RunConfig(**cfg))
    images, noise = torch.randn(4, 3, 32, 32), torch.rand(4, 16)
    default_loss, default_ops = _attention_ops(model, images, noise)
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in default_ops  # torch's choice on a CPU
    cpu = torch.device("cpu")
    select_attention(RunConfig(**cfg, attention="math"), model, cpu, bf16=False)
    assert enabled_backends() == {"flash": False, "efficient": False, "cudnn": False, "math": True}
    math_loss, math_ops = _attention_ops(model, images, noise)
    assert "aten::_scaled_dot_product_attention_math" in math_ops
    assert not any("flash" in op for op in math_ops)
    torch.testing.assert_close(math_loss, default_loss, rtol=1e-5, atol=1e-6)
    # kernels without a CPU implementation fail before training, naming the setting, the shape and the way out,
    # and leave the switches as they were
    for backend in ("cudnn", "efficient"):
        with pytest.raises(ConfigError, match=rf"attention: '{backend}' cannot run .* 8-dim heads on cpu.*or null"):
            select_attention(RunConfig(**cfg, attention=backend), model, cpu, bf16=True)
        assert enabled_backends()["math"] and not enabled_backends()["flash"]
    with pytest.raises(ConfigError, match="not one of flash, efficient, cudnn, math"):
        select_attention(RunConfig(**cfg, attention="fast"), model, cpu, bf16=False)
    with pytest.raises(ConfigError, match="slimmable training runs heads of every width"):
        build_model(RunConfig(**cfg, attention="flash", slimmable={"smallest": 0.25}))
    before = enabled_backends()
    select_attention(RunConfig(**cfg), model, cpu, bf16=False)  # None: torch's choice, nothing changes
    assert enabled_backends() == before
