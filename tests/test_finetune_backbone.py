"""ViTDet-style backbone, simple feature pyramid and layer-decay optimiser for fine-tuning the pretrained encoders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from safetensors.torch import load_file, save_file
from timm.layers import resample_abs_pos_embed

from rsfm.errors import ConfigError, DataError
from rsfm.finetune.backbone import CLASS_ROW, ParallelViTDet, SimpleFeaturePyramid, _partition
from rsfm.finetune.optim import LayerDecayOptimWrapperConstructor
from rsfm.pretrain.engine import RunConfig, build_model, export_encoder

ARCHS = ("vit_tiny12x1", "vit_tiny12x4")
DIM = 96  # tiny embed_dim


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """encoder.safetensors + encoder.json of a tiny 12x4 MAE pretrained at 64 px, patch 8 (as the default pipeline)."""
    out = tmp_path_factory.mktemp("encoder")
    cfg = RunConfig(
        model="vit_tiny12x4", shard_dir="", out_dir=str(out), img_size=64, patch_size=8,
        decoder_dim=64, decoder_depth=1, decoder_heads=4,
    )  # fmt: skip
    model = build_model(cfg)
    with torch.no_grad():  # make norms and biases distinguishable from a fresh init
        for param in model.encoder.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.1)
    export_encoder(model, cfg, steps=1, out_dir=out)
    return out / "encoder.safetensors"


def _copy_encoder(src: Path, dst: Path, tensors: dict | None = None, arch: dict | None = None) -> Path:
    dst.mkdir()
    if tensors is None:
        shutil.copy(src, dst / src.name)
    else:
        save_file(tensors, str(dst / src.name))
    meta = json.loads(src.with_name("encoder.json").read_text())
    (dst / "encoder.json").write_text(json.dumps({**meta, **(arch or {})}))
    return dst / src.name


# ---------------------------------------------------------------------------------------------------- loading
def test_exported_encoder_loads_with_every_key_accounted_for(exported):
    backbone = ParallelViTDet("vit_tiny12x4", img_size=128, patch_size=8, pretrained=str(exported))
    state = load_file(str(exported))
    report = backbone.load_report
    assert report["dropped"].keys() == {"cls_token", CLASS_ROW}
    assert set(report["loaded"]) == set(state) - {"cls_token"}  # pos_embed: its grid rows
    assert report["resampled"]["pos_embed"] == {"from": (8, 8), "to": (16, 16)}
    own = backbone.state_dict()
    assert "cls_token" not in own and not any("cls_token" in n for n, _ in backbone.named_parameters())
    for key in ("blocks.4.attns.2.attn.qkv.weight", "blocks.11.ffns.3.mlp.fc2.bias", "patch_embed.proj.weight",
                "norm.weight", "blocks.0.attns.0.norm.bias"):  # fmt: skip
        torch.testing.assert_close(own[key], state[key], rtol=0, atol=0)
    expected_pos = resample_abs_pos_embed(state["pos_embed"], new_size=[16, 16], num_prefix_tokens=1)[:, 1:]
    torch.testing.assert_close(backbone.pos_embed.detach(), expected_pos, rtol=0, atol=0)
    assert backbone.is_init  # mmengine's init_weights leaves the loaded weights alone
    before = backbone.blocks[0].attns[0].attn.qkv.weight.clone()
    backbone.init_weights()
    torch.testing.assert_close(backbone.blocks[0].attns[0].attn.qkv.weight, before, rtol=0, atol=0)


def test_final_norm_off_drops_the_norm_by_name(exported):
    backbone = ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(exported), final_norm=False)
    assert backbone.load_report["dropped"].keys() == {"cls_token", CLASS_ROW, "norm.weight", "norm.bias"}
    assert not any(n.startswith("norm.") for n, _ in backbone.named_parameters())


@pytest.mark.parametrize(
    ("arch", "patch", "meta", "match"),
    [
        ("vit_tiny12x4", 8, {"patch_size": 16}, "patch_size=16"),
        ("vit_tiny12x4", 16, {}, "patch_size=8"),
        ("vit_tiny12x1", 8, {}, "model='vit_tiny12x4'"),
    ],
)
def test_mismatched_encoder_json_raises(exported, tmp_path, arch, patch, meta, match):
    path = _copy_encoder(exported, tmp_path / "enc", arch=meta)
    with pytest.raises(ConfigError, match=match):
        ParallelViTDet(arch, img_size=64, patch_size=patch, pretrained=str(path))


def test_extra_or_missing_keys_raise_naming_them(exported, tmp_path):
    state = load_file(str(exported))
    extra = _copy_encoder(exported, tmp_path / "extra", tensors={**state, "head.weight": torch.zeros(10, DIM)})
    with pytest.raises(DataError, match=r"not in the backbone: head\.weight"):
        ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(extra))
    gone = "blocks.3.ffns.2.mlp.fc1.bias"
    missing = _copy_encoder(exported, tmp_path / "missing", tensors={k: v for k, v in state.items() if k != gone})
    with pytest.raises(DataError, match=rf"missing from the file: {gone}"):
        ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(missing))
    with pytest.raises(DataError, match="does not exist"):
        ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(tmp_path / "none.safetensors"))


# ---------------------------------------------------------------------------------------------------- windows
def _twin(arch: str, grid: int, window: int, patch: int = 8) -> tuple[ParallelViTDet, ParallelViTDet]:
    """The same weights with window attention (global blocks at the default places) and with all blocks global."""
    torch.manual_seed(0)
    windowed = ParallelViTDet(arch, img_size=grid * patch, patch_size=patch, window_size=window, drop_path_rate=0.0)
    full = ParallelViTDet(
        arch, img_size=grid * patch, patch_size=patch, window_size=window, drop_path_rate=0.0,
        global_attn_indexes=range(12),
    )  # fmt: skip
    full.load_state_dict(windowed.state_dict())
    return windowed.eval(), full.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_window_covering_the_grid_equals_global_attention(arch):
    windowed, full = _twin(arch, grid=8, window=8)
    assert windowed.global_attn_indexes == (2, 5, 8, 11)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(windowed(x)[0], full(x)[0], rtol=1e-5, atol=1e-5)


def test_padded_windows_keep_shape_and_differ_from_global():
    windowed, full = _twin("vit_tiny12x4", grid=8, window=3)  # 8 = 2 x 3 + 2: padded to 9
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (out,), (ref,) = windowed(x), full(x)
    assert out.shape == ref.shape == (2, DIM, 8, 8)
    assert not torch.allclose(out, ref, atol=1e-3)


def test_window_block_attends_within_each_window_only():
    """A window block equals running every attention branch on each (cropped) window on its own: padding is masked."""
    backbone, _ = _twin("vit_tiny12x4", grid=7, window=3)
    block = backbone.blocks[0]
    x = torch.randn(2, 7, 7, DIM)
    with torch.no_grad():
        out = backbone._window_block(block, x)
        attn = torch.zeros_like(x)
        for branch in block.attns:
            y = branch.norm(x)
            for r in range(0, 7, 3):
                for c in range(0, 7, 3):
                    win = y[:, r : r + 3, c : c + 3]
                    h, w = win.shape[1:3]
                    attn[:, r : r + 3, c : c + 3] += branch.attn(win.reshape(2, h * w, DIM)).view(2, h, w, DIM)
        ref = x + attn
        ref = ref + sum(ffn(ref) for ffn in block.ffns)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert _partition(torch.arange(36.0).view(1, 6, 6, 1), 3)[1].flatten().tolist() == [3, 4, 5, 9, 10, 11, 15, 16, 17]


def test_other_input_sizes_resample_the_position_embedding():
    backbone = ParallelViTDet("vit_tiny12x1", img_size=64, patch_size=8, window_size=3).eval()
    with torch.no_grad():
        (out,) = backbone(torch.randn(1, 3, 48, 80))
    assert out.shape == (1, DIM, 6, 10)


# ---------------------------------------------------------------------------------------------------- pyramid
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("patch", [8, 16])
def test_backbone_and_simple_pyramid_through_the_registries(arch, patch):
    import mmrotate.registry
    import mmseg.registry

    backbone_cfg = dict(type="ParallelViTDet", arch=arch, img_size=128, patch_size=patch, window_size=4)
    neck_cfg = dict(type="SimpleFeaturePyramid", in_channels=DIM, out_channels=256, patch_size=patch)
    backbone = mmrotate.registry.MODELS.build(backbone_cfg)
    neck = mmrotate.registry.MODELS.build(neck_cfg)
    neck5 = mmseg.registry.MODELS.build({**neck_cfg, "num_outs": 5})
    assert type(backbone) is type(mmseg.registry.MODELS.build(backbone_cfg)) is ParallelViTDet
    assert isinstance(neck5, SimpleFeaturePyramid)
    neck.init_weights()
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 128, 128))
        assert [f.shape for f in feats] == [(1, DIM, 128 // patch, 128 // patch)]
        maps, maps5 = neck(feats), neck5(feats)
    assert [m.shape for m in maps] == [(1, 256, 128 // s, 128 // s) for s in (4, 8, 16, 32)]
    assert [m.shape for m in maps5] == [(1, 256, 128 // s, 128 // s) for s in (4, 8, 16, 32, 64)]
    ups = [m for m in neck.stages[0] if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(ups) == patch // 8 and ups[-1].out_channels == DIM * 4 // patch  # ViTDet: halve channels per 2x


def test_oriented_rcnn_trains_and_predicts_with_the_vitdet_backbone():
    """mmrotate's own Oriented R-CNN config with the backbone and neck swapped in (num_outs=5 for its RPN)."""
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.structures import InstanceData
    from mmrotate.registry import MODELS
    from mmrotate.structures.bbox import RotatedBoxes
    from mmrotate.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    import mmrotate

    config = Path(mmrotate.__file__).parent / ".mim/configs/oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py"
    model_cfg = Config.fromfile(config).model
    model_cfg.backbone = dict(type="ParallelViTDet", arch="vit_tiny12x4", img_size=128, patch_size=16, window_size=4)
    model_cfg.neck = dict(type="SimpleFeaturePyramid", in_channels=DIM, out_channels=32, patch_size=16, num_outs=5)
    model_cfg.rpn_head.update(in_channels=32, feat_channels=32)
    model_cfg.roi_head.bbox_roi_extractor.out_channels = 32
    model_cfg.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64)
    model_cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    model_cfg.train_cfg.rcnn.sampler.num = 64
    with DefaultScope.overwrite_default_scope("mmrotate"):
        model = MODELS.build(model_cfg)
    assert isinstance(model.backbone, ParallelViTDet) and isinstance(model.neck, SimpleFeaturePyramid)
    model.init_weights()
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), pad_shape=(128, 128), scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([[64.0, 64.0, 40.0, 20.0, 0.3]])), labels=torch.tensor([2])
    )
    image = torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8)
    data = model.data_preprocessor({"inputs": [image], "data_samples": [sample]}, True)
    loss, _ = model.parse_losses(model(**data, mode="loss"))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor({"inputs": [image], "data_samples": [sample]}, False)
        (pred,) = model(**data, mode="predict")
    assert pred.pred_instances.bboxes.shape[-1] == 5


