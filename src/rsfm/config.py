"""Pipeline configuration: validation against the JSON schema, defaults, and one error naming every bad key.

rules/common.smk calls :func:`validate_config` before any job is planned. Every problem of a config is reported at
once, each with its dotted path and, for a misspelt name, the closest valid one: keys the schema does not know,
wrong types and values, and the names that key a mapping (sizes under ``per_size``, rules under
``resources.rules``, band names of slimming inputs, the mm config keys of fine-tuning ``options``), which the schema
alone would let through to a silent default.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from rsfm.errors import ConfigError

_TYPE_NAMES = {dict: "mapping", list: "list", str: "string", int: "integer", float: "number", bool: "boolean"}


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def closest(name: Any, choices: Iterable[Any]) -> str:
    """``; did you mean 'x'?`` for the valid name closest to a misspelt ``name``, or an empty string."""
    found = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{found[0]}'?" if found else ""


def _unknown(key: str, name: Any, allowed: Iterable[Any], what: str = "keys") -> str:
    allowed = sorted(str(a) for a in allowed)
    shown = ", ".join(allowed[:12]) + (f", ... ({len(allowed)} in all)" if len(allowed) > 12 else "")
    listing = f"{what} here: {shown}" if allowed else f"no {what} are allowed here"
    return f"config key '{key}' is not allowed{closest(name, allowed)} ({listing})"


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/name``); the schema uses no other kind."""
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _properties(schema: Mapping[str, Any], root: Mapping[str, Any]) -> set[str]:
    """The keys a schema names, its ``allOf`` parts' too."""
    schema = _resolve(schema, root)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _properties(part, root)
    return names


def _describe(error: ValidationError, root: Mapping[str, Any]) -> list[str]:
    where = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _properties(error.schema, root)
        extra = sorted(set(error.instance) - allowed) if isinstance(error.instance, dict) else []
        return [_unknown(_dotted([*where, key]), key, allowed) + "; check its spelling and nesting" for key in extra]
    if error.validator == "required":
        return [f"config key '{_dotted(where)}' is missing a required entry: {error.message}"]
    if error.validator == "type":
        got = _TYPE_NAMES.get(type(error.instance), type(error.instance).__name__)
        return [f"config key '{_dotted(where)}' must be of type {error.validator_value}, got {got} {error.instance!r}"]
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        hint = closest(error.instance, error.validator_value) if isinstance(error.instance, str) else ""
        return [f"config key '{_dotted(where)}' must be one of {choices}, got {error.instance!r}{hint}"]
    return [f"config key '{_dotted(where)}': {error.message}"]


