"""DVC pipelines for other configs than the default: the root dvc.yaml's stages, rewritten to run in a folder of
their own (``runs/<name>/``) on another config and a Snakemake profile.

The root dvc.yaml runs config/config.yaml with local jobs (the embedded default). A run folder holds a generated
dvc.yaml whose stages are the same phases with the same outs, relative to the folder (its data/, results/, logs/
and .snakemake/ are its own, so a run never overwrites the default's outputs or another run's), and whose commands
add ``--snakefile``, ``--profile`` and ``--configfile``; its params and ``vars`` read the run's config, so DVC reruns
a stage when the sections it reads change there. The root dvc.yaml stays the one description of the stages; this
module only moves paths. ``rsfm dvc-run`` writes the file (not kept in git: rewritten from the root one, it cannot
drift from it).
"""

from __future__ import annotations

import copy
import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from rsfm.errors import ConfigError
from rsfm.io import atomic_write

ROOT_CONFIG = "config/config.yaml"  # what the root dvc.yaml's params and vars read
RUN_FILES = ("data", "results", "logs", ".snakemake")  # what a run writes in its folder (not to commit)


def _paths(entries: list | None) -> list[str]:
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries or []]


def run_outputs(pipeline: dict[str, Any]) -> list[str]:
    """Every path a stage of ``pipeline`` writes (outs, metrics, plots; foreach templates included)."""
    found = []
    for stage in pipeline["stages"].values():
        body = stage.get("do", stage)
        for key in ("outs", "metrics", "plots"):
            found += _paths(body.get(key))
    return found


def _overlaps(path: str, outputs: list[str]) -> bool:
    """Whether ``path`` is, holds or lies in one of ``outputs`` (so the run writes it, not the repository)."""

    def inside(inner: str, outer: str) -> bool:
        return inner == outer or inner.startswith(outer.rstrip("/") + "/")

    return any(inside(path, out) or inside(out, path) for out in outputs)


class _Relocate:
    """Rewrites the root pipeline's paths for a run folder: repository files relative to the folder, run outputs as
    they are, the root config's name to the run's config."""

    def __init__(self, pipeline: dict[str, Any], repo: Path, run_dir: Path, config: Path) -> None:
        self.outputs = run_outputs(pipeline)
        self.repo, self.run_dir = repo.resolve(), run_dir.resolve()
        self.config = self.rel(config.resolve())

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.run_dir)).as_posix()

    def path(self, path: str) -> str:
        if path == ROOT_CONFIG:
            return self.config
        if path.startswith("$") or _overlaps(path, self.outputs):  # ${item}: a run output of a foreach stage
            return path
        return self.rel(self.repo / path)

    def entries(self, entries: list) -> list:
        moved = []
        for entry in entries:
            if isinstance(entry, dict):
                moved.append({self.path(key): value for key, value in entry.items()})
            else:
                moved.append(self.path(entry))
        return moved

    def var(self, entry: str) -> str:
        file, _, keys = entry.partition(":")
        return f"{self.path(file)}:{keys}" if keys else self.path(file)


def run_pipeline(
    pipeline: dict[str, Any], *, repo: Path, run_dir: Path, config: Path, profile: str | None = None
) -> dict[str, Any]:
    """The root ``pipeline`` rewritten for ``run_dir`` (inside ``repo``) on ``config``, its jobs through ``profile``
    (a Snakemake profile's folder, or the name of one installed in the user's Snakemake config dir)."""
    repo, run_dir, config = repo.resolve(), run_dir.resolve(), config.resolve()
    for what, path in (("run folder", run_dir), ("config", config)):
        if not path.is_relative_to(repo) or path == repo:
            raise ConfigError(f"the {what} {path} must lie inside the repository {repo} (DVC tracks only its files)")
    if not config.is_file():
        raise ConfigError(f"config {config} does not exist; name a config file such as config/paper.yaml")
    move = _Relocate(pipeline, repo, run_dir, config)
    if profile is not None and Path(profile).is_dir():
        profile = move.rel(Path(profile).resolve())
    options = ["--snakefile", move.rel(repo / "Snakefile")]
    options += ["--profile", profile] if profile else []
    options += ["--configfile", move.config]  # last: it takes several values and would swallow a target after it

    out = copy.deepcopy(pipeline)
    out["vars"] = [move.var(entry) if isinstance(entry, str) else entry for entry in pipeline.get("vars", [])]
    for stage in out["stages"].values():
        body = stage.get("do", stage)
        command = shlex.split(body["cmd"])
        if command[0] != "snakemake":
            raise ConfigError(f"dvc.yaml stage command {body['cmd']!r} does not run snakemake; cannot relocate it")
        body["cmd"] = " ".join([body["cmd"], *map(shlex.quote, options)])
        for key in ("deps", "outs", "metrics", "plots"):
            if key in body:
                body[key] = move.entries(body[key])
        if "params" in body:
            body["params"] = [
                {move.path(file): keys for file, keys in entry.items()} if isinstance(entry, dict) else entry
                for entry in body["params"]
            ]
    return out


def render(pipeline: dict[str, Any], command: str) -> str:
    """The run's dvc.yaml, with a header naming the command that wrote it."""
    header = (
        f"# Written by\n#   {command}\n"
        "# from the root dvc.yaml: its stages and outs, run in this folder on the config and profile below. Do not\n"
        "# edit: rerun that command after changing the root dvc.yaml. Run it from this folder: dvc repro\n"
        "# (docs/slurm-and-dvc.md).\n"
    )
    return header + yaml.safe_dump(pipeline, sort_keys=False, width=120)


def write_run(run_dir: Path, *, repo: Path, config: Path, profile: str | None, command: str) -> Path:
    """Write ``run_dir``/dvc.yaml (from the repository's dvc.yaml) and a .gitignore for what the run writes."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    text = render(run_pipeline(pipeline, repo=repo, run_dir=run_dir, config=config, profile=profile), command)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "dvc.yaml") as handle:
        handle.write(text)
    with atomic_write(run_dir / ".gitignore") as handle:
        handle.write("".join(f"/{name}/\n" for name in RUN_FILES))
    return run_dir / "dvc.yaml"
