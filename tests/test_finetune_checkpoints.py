"""Which local checkpoints fine-tuning unpickles in full: only those its own run wrote under work_dir."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint
from safetensors.torch import save_file

from rsfm.errors import DataError
from rsfm.finetune.train import trust_local_checkpoints, written_by_run


class _Payload:
    """Unpickling it (weights_only=False) creates ``marker``: the file ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.fixture
def loader(monkeypatch, tmp_path):
    """mmengine's loader with our local scheme for the run in tmp_path/run/work (mmengine's own restored after)."""
    monkeypatch.setattr(CheckpointLoader, "_schemes", dict(CheckpointLoader._schemes))
    work_dir = tmp_path / "run" / "work"
    work_dir.mkdir(parents=True)
    trust_local_checkpoints(work_dir)
    return work_dir, lambda path: CheckpointLoader.load_checkpoint(str(path), map_location="cpu")


def _runner_checkpoint():
    """What mmengine's Runner saves: weights plus meta and the message hub (HistoryBuffer objects, numpy values)."""
    hub = MessageHub.get_instance("test_finetune_checkpoints")
    hub.update_scalar("train/loss", 0.5)
    meta = {"epoch": 0, "iter": 2, "seed": np.int64(0), "dataset_meta": {"classes": ("a", "b")}}
    return {"meta": meta, "state_dict": {"w": torch.ones(2)}, "message_hub": hub.state_dict()}


def test_the_runs_own_checkpoint_loads_in_full(loader):
    work_dir, load = loader
    save_checkpoint(_runner_checkpoint(), str(work_dir / "iter_2.pth"))
    (work_dir / "sub").mkdir()
    (work_dir / "sub" / "latest.pth").symlink_to(work_dir / "iter_2.pth")  # a link that stays inside
    for path in (work_dir / "iter_2.pth", work_dir / "sub" / "latest.pth"):
        checkpoint = load(path)
        assert checkpoint["meta"]["iter"] == 2 and "log_scalars" in checkpoint["message_hub"]
    save_checkpoint(_runner_checkpoint(), str(work_dir.parent / "elsewhere.pth"))  # the same, beside work_dir
    with pytest.raises(DataError, match=r"elsewhere\.pth with weights_only=False: it was not written by this run"):
        load(work_dir.parent / "elsewhere.pth")


@pytest.mark.parametrize("where", ["outside", "symlink inside", "dot-dot", "symlinked folder"])
def test_other_checkpoints_load_as_weights_only(loader, tmp_path, where):
    work_dir, load = loader
    marker = tmp_path / "executed"
    outside = tmp_path / "downloaded" / "model.pth"
    outside.parent.mkdir()
    torch.save({"state_dict": {"w": torch.ones(2)}, "extra": _Payload(marker)}, outside)
    path = {
        "outside": outside,
        "symlink inside": work_dir / "model.pth",
        "dot-dot": work_dir / ".." / ".." / "downloaded" / "model.pth",
        "symlinked folder": work_dir / "linked" / "model.pth",
    }[where]
    if where == "symlink inside":
        path.symlink_to(outside)
    if where == "symlinked folder":
        (work_dir / "linked").symlink_to(outside.parent, target_is_directory=True)
    assert not written_by_run(path, work_dir)
    with pytest.raises(DataError, match=r"refusing to load .*model\.pth.*not written by this run") as error:
        load(path)
    assert "Convert it to safetensors or to a plain state dict" in str(error.value)
    assert "(Unsupported global: GLOBAL exec was not an allowed global by default)" in str(error.value)  # torch's why
    assert not marker.exists()


def test_plain_weights_and_safetensors_from_outside_load(loader, tmp_path):
    _, load = loader
    torch.save({"state_dict": {"w": torch.arange(3.0)}}, tmp_path / "plain.pth")
    assert torch.equal(load(tmp_path / "plain.pth")["state_dict"]["w"], torch.arange(3.0))
    save_file({"w": torch.arange(3.0)}, str(tmp_path / "encoder.safetensors"))
    assert torch.equal(load(tmp_path / "encoder.safetensors")["w"], torch.arange(3.0))
    with pytest.raises(FileNotFoundError, match=r"gone\.pth"):
        load(tmp_path / "gone.pth")


def test_urls_load_as_weights_only_and_model_zoo_schemes_are_refused(tmp_path, monkeypatch):
    trust_local_checkpoints(tmp_path / "work")
    seen = {}

    def fake_download(url, map_location=None, weights_only=False, **_):
        seen.update(url=url, weights_only=weights_only)
        return {"w": torch.zeros(1)}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    assert set(CheckpointLoader.load_checkpoint("https://example.org/w.pth")) == {"w"}
    assert seen == {"url": "https://example.org/w.pth", "weights_only": True}
    with pytest.raises(DataError, match="model-zoo checkpoints are not loaded"):
        CheckpointLoader.load_checkpoint("torchvision://resnet50")
