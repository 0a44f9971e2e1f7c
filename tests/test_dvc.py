"""dvc.yaml held against the workflow it records, so the two cannot drift apart: its stages are the phases
(rsfm.workflow.PHASES) and run their Snakemake targets, their outs hold every target, and their deps hold each rule
file, script and package module a phase's jobs run and every file of another phase (or of the repository) they read.
`dvc repro` itself runs in the end-to-end test of test_workflow.py."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsfm.workflow import PHASES

from .conftest import REPO
from .workflow_dag import dag_jobs

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
# dvc.yaml runs config/config.yaml; a run folder's dvc.yaml (rsfm dvc-run: these stages moved there) another config
CONFIGS = ("config/config.yaml", "config/paper.yaml")
SCAFFOLDING = {"rsfm.workflow"}  # the scripts' logging glue: it changes no output


@pytest.fixture(scope="module", params=CONFIGS)
def plan(request, tmp_path_factory):
    """(raw config, jobs Snakemake plans for it, the folder they run in)."""
    workdir = tmp_path_factory.mktemp("dvc")
    return yaml.safe_load((REPO / request.param).read_text()), dag_jobs(REPO / request.param, workdir), workdir


def stages(config: dict) -> dict[str, dict]:
    """dvc.yaml's stages with each foreach expanded over the config, as `dvc repro` names them (stage@item)."""
    expanded = {}
    for name, stage in DVC["stages"].items():
        if "matrix" in stage:  # every combination of the lists it names, as stage@<value>-<value>
            lists = {key: _lookup(config, ref) for key, ref in stage["matrix"].items()}
            template = yaml.safe_dump({k: v for k, v in stage.items() if k != "matrix"})
            for combination in itertools.product(*lists.values()):
                body = template
                for key, value in zip(lists, combination, strict=True):
                    body = body.replace(f"${{item.{key}}}", str(value))
                expanded[f"{name}@{'-'.join(map(str, combination))}"] = yaml.safe_load(body)
            continue
        if "foreach" not in stage:
            expanded[name] = stage
            continue
        section, key = stage["foreach"].removeprefix("${").removesuffix("}").split(".")
        items = config[section][key]
        template = yaml.safe_dump(stage["do"])
        placeholder = "${item}" if isinstance(items, list) else "${key}"  # a list's entries, a mapping's keys
        for item in items:
            expanded[f"{name}@{item}"] = yaml.safe_load(template.replace(placeholder, item))
    return expanded


def _lookup(config: dict, reference: str) -> list:
    """The list a ``${section.key...}`` of dvc.yaml names in ``config``."""
    value = config
    for key in reference.removeprefix("${").removesuffix("}").split("."):
        value = value[key]
    return value


def stage_phase(name: str) -> str:
    return name.split("@")[0].split("_")[0]  # pretrain_run@<run>: the named runs of the pretrain phase


def paths(entries: list) -> list[str]:
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries or []]


def outs(stage: dict) -> list[str]:
    return paths(stage.get("outs")) + paths(stage.get("metrics")) + paths(stage.get("plots"))


