"""Land cover and its appearance: the scene canvas, random layout (regions, parcels, roads, water, buildings, sites),
texture painting, cast shadows and sensor finish.

Everything is in pixels of a canvas with a ground sampling distance ``gsd`` (metres per pixel); sizes are given in
metres and converted, so the same recipe renders a 0.15 m orthophoto or a 10 m Sentinel-2 patch. All randomness comes
from the canvas' numpy Generator, and only deterministic numpy/OpenCV operations are used.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

from rsfm.data.annotations import OrientedObject

# --- land covers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cover:
    """Appearance of one land cover: mean colour, texture amplitudes (percent of brightness) and region variation.

    grain: per-pixel noise; fine: ~1 m mottling; blotch: ~15 m patches; tint: colour spread between regions/parcels.
    """

    rgb: tuple[int, int, int]
    grain: float
    fine: float
    blotch: float
    tint: float


COVERS: dict[str, Cover] = {
    "impervious": Cover((138, 136, 130), 3.5, 3.0, 3.5, 0.07),
    "road": Cover((84, 85, 90), 3.0, 2.0, 3.0, 0.05),
    "building": Cover((150, 92, 76), 2.5, 2.0, 2.0, 0.10),
    "low_vegetation": Cover((112, 146, 74), 4.0, 7.0, 8.0, 0.08),
    "tree": Cover((44, 80, 44), 4.0, 6.0, 6.0, 0.08),
    "water": Cover((30, 56, 84), 0.8, 1.0, 2.5, 0.0),
    "bare": Cover((188, 164, 126), 4.5, 5.0, 7.0, 0.07),
    "agriculture": Cover((138, 150, 78), 3.0, 4.0, 5.0, 0.0),  # colours come from the crop palette per parcel
    "clutter": Cover((120, 84, 50), 9.0, 10.0, 8.0, 0.10),
}
COVER_NAMES: tuple[str, ...] = tuple(COVERS)
COVER = {name: index for index, name in enumerate(COVER_NAMES)}
NATURAL = ("tree", "water")  # covers with ragged outlines; the others follow straight parcel edges
LAND = tuple(COVER[n] for n in ("impervious", "low_vegetation", "bare", "agriculture", "clutter", "tree"))
FRACTION_BITS = 4  # OpenCV's ``shift``: drawing coordinates carry 4 fractional bits, for sub-pixel outlines

CROP_PALETTE = np.array(
    [(96, 134, 58), (126, 152, 70), (168, 160, 92), (190, 172, 110), (150, 118, 84), (112, 92, 70), (80, 118, 56)],
    dtype=np.float32,
)
CLUTTER_PALETTE = np.array(
    [(186, 60, 48), (48, 96, 168), (214, 150, 56), (150, 60, 40), (200, 110, 40), (110, 70, 50)], dtype=np.float32
)
CLUTTER_WEIGHTS = (0.22, 0.06, 0.22, 0.18, 0.16, 0.16)


# --- noise ----------------------------------------------------------------------------------------------------------


def white_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Zero-mean, unit-variance per-pixel noise (uniform, from random bytes: much cheaper than Gaussian)."""
    noise = rng.integers(0, 256, (height, width), dtype=np.uint8).astype(np.float32)
    noise -= np.float32(127.5)
    noise *= np.float32(1 / 73.9)  # the standard deviation of uniform bytes, sqrt((256**2 - 1) / 12)
    return noise


