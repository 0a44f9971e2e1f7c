"""Process-parallel map with a progress bar, shared by the converters and tilers."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def parallel_map(fn: Callable[..., T], items: Sequence[Any], *, workers: int, desc: str) -> list[T]:
    """``[fn(item) for item in items]`` over ``workers`` processes, results in input order.

    One item per task (scenes and tiles are large and uneven, so finer chunks balance better); with workers <= 1 or a
    single item everything runs in-process, which keeps tracebacks simple and avoids fork cost for tiny inputs.
    """
    progress = tqdm(total=len(items), desc=desc, unit="item", leave=False, mininterval=1.0)
    try:
        if workers <= 1 or len(items) <= 1:
            results = []
            for item in items:
                results.append(fn(item))
                progress.update()
            return results
        # fork keeps start-up cheap and lets workers see module-level state; the pipeline runs on Linux.
        with mp.get_context("fork").Pool(min(workers, len(items))) as pool:
            results: list[Any] = [None] * len(items)
            for index, result in pool.imap_unordered(_indexed(fn), enumerate(items)):
                results[index] = result
                progress.update()
            return results
    finally:
        progress.close()


class _indexed:
    """Picklable wrapper returning (index, fn(item)) so unordered results can be put back in order."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, pair: tuple[int, Any]) -> tuple[int, Any]:
        index, item = pair
        return index, self.fn(item)


def iter_chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
