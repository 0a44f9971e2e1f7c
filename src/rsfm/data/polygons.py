"""Polygon geometry of the rotated-box splitter (DOTA v2.0, DIOR-R): window grids and oriented objects clipped to
a window, as the DOTA devkit's ``ImgSplit`` and mmrotate 1.x's ``tools/data/dota/split`` do (written anew here, from
their documented behaviour).

- **Windows.** Square windows of ``size`` pixels step by ``size - gap``; along each axis the starts are 0, step,
  2*step, ... while the window ends inside the image, plus one window flush with the far edge (mmrotate:
  ``ceil((L - size) / step) + 1`` windows, the last one moved back to ``L - size``). An image smaller than a window
  along an axis gets one start there (the splitter pads that window, as mmrotate does).
- **Objects.** The iof of an object and a window is area(object ∩ window) / area(object):

  * iof = 1 (wholly inside): the polygon is translated to window coordinates, difficulty unchanged;
  * ``iof_thr`` <= iof < 1 (truncated): the polygon is clipped to the window and marked ``truncated_difficulty``
    (2, mmrotate's mark; mmrotate keeps the whole polygon unclipped, the devkit clips as here);
  * 0 < iof < ``iof_thr``: dropped, as mmrotate does. The devkit keeps these too, clipped and marked difficult 2
    (and keeps the original difficulty of truncated objects above the threshold); ``keep_low_iof=True`` keeps them,
    clipped and marked ``truncated_difficulty``.
  * Zero-area (degenerate) polygons are dropped and counted; self-intersecting ones (two corners swapped) are read
    as their convex hull.

  A clipped shape with more than 4 corners must become a 4-point DOTA polygon inside the window (see
  :func:`clip_objects` for how, and why the minimum-area rectangle is only one of the candidates).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from rsfm.data.annotations import OrientedObject

QUAD_FITS = ("best", "min_rect")

EPS = 1e-6  # relative tolerance on iof, absolute (px²) on areas
_SIMPLIFY = 1e-3  # px: corners closer than this to the line through their neighbours are not corners


# --- windows -------------------------------------------------------------------------------------------------------


def axis_starts(length: int, size: int, step: int) -> list[int]:
    """Window starts along one axis: 0, step, 2*step, ... while ``start + size < length``, then ``length - size``."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size, step))
    starts.append(length - size)  # flush with the edge; range() stops before it, so no duplicate
    return starts


def sliding_windows(width: int, height: int, size: int, gap: int) -> list[tuple[int, int]]:
    """Top-left corners (x, y) of the windows covering a ``width`` x ``height`` image, row by row."""
    if size <= 0 or not 0 <= gap < size:
        raise ValueError(f"window size {size} and gap {gap}: need size > 0 and 0 <= gap < size")
    step = size - gap
    xs, ys = axis_starts(width, size, step), axis_starts(height, size, step)
    return [(x, y) for y in ys for x in xs]


# --- clipping ------------------------------------------------------------------------------------------------------