def within(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def output_phase(path: str) -> str | None:
    """The phase whose jobs write ``path``: by the phase's prefixes, the data stage's folders (data/) for the rest."""
    for phase, prefixes in PHASES.items():
        if path.startswith(prefixes):
            return phase
    return "data" if path.startswith("data/") else None


def imported_modules(script: str) -> set[str]:
    """The rsfm modules a script imports (a module imported from a package counts as itself)."""
    modules = set()
    for node in ast.walk(ast.parse((REPO / script).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rsfm":
            package = importlib.util.find_spec(node.module).submodule_search_locations is not None
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                modules.add(name if package and importlib.util.find_spec(name) is not None else node.module)
    return modules - SCAFFOLDING


def module_file(module: str) -> str:
    return os.path.relpath(importlib.util.find_spec(module).origin, REPO)


def test_stages_are_the_phases_and_run_their_targets(plan):
    config, jobs, _ = plan
    expanded = stages(config)
    assert {stage_phase(name) for name in expanded} == set(PHASES)
    targets = {job["rule"].removeprefix("all_"): set(job["input"]) for job in jobs if job["rule"].startswith("all_")}
    for phase in PHASES:
        ours = {name: stage for name, stage in expanded.items() if stage_phase(name) == phase}
        run = set()
        for name, stage in ours.items():
            command = stage["cmd"].split()
            assert command[:3] == ["snakemake", "--cores", "all"], name
            run |= targets[phase] if command[3:] == [f"all_{phase}"] else set(command[3:])
        assert run == targets[phase], phase
        held = [out for stage in ours.values() for out in outs(stage)]
        assert [t for t in sorted(targets[phase]) if not within(t, held)] == [], f"targets of {phase} outside its outs"
        written = [path for job in jobs if job["output"] and output_phase(job["output"][0]) == phase
                   for path in job["output"]]  # fmt: skip
        for out in held:  # what a stage keeps, its phase makes
            assert out.startswith(PHASES[phase]) or any(within(path, [out]) for path in written), (phase, out)


def test_deps_hold_what_each_phase_runs_and_reads(plan):
    config, jobs, workdir = plan
    expanded = stages(config)
    phase_of = {path: output_phase(job["output"][0]) for job in jobs if job["output"] for path in job["output"]}
    missing = set()
    for job in jobs:
        if not job["output"]:
            continue  # the phase targets (all_<phase>)
        phase = output_phase(job["output"][0])
        needed = {job["snakefile"], job["script"], *map(module_file, imported_modules(job["script"]))}
        for path in job["input"]:
            source = os.path.relpath((workdir / path).resolve(), REPO)
            if path in phase_of:
                if phase_of[path] != phase:
                    needed.add(path)  # another phase's output: DVC orders the stages by it
            elif not source.startswith(".."):
                needed.add(source)  # a file of the repository (a fine-tuning base config)
        for name, stage in expanded.items():
            if stage_phase(name) == phase:
                missing |= {(name.split("@")[0], dep) for dep in needed if not within(dep, paths(stage["deps"]))}
    assert sorted(missing) == [], "\n".join(f"{stage}: {dep}" for stage, dep in sorted(missing))


def test_deps_exist_or_are_outs_and_params_are_config_sections(plan):
    config, _, _ = plan
    expanded = stages(config)
    kept = [out for stage in expanded.values() for out in outs(stage)]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    for name, stage in expanded.items():
        for dep in paths(stage["deps"]):
            assert (REPO / dep).exists() or within(dep, kept) or any(within(out, [dep]) for out in kept), (name, dep)
        for params in stage["params"]:
            assert set(params) == {"config/config.yaml"}, name
            assert set(params["config/config.yaml"]) <= set(schema["properties"]), name
    assert paths(DVC["plots"]) and all(within(plot, kept) for plot in paths(DVC["plots"]))


def paper_run() -> dict:
    from rsfm.dvc_runs import run_pipeline

    return run_pipeline(DVC, repo=REPO, run_dir=REPO / "runs/paper", config=REPO / "config/paper.yaml",
                        profile=str(REPO / "profiles/slurm"))  # fmt: skip


def test_run_pipeline_reads_the_repository_and_writes_in_its_folder():
    run, folder = paper_run(), REPO / "runs/paper"
    assert run["vars"] == ["../../config/paper.yaml:pretrain"]
    for name, stage in run["stages"].items():
        root, body = DVC["stages"][name].get("do", DVC["stages"][name]), stage.get("do", stage)
        assert outs(body) == outs(root), name  # the same outputs, now relative to the run folder
        assert body["cmd"] == root["cmd"] + (" --snakefile ../../Snakefile --profile ../../profiles/slurm"
                                             " --configfile ../../config/paper.yaml"), name  # fmt: skip
        assert [list(entry) for entry in body["params"]] == [["../../config/paper.yaml"]], name
        for dep, root_dep in zip(paths(body["deps"]), paths(root["deps"]), strict=True):
            if dep == root_dep:  # a run output (another stage's)
                assert within(dep, [out for s in DVC["stages"].values() for out in outs(s.get("do", s))]) or any(
                    within(out, [dep]) for s in DVC["stages"].values() for out in outs(s.get("do", s))
                ), (name, dep)
            else:  # a repository file, found from the folder
                moved = (folder / dep).resolve()  # the folder need not exist: `..` resolves by name
                assert moved == (REPO / root_dep).resolve() and moved.exists(), dep


def test_dvc_expands_a_written_run_folder_over_its_configs_sizes(tmp_path, monkeypatch):
    """`rsfm dvc-run` in a repository holding the root dvc.yaml and the paper config: DVC parses the folder's
    pipeline, its pretraining stages are the paper's sizes and its outputs lie in the folder."""
    from rsfm.cli import main

    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(REPO / "config/paper.yaml", repo / "config/paper.yaml")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "--no-scm", "-q"], cwd=repo, env=env, check=True)
    monkeypatch.setattr("rsfm.cli.REPO", repo)  # the repository whose dvc.yaml the command reads
    assert main(["dvc-run", str(repo / "runs/paper"), "--config", str(repo / "config/paper.yaml"),
                 "--profile", str(REPO / "profiles/slurm")]) == 0  # fmt: skip
    ignored = (repo / "runs/paper/.gitignore").read_text().splitlines()
    assert ignored == ["/data/", "/results/", "/logs/", "/.snakemake/"]
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "stage", "list"], cwd=repo / "runs/paper", capture_output=True,
        text=True, check=True, env=env,
    ).stdout  # fmt: skip
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    sizes = yaml.safe_load((REPO / "config/paper.yaml").read_text())["pretrain"]["sizes"]
    assert [n for n in names if n.startswith("pretrain@")] == [f"pretrain@{size}" for size in sizes]
    assert "Outputs results/pretrain/vit_g12x4/checkpoints" in listed


def test_run_folder_and_config_must_be_in_the_repository(tmp_path):
    from rsfm.dvc_runs import run_pipeline
    from rsfm.errors import ConfigError

    (tmp_path / "paper.yaml").write_text("{}")
    with pytest.raises(ConfigError, match="must lie inside the repository"):
        run_pipeline(DVC, repo=REPO, run_dir=REPO / "runs/x", config=tmp_path / "paper.yaml")
    with pytest.raises(ConfigError, match="must lie inside the repository"):
        run_pipeline(DVC, repo=REPO, run_dir=tmp_path, config=REPO / "config/paper.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        run_pipeline(DVC, repo=REPO, run_dir=REPO / "runs/x", config=REPO / "config/nope.yaml")
