"""Helpers for Snakemake ``script:`` glue: logging to the rule's log file and clean failure messages."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rsfm.errors import RsfmError


@contextlib.contextmanager
def snakemake_job(snakemake: Any) -> Iterator[logging.Logger]:
    """Log to the rule's ``log:`` file and stderr; an RsfmError ends the job with its message, not a traceback.

    The message (what is wrong, what to do) is what a user needs; a traceback through Snakemake's script wrapper
    buries it. Unexpected exceptions still propagate with their traceback.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(str(snakemake.log[0]), mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    logger = logging.getLogger(f"rsfm.{snakemake.rule}")
    if "SLURM_JOB_ID" in os.environ:  # ties the rule's log to the cluster's accounting of the job
        logger.info("SLURM job %s on %s", os.environ["SLURM_JOB_ID"], socket.gethostname())
    try:
        yield logger
    except RsfmError as error:
        logger.error("%s", error)
        sys.exit(1)


# The workflow's phases and the outputs of each (rules all_<phase>; dvc.yaml runs one stage per phase). Figures are
# a phase of their own: they read only the other phases' tables, so they can be redrawn alone; so do the table of
# ours vs the papers (rule paper_comparison), which the figures' reference marks go with, and what the run cost.
PHASES = {
    "data": ("results/data/",),
    "pretrain": ("results/pretrain/", "results/metrics/pretrain_"),
    "finetune": ("results/finetune/", "results/metrics/finetune"),
    "slimming": ("results/slimming/", "results/metrics/slimming"),
    "figures": ("results/figures/", "results/paper_comparison.", "results/cost/"),
}


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, as a job's params: Snakemake compares params by their text, so the
    order of keys in a config file would otherwise rerun every job when it changes."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def rule_names(snakefile: str | os.PathLike[str], generated: Iterable[str] = ()) -> list[str]:
    """The rules a workflow defines, read from the text of its Snakefile and the rule files it includes (named
    ``rule <name>:``), plus ``generated``, the names of rules made in loops. Config validation needs them before
    Snakemake has parsed the rules (they read the validated config); a test holds this against Snakemake's list."""
    snakefile = Path(snakefile)
    texts = [snakefile.read_text()]
    for include in re.findall(r'^include:\s*"([^"]+)"', texts[0], re.MULTILINE):
        texts.append((snakefile.parent / include).read_text())
    names = {name for text in texts for name in re.findall(r"^rule (\w+):", text, re.MULTILINE)}
    return sorted(names | set(generated))


def workflow_rules(snakefile: str | os.PathLike[str]) -> list[str]:
    """Every rule of this project's workflow: those of its rule files, the phase targets and the slimming figures."""
    from rsfm.plots.slimming import FIGURE_NAMES

    return rule_names(snakefile, [f"all_{phase}" for phase in PHASES] + [f"slim_{name}" for name in FIGURE_NAMES])
