"""The encoders a slimming study probes: ours (exported by the pretraining stage) and external checkpoints on disk.

An encoder entry of the config (``slimming.encoders.<name>``):

- ``source: pretrain`` - ``results/pretrain/<name>/encoder.safetensors`` + ``encoder.json`` of this workflow;
- ``source: file`` - a local checkpoint ``path`` holding a timm ``arch`` (e.g. ``vit_base_patch16_224`` for the
  ImageNet MAE ViT-B/16, ``vit_small_patch16_224`` with ``in_chans: 13`` for SSL4EO-S12 MoCo/DINO). The state dict
  may sit under ``model``, ``state_dict`` or ``teacher`` and carry a prefix (``module.``, ``backbone.``,
  ``encoder.``); a given ``prefix`` selects exactly the keys under it (e.g. ``module.base_encoder.`` of a MoCo v3
  checkpoint, leaving its momentum encoder out); keys of heads and decoders are dropped, and every
  encoder weight must be found (the load is strict otherwise). A missing file stops with the ``url`` to fetch it from
  and the path to put it at.

Loading runs no code from a checkpoint: ``.safetensors`` files are read directly, and any other file with
``torch.load(weights_only=True)``, which unpickles only tensors and plain containers. A checkpoint that needs more (a
pickled ``argparse.Namespace``, numpy scalars, a custom class: anything a pickle could use to run code) is refused;
convert it once, in a session you trust, and point ``path`` at the result::

    import torch, safetensors.torch
    checkpoint = torch.load("mae_pretrain_vit_base.pth", map_location="cpu", weights_only=False)  # trusted file only
    state = checkpoint.get("model", checkpoint)  # or "state_dict", "teacher": where the encoder's weights are
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, "mae_pretrain_vit_base.safetensors")

An entry's optional ``sha256`` (of the file, as ``sha256sum`` prints it) is checked before the file is read; every
feature table records the sha256 of the weights it was made from (``weights_sha256``; ours: of
``encoder.safetensors``).

- ``source: terratorch`` - paper 2's other RS foundation models (DOFA, Prithvi-EO 1.0/2.0, TerraMind), built by
  TerraTorch's backbone registry from a local checkpoint in its authors' layout: see :mod:`rsfm.slimming.foundation`.

Adding another model: any checkpoint whose encoder is a timm ``VisionTransformer`` loads as ``source: file`` with its
``arch``, ``in_chans``, ``img_size``, band order and normalisation in the config; another TerraTorch family is one
row of :data:`rsfm.slimming.foundation.FAMILIES`; other layer types need a slicing rule in :mod:`rsfm.models.slim`.

Input settings of an entry (all optional): ``img_size``, ``pool`` (``mean`` or ``cls``), ``bands`` (per dataset
layout: ``class_folders`` channel indices, ``geobench`` band names, in the order the encoder expects), ``scale``
(per layout), ``mean`` and ``std`` (per band, after scaling), ``missing_bands`` (``error``, or ``fill``: bands the
encoder expects and a dataset lacks enter as zeros after normalisation, e.g. SSL4EO-S12's 13 Sentinel-2 bands on
m-so2sat, which has 10 of them).
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rsfm.errors import ConfigError, DataError
from rsfm.slimming.features import EncoderInput

PREFIXES = ("module.", "backbone.", "encoder.", "model.")
# what shapes a TerraTorch model besides img_size (rsfm.slimming.foundation)
TERRATORCH_SHAPE = ("family", "arch", "model_bands", "depth", "num_frames", "modality", "prefix")
DROPPED = ("head.", "fc_norm.", "decoder", "mask_token", "projector", "predictor", "momentum")


_DIGESTS: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime, inode) -> sha256: each file hashed once


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in 8 MiB blocks (memoised per path, size, modification time and inode)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if memo not in _DIGESTS:
        from rsfm.data.download import file_digest

        _DIGESTS[memo] = file_digest(path, "sha256", chunk_size=1 << 23)
    return _DIGESTS[memo]


def verify_sha256(name: str, path: Path, expected: str | None, url: str | None = None) -> str:
    """The file's sha256, checked against ``expected`` (when given) before anything else reads the file."""
    found = file_sha256(path)
    if expected is not None and found != expected.lower():
        fetch = f"Download it again from {url}" if url else "Download or export it again"
        raise DataError(
            f"encoder {name}: {path} has sha256 {found}, but the config expects {expected.lower()}: it is not the "
            f"file the config names (a partial or different download, or another training run). {fetch}; or, if "
            f"this file is the one you mean to use, set slimming.encoders.{name}.sha256 to {found}"
        )
    return found


