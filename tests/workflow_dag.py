"""Every job Snakemake plans for a config (as with --forceall, for `all` and each phase's target) with what its rule
declares, read through Snakemake's API in a process of its own: the API changes the working directory and the
logging of the process that runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dag_jobs(configfile: Path, workdir: Path) -> list[dict]:
    """One dict per job: rule, its rule file and script (relative to the repository), wildcards, input, output, log,
    benchmark, conda env, threads, resources and params (as JSON; what is not JSON as its str)."""
    out = workdir / "jobs.json"
    subprocess.run(
        [sys.executable, __file__, str(configfile), str(workdir), str(out)],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    return json.loads(out.read_text())


def _relative(path: str, base: Path) -> str:
    return os.path.relpath(os.path.normpath(base / path), REPO)


def _dump(configfile: Path, workdir: Path) -> list[dict]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    from rsfm.workflow import PHASES

    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=512),  # threads as configured, not capped by this machine
            config_settings=ConfigSettings(configfiles=[configfile]),
            snakefile=REPO / "Snakefile",
            workdir=workdir,
        )
        targets = {"all", *(f"all_{phase}" for phase in PHASES)}
        workflow_api.dag(dag_settings=DAGSettings(targets=targets, forceall=True))
        workflow = workflow_api._workflow  # the planned jobs themselves: the API only prints them
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = []
        for job in workflow.dag.jobs:
            rule_dir = Path(job.rule.snakefile).parent
            jobs.append(
                {
                    "rule": job.rule.name,
                    "snakefile": _relative(job.rule.snakefile, REPO),
                    "script": _relative(job.rule.script, rule_dir) if job.rule.script else None,
                    "conda": _relative(job.rule.conda_env, rule_dir) if job.rule.conda_env else None,
                    "wildcards": dict(job.wildcards_dict),
                    "input": sorted(str(f) for f in job.input),
                    "output": sorted(str(f) for f in job.output),
                    "log": [str(f) for f in job.log],
                    "benchmark": str(job.benchmark) if job.benchmark else None,
                    "threads": job.threads,
                    "resources": {k: v for k, v in job.resources.items() if k != "tmpdir"},
                    "params": json.loads(json.dumps(dict(job.params.items()), default=str)),
                }
            )
    return jobs


if __name__ == "__main__":
    configfile, workdir, out = map(Path, sys.argv[1:4])
    workdir.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_dump(configfile.resolve(), workdir.resolve())))