def _fill_defaults(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            sub = _resolve(sub, root)
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in schema.get("properties", {}):
                    _fill_defaults(value, extra, root)


# --- rules the schema cannot express --------------------------------------------------------------------------------


def _datasets(config: Mapping[str, Any]) -> Iterator[str]:
    from rsfm.data.kinds import kind_of
    from rsfm.data.registry import DATASETS

    for name, dataset in config.get("data", {}).get("datasets", {}).items():
        key = f"data.datasets.{name}"
        if dataset["source"] == "extracted":
            if "path" not in dataset:
                yield f"config key '{key}.path' is required with source 'extracted' (the extracted folder)"
            elif not Path(dataset["path"]).expanduser().is_dir():
                yield f"config key '{key}.path': folder {dataset['path']!r} does not exist"
        if name in DATASETS:  # the schema names an unknown one
            kind = kind_of(name)
            if dataset["source"] == "synthetic" and kind.synthesize is None:
                yield f"config key '{key}.source': {name} has no synthetic copy; use official or extracted"
            yield from kind.check_settings(key, dataset)
        if "split" in dataset:
            split = dataset["split"]
            total = split.get("train", 0) + split.get("val", 0) + split.get("test", 0)
            if abs(total - 1.0) > 1e-6:
                yield f"config key '{key}.split': train + val + test must be 1, got {total:g}"
        tiling = dataset.get("tiling")
        if tiling and tiling["gap"] >= tiling["size"]:
            yield f"config key '{key}.tiling.gap' ({tiling['gap']}) must be smaller than size"
        crop = dataset.get("crop")
        if crop and crop["stride"] > crop["size"]:
            yield f"config key '{key}.crop.stride' ({crop['stride']}) must not exceed size (gaps)"


def _launches(config: Mapping[str, Any]) -> Iterator[str]:
    from rsfm.sizes import SIZES

    for section in ("pretrain", "finetune"):
        per_size = config.get(section, {}).get("per_size", {})
        for size in per_size:
            if size not in SIZES:  # a misspelt size would run on the defaults of `run`
                yield _unknown(f"{section}.per_size.{size}", size, SIZES, "sizes")
        for name, launch in {"run": config.get(section, {}).get("run", {}), **per_size}.items():
            if "tasks" in launch and launch["tasks"] % launch.get("nodes", 1):
                where = name if name == "run" else f"per_size.{name}"
                yield (
                    f"config key '{section}.{where}.tasks' ({launch['tasks']}) must be a multiple of nodes "
                    f"({launch.get('nodes', 1)}): one torchrun launcher per task"
                )


def _stages(config: Mapping[str, Any]) -> Iterator[str]:
    """Stages that read one another's outputs: what fine-tuning and slimming name must be made upstream."""
    from rsfm.data.registry import DATASETS
    from rsfm.finetune.benchmarks import BENCHMARKS

    finetune = config.get("finetune", {})
    pretrain = config.get("pretrain", {})
    pretrained = set(pretrain.get("sizes", []))
    for size in finetune.get("sizes", []):
        if size not in pretrained:
            yield (
                f"config key 'finetune.sizes': {size!r} is not pretrained here (add it to pretrain.sizes)"
                f"{closest(size, pretrained)}; fine-tuning starts from the encoders of the pretraining stage"
            )
    datasets = config.get("data", {}).get("datasets", {})
    for benchmark in finetune.get("benchmarks", []):
        dataset = BENCHMARKS[benchmark].dataset if benchmark in BENCHMARKS else benchmark
        if dataset not in datasets:
            yield f"config key 'finetune.benchmarks': {benchmark!r} needs data.datasets.{dataset}"
    inits = finetune.get("inits", ["pretrained"])
    for init in finetune.get("init_fractions", {}):
        if init not in inits:
            yield f"config key 'finetune.init_fractions.{init}': {init!r} is not in finetune.inits {inits}"
    slim = finetune.get("slim", {})
    for key in ("benchmarks", "sizes"):
        for name in slim.get(key, []):
            if name not in finetune.get(key, []):
                yield f"config key 'finetune.slim.{key}': {name!r} is not in finetune.{key} {finetune.get(key, [])}"
    if slim.get("widths") and 1 not in [float(f) for f in finetune.get("fractions", [])]:
        yield "config key 'finetune.slim': slimmed runs use all the training data; add 1 to finetune.fractions"
    named = set(pretrain.get("runs", {}))
    if clashes := sorted(pretrained & named):
        yield f"config key 'pretrain.runs': {clashes} name sizes' own MAE runs; choose other names"
    yield from _data_scaling(pretrain, finetune)
    runs = pretrained | named
    slimming = config.get("slimming", {})
    if slimming.get("export") and "mlp" not in slimming.get("ablations", {}).get("parts", []):
        yield ("config key 'slimming.export': exports take the MLP-only widths (timm has no per-head size); add "
               "`parts: [mlp]` to slimming.ablations")  # fmt: skip
    for entry in slimming.get("export", []):
        if entry["encoder"] not in slimming.get("encoders", {}):
            yield f"config key 'slimming.export': {entry['encoder']!r} is not in slimming.encoders"
    for name, entry in slimming.get("encoders", {}).items():
        if entry.get("source", "pretrain") == "pretrain" and name not in runs:
            yield (
                f"config key 'slimming.encoders.{name}': source pretrain needs {name!r} in pretrain.sizes or "
                f"pretrain.runs{closest(name, runs)}"
            )
        if entry.get("source") == "file" and not {"path", "arch"} <= set(entry):
            yield f"config key 'slimming.encoders.{name}': source file needs `path` and `arch`"
    for dataset in slimming.get("datasets", []):
        if dataset not in datasets:
            hint = closest(dataset, datasets)
            yield f"config key 'slimming.datasets': {dataset!r} needs data.datasets.{dataset}{hint}"
        elif DATASETS[dataset].task != "classification":
            yield f"config key 'slimming.datasets': {dataset!r} is a {DATASETS[dataset].task} set; probes need classes"
    if slimming.get("encoders") and 1.0 not in slimming.get("widths", []):
        yield "config key 'slimming.widths' must include 1.0 (retention is relative to the full width)"


def _data_scaling(pretrain: Mapping[str, Any], finetune: Mapping[str, Any]) -> Iterator[str]:
    """pretrain.data_scaling pretrains sizes of the stage; finetune.data_scaling fine-tunes them beside the size's own
    run on all the training data."""
    from rsfm.pretrain.runs import data_scaling_runs

    scaling = pretrain.get("data_scaling", {})
    for size in scaling.get("sizes", []):
        if size not in pretrain.get("sizes", []):
            yield (f"config key 'pretrain.data_scaling.sizes': {size!r} is not in pretrain.sizes (its run on all the "
                   "images is the share 1 of the curve)")  # fmt: skip
    if clashes := sorted(set(data_scaling_runs(pretrain)) & set(pretrain.get("runs", {}))):
        yield f"config key 'pretrain.runs': {clashes} are the names of pretrain.data_scaling's runs; choose others"
    benchmarks = finetune.get("data_scaling", {}).get("benchmarks", [])
    for name in benchmarks:
        if name not in finetune.get("benchmarks", []):
            yield (f"config key 'finetune.data_scaling.benchmarks': {name!r} is not in finetune.benchmarks "
                   f"{finetune.get('benchmarks', [])}")  # fmt: skip
    if benchmarks and scaling.get("sizes"):
        if missing := [s for s in scaling["sizes"] if s not in finetune.get("sizes", [])]:
            yield (f"config key 'pretrain.data_scaling.sizes': {missing} are not in finetune.sizes, so their own "
                   "encoders are not fine-tuned beside the shares'")  # fmt: skip
        if 1 not in [float(f) for f in finetune.get("fractions", [])]:
            yield "config key 'finetune.data_scaling': its runs use all the training data; add 1 to finetune.fractions"


def _slimming_inputs(config: Mapping[str, Any]) -> Iterator[str]:
    """Band names and per-layout keys of the slimming inputs, and whether every probed dataset has the bands."""
    from rsfm.data.registry import DATASETS

    slimming = config.get("slimming", {})
    layouts = sorted({spec.kind for spec in DATASETS.values() if spec.task == "classification"})
    known_bands = sorted({band for spec in DATASETS.values() for band in spec.bands})
    shared = slimming.get("input", {})
    places = {
        "slimming.input": shared,
        **{f"slimming.encoders.{n}": e for n, e in slimming.get("encoders", {}).items()},
    }
    for where, entry in places.items():
        for field in ("bands", "scale"):
            for layout in entry.get(field, {}):
                if layout not in layouts:
                    yield _unknown(f"{where}.{field}.{layout}", layout, layouts, "dataset layouts")
        for layout, bands in entry.get("bands", {}).items():
            for i, band in enumerate(bands):
                if layout == "geobench" and band not in known_bands:
                    yield _unknown(f"{where}.bands.geobench[{i}]", band, known_bands, "GEO-Bench band names")
                if layout == "class_folders" and not (isinstance(band, int) and band >= 0):
                    yield f"config key '{where}.bands.class_folders[{i}]' must be a channel index, got {band!r}"
    banded = [d for d in slimming.get("datasets", []) if d in DATASETS and DATASETS[d].bands]
    for name, own in slimming.get("encoders", {}).items():
        entry = {**shared, **own}

        def where(*keys: str, name: str = name, own: Mapping[str, Any] = own) -> str:
            # a setting every encoder shares is named once, where it is set
            return f"slimming.encoders.{name}" if any(k in own for k in keys) else "slimming.input"

        mean_len = len(entry["mean"]) if "mean" in entry else 3  # ImageNet's mean and std otherwise
        if "std" in entry and len(entry["std"]) != mean_len:
            yield f"config key '{where('mean', 'std')}.std' has {len(entry['std'])} values but mean has {mean_len}"
        for layout, bands in entry.get("bands", {}).items():
            if len(bands) != mean_len:
                yield (
                    f"config key '{where('mean', 'bands')}': {len(bands)} bands for {layout} but {mean_len} values of "
                    "mean/std; give one mean and std per band"
                )
        bands = [b for b in entry.get("bands", {}).get("geobench", []) if b in known_bands]  # others named above
        if bands and entry.get("missing_bands", "error") == "error":
            for dataset in banded:
                absent = [b for b in bands if b not in DATASETS[dataset].bands]
                if absent:
                    yield (
                        f"config key '{where('bands', 'missing_bands')}': {dataset} has no bands {absent}; set "
                        "missing_bands: fill (zeros after normalisation), or leave the dataset out"
                    )


CHECKS: tuple[Callable[[Mapping[str, Any]], Iterator[str]], ...] = (_datasets, _launches, _stages, _slimming_inputs)


def _rules(config: Mapping[str, Any], rules: Sequence[str]) -> Iterator[str]:
    for name in config.get("resources", {}).get("rules", {}):
        if name not in rules:  # a misspelt rule would run on resources.default
            yield _unknown(f"resources.rules.{name}", name, rules, "rules")


def _finetune_options(config: Mapping[str, Any], base_dir: Path) -> Iterator[str]:
    from rsfm.finetune.configs import check_options

    finetune, pretrain = config.get("finetune", {}), config.get("pretrain", {})
    if not finetune.get("benchmarks") or not finetune.get("sizes"):
        return
    folder = Path(finetune.get("configs", "config/finetune"))
    yield from check_options(finetune, folder if folder.is_absolute() else base_dir / folder,
                             patch_size=int(pretrain.get("patch_size", 16)))  # fmt: skip


def problems_of(
    config: Mapping[str, Any], schema: Mapping[str, Any], *, rules: Sequence[str] | None = None,
    base_dir: str | os.PathLike[str] = ".",
) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """Every problem of ``config`` (schema, names, cross-field rules) and the config with defaults filled in."""
    validator = Draft202012Validator(schema)
    problems = [line for error in validator.iter_errors(config) for line in _describe(error, schema)]
    filled = copy.deepcopy(dict(config))
    checks: list[Callable[[], Iterator[str]]] = [lambda check=check: check(filled) for check in CHECKS]
    if rules is not None:
        checks.append(lambda: _rules(filled, rules))
    checks.append(lambda: _finetune_options(filled, Path(base_dir)))
    try:
        _fill_defaults(filled, schema, schema)
    except (TypeError, AttributeError, KeyError):
        checks = []  # the schema's errors say what is malformed; the checks would only trip over it
    for check in checks:
        try:
            problems += list(check())
        except (TypeError, AttributeError, KeyError, ValueError):
            if not problems:  # a malformed part the schema let through: not the user's to decode
                raise
    return sorted(dict.fromkeys(problems)), filled


def validate_config(
    config: Mapping[str, Any], schema: Mapping[str, Any] | str | os.PathLike[str], *,
    rules: Sequence[str] | None = None, base_dir: str | os.PathLike[str] = ".",
) -> dict[str, Any]:  # fmt: skip
    """Validate ``config`` and return a copy with schema defaults filled in; raise one ConfigError naming every bad
    key. ``rules``: the workflow's rule names (for ``resources.rules``); ``base_dir``: where relative paths of the
    config (``finetune.configs``) start."""
    if not isinstance(schema, Mapping):
        schema = load_schema(schema)
    problems, filled = problems_of(config, schema, rules=rules, base_dir=base_dir)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise ConfigError(f"invalid configuration ({count}):\n  " + "\n  ".join(problems))
    return filled


def load_config(
    path: str | os.PathLike[str], schema_path: str | os.PathLike[str], *, rules: Sequence[str] | None = None,
    base_dir: str | os.PathLike[str] = ".",
) -> dict[str, Any]:  # fmt: skip
    """Read a YAML config file and validate it (for tools outside Snakemake)."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    return validate_config(config, schema_path, rules=rules, base_dir=base_dir)