def weights_file(name: str, entry: dict[str, Any], pretrain_dir: str | Path = "results/pretrain") -> Path:
    """The file an encoder's weights are loaded from."""
    if entry.get("source", "pretrain") == "pretrain":
        return Path(pretrain_dir) / name / "encoder.safetensors"
    return Path(entry["path"]).expanduser()


def identity(name: str, entry: dict[str, Any], pretrain_dir: str | Path = "results/pretrain") -> dict[str, Any]:
    """What identifies an encoder's features (JSON values): the weights file's sha256 and every setting that shapes
    the model built from it (ours: encoder.json; external: arch, in_chans, img_size, prefix)."""
    made: dict[str, Any] = {"weights_sha256": file_sha256(weights_file(name, entry, pretrain_dir))}
    if entry.get("source", "pretrain") == "pretrain":
        made["arch"] = json.loads((Path(pretrain_dir) / name / "encoder.json").read_text())
    elif entry["source"] == "terratorch":
        made |= {k: entry.get(k) for k in TERRATORCH_SHAPE} | {"img_size": int(entry.get("img_size", 224))}
    else:
        made |= {"arch": entry["arch"], "in_chans": int(entry.get("in_chans", 3)),
                 "img_size": int(entry.get("img_size", 224)), "prefix": entry.get("prefix")}  # fmt: skip
    return made


