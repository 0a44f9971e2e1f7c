"""What a training run leaves to resume from, and how a run with other inputs sets it aside instead of resuming.

Pretraining and fine-tuning resume from the checkpoints in their run folder by themselves: right after an
interruption, wrong after a change of encoder, data or settings. Each run records what it was started from
(``run.json``); a restart whose record differs moves the old state to ``superseded/<time>/`` (kept, never deleted:
earlier set-aside runs stay beside it) and starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rsfm.io import atomic_write


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """``payload`` as indented JSON, written atomically (a reader never sees half a record)."""
    path = Path(path)
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=2)
    return path


def read_json(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when it is missing or unreadable (an interrupted older writer)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def set_aside(folder: str | os.PathLike[str], items: Iterable[str]) -> Path | None:
    """Move the ``items`` of ``folder`` that exist into a new ``folder/superseded/<UTC time>/``; returns it (None when
    there was nothing to move). Earlier set-aside runs are left where they are."""
    folder = Path(folder)
    present = [item for item in items if (folder / item).exists() or (folder / item).is_symlink()]
    if not present:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = folder / "superseded" / stamp
    n = 1
    while target.exists():  # two set-asides within one second
        n += 1
        target = folder / "superseded" / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for item in present:
        os.replace(folder / item, target / item)
    return target


def own_copies(folder: str | os.PathLike[str], names: Iterable[str]) -> list[Path]:
    """Give each file ``names`` of ``folder`` that is a link (hard or symbolic: a DVC cache's way of checking out
    outputs) an inode of its own; returns those replaced. The trainers rewrite these files in place (DeepSpeed's
    ``latest``, mmengine's ``last_checkpoint``), which would change the cache's copy too, or fail on its read-only
    file. The content is unchanged and the swap is atomic, so a resume reads the same pointer."""
    replaced = []
    for name in names:
        path = Path(folder) / name
        if not path.is_file() or (not path.is_symlink() and path.stat().st_nlink == 1):
            continue
        data = path.read_bytes()
        with atomic_write(path, "wb") as handle:
            handle.write(data)
        replaced.append(path)
    return replaced


def differences(previous: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """Top-level keys whose values differ between two records (as JSON holds them), except ``ignore``."""
    previous, current = json.loads(json.dumps(previous)), json.loads(json.dumps(current))
    skip = set(ignore)
    return sorted(k for k in (set(previous) | set(current)) - skip if previous.get(k) != current.get(k))


def tree_digest(folder: str | os.PathLike[str], patterns: Iterable[str]) -> str:
    """sha256 over the relative paths and contents of the files of ``folder`` matching ``patterns`` (globs, e.g.
    the index files of a dataset): a cheap fingerprint of what a data folder holds."""
    folder = Path(folder)
    digest = hashlib.sha256()
    files = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


__all__ = ["differences", "read_json", "set_aside", "tree_digest", "write_json"]