# ---------------------------------------------------------------------------------------------------- segmentation
def _segmentor(patch: int = 16):
    from mmseg.registry import MODELS

    norm = dict(type="BN", requires_grad=True)
    rescales = [4, 2, 1, 0.5] if patch == 16 else [2, 1, 0.5, 0.25]
    cfg = dict(
            type="EncoderDecoder",
            data_preprocessor=dict(type="SegDataPreProcessor", mean=[0, 0, 0], std=[1, 1, 1], size=(128, 128)),
            backbone=dict(
                type="ParallelViTDet", arch="vit_tiny12x4", img_size=128, patch_size=patch, window_size=4,
                out_indices=(3, 5, 7, 11),
            ),
            neck=dict(type="Feature2Pyramid", embed_dim=DIM, rescales=rescales, norm_cfg=norm),
            decode_head=dict(
                type="UPerHead", in_channels=[DIM] * 4, in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6), channels=32,
                dropout_ratio=0.1, num_classes=6, norm_cfg=norm, align_corners=False,
                loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
            ),
    )  # fmt: skip
    with DefaultScope.overwrite_default_scope("mmseg"):  # as the runner sets it (the data preprocessor needs it)
        return MODELS.build(cfg)


@pytest.mark.parametrize("patch", [8, 16])
def test_upernet_on_feature2pyramid_gives_logits(patch):
    model = _segmentor(patch).eval()
    assert model.backbone.out_indices == (3, 5, 7, 11)
    with torch.no_grad():
        feats = model.backbone(torch.randn(2, 3, 128, 128))
        logits = model(torch.randn(2, 3, 128, 128), mode="tensor")
    assert [f.shape for f in feats] == [(2, DIM, 128 // patch, 128 // patch)] * 4
    assert logits.shape == (2, 6, 32, 32)  # UperNet predicts at stride 4


# ---------------------------------------------------------------------------------------------------- optimiser
@pytest.mark.parametrize("scope", ["mmrotate", "mmseg"])
def test_layer_decay_groups_from_the_toolbox_scopes(scope):
    from mmengine.optim import build_optim_wrapper

    import_registry = __import__(f"{scope}.registry", fromlist=["OPTIM_WRAPPER_CONSTRUCTORS"])
    assert import_registry.OPTIM_WRAPPER_CONSTRUCTORS.get("LayerDecayOptimWrapperConstructor") is (
        LayerDecayOptimWrapperConstructor
    )
    model = _segmentor()
    base_lr, rate, wd = 1e-3, 0.75, 0.05
    cfg = dict(
        optimizer=dict(type="AdamW", lr=base_lr, weight_decay=wd),
        constructor="LayerDecayOptimWrapperConstructor",
        paramwise_cfg=dict(layer_decay_rate=rate),
    )
    with DefaultScope.overwrite_default_scope(scope):
        wrapper = build_optim_wrapper(model, cfg)
    groups = wrapper.optimizer.param_groups
    where = {name: g for g in groups for name in g["param_names"]}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(where) == sorted(trainable)
    assert sum(len(g["params"]) for g in groups) == len(trainable)  # each parameter exactly once
    assert len({g["group_name"] for g in groups}) == len(groups)
    depth = 12

    def lr(name: str) -> float:
        return where[name]["lr"]

    assert lr("backbone.blocks.0.attns.1.attn.qkv.weight") == pytest.approx(base_lr * rate**depth)
    assert lr("backbone.blocks.11.ffns.0.mlp.fc1.weight") == pytest.approx(base_lr * rate)
    assert lr("backbone.pos_embed") == lr("backbone.patch_embed.proj.weight") == pytest.approx(base_lr * rate**13)
    assert lr("decode_head.conv_seg.weight") == lr("neck.upsample_4x.0.weight") == pytest.approx(base_lr)
    assert lr("backbone.norm.weight") == pytest.approx(base_lr)
    no_decay = [
        "backbone.pos_embed", "backbone.blocks.3.attns.0.norm.weight", "backbone.blocks.3.attns.0.attn.qkv.bias",
        "backbone.patch_embed.proj.bias", "backbone.norm.bias", "decode_head.conv_seg.bias",
    ]  # fmt: skip
    decay = [
        "backbone.blocks.3.attns.0.attn.qkv.weight",
        "backbone.patch_embed.proj.weight",
        "decode_head.conv_seg.weight",
    ]
    assert [where[n]["weight_decay"] for n in no_decay] == [0.0] * len(no_decay)
    assert [where[n]["weight_decay"] for n in decay] == [wd] * len(decay)
    assert len(groups) == 2 * (depth + 2)  # (decay, no decay) x (embeddings, 12 blocks, rest)
    assert wrapper.get_lr()["lr"][0] == base_lr  # heads first: mmengine logs the first group's lr

    from mmengine.optim import CosineAnnealingLR

    scheduler = CosineAnnealingLR(wrapper, T_max=10, by_epoch=False)
    for _ in range(3):
        wrapper.step()
        scheduler.step()
    head, first = where["decode_head.conv_seg.weight"], where["backbone.blocks.0.attns.1.attn.qkv.weight"]
    assert head["lr"] < base_lr and first["lr"] / head["lr"] == pytest.approx(rate**depth)  # decay survives schedules
    assert where["backbone.blocks.3.attns.0.attn.qkv.weight"]["group_name"] == "layer_4_decay"


def test_layer_decay_rejects_unsupported_settings():
    optim = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05))
    with pytest.raises(ValueError, match="custom_keys"):
        LayerDecayOptimWrapperConstructor(optim, dict(layer_decay_rate=0.75, custom_keys={}))
    with pytest.raises(ValueError, match="layer_decay_rate"):
        LayerDecayOptimWrapperConstructor(optim, dict())
    with pytest.raises(ValueError, match="num_layers"):
        LayerDecayOptimWrapperConstructor(optim, dict(layer_decay_rate=0.75))(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("arch", ARCHS)
def test_backward_reaches_every_backbone_parameter(arch):
    torch.manual_seed(0)
    kwargs = dict(img_size=64, patch_size=8, window_size=3, out_indices=(3, 5, 7, 11), drop_path_rate=0.0)
    backbone = ParallelViTDet(arch, **kwargs).train()
    checkpointed = ParallelViTDet(arch, with_cp=True, **kwargs).train()
    checkpointed.load_state_dict(backbone.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (backbone, checkpointed):
        sum(out.square().mean() for out in model(x)).backward()
    for (name, param), other in zip(backbone.named_parameters(), checkpointed.parameters(), strict=True):
        assert param.grad is not None and param.grad.abs().sum() > 0, name
        torch.testing.assert_close(other.grad, param.grad, rtol=1e-4, atol=1e-6)


def test_out_indices_must_end_with_the_last_block():
    with pytest.raises(ConfigError, match="last block"):
        ParallelViTDet("vit_tiny12x1", img_size=64, patch_size=8, out_indices=(3, 5))
