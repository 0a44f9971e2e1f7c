"""Helpers for Snakemake ``script:`` glue: logging to the rule's log file and clean failure messages."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator
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
