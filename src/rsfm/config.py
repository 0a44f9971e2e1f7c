"""Pipeline configuration: validation against the JSON schema, defaults, and error messages that name the key.

rules/common.smk calls :func:`validate_config` before any job is planned, so a typo or a wrong type stops the run
with "config key 'data.datasets.dota_v2.tiling.gapp' is not allowed ..." instead of a KeyError deep in a job.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
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


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/name``); the schema uses no other kind."""
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _describe(error: ValidationError, root: Mapping[str, Any]) -> str:
    where = list(error.absolute_path)
    schema = _resolve(error.schema, root)
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = _dotted([*where, extra[0]]) if extra else _dotted(where)
        hint = f"allowed keys here: {', '.join(allowed)}" if allowed else "no keys are allowed here"
        return f"config key '{key}' is not allowed ({hint}); check its spelling and nesting"
    if error.validator == "required":
        return f"config key '{_dotted(where)}' is missing a required entry: {error.message}"
    if error.validator == "type":
        got = _TYPE_NAMES.get(type(error.instance), type(error.instance).__name__)
        return f"config key '{_dotted(where)}' must be of type {error.validator_value}, got {got} {error.instance!r}"
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        return f"config key '{_dotted(where)}' must be one of {choices}, got {error.instance!r}"
    return f"config key '{_dotted(where)}': {error.message}"


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


def _check_consistency(config: Mapping[str, Any]) -> list[str]:
    """Rules the schema cannot express compactly."""
    problems = []
    for name, dataset in config.get("data", {}).get("datasets", {}).items():
        key = f"data.datasets.{name}"
        if dataset["source"] == "extracted":
            if "path" not in dataset:
                problems.append(f"config key '{key}.path' is required with source 'extracted' (the extracted folder)")
            elif not Path(dataset["path"]).expanduser().is_dir():
                problems.append(f"config key '{key}.path': folder {dataset['path']!r} does not exist")
        if name == "potsdam" and not any(dataset.get("splits", {}).values()):
            problems.append(f"config key '{key}.splits' must list the tile ids of at least one split")
        if "split" in dataset:
            split = dataset["split"]
            total = split.get("train", 0) + split.get("val", 0) + split.get("test", 0)
            if abs(total - 1.0) > 1e-6:
                problems.append(f"config key '{key}.split': train + val + test must be 1, got {total:g}")
        tiling = dataset.get("tiling")
        if tiling and tiling["gap"] >= tiling["size"]:
            problems.append(f"config key '{key}.tiling.gap' ({tiling['gap']}) must be smaller than size")
        crop = dataset.get("crop")
        if crop and crop["stride"] > crop["size"]:
            problems.append(f"config key '{key}.crop.stride' ({crop['stride']}) must not exceed size (gaps)")
    for section in ("pretrain", "finetune"):
        launches = {"run": config.get(section, {}).get("run", {}), **config.get(section, {}).get("per_size", {})}
        for name, launch in launches.items():
            if "tasks" in launch and launch["tasks"] % launch.get("nodes", 1):
                problems.append(
                    f"config key '{section}.{name if name == 'run' else 'per_size.' + name}.tasks' ({launch['tasks']}) "
                    f"must be a multiple of nodes ({launch.get('nodes', 1)}): one torchrun launcher per task"
                )
    finetune = config.get("finetune", {})
    pretrained = set(config.get("pretrain", {}).get("sizes", []))
    for size in finetune.get("sizes", []):
        if size not in pretrained:
            problems.append(
                f"config key 'finetune.sizes': {size!r} is not pretrained here (add it to pretrain.sizes); "
                "fine-tuning starts from the encoders of the pretraining stage"
            )
    datasets = config.get("data", {}).get("datasets", {})
    for benchmark in finetune.get("benchmarks", []):
        if benchmark not in datasets:
            problems.append(f"config key 'finetune.benchmarks': {benchmark!r} needs data.datasets.{benchmark}")
    runs = pretrained | set(config.get("pretrain", {}).get("runs", {}))
    clashes = pretrained & set(config.get("pretrain", {}).get("runs", {}))
    if clashes:
        problems.append(f"config key 'pretrain.runs': {sorted(clashes)} name sizes' own MAE runs; choose other names")
    slimming = config.get("slimming", {})
    for name, entry in slimming.get("encoders", {}).items():
        if entry.get("source", "pretrain") == "pretrain" and name not in runs:
            problems.append(
                f"config key 'slimming.encoders.{name}': source pretrain needs {name!r} in pretrain.sizes or "
                "pretrain.runs"
            )
        if entry.get("source") == "file" and not {"path", "arch"} <= set(entry):
            problems.append(f"config key 'slimming.encoders.{name}': source file needs `path` and `arch`")
    for dataset in slimming.get("datasets", []):
        if dataset not in datasets:
            problems.append(f"config key 'slimming.datasets': {dataset!r} needs data.datasets.{dataset}")
    if slimming.get("encoders") and 1.0 not in slimming.get("widths", []):
        problems.append("config key 'slimming.widths' must include 1.0 (retention is relative to the full width)")
    return problems


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` and return a copy with schema defaults filled in; raise ConfigError naming every bad key."""
    if not isinstance(schema, Mapping):
        schema = load_schema(schema)
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        lines = sorted({_describe(error, schema) for error in errors})
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    filled = copy.deepcopy(dict(config))
    _fill_defaults(filled, schema, schema)
    problems = _check_consistency(filled)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return filled


def load_config(path: str | os.PathLike[str], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file and validate it (for tools outside Snakemake)."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    return validate_config(config, schema_path)