def geometries(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapely polygons of (N, 4, 2) corner arrays and their areas; self-intersecting ones become their hull."""
    if len(polys) == 0:
        return np.empty(0, dtype=object), np.zeros(0)
    geoms = shapely.polygons(polys)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.convex_hull(shapely.multipoints(polys[invalid]))
    return geoms, shapely.area(geoms)


def _signed_area(points: np.ndarray) -> np.ndarray:
    """Shoelace area of polygons (..., k, 2); positive for counter-clockwise in x-right, y-up axes."""
    x, y = points[..., 0], points[..., 1]
    return 0.5 * (np.sum(x * np.roll(y, -1, axis=-1), axis=-1) - np.sum(y * np.roll(x, -1, axis=-1), axis=-1))


_QUADRUPLES: dict[int, np.ndarray] = {}


def _quadruples(n: int) -> np.ndarray:
    if n not in _QUADRUPLES:
        _QUADRUPLES[n] = np.array(list(itertools.combinations(range(n), 4)))
    return _QUADRUPLES[n]


def _fit_quad(piece: Any, bounds: tuple[float, float, float, float], method: str) -> np.ndarray | None:
    """4 corners for the clipped shape ``piece``, all within ``bounds`` (x0, y0, x1, y1); None when it is degenerate.

    3 corners: the midpoint of the longest side is added (same shape). 4 corners: the shape itself. More corners:
    ``method="min_rect"`` gives the minimum-area rotated rectangle with its corners clamped to the bounds;
    ``method="best"`` gives, of the candidates below, the one with the highest IoU with the shape:

    - that clamped rectangle;
    - the largest quadrilateral on 4 of the shape's corners (inside the shape);
    - the smallest quadrilateral bounded by the lines of 4 of the shape's sides that stays within the bounds
      (around the shape), and the rectangle itself when it fits within the bounds.
    """
    hull = shapely.convex_hull(piece)  # also merges the pieces of a concave object cut in two
    if hull.geom_type != "Polygon" or hull.area <= EPS:
        return None
    corners = np.asarray(hull.simplify(_SIMPLIFY, preserve_topology=False).exterior.coords)[:-1]
    if len(corners) < 3:
        return None
    if _signed_area(corners) < 0:
        corners = corners[::-1]
    n = len(corners)
    if n == 3:
        sides = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
        i = int(np.argmax(sides))
        return np.insert(corners, i + 1, (corners[i] + corners[(i + 1) % 3]) / 2, axis=0)
    if n == 4:
        return corners
    low, high = np.array(bounds[:2], dtype=float), np.array(bounds[2:], dtype=float)
    rect = np.asarray(shapely.minimum_rotated_rectangle(hull).exterior.coords)[:-1]
    clamped = np.clip(rect, low, high)
    if method == "min_rect":
        return clamped
    area = _signed_area(corners)
    candidates: list[tuple[float, np.ndarray]] = []
    clamped_poly = shapely.Polygon(clamped)
    if clamped_poly.is_valid and clamped_poly.area > 0:
        candidates.append((hull.intersection(clamped_poly).area / hull.union(clamped_poly).area, clamped))
    # inside: 4 of the corners (a convex quadrilateral within the convex shape, so IoU = its area / the shape's)
    quads = corners[_quadruples(n)]
    areas = _signed_area(quads)
    best = int(np.argmax(areas))
    candidates.append((areas[best] / area, quads[best]))
    # around: the lines of 4 sides, consecutive ones meeting where each turn is less than half a turn
    direction = np.roll(corners, -1, axis=0) - corners
    first = _quadruples(n)
    second = np.roll(first, -1, axis=1)
    da, db = direction[first], direction[second]
    cross = da[..., 0] * db[..., 1] - da[..., 1] * db[..., 0]
    ok = np.all(cross > 1e-9 * np.linalg.norm(da, axis=-1) * np.linalg.norm(db, axis=-1), axis=1)
    offset = corners[second] - corners[first]
    t = (offset[..., 0] * db[..., 1] - offset[..., 1] * db[..., 0]) / np.where(ok[:, None], cross, 1.0)
    meet = corners[first] + t[..., None] * da
    ok &= np.all((meet >= low - 1e-6) & (meet <= high + 1e-6), axis=(1, 2))
    if np.all((rect >= low - 1e-6) & (rect <= high + 1e-6)):
        meet, ok = np.concatenate([meet, rect[None]]), np.append(ok, True)
    if ok.any():
        around = meet[ok]
        areas = np.abs(_signed_area(around))
        best = int(np.argmin(areas))
        candidates.append((area / areas[best], np.clip(around[best], low, high)))
    return max(candidates, key=lambda candidate: candidate[0])[1]


def _order_like(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Clockwise on screen (y down), starting at the corner closest to the reference's first corner."""
    centre = points.mean(axis=0)
    points = points[np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))]
    first = int(np.argmin(np.linalg.norm(points - reference[0], axis=1)))
    return np.roll(points, -first, axis=0)


def clip_window(
    polys: np.ndarray,
    geoms: np.ndarray,
    areas: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    candidates: np.ndarray,
    x: int,
    y: int,
    size: int,
    *,
    iof_thr: float,
    keep_low_iof: bool,
    quad_fit: str,
    counts: Counter | None,
) -> list[tuple[int, np.ndarray, bool]]:
    """(object index, 4 x 2 polygon in window coordinates, truncated) for the candidates kept in one window.

    ``candidates`` are indices of non-degenerate objects whose bounding boxes meet the window; those whose boxes lie
    inside it are translated without any geometry, the others are intersected (vectorised) with the window.
    """
    x1, y1 = x + size, y + size
    origin = np.array([x, y], dtype=float)
    inside = (low[candidates, 0] >= x) & (low[candidates, 1] >= y)
    inside &= (high[candidates, 0] <= x1) & (high[candidates, 1] <= y1)
    kept = [(int(i), polys[i] - origin, False) for i in candidates[inside]]
    crossing = candidates[~inside]
    if crossing.size:
        window = shapely.box(x, y, x1, y1)
        pieces = shapely.intersection(geoms[crossing], window)
        iofs = shapely.area(pieces) / areas[crossing]
        for i, piece, iof in zip(crossing.tolist(), pieces, iofs, strict=True):
            if iof <= EPS:
                continue  # the bounding boxes meet, the polygons do not
            if iof >= 1 - EPS:
                kept.append((i, np.clip(polys[i] - origin, 0, size), False))
                continue
            if iof < iof_thr and not keep_low_iof:
                if counts is not None:
                    counts["low_iof"] += 1
                continue
            quad = _fit_quad(piece, (x, y, x1, y1), quad_fit)
            if quad is None:
                continue
            kept.append((i, np.clip(_order_like(quad - origin, polys[i] - origin), 0, size), True))
    kept.sort(key=lambda item: item[0])
    if counts is not None:
        counts["truncated"] += sum(truncated for _, _, truncated in kept)
        counts["kept"] += len(kept)
    return kept