def study_entry(slim_cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """Encoder ``name``'s entry of the slimming section over the study-wide input defaults (``slimming.input``):
    what the sweep, the exports and the checks read."""
    return {**slim_cfg.get("input", {}), **slim_cfg["encoders"][name]}


def encoder_input(entry: dict[str, Any], default_img_size: int) -> EncoderInput:
    options = {k: entry[k] for k in ("bands", "mean", "std", "pool", "missing_bands") if k in entry}
    if "scale" in entry:
        options["scale"] = {**EncoderInput().scale, **entry["scale"]}
    return EncoderInput(img_size=int(entry.get("img_size", default_img_size)), **options)


def load_pretrained(
    name: str, pretrain_dir: str | Path = "results/pretrain", sha256: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """One of our encoders, as the pretraining stage exported it (strict load; ``sha256`` checked first if given)."""
    from safetensors.torch import load_file

    from rsfm.models.vit import create_encoder

    folder = Path(pretrain_dir) / name
    weights, arch_file = folder / "encoder.safetensors", folder / "encoder.json"
    if not weights.is_file() or not arch_file.is_file():
        raise ConfigError(f"{weights} is missing: pretrain {name} first (rule pretrain), or list it as source: file")
    verify_sha256(name, weights, sha256)
    arch = json.loads(arch_file.read_text())
    model = create_encoder(arch["model"], img_size=arch["img_size"], patch_size=arch["patch_size"],
                           dynamic_img_size=True)  # fmt: skip
    model.load_state_dict(load_file(str(weights)), strict=True)
    return model.eval(), arch


def _state_dict(checkpoint: Any, prefix: str | None, strip: bool = True) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint (under ``model``, ``state_dict`` or ``teacher``), only those under ``prefix`` if
    given; ``strip``: without a known wrapper prefix and without heads and decoders (timm layouts; a TerraTorch
    family maps its keys itself)."""
    state = checkpoint
    for key in ("model", "state_dict", "teacher"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    out = {}
    for key, value in state.items():
        if prefix:  # e.g. MoCo v3's "module.base_encoder.": only that encoder, not the momentum copy
            if not key.startswith(prefix):
                continue
            key = key[len(prefix) :]
        elif strip:
            key = next((key[len(p) :] for p in PREFIXES if key.startswith(p)), key)
        if not strip or not key.startswith(DROPPED):
            out[key] = value
    return out


def _refusal(name: str, path: Path, error: Exception) -> str:
    reason = re.search(r"WeightsUnpickler error: (.*?)(?:\n|$)", str(error))
    found = re.search(r"GLOBAL (\S+)", str(error))
    why = f"it needs {found.group(1)} to load" if found else f"({reason.group(1).strip() if reason else error})"
    target = path.with_suffix(".safetensors")
    return (
        f"encoder {name}: {path} is refused: it is not a checkpoint of plain tensors, and loading it fully could run "
        f"code from the file ({why}). If this is a broken download, download it again. If you trust the file, "
        f"convert it once to safetensors in a trusted Python session:\n"
        f"    import torch, safetensors.torch\n"
        f"    checkpoint = torch.load({str(path)!r}, map_location='cpu', weights_only=False)\n"
        f"    state = checkpoint.get('model', checkpoint)  # or 'state_dict' / 'teacher': the encoder's weights\n"
        f"    safetensors.torch.save_file({{k: v.contiguous() for k, v in state.items()}}, {str(target)!r})\n"
        f"and set slimming.encoders.{name}.path to {target} (with sha256 set to its sha256sum)."
    )


def read_checkpoint(name: str, path: Path) -> Any:
    """A checkpoint's contents, running no code from it: safetensors as they are, anything else through
    ``torch.load(weights_only=True)``; a pickle that needs more is refused (see the module docstring)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise DataError(f"encoder {name}: cannot read {path} ({error}); re-download it") from error
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise DataError(_refusal(name, path, error)) from None
    except Exception as error:  # any other unreadable file: say which and why
        raise DataError(f"encoder {name}: cannot read {path} ({error}); re-download it") from error


def _checkpoint(name: str, entry: dict[str, Any]) -> tuple[Path, Any]:
    """The entry's checkpoint file and its contents (a missing file names its url; the sha256 is checked first)."""
    path = Path(entry["path"]).expanduser()
    if not path.is_file():
        source = entry.get("url", "the model's release page")
        raise ConfigError(f"encoder {name}: checkpoint {path} is missing. Download it from {source} and save it as "
                          f"{path.resolve()}.")  # fmt: skip
    verify_sha256(name, path, entry.get("sha256"), entry.get("url"))
    return path, read_checkpoint(name, path)


def load_file_encoder(name: str, entry: dict[str, Any]) -> nn.Module:
    """An external encoder from a local checkpoint (see the module docstring)."""
    import timm

    path, checkpoint = _checkpoint(name, entry)
    model = timm.create_model(
        entry["arch"], pretrained=False, num_classes=0, in_chans=int(entry.get("in_chans", 3)),
        img_size=int(entry.get("img_size", 224)), dynamic_img_size=True,
    )  # fmt: skip
    state = _state_dict(checkpoint, entry.get("prefix"))
    hint = "check arch, in_chans, img_size and prefix"
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shapes that differ
        first = str(error).split("\n\tsize mismatch for ", 2)[1:2]
        raise DataError(f"encoder {name}: {path} does not fit timm {entry['arch']}: {first or error}; {hint}") from None
    if result.missing_keys or result.unexpected_keys:
        raise DataError(
            f"encoder {name}: {path} does not fit timm {entry['arch']}: missing {result.missing_keys[:6]}, unexpected "
            f"{result.unexpected_keys[:6]}; {hint}"
        )
    return model.eval()


def describe(name: str, entry: dict[str, Any], pretrain_dir: str | Path = "results/pretrain") -> dict[str, str]:
    """How an encoder was made, for the tables: ``base`` architecture, pretraining ``method`` and ``training``
    (``slimmable`` or ``regular``). Ours: from its encoder.json; external ones: the entry's ``arch``, ``method`` and
    ``slimmable`` keys."""
    if entry.get("source", "pretrain") == "pretrain":
        arch_file = Path(pretrain_dir) / name / "encoder.json"
        arch = json.loads(arch_file.read_text()) if arch_file.is_file() else {}
        made = arch.get("pretraining", {})
        base, method, slimmable = arch.get("model", name), made.get("method", "mae"), made.get("slimmable")
    else:
        base, method, slimmable = entry.get("arch", name), entry.get("method", "unknown"), entry.get("slimmable")
    return {"base": str(base), "method": str(method), "training": "slimmable" if slimmable else "regular"}


def load_encoder(
    name: str, entry: dict[str, Any], pretrain_dir: str | Path = "results/pretrain"
) -> tuple[nn.Module, EncoderInput]:
    """The encoder of a config entry and how to feed it."""
    source = entry.get("source", "pretrain")
    if source == "pretrain":
        model, arch = load_pretrained(name, pretrain_dir, entry.get("sha256"))
        return model, encoder_input(entry, arch["img_size"])
    if source == "file":
        if "arch" not in entry or "path" not in entry:
            raise ConfigError(f"encoder {name}: source file needs `path` and `arch` (a timm model name)")
        return load_file_encoder(name, entry), encoder_input(entry, 224)
    if source == "terratorch":
        from rsfm.slimming import foundation

        missing = [k for k in ("family", "arch", "path", "model_bands") if k not in entry]
        if missing:
            raise ConfigError(f"encoder {name}: source terratorch needs {', '.join(missing)}")
        foundation.family(entry, name)  # a wrong family stops before the file is read
        path, checkpoint = _checkpoint(name, entry)
        return foundation.load(name, entry, checkpoint, path), encoder_input(entry, 224)
    raise ConfigError(f"encoder {name}: unknown source {source!r} (pretrain, file or terratorch)")


__all__ = [
    "describe", "encoder_input", "file_sha256", "identity", "load_encoder", "load_file_encoder", "load_pretrained",
    "read_checkpoint", "study_entry", "verify_sha256", "weights_file",
]  # fmt: skip
