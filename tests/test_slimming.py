"""Post-hoc width slimming: exactness at s = 1, agreement with an independent slicing, counts, ablations, errors."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from timm.layers import Attention, Mlp
from timm.models.vision_transformer import VisionTransformer
from torch.utils.flop_counter import FlopCounterMode

from rsfm.errors import ConfigError
from rsfm.models.accounting import model_flops
from rsfm.models.slim import kept, meta_copy, slim_attention, slim_mlp, slim_model, slimmed, width_report
from rsfm.models.vit import create_encoder


def plain_vit():
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=3, num_heads=4, num_classes=0).eval()


def parallel_vit():
    torch.manual_seed(0)
    return create_encoder("vit_tiny12x4", img_size=32, patch_size=8).eval()


MODELS = {"plain": plain_vit, "parallel": parallel_vit}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_full_width_is_exactly_the_original(name):
    model = MODELS[name]()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(slim_model(model, 1.0)(images), model(images))


def reference_attention(attn, x, k, heads_kept):
    """Attention with each head cut to the dims in heads_kept[h], written out by hand from the full weights."""
    d = attn.head_dim
    outs, cols = [], []
    for h, dims in enumerate(heads_kept):
        idx = h * d + dims
        q = F.linear(x, attn.qkv.weight[idx], attn.qkv.bias[idx])
        key = F.linear(x, attn.qkv.weight[attn.attn_dim + idx], attn.qkv.bias[attn.attn_dim + idx])
        v = F.linear(x, attn.qkv.weight[2 * attn.attn_dim + idx], attn.qkv.bias[2 * attn.attn_dim + idx])
        weights = torch.softmax(q @ key.transpose(-2, -1) / math.sqrt(k), dim=-1)
        outs.append(weights @ v)
        cols.append(idx)
    return F.linear(torch.cat(outs, dim=-1), attn.proj.weight[:, torch.cat(cols)], attn.proj.bias)


@pytest.mark.parametrize("s", [0.5, 0.3, 0.01])
@pytest.mark.parametrize("selection", ["first", "last"])
def test_slimmed_attention_and_mlp_equal_an_independent_slicing(s, selection):
    torch.manual_seed(1)
    attn, mlp = Attention(48, num_heads=4, qkv_bias=True), Mlp(48, 192)
    x = torch.randn(2, 7, 48)
    k = kept(12, s)
    dims = torch.arange(k) if selection == "first" else torch.arange(12 - k, 12)
    with torch.no_grad():
        expected = reference_attention(attn, x, k, [dims] * 4)
        torch.testing.assert_close(slim_attention(attn, s, selection)(x), expected, rtol=1e-5, atol=1e-6)
        units = torch.arange(kept(192, s)) if selection == "first" else torch.arange(192 - kept(192, s), 192)
        hidden = F.gelu(F.linear(x, mlp.fc1.weight[units], mlp.fc1.bias[units]))
        expected_mlp = F.linear(hidden, mlp.fc2.weight[:, units], mlp.fc2.bias)
        torch.testing.assert_close(slim_mlp(mlp, s, selection)(x), expected_mlp, rtol=1e-5, atol=1e-6)


def test_random_selection_is_per_head_and_seeded():
    model = parallel_vit()
    a, b = slim_model(model, 0.5, selection="random", seed=3), slim_model(model, 0.5, selection="random", seed=3)
    c = slim_model(model, 0.5, selection="random", seed=4)
    qkv = [m.qkv.weight for m in a.modules() if isinstance(m, Attention)]
    assert torch.equal(qkv[0], next(m.qkv.weight for m in b.modules() if isinstance(m, Attention)))
    assert not torch.equal(qkv[0], next(m.qkv.weight for m in c.modules() if isinstance(m, Attention)))
    full = next(m for m in model.modules() if isinstance(m, Attention))
    rows = [(full.qkv.weight == row).all(dim=1).nonzero().item() for row in qkv[0][: 3 * 16]]
    heads = [sorted(r % 32 for r in rows[h * 16 : (h + 1) * 16]) for h in range(3)]
    assert len({tuple(h) for h in heads}) > 1  # each head draws its own dimensions


def count(model):
    return model_flops(model, img_size=32), sum(p.numel() for p in model.parameters())


def test_flop_count_includes_attention():
    # on the meta device SDPA goes through countable matmuls (the CPU flash kernel is not counted by torch's counter)
    model = plain_vit()
    counter = FlopCounterMode(display=False)
    for block in model.blocks:
        block.attn.fused_attn = False  # explicit q @ k^T and attn @ v: what the counter must see
    with counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert model_flops(plain_vit(), img_size=32) == counter.get_total_flops()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameters_and_flops_fall_with_width(name):
    model = MODELS[name]()
    flops, params = zip(*(count(slim_model(model, s)) for s in (1.0, 0.5, 0.25, 0.01)), strict=True)
    assert all(a > b for a, b in itertools.pairwise(flops))
    assert all(a > b for a, b in itertools.pairwise(params))
    block_flops = [f - flops[-1] for f in flops]  # what slimming can remove (patch embedding etc. stay)
    assert block_flops[1] / block_flops[0] == pytest.approx(0.5, abs=0.05)
    report = width_report(slim_model(model, 0.25))
    full = width_report(model)
    assert report == {"head_dim": full["head_dim"] // 4, "mlp_hidden": full["mlp_hidden"] // 4}


def test_untouched_parts_and_original():
    model = parallel_vit()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attn_only = slim_model(model, 0.25, parts="attn")
    mlp_only = slim_model(model, 0.25, parts="mlp")
    assert width_report(attn_only) == {"head_dim": 8, "mlp_hidden": 384}
    assert width_report(mlp_only) == {"head_dim": 32, "mlp_hidden": 96}
    slim = slim_model(model, 0.25)
    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight", "norm.weight", "blocks.3.attns.2.norm.weight"):
        assert torch.equal(slim.state_dict()[key], before[key])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the original is untouched


def test_bad_width_selection_or_model():
    model = plain_vit()
    for s in (0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="width factor must be in"):
            slim_model(model, s)
    with pytest.raises(ConfigError, match="unknown selection 'middle'"):
        slim_model(model, 0.5, selection="middle")
    with pytest.raises(ConfigError, match="no timm Attention or Mlp"):
        slim_model(torch.nn.Linear(3, 3), 0.5)
    assert kept(64, 0.001) == 1 and kept(10, 0.7) == 7 and kept(768, 0.333) == 255


def _tensors(module):
    return {id(t): t for t in (*module.parameters(), *module.buffers())}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_slimmed_model_holds_only_its_sliced_weights(name):
    # a sweep must hold one encoder plus one slimmed copy at most: everything a width does not slice is shared
    model = MODELS[name]()
    original = {t.data_ptr() for t in _tensors(model).values()}
    sliced = ("qkv.weight", "qkv.bias", "proj.weight", "fc1.weight", "fc1.bias", "fc2.weight")
    blocks = sum(p.numel() for n, p in model.named_parameters() if n.endswith(sliced))
    for s in (1.0, 0.5, 0.25):
        slim = slim_model(model, s)
        new = [t for t in _tensors(slim).values() if t.data_ptr() not in original]
        assert sum(t.numel() for t in new) <= (s * blocks if s < 1 else 0)  # nothing new at s = 1
        for key in ("cls_token", "pos_embed", "patch_embed.proj.weight", "norm.weight"):
            assert slim.state_dict()[key].data_ptr() == model.state_dict()[key].data_ptr()
        # FLOPs counted on a meta copy (what the sweep does: no weights copied) equal those of the real model
        assert model_flops(slim_model(meta_copy(model), s), img_size=32) == model_flops(slim, img_size=32)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(("selection", "parts"), [("first", "all"), ("last", "attn"), ("random", "mlp"),
                                                  ("random", "all")])  # fmt: skip
def test_slimming_in_place_equals_the_slimmed_copy_and_restores_the_model(selection, parts, lazy):
    model = parallel_vit()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = model(images)
        for s in (0.5, 0.1):
            expected = slim_model(model, s, selection=selection, parts=parts, seed=2)
            with slimmed(model, s, selection=selection, parts=parts, seed=2, lazy=lazy) as slim:
                # lazy: sliced only while each layer runs, so the model reads as full width between forwards
                assert slim is model and width_report(slim) == width_report(model if lazy else expected)
                assert torch.equal(slim(images), expected(images)) and torch.equal(slim(images), expected(images))
            assert torch.equal(model(images), full)
        with pytest.raises(RuntimeError, match="inside"), slimmed(model, 0.25, lazy=lazy):
            raise RuntimeError("inside")
        with pytest.raises(RuntimeError), slimmed(model, 0.25, lazy=lazy) as slim:
            slim(torch.randn(2, 5, 32, 32))  # fails inside the first layer: hooks and slices are undone all the same
    assert width_report(model) == {"head_dim": 32, "mlp_hidden": 384}
    state = model.state_dict()
    assert list(state) == list(before) and all(torch.equal(state[k], v) for k, v in before.items())