def clip_objects(
    objects: Sequence[OrientedObject],
    x: int,
    y: int,
    size: int,
    *,
    iof_thr: float = 0.7,
    truncated_difficulty: int = 2,
    keep_low_iof: bool = False,
    quad_fit: str = "best",
    counts: Counter | None = None,
) -> list[OrientedObject]:
    """The objects of the window [x, x+size) x [y, y+size), in window coordinates, in their input order.

    Rules (iof = area inside the window / the object's area):

    - iof = 1 (within 1e-6): translated, difficulty unchanged;
    - ``iof_thr`` <= iof < 1: clipped to the window, difficulty ``truncated_difficulty``;
    - 0 < iof < ``iof_thr``: dropped, or with ``keep_low_iof=True`` clipped and marked like the truncated ones — the
      devkit's ImgSplit keeps them (as difficult 2) and keeps truncated objects above the threshold at their
      original difficulty; mmrotate 1.x drops them and marks all truncated ones 2, which is what the defaults do;
    - zero-area polygons: dropped.

    A clipped shape with 3 or 4 corners is written as it is (a midpoint added to a triangle). One with 5 to 8 corners
    is reduced to 4 points within [0, size]. ``quad_fit="min_rect"`` takes the minimum-area rotated rectangle of the
    shape with its corners clamped to the window; on randomly placed rotated boxes that rectangle loses about 10% of
    the visible object on average and up to 40% (clamping cuts corners off it), so the default ``"best"`` keeps,
    among that clamped rectangle, the largest quadrilateral on 4 of the shape's corners and the smallest one along 4
    of its sides that fits in the window, the one with the highest IoU with the clipped shape (about 0.96 on average
    and never below 0.8 in that experiment, against 0.89 and 0.59 for the clamped rectangle). Points go clockwise
    on screen from the corner closest to the object's first corner, as in DOTA labels.

    ``counts`` (optional) is incremented with ``degenerate``, ``low_iof`` (dropped), ``truncated`` and ``kept``.
    """
    if quad_fit not in QUAD_FITS:
        raise ValueError(f"quad_fit must be one of {QUAD_FITS}, got {quad_fit!r}")
    if not objects:
        return []
    polys = np.stack([obj.poly for obj in objects]).astype(float)
    geoms, areas = geometries(polys)
    valid = areas > EPS
    if counts is not None:
        counts["degenerate"] += int((~valid).sum())
    low, high = polys.min(axis=1), polys.max(axis=1)
    meets = valid & (high[:, 0] > x) & (high[:, 1] > y) & (low[:, 0] < x + size) & (low[:, 1] < y + size)
    kept = clip_window(
        polys, geoms, areas, low, high, np.flatnonzero(meets), x, y, size,
        iof_thr=iof_thr, keep_low_iof=keep_low_iof, quad_fit=quad_fit, counts=counts,
    )  # fmt: skip
    return [
        OrientedObject(poly, objects[i].name, truncated_difficulty if truncated else objects[i].difficult)
        for i, poly, truncated in kept
    ]


# --- objects per window -----------------------------------------------------------------------------------------------


def objects_per_window(
    low: np.ndarray, high: np.ndarray, xs: Sequence[int], ys: Sequence[int], size: int
) -> list[list[int]]:
    """For each window (row-major over ``ys`` x ``xs``) the objects whose bounding boxes meet it.

    Each object looks up the range of window starts along each axis that its box meets (binary search on the sorted
    starts), so the work is linear in objects + windows + (object, window) pairs, not objects x windows.
    """
    starts_x, starts_y = np.asarray(xs), np.asarray(ys)
    first_x = np.searchsorted(starts_x, low[:, 0] - size, side="right")
    stop_x = np.searchsorted(starts_x, high[:, 0], side="left")
    first_y = np.searchsorted(starts_y, low[:, 1] - size, side="right")
    stop_y = np.searchsorted(starts_y, high[:, 1], side="left")
    buckets: list[list[int]] = [[] for _ in range(len(xs) * len(ys))]
    for i, (fx, sx, fy, sy) in enumerate(zip(first_x, stop_x, first_y, stop_y, strict=True)):
        for iy in range(fy, sy):
            for ix in range(fx, sx):
                buckets[iy * len(xs) + ix].append(i)
    return buckets