def smooth_noise(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-variance smooth noise (float32) with features about ``scale`` pixels wide.

    Coarse white noise is upsampled bicubically to a grid where features are ~8 pixels wide, then bilinearly to the
    full size (cheap, and smooth since the field is already smooth at that scale).
    """
    if scale <= 1.0:
        return rng.standard_normal((height, width), dtype=np.float32)
    step = max(1.0, scale / 8.0)
    mid_h, mid_w = max(2, int(np.ceil(height / step))), max(2, int(np.ceil(width / step)))
    mid_scale = scale / step
    shape = (max(2, int(mid_h / mid_scale) + 3), max(2, int(mid_w / mid_scale) + 3))
    small = rng.standard_normal(shape, dtype=np.float32)
    # Upsample the coarse grid to slightly beyond the target and crop, so borders are not stretched.
    big = cv2.resize(small, (int(shape[1] * mid_scale), int(shape[0] * mid_scale)), interpolation=cv2.INTER_CUBIC)
    mid = big[:mid_h, :mid_w]
    mean, std = float(mid.mean()), float(mid.std()) + 1e-6
    mid = (mid - np.float32(mean)) * np.float32(1.0 / std)
    if (mid_h, mid_w) == (height, width):
        return mid
    return cv2.resize(mid, (round(mid_w * step), round(mid_h * step)), interpolation=cv2.INTER_LINEAR)[:height, :width]


def voronoi(rng: np.random.Generator, height: int, width: int, cell: float) -> tuple[np.ndarray, int]:
    """Voronoi regions of jittered-grid seeds about ``cell`` pixels apart: (labels 0..n-1 as int32, n).

    Large canvases are partitioned at half resolution (2-pixel steps along region edges are lost in the blur).
    """
    factor = 2 if min(height, width) >= 512 and cell >= 16 else 1
    h, w, cell = -(-height // factor), -(-width // factor), max(float(cell) / factor, 4.0)
    rows, cols = max(1, round(h / cell)), max(1, round(w / cell))
    grid_y, grid_x = np.meshgrid((np.arange(rows) + 0.5) * h / rows, (np.arange(cols) + 0.5) * w / cols, indexing="ij")
    jitter = rng.uniform(-0.45, 0.45, (2, rows, cols)) * np.array([h / rows, w / cols])[:, None, None]
    ys = np.clip(grid_y + jitter[0], 0, h - 1).astype(int).ravel()
    xs = np.clip(grid_x + jitter[1], 0, w - 1).astype(int).ravel()
    seeds = np.ones((h, w), np.uint8)
    seeds[ys, xs] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    labels -= 1
    if factor > 1:
        labels = cv2.resize(labels, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)[:height, :width]
    return labels, int(labels.max()) + 1


def rotated_box(centre: np.ndarray, length: float, width: float, angle: float) -> np.ndarray:
    """Corners of a rotated rectangle, clockwise in image coordinates: front-left, front-right, rear-right, rear-left.

    ``angle`` is the heading (radians, image coordinates); ``length`` runs along it.
    """
    half_along = np.array([np.cos(angle), np.sin(angle)]) * (length / 2)
    half_across = np.array([-np.sin(angle), np.cos(angle)]) * (width / 2)
    centre = np.asarray(centre, dtype=np.float64)
    front, rear = centre + half_along, centre - half_along
    return np.array([front - half_across, front + half_across, rear + half_across, rear - half_across])


# --- the canvas -----------------------------------------------------------------------------------------------------


@dataclass
class Road:
    """A road laid out on the canvas, burnt into the cover map by :func:`draw_roads` (runways by the airport)."""

    points: np.ndarray  # (N, 2) polyline, pixels
    width: float  # pixels
    kind: str = "road"  # "road", "street" or "runway"


@dataclass
class Site:
    """A reserved rectangle to be filled with objects after painting (parking lot, apron, tank farm, ...)."""

    kind: str
    centre: np.ndarray
    angle: float
    length: float
    width: float


@dataclass
class Canvas:
    """The state of one scene while it is built: land cover, then image, heights, object masks and lists."""

    rng: np.random.Generator
    height: int
    width: int
    gsd: float
    cover: np.ndarray = field(init=False)
    regions: np.ndarray = field(init=False)
    n_regions: int = field(init=False, default=1)
    image: np.ndarray | None = field(init=False, default=None)
    elevation: np.ndarray = field(init=False)  # metres above ground, for cast shadows
    reserved: np.ndarray = field(init=False)  # layout: sites, buildings, roads (keep new layout away)
    occupied: np.ndarray = field(init=False)  # objects: no two overlap
    object_mask: np.ndarray = field(init=False)  # style index + 1 of the object covering each pixel
    sea: np.ndarray | None = field(init=False, default=None)
    bridge_mask: np.ndarray | None = field(init=False, default=None)  # road pixels over a river
    keep_out: np.ndarray | None = field(init=False, default=None)  # roads stop at its edge (airport grounds)
    river_angle: float | None = None
    roads: list[Road] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    buildings: list[np.ndarray] = field(default_factory=list)
    objects: list[OrientedObject] = field(default_factory=list)
    grid_angle: float = 0.0
    sun: np.ndarray = field(init=False)  # unit vector of shadow direction (image coordinates)
    shadow_per_metre: float = 0.7  # shadow length per metre of height (1 / tan(sun elevation))

    def __post_init__(self) -> None:
        shape = (self.height, self.width)
        self.cover = np.full(shape, COVER["low_vegetation"], np.uint8)
        self.regions = np.zeros(shape, np.int32)
        self.elevation = np.zeros(shape, np.float32)
        self.reserved = np.zeros(shape, np.uint8)
        self.occupied = np.zeros(shape, np.uint8)
        self.object_mask = np.zeros(shape, np.uint8)
        azimuth = self.rng.uniform(0, 2 * np.pi)
        self.sun = np.array([np.cos(azimuth), np.sin(azimuth)])
        self.shadow_per_metre = float(self.rng.uniform(0.45, 0.9))
        self.grid_angle = float(self.rng.uniform(0, np.pi / 2))

    def px(self, metres: float) -> float:
        """Pixels spanned by ``metres`` on the ground."""
        return metres / self.gsd

    @property
    def area_m2(self) -> float:
        """Ground area of the scene in square metres."""
        return self.height * self.width * self.gsd**2


# --- layout ---------------------------------------------------------------------------------------------------------


def base_landcover(canvas: Canvas, weights: dict[str, float], region_m: float, parcel_m: float) -> None:
    """Regions of the weighted covers (argmax of smooth fields); man-made covers follow straight parcel edges.

    The fields are evaluated at half resolution (region outlines are smooth at that scale anyway).
    """
    rng, h, w = canvas.rng, canvas.height, canvas.width
    names = [name for name, weight in weights.items() if weight > 0] or ["low_vegetation"]
    half_h, half_w = max(1, (h + 1) // 2), max(1, (w + 1) // 2)
    scale = canvas.px(region_m) / 2
    best = np.full((half_h, half_w), -np.inf, np.float32)
    index = np.zeros((half_h, half_w), np.uint8)
    for field_index, name in enumerate(names):
        field_ = smooth_noise(rng, half_h, half_w, scale) + 0.35 * smooth_noise(rng, half_h, half_w, scale / 4)
        field_ += np.float32(np.log(weights.get(name, 1.0)))
        better = field_ > best
        best[better], index[better] = field_[better], field_index
    cover_of_field = np.array([COVER[name] for name in names], np.uint8)
    natural = cv2.resize(cover_of_field[index], (w, h), interpolation=cv2.INTER_NEAREST)
    # Each parcel takes the cover most of its pixels have; tree and water keep the ragged outline of their field.
    parcels, n_parcels = voronoi(rng, h, w, canvas.px(parcel_m))
    counts = np.bincount((parcels[::2, ::2] * len(COVER) + natural[::2, ::2]).ravel(), minlength=n_parcels * len(COVER))
    parcel_cover = counts.reshape(n_parcels, len(COVER)).argmax(axis=1).astype(np.uint8)[parcels]
    is_natural = np.isin(np.arange(len(COVER)), [COVER[c] for c in NATURAL])
    canvas.cover = np.where(is_natural[natural] | is_natural[parcel_cover], natural, parcel_cover).astype(np.uint8)
    canvas.regions, canvas.n_regions = parcels, n_parcels


def add_coast(canvas: Canvas, share: float = 0.3) -> None:
    """Sea along one side of the scene, with a ragged shore; roads and buildings never go on it."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    angle = rng.uniform(0, 2 * np.pi)
    xs = ((np.arange(w, dtype=np.float32) - w / 2) * np.float32(np.cos(angle)))[None, :]
    ys = ((np.arange(h, dtype=np.float32) - h / 2) * np.float32(np.sin(angle)))[:, None]
    # Distance towards the sea along ``angle``, roughened at two scales; its top ``share`` is sea.
    seaward = (xs + ys) + smooth_noise(rng, h, w, canvas.px(120)) * np.float32(canvas.px(25))
    seaward += smooth_noise(rng, h, w, canvas.px(30)) * np.float32(3)
    sea = seaward > np.quantile(seaward[::4, ::4], 1 - share)
    canvas.cover[sea] = COVER["water"]
    canvas.sea = sea


def add_river(canvas: Canvas, width_m: tuple[float, float] = (20, 60)) -> None:
    """A meandering river across the scene."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    canvas.river_angle = float(rng.uniform(0, np.pi))
    points = _wandering_line(rng, h, w, wiggle=canvas.px(60), steps=64, angle=canvas.river_angle)
    thickness = max(1, int(canvas.px(rng.uniform(*width_m))))
    cv2.polylines(canvas.cover, [np.round(points).astype(np.int32)], False, COVER["water"], thickness, cv2.LINE_8)


def _wandering_line(
    rng: np.random.Generator, height: int, width: int, wiggle: float, steps: int, angle: float | None = None
) -> np.ndarray:
    """A line through the scene (at a random angle unless given), offset sideways by a smooth random walk."""
    angle = rng.uniform(0, np.pi) if angle is None else angle
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    centre = np.array([width, height]) * rng.uniform(0.25, 0.75, 2)
    half = np.hypot(height, width) * 0.75  # long enough to leave the scene on both sides
    distance = np.linspace(-half, half, steps)
    # The sideways walk strays about 3 x ``wiggle`` pixels end to end, whatever the number of steps.
    walk = np.cumsum(rng.standard_normal(steps)) * wiggle / np.sqrt(steps) * 3
    walk = np.convolve(walk - walk.mean(), np.ones(5) / 5, mode="same")
    return centre + distance[:, None] * along + walk[:, None] * across


def add_roads(canvas: Canvas, count: int, width_m: tuple[float, float] = (7, 14)) -> None:
    """Arterial roads: gently bending polylines across the scene (bridges where they cross a river)."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    for _ in range(count):
        angle = rng.uniform(0, np.pi)
        if canvas.river_angle is not None and abs(np.sin(angle - canvas.river_angle)) < 0.5:
            angle += np.pi / 2  # cross the river rather than run along it
        points = _wandering_line(rng, h, w, wiggle=canvas.px(rng.uniform(0, 25)), steps=24, angle=angle)
        canvas.roads.append(Road(points, max(1.0, canvas.px(rng.uniform(*width_m))), "road"))


def add_street_grid(canvas: Canvas, zone: np.ndarray, spacing_m: tuple[float, float], width_m: float) -> None:
    """A rotated street grid limited to ``zone`` (a boolean mask), with a few streets left out."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    angle = canvas.grid_angle
    half = np.hypot(h, w) / 2 + 10
    centre = np.array([w / 2, h / 2])
    distance = np.arange(-half, half, 2.0)
    for direction in (angle, angle + np.pi / 2):
        along = np.array([np.cos(direction), np.sin(direction)])
        across = np.array([-np.sin(direction), np.cos(direction)])
        offset = -half + rng.uniform(0, canvas.px(spacing_m[1]))
        while offset < half:
            if rng.random() > 0.12:  # about one street in eight is left out
                street = centre + across * offset
                points = street + distance[:, None] * along
                in_zone = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
                in_zone[in_zone] = zone[points[in_zone, 1].astype(int), points[in_zone, 0].astype(int)]
                if in_zone.any():
                    inside = distance[in_zone]
                    start, end = street + along * inside.min(), street + along * inside.max()  # clipped to the zone
                    width = max(1.0, canvas.px(width_m * rng.uniform(0.85, 1.15)))
                    canvas.roads.append(Road(np.array([start, end]), width, "street"))
            offset += canvas.px(rng.uniform(*spacing_m))


def draw_roads(canvas: Canvas) -> None:
    """Burn roads into the cover map (sidewalks along streets); over the sea and at the airport fence they stop,
    over rivers they bridge. Runways are laid out (burnt in) by the airport itself."""
    water_before = canvas.cover == COVER["water"]
    before = canvas.cover.copy() if canvas.keep_out is not None else None
    for road in canvas.roads:
        if road.kind == "runway":
            continue
        polyline = np.round(road.points).astype(np.int32)
        if road.kind == "street" and canvas.px(2.5) >= 1:
            cv2.polylines(canvas.cover, [polyline], False, COVER["impervious"], int(road.width + 2 * canvas.px(2.5)))
        cv2.polylines(canvas.cover, [polyline], False, COVER["road"], max(1, round(road.width)))
        cv2.polylines(canvas.reserved, [polyline], False, 1, max(1, round(road.width + canvas.px(3))))
    if canvas.sea is not None:
        canvas.cover[canvas.sea] = COVER["water"]
    if before is not None and canvas.keep_out is not None:
        canvas.cover[canvas.keep_out] = before[canvas.keep_out]
    canvas.bridge_mask = water_before & (canvas.cover != COVER["water"])


def cover_lut(allowed: tuple[int, ...]) -> np.ndarray:
    """Boolean lookup table over cover indices: True for the ``allowed`` ones."""
    lut = np.zeros(len(COVER), bool)
    lut[list(allowed)] = True
    return lut


def candidates(canvas: Canvas, mask: np.ndarray | None = None, step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Coarse pixel positions (x, y) where ``mask`` holds and nothing is reserved: places to try things at."""
    free = canvas.reserved[::step, ::step] == 0
    if mask is not None:
        free &= mask[::step, ::step]
    ys, xs = np.nonzero(free)
    return xs * step, ys * step


def free_rectangle(
    canvas: Canvas,
    length: float,
    width: float,
    angle: float,
    allowed: tuple[int, ...],
    tries: int = 30,
    where: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """A random rotated rectangle lying wholly on ``allowed`` covers and not on reserved pixels; None if none fits.

    Centres are drawn from ``where`` (see :func:`candidates`) or anywhere in the image.
    """
    rng, h, w = canvas.rng, canvas.height, canvas.width
    radius = np.hypot(length, width) / 2 + 2
    if 2 * radius >= min(h, w) or (where is not None and len(where[0]) == 0):
        return None
    allowed_lut = cover_lut(allowed)
    for _ in range(tries):
        if where is None:
            centre = rng.uniform([radius, radius], [w - radius, h - radius])
        else:
            pick = rng.integers(len(where[0]))
            centre = np.array([where[0][pick], where[1][pick]], np.float64) + rng.uniform(0, 4, 2)
            if not (radius <= centre[0] < w - radius and radius <= centre[1] < h - radius):
                continue
        # The centre pixel first: a cheap rejection before the rectangle is rasterised.
        cx, cy = int(centre[0]), int(centre[1])
        if canvas.reserved[cy, cx] or not allowed_lut[canvas.cover[cy, cx]]:
            continue
        poly = rotated_box(centre, length, width, angle)
        x0, y0 = np.floor(poly.min(axis=0)).astype(int)
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 1
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
        inside = mask.astype(bool)
        if canvas.reserved[y0:y1, x0:x1][inside].any():
            continue
        if allowed_lut[canvas.cover[y0:y1, x0:x1][inside]].mean() < 0.97:
            continue
        return poly
    return None


def add_buildings(
    canvas: Canvas, zone: np.ndarray | None, count: int, size_m: tuple[float, float], aligned: float = 0.85
) -> None:
    """Rectangular building footprints (cover 'building'), mostly aligned with the street grid, with setbacks."""
    rng = canvas.rng
    allowed = tuple(COVER[n] for n in ("impervious", "low_vegetation", "bare", "clutter", "agriculture"))
    where = candidates(canvas, zone)
    placed, misses = 0, 0
    for _ in range(3 * count + 20):
        if placed >= count or misses >= 60:  # 60 tries in a row found no room: the zone is full
            break
        length = canvas.px(rng.uniform(*size_m))
        width = length * rng.uniform(0.45, 0.95)
        if min(length, width) < 1.0:  # smaller than a pixel
            continue
        angle = canvas.grid_angle + rng.integers(4) * np.pi / 2 if rng.random() < aligned else rng.uniform(0, np.pi)
        setback = canvas.px(rng.uniform(2, 5))
        poly = free_rectangle(canvas, length + 2 * setback, width + 2 * setback, angle, allowed, 2, where)
        if poly is None:
            misses += 1
            continue
        footprint = rotated_box(poly.mean(axis=0), length, width, angle)
        cv2.fillPoly(canvas.cover, [np.round(footprint).astype(np.int32)], COVER["building"])
        cv2.fillPoly(canvas.reserved, [np.round(poly).astype(np.int32)], 1)
        canvas.buildings.append(footprint)
        placed, misses = placed + 1, 0


def add_trees(canvas: Canvas, count: int, radius_m: tuple[float, float] = (2.0, 5.0)) -> None:
    """Single trees and small clumps on open land (gardens, street sides): discs of cover 'tree'."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    if count <= 0:
        return
    centres = rng.uniform([0, 0], [w, h], (count, 2))
    radii = canvas.px(1) * rng.uniform(*radius_m, count)
    free = np.isin(canvas.cover, [COVER["low_vegetation"], COVER["impervious"], COVER["bare"]]) & (canvas.reserved == 0)
    for (x, y), radius in zip(centres, radii, strict=True):
        if free[int(y), int(x)] and radius >= 0.7:
            cv2.circle(canvas.cover, (int(x), int(y)), round(radius), COVER["tree"], -1)
    canvas.cover[(canvas.reserved > 0) & (canvas.cover == COVER["tree"])] = COVER["low_vegetation"]


def add_clutter(canvas: Canvas, count: int, size_m: tuple[float, float] = (6, 25)) -> None:
    """Small patches of clutter (storage yards, construction material) on open land."""
    rng = canvas.rng
    allowed = tuple(COVER[n] for n in ("impervious", "low_vegetation", "bare"))
    for _ in range(count):
        length = canvas.px(rng.uniform(*size_m))
        poly = free_rectangle(canvas, length, length * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi), allowed, 5)
        if poly is not None:
            cv2.fillPoly(canvas.cover, [np.round(poly).astype(np.int32)], COVER["clutter"])


def add_site(
    canvas: Canvas, kind: str, length_m: float, width_m: float, surface: str, aligned: bool = True
) -> Site | None:
    """Reserve a rectangle of ``surface`` cover for a site filled with objects later (shrunk, up to twice, when it
    does not fit); None when nothing fits."""
    rng = canvas.rng
    where = candidates(canvas, None, 8)
    for _ in range(3):
        angle = canvas.grid_angle + rng.integers(2) * np.pi / 2 if aligned else rng.uniform(0, np.pi)
        length, width = canvas.px(length_m), canvas.px(width_m)
        poly = free_rectangle(canvas, length, width, angle, LAND, 30, where)
        if poly is not None:
            break
        length_m, width_m = length_m * 0.7, width_m * 0.8
    if poly is None:
        return None
    cv2.fillPoly(canvas.cover, [np.round(poly).astype(np.int32)], COVER[surface])
    cv2.fillPoly(canvas.reserved, [np.round(poly).astype(np.int32)], 1)
    site = Site(kind, poly.mean(axis=0), angle, length, width)
    canvas.sites.append(site)
    return site


# --- painting -------------------------------------------------------------------------------------------------------


def paint(canvas: Canvas) -> None:
    """Texture the cover map into an RGB image (uint8) and set tree heights for shadows.

    Colours are kept channel-first (3 x H x W) while painting: per-channel gathers and OpenCV's fused
    multiply-and-saturate are several times faster than numpy on interleaved RGB.
    """
    rng, h, w, cover = canvas.rng, canvas.height, canvas.width, canvas.cover
    looks = list(COVERS.values())
    # Colour per (cover, region): the cover's colour with a region-wise brightness and hue jitter.
    rgb = np.array([look.rgb for look in looks], np.float32)
    tint = np.array([look.tint for look in looks], np.float32)
    jitter = rng.standard_normal((canvas.n_regions, 4)).astype(np.float32)
    region_factor = 1 + tint[:, None, None] * (0.8 * jitter[None, :, :1] + 0.4 * jitter[None, :, 1:])
    colour_lut = (rgb[:, None, :] * region_factor).reshape(-1, 3)
    index = cover.astype(np.int32) * canvas.n_regions + canvas.regions
    base = np.empty((3, h, w), np.float32)
    for channel in range(3):
        np.take(np.ascontiguousarray(colour_lut[:, channel]), index, out=base[channel])
    # Texture: a brightness factor around 1 from grain, ~1 m mottling and ~15 m blotches, each scaled per cover.
    grain = white_noise(rng, h, w)
    kernel = int(np.clip(round(canvas.px(1.2)), 1, 9))
    # A k x k box blur divides the grain's standard deviation by k: times k, the mottling has unit variance too.
    fine = cv2.blur(grain, (kernel, kernel)) * np.float32(kernel) if kernel > 1 else white_noise(rng, h, w)
    blotch = smooth_noise(rng, h, w, canvas.px(15))
    amplitude = np.array([[look.grain, look.fine, look.blotch] for look in looks], np.float32) / 100
    texture = amplitude[:, 0][cover] * grain
    texture += amplitude[:, 1][cover] * fine
    texture += amplitude[:, 2][cover] * blotch
    _paint_crops(canvas, base, texture)
    _paint_canopy(canvas, texture)
    _paint_water(canvas, base)
    _paint_clutter(canvas, base)
    texture += 1
    texture *= 1 + 0.05 * smooth_noise(rng, h, w, max(h, w) / 2)  # slow illumination change across the scene
    texture += white_noise(rng, h, w) * np.float32(0.01)  # sensor noise
    canvas.image = cv2.merge([cv2.multiply(base[channel], texture, dtype=cv2.CV_8U) for channel in range(3)])


def _paint_crops(canvas: Canvas, base: np.ndarray, texture: np.ndarray) -> None:
    """Crop parcels: colour from a crop palette and rows of a per-parcel orientation and spacing."""
    rng = canvas.rng
    ys, xs = np.nonzero(canvas.cover == COVER["agriculture"])
    if len(ys) == 0:
        return
    n_parcels = canvas.n_regions
    crop = rng.integers(len(CROP_PALETTE), size=n_parcels)
    angle = rng.uniform(0, np.pi, n_parcels).astype(np.float32)
    period = canvas.px(1) * rng.uniform(2.0, 6.0, n_parcels).astype(np.float32)
    amplitude = np.where(rng.random(n_parcels) < 0.75, rng.uniform(0.05, 0.16, n_parcels), 0.0).astype(np.float32)
    amplitude[period < 2.2] = 0.0  # rows finer than the pixels are invisible
    parcel = canvas.regions[ys, xs]
    phase = (xs * np.cos(angle)[parcel] + ys * np.sin(angle)[parcel]) * (2 * np.pi / period[parcel])
    texture[ys, xs] += amplitude[parcel] * np.sin(phase)
    colours = CROP_PALETTE[crop] * (1 + 0.05 * rng.standard_normal((n_parcels, 1))).astype(np.float32)
    for channel in range(3):
        base[channel, ys, xs] = colours[:, channel][parcel]
    # Field margins: tracks and hedges along parcel edges.
    edge = np.zeros(canvas.cover.shape, bool)
    edge[1:, :] |= canvas.regions[1:, :] != canvas.regions[:-1, :]
    edge[:, 1:] |= canvas.regions[:, 1:] != canvas.regions[:, :-1]
    if canvas.px(1.5) >= 1:
        edge = cv2.dilate(edge.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
    edge &= canvas.cover == COVER["agriculture"]
    texture[edge] -= 0.18


def _paint_canopy(canvas: Canvas, texture: np.ndarray) -> None:
    """Tree canopy: sunlit crowns and dark gaps between them; crowns stand ~7-13 m high (for shadows)."""
    canopy = np.nonzero(canvas.cover == COVER["tree"])
    if len(canopy[0]) == 0:
        return
    scale = canvas.px(2.0)
    crown = smooth_noise(canvas.rng, canvas.height, canvas.width, max(scale, 1.5))[canopy]
    contrast = 0.28 if scale >= 3 else 0.15  # crowns a pixel or two wide blur into a finer, flatter texture
    texture[canopy] += contrast * np.tanh(1.3 * crown) - 0.03
    canvas.elevation[canopy] = np.where(crown > -1.0, 10 + 2 * np.clip(crown, -1, 1), 6)


def _paint_water(canvas: Canvas, base: np.ndarray) -> None:
    """Water: turbid and lighter near the shore, darker offshore."""
    water = (canvas.cover == COVER["water"]).astype(np.uint8)
    if not water.any():
        return
    distance = np.minimum(cv2.distanceTransform(water, cv2.DIST_L2, 3), 1e6) * np.float32(canvas.gsd)  # to the shore
    near_shore = np.nonzero(water.astype(bool) & (distance < 50))  # beyond, the cover colour (deep water) stays
    shallow = np.exp(-distance[near_shore] / 12.0)
    for channel, tint in enumerate((38, 30, 4)):  # shallow water is greener and brighter
        base[channel][near_shore] = base[channel][near_shore] * (1 + 0.136 * shallow) + shallow * tint


def _paint_clutter(canvas: Canvas, base: np.ndarray) -> None:
    """Clutter: brown ground strewn with blocks of assorted colours (containers, material, debris)."""
    rng = canvas.rng
    mask = canvas.cover == COVER["clutter"]
    if not mask.any():
        return
    cell = max(1.0, canvas.px(2.5))
    grid_h, grid_w = int(canvas.height / cell) + 2, int(canvas.width / cell) + 2
    blocks = rng.choice(len(CLUTTER_PALETTE), size=(grid_h, grid_w), p=CLUTTER_WEIGHTS).astype(np.uint8)
    present = (rng.random((grid_h, grid_w)) < 0.45).astype(np.uint8)
    size = (int(grid_w * cell), int(grid_h * cell))
    blocks = cv2.resize(blocks, size, interpolation=cv2.INTER_NEAREST)[: canvas.height, : canvas.width]
    present = cv2.resize(present, size, interpolation=cv2.INTER_NEAREST)[: canvas.height, : canvas.width]
    hit = mask & (present > 0)
    for channel in range(3):
        base[channel][hit] = CLUTTER_PALETTE[:, channel][blocks[hit]]


def paint_markings(canvas: Canvas) -> None:
    """Dashed centre lines on roads, centre and edge lines on runways (image only, where the surface is there)."""
    if canvas.image is None:
        return
    for road in canvas.roads:
        runway = road.kind == "runway"
        if road.width < max(6.0, canvas.px(6)):
            continue
        colour = (232, 232, 226) if runway else (214, 210, 190)
        thickness = max(1, round(canvas.px(0.9 if runway else 0.15)))
        surface = COVER["impervious"] if runway else COVER["road"]
        dash, gap = canvas.px(30 if runway else 3), canvas.px(30 if runway else 9)
        lines = [(road.points, dash, gap)]
        if runway:
            direction = road.points[-1] - road.points[0]
            unit_normal = np.array([-direction[1], direction[0]]) / (np.linalg.norm(direction) + 1e-9)
            normal = unit_normal * (road.width / 2 - canvas.px(3))  # edge lines 3 m inside the runway's edges
            lines += [(road.points + normal, dash, 0.0), (road.points - normal, dash, 0.0)]
        for points, dash_length, gap_length in lines:
            for start, end in itertools.pairwise(points):
                _draw_dashes(canvas, start, end, dash_length, gap_length, colour, thickness, surface)


def _draw_dashes(
    canvas: Canvas,
    start: np.ndarray,
    end: np.ndarray,
    dash: float,
    gap: float,
    colour: tuple[int, int, int],
    thickness: int,
    surface: int,
) -> None:
    """Dashes ``dash`` pixels long, ``gap`` apart, from ``start`` to ``end``: each one drawn only where its middle
    lies on cover ``surface`` (markings stop where the road does, at the sea and the airport fence)."""
    assert canvas.image is not None
    length = float(np.linalg.norm(end - start))
    if length < 1:
        return
    direction = (end - start) / length
    for offset in np.arange(0, length, dash + gap):
        dash_start, dash_end = start + direction * offset, start + direction * min(offset + dash, length)
        mid_x, mid_y = ((dash_start + dash_end) / 2).astype(int)
        if 0 <= mid_x < canvas.width and 0 <= mid_y < canvas.height and canvas.cover[mid_y, mid_x] == surface:
            dash_points = _fixed_point_xy(dash_start), _fixed_point_xy(dash_end)
            cv2.line(canvas.image, *dash_points, colour, thickness, cv2.LINE_AA, FRACTION_BITS)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and saturate a float image to uint8 (in place on ``image``)."""
    image += 0.5
    np.minimum(image, 255, out=image)
    np.maximum(image, 0, out=image)
    return image.astype(np.uint8)


def _fixed_point_xy(point: np.ndarray) -> tuple[int, int]:
    """One point as OpenCV's fixed-point (x, y) integers, with ``FRACTION_BITS`` fractional bits."""
    scale = 1 << FRACTION_BITS
    return round(float(point[0]) * scale), round(float(point[1]) * scale)


# --- shadows and finish ---------------------------------------------------------------------------------------------


def cast_shadows(canvas: Canvas, darkness: float = 0.5) -> None:
    """Darken pixels shaded by anything standing on the ground (buildings, trees, tanks, vehicles).

    A pixel is in shadow when some pixel towards the sun stands higher than the sun ray through it. Long shadows are
    traced at half resolution (they are soft-edged anyway).
    """
    if canvas.image is None:
        return
    top = float(canvas.elevation.max())
    reach = canvas.px(top * canvas.shadow_per_metre)
    if reach < 1:
        return
    downscale = 2 if reach > 24 and min(canvas.height, canvas.width) >= 64 else 1
    elevation = canvas.elevation
    if downscale > 1:  # max-pool, so thin objects still cast shadows
        elevation = cv2.dilate(elevation, np.ones((2, 2), np.uint8))[::2, ::2]
    h, w = elevation.shape
    reach_px = int(np.ceil(reach / downscale))
    steps = np.unique(np.linspace(1, reach_px, min(reach_px, 16)).round().astype(int))
    drop = canvas.gsd * downscale / canvas.shadow_per_metre  # metres of height lost per (scaled) pixel of shadow
    shade = np.zeros((h, w), bool)
    for step in steps:
        dx, dy = np.round(canvas.sun * step).astype(int)
        casters = elevation[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        receivers = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
        shade[receivers] |= casters - np.float32(step * drop) > elevation[receivers] + 0.5
    soft = shade.astype(np.float32)
    gap = reach_px / max(len(steps) - 1, 1)  # spacing of the traced steps: blur over it to hide the scallops
    if gap > 1.5 or downscale > 1:
        soft = cv2.GaussianBlur(soft, (0, 0), max(0.7, gap / 2))
    if downscale > 1:
        soft = cv2.resize(soft, (canvas.width, canvas.height), interpolation=cv2.INTER_LINEAR)
        soft[canvas.elevation > 0.5 + 0.3 * top] = 0  # the tops of tall things are lit
    elif canvas.px(0.5) >= 1:
        soft = cv2.blur(soft, (3, 3))
    shade_rgb = [1 - darkness * weight * soft for weight in (1.0, 0.97, 0.9)]  # shadows are a little bluish
    canvas.image = cv2.multiply(canvas.image, cv2.merge(shade_rgb), dtype=cv2.CV_8U)


def finish(canvas: Canvas, haze: float = 0.0, tint: tuple[float, float, float] = (0, 0, 0)) -> np.ndarray:
    """Sensor look: slight optical blur, and an optional haze (clouds) and colour cast."""
    h, w = canvas.height, canvas.width
    assert canvas.image is not None
    image = canvas.image
    if min(h, w) >= 16:
        image = cv2.GaussianBlur(image, (0, 0), 0.55)
    if haze <= 0 and not any(tint):
        return image
    out = image.astype(np.float32) + np.asarray(tint, np.float32)
    if haze > 0:
        veil = np.clip(haze * (0.6 + 0.4 * smooth_noise(canvas.rng, h, w, max(h, w) / 3)), 0, 1)[..., None]
        out = out * (1 - veil) + 235 * veil
    return to_uint8(out)
