"""Oriented objects: class styles (size, aspect, drawn shape, colours) and their placement on a painted canvas.

Shapes are drawn in an object frame (``Frame``): x along the heading, y across, both either in pixels (``m``) or as
fractions of the half-length/half-width of the box (``q``), with OpenCV's anti-aliased fixed-point drawing. Every
object is checked against an occupancy raster before it is drawn, so objects never overlap; its oriented box is the
annotation (clockwise, starting front-left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from rsfm.data.annotations import OrientedObject
from rsfm.data.synthetic.scene import COVER, Canvas, Site, cover_lut, rotated_box

# --- drawing helpers ------------------------------------------------------------------------------------------------

Colour = tuple[float, float, float] | np.ndarray


def _c(colour: Colour, factor: float = 1.0) -> tuple[float, float, float]:
    r, g, b = (min(255.0, max(0.0, float(v) * factor)) for v in colour[:3])
    return r, g, b


def _fix(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * 16).astype(np.int32)


class Painter:
    """Draws anti-aliased shapes into the canvas image; shapes given a height ``z`` also raise the elevation map."""

    def __init__(self, canvas: Canvas) -> None:
        assert canvas.image is not None
        self.image, self.elevation, self.canvas = canvas.image, canvas.elevation, canvas

    def poly(self, pts: np.ndarray, colour: Colour, z: float | None = None, alpha: float = 1.0) -> None:
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if alpha < 1.0:
            h, w = self.image.shape[:2]
            x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int) - 1, 0, [w, h])
            x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 2, 0, [w, h])
            if x1 <= x0 or y1 <= y0:
                return
            roi = self.image[y0:y1, x0:x1]
            layer = roi.copy()
            cv2.fillPoly(layer, [_fix(pts - [x0, y0])], _c(colour), cv2.LINE_AA, 4)
            roi[:] = cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0)
        else:
            cv2.fillPoly(self.image, [_fix(pts)], _c(colour), cv2.LINE_AA, 4)
        if z is not None:
            cv2.fillPoly(self.elevation, [_fix(pts)], float(z), cv2.LINE_8, 4)

    def circle(self, centre: np.ndarray, radius: float, colour: Colour, z: float | None = None, width: int = -1):
        c = tuple(_fix(centre).tolist())
        r = round(radius * 16)
        cv2.circle(self.image, c, r, _c(colour), width, cv2.LINE_AA, 4)
        if z is not None:
            cv2.circle(self.elevation, c, r, float(z), width, cv2.LINE_8, 4)

    def line(self, a: np.ndarray, b: np.ndarray, colour: Colour, width: float = 1.0) -> None:
        thickness = max(1, round(width))
        cv2.line(self.image, tuple(_fix(a).tolist()), tuple(_fix(b).tolist()), _c(colour), thickness, cv2.LINE_AA, 4)

    def outline(self, pts: np.ndarray, colour: Colour, width: float = 1.0, closed: bool = True) -> None:
        thickness = max(1, round(width))
        cv2.polylines(self.image, [_fix(pts)], closed, _c(colour), thickness, cv2.LINE_AA, 4)

    def px(self, metres: float) -> float:
        return self.canvas.px(metres)


@dataclass
class Frame:
    """An object's frame: centre, unit vectors along (heading) and across, box length and width in pixels."""

    c: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: float
    width: float

    @classmethod
    def of(cls, centre: np.ndarray, length: float, width: float, angle: float) -> Frame:
        u = np.array([np.cos(angle), np.sin(angle)])
        return cls(np.asarray(centre, np.float64), u, np.array([-u[1], u[0]]), length, width)

    def m(self, coords: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """Pixel offsets (along, across) to image points."""
        xy = np.asarray(coords, np.float64).reshape(-1, 2)
        return self.c + xy[:, :1] * self.u + xy[:, 1:] * self.v

    def q(self, coords: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """Fractions of the half-length and half-width to image points."""
        xy = np.asarray(coords, np.float64).reshape(-1, 2) * [self.length / 2, self.width / 2]
        return self.m(xy)

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return self.q([(x1, y0), (x1, y1), (x0, y1), (x0, y0)])


# --- styles ---------------------------------------------------------------------------------------------------------

# Mostly bright and saturated paints, so that cars stand out from the pavement they stand on (a few dark ones).
CAR_COLOURS = np.array(
    [(238, 238, 236), (196, 198, 204), (34, 35, 40), (190, 40, 36), (44, 80, 170), (232, 188, 50), (60, 120, 80)],
    np.float64,
)  # fmt: skip
CAR_WEIGHTS = np.array([0.32, 0.18, 0.06, 0.18, 0.13, 0.09, 0.04])
GLASS = (58, 66, 80)  # windows reflect the sky a little
ROOFS = np.array([(172, 92, 70), (150, 74, 58), (136, 92, 78), (96, 98, 108), (186, 110, 84)], np.float64)
ROOF_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.25])
FLAT_ROOFS = np.array([(168, 166, 160), (140, 140, 138), (110, 108, 108), (184, 180, 170)], np.float64)
CONTAINERS = np.array([(176, 56, 44), (46, 86, 150), (196, 150, 60), (70, 130, 90), (200, 200, 196)], np.float64)


def _draw_car(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    colour = CAR_COLOURS[rng.choice(len(CAR_COLOURS), p=CAR_WEIGHTS)] * rng.uniform(0.92, 1.05)
    p.poly(f.q([(1, -0.7), (0.86, -1), (-0.9, -1), (-1, -0.78), (-1, 0.78), (-0.9, 1), (0.86, 1), (1, 0.7)]), colour,
           z=1.5)  # fmt: skip
    p.poly(f.rect(0.2, 0.46, -0.78, 0.78), GLASS)
    p.poly(f.rect(-0.76, -0.6, -0.72, 0.72), GLASS)
    p.poly(f.rect(-0.6, 0.2, -0.76, 0.76), _c(colour, 1.06))


def _draw_truck(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    if rng.random() < 0.25:  # bus: one long body with window bands
        body = ((226, 190, 50), (232, 232, 230), (180, 50, 44), (60, 96, 160))[rng.integers(4)]
        p.poly(f.rect(-1, 1, -1, 1), body, z=3.2)
        for side in (-1, 1):
            p.poly(f.rect(-0.92, 0.9, side * 0.96, side * 0.74), GLASS)
        p.poly(f.rect(-0.3, 0.1, -0.4, 0.4), (200, 200, 200))
        return
    cab = CAR_COLOURS[rng.integers(len(CAR_COLOURS))]
    trailer = ((232, 232, 228), (200, 202, 206), (150, 160, 176), (190, 70, 60), (90, 120, 90))[rng.integers(5)]
    p.poly(f.rect(0.68, 1, -0.88, 0.88), cab, z=3.0)
    p.poly(f.rect(0.9, 0.99, -0.78, 0.78), GLASS)
    p.poly(f.rect(0.62, 0.68, -0.4, 0.4), (40, 40, 44))
    p.poly(f.rect(-1, 0.62, -1, 1), trailer, z=3.8)
    p.line(f.q((-1, 0))[0], f.q((0.62, 0))[0], _c(trailer, 0.86), max(1.0, f.width / 10))


def _draw_ship(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    kind = ("cargo", "tanker", "yacht", "boat")[rng.choice(4, p=[0.35, 0.2, 0.25, 0.2])]
    if rng.random() < 0.5:  # wake behind a moving ship
        p.poly(f.q([(-1, -0.7), (-1, 0.7), (-3.2, 2.2), (-3.2, -2.2)]), (120, 140, 152), alpha=0.12)
        p.poly(f.q([(-1, -0.5), (-1, 0.5), (-2.6, 0.8), (-2.6, -0.8)]), (205, 214, 218), alpha=0.22)
    hull_outline = [(1, 0), (0.72, -0.88), (0.45, -1), (-0.95, -1), (-1, -0.86), (-1, 0.86), (-0.95, 1), (0.45, 1),
                    (0.72, 0.88)]  # fmt: skip
    if kind in ("cargo", "tanker"):
        hull = ((110, 42, 40), (46, 48, 56), (44, 62, 104), (122, 126, 132))[rng.integers(4)]
    else:
        hull = (234, 236, 238)
    p.poly(f.q(hull_outline), hull, z=3.0)
    inner = f.q(np.array(hull_outline) * [0.9, 0.78])
    if kind == "cargo":
        p.poly(inner, (120, 118, 112))
        bays = max(1, int(f.length * 0.55 / max(p.px(6.1), 2)))
        rows = 3 if f.width > 9 else 2
        xs = np.linspace(-0.5, 0.62, bays + 1)
        ys = np.linspace(-0.7, 0.7, rows + 1)
        colours = CONTAINERS[rng.integers(len(CONTAINERS), size=(bays, rows))]
        for i in range(bays):
            if rng.random() < 0.15:
                continue
            for j in range(rows):
                p.poly(f.rect(xs[i] + 0.01, xs[i + 1] - 0.01, ys[j] + 0.02, ys[j + 1] - 0.02), colours[i, j], z=8)
        p.poly(f.rect(-0.9, -0.62, -0.72, 0.72), (236, 236, 236), z=14)
    elif kind == "tanker":
        p.poly(inner, (96, 112, 96))
        p.line(f.q((-0.55, 0))[0], f.q((0.8, 0))[0], (200, 200, 196), max(1.0, f.width / 12))
        for x in np.linspace(-0.4, 0.7, 5):
            p.circle(f.q((x, 0))[0], max(0.6, f.width / 14), (210, 210, 205))
        p.poly(f.rect(-0.92, -0.66, -0.7, 0.7), (236, 236, 236), z=12)
    elif kind == "yacht":
        p.poly(inner, (196, 168, 122))
        p.poly(f.q([(0.45, 0), (0.3, -0.5), (-0.55, -0.55), (-0.55, 0.55), (0.3, 0.5)]), (244, 244, 244), z=5)
        p.line(f.q((0.25, -0.3))[0], f.q((0.25, 0.3))[0], GLASS, max(1.0, f.width / 10))
    else:
        p.poly(inner, (150, 156, 160))
        p.poly(f.rect(-0.4, 0.1, -0.5, 0.5), (226, 226, 226), z=4)


def _draw_plane(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    length, span = f.length, f.width
    body = np.array((238, 238, 240) if rng.random() < 0.7 else (200, 204, 210), np.float64)
    fw = 0.055 * length
    r = fw / length  # fuselage half-width over length
    half = [(0.5, 0), (0.46, -0.6 * r), (0.4, -r), (-0.38, -r), (-0.5, -0.3 * r)]
    fuselage = np.array(half + [(x, -y) for x, y in reversed(half[1:])]) * length
    for side in (-1, 1):
        wing = [(0.12 * length, side * fw), (-0.14 * length, side * span / 2), (-0.22 * length, side * span / 2),
                (-0.1 * length, side * fw)]  # fmt: skip
        p.poly(f.m(wing), _c(body, 0.93), z=4.0)
        tail = [(-0.34 * length, side * fw), (-0.46 * length, side * 0.2 * span), (-0.5 * length, side * 0.2 * span),
                (-0.44 * length, side * fw)]  # fmt: skip
        p.poly(f.m(tail), _c(body, 0.93), z=4.5)
        y = side * 0.28 * span
        p.poly(f.m([(0.12 * length, y - 0.03 * length), (0.12 * length, y + 0.03 * length),
                    (0.0, y + 0.03 * length), (0.0, y - 0.03 * length)]), (96, 98, 104))  # fmt: skip
    p.poly(f.m(fuselage), body, z=5.0)
    livery = ((40, 70, 150), (180, 40, 40), (40, 40, 44), (236, 236, 236))[rng.integers(4)]
    p.line(f.m([(-0.32 * length, 0)])[0], f.m([(-0.5 * length, 0)])[0], livery, max(1.0, fw * 0.7))
    p.line(f.m([(0.44 * length, -0.5 * fw)])[0], f.m([(0.44 * length, 0.5 * fw)])[0], GLASS, 1)


def _draw_tank(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    radius = min(f.length, f.width) / 2 * 0.97
    shell = ((230, 230, 224), (206, 206, 200), (176, 186, 176), (222, 214, 196))[rng.integers(4)]
    height = rng.uniform(8, 16)
    p.circle(f.c, radius, shell, z=height)
    if rng.random() < 0.5:  # floating roof: darker disc inside the rim
        p.circle(f.c, radius * 0.84, _c(shell, 0.78))
        p.circle(f.c + p.canvas.sun * radius * 0.1, radius * 0.7, _c(shell, 0.84))
    else:  # fixed cone roof: seams and a vent
        for angle in np.linspace(0, np.pi, 4, endpoint=False):
            d = np.array([np.cos(angle), np.sin(angle)]) * radius * 0.95
            p.line(f.c - d, f.c + d, _c(shell, 0.9), max(1.0, radius / 18))
        p.circle(f.c, max(0.8, radius * 0.12), _c(shell, 0.7))
    p.circle(f.c, radius, _c(shell, 0.72), width=max(1, int(radius / 12)))


def _draw_tennis(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    surround, court = (((60, 118, 84), (50, 96, 152)), ((72, 128, 90), (92, 152, 98)), ((172, 90, 62), (190, 104, 72)),
                       ((124, 54, 52), (52, 112, 74)))[rng.integers(4)]  # fmt: skip
    p.poly(f.rect(-1, 1, -1, 1), surround)
    cl, cw = 0.68, 0.63  # court (23.77 x 10.97 m) inside a ~35 x 17.5 m surround
    p.poly(f.rect(-cl, cl, -cw, cw), court)
    white, line = (238, 238, 236), max(1.0, p.px(0.08))
    p.outline(f.rect(-cl, cl, -cw, cw), white, line)
    singles, service = cw * 8.23 / 10.97, cl * 6.40 / 11.885
    for y in (-singles, singles):
        p.line(f.q((-cl, y))[0], f.q((cl, y))[0], white, line)
    for x in (-service, service):
        p.line(f.q((x, -singles))[0], f.q((x, singles))[0], white, line)
    p.line(f.q((-service, 0))[0], f.q((service, 0))[0], white, line)
    p.line(f.q((0, -cw * 1.08))[0], f.q((0, cw * 1.08))[0], (40, 40, 40), max(1.0, p.px(0.15)))


def _draw_basketball(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    surround, court = (((128, 128, 124), (198, 124, 74)), ((146, 92, 72), (64, 102, 162)),
                       ((118, 120, 118), (84, 140, 92)))[rng.integers(3)]  # fmt: skip
    p.poly(f.rect(-1, 1, -1, 1), surround)
    cl, cw = 0.9, 0.83
    p.poly(f.rect(-cl, cl, -cw, cw), court)
    white, line = (238, 238, 236), max(1.0, p.px(0.08))
    p.outline(f.rect(-cl, cl, -cw, cw), white, line)
    p.line(f.q((0, -cw))[0], f.q((0, cw))[0], white, line)
    p.circle(f.c, p.px(1.8), white, width=max(1, int(line)))
    for end in (-1, 1):
        key_depth = 2 * 5.8 / 28 * cl
        p.outline(f.rect(end * cl, end * (cl - key_depth), -0.33 * cw, 0.33 * cw), white, line)
        basket = f.q((end * (cl - 2 * 1.575 / 28 * cl), 0))[0]
        heading = np.degrees(np.arctan2(f.u[1], f.u[0])) + (180 if end > 0 else 0)
        radius = round(p.px(6.75) * 16)
        cv2.ellipse(p.image, tuple(_fix(basket).tolist()), (radius, radius), heading, -80, 80, _c(white),
                    max(1, int(line)), cv2.LINE_AA, 4)  # fmt: skip


def _stadium(f: Frame, straight: float, radius: float, n: int = 24) -> np.ndarray:
    """Outline of a running track (two half circles joined by straights), in frame pixels."""
    angles = np.linspace(-np.pi / 2, np.pi / 2, n)
    right = np.stack([straight / 2 + radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    left = np.stack([-straight / 2 - radius * np.cos(angles), -radius * np.sin(angles)], axis=1)
    return f.m(np.concatenate([right, left]))


def _draw_track(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    track = ((168, 78, 62), (172, 96, 70), (72, 104, 150))[rng.integers(3)]
    radius = f.width / 2
    straight = f.length - f.width
    p.poly(_stadium(f, straight, radius), track)
    lane = p.px(1.22)
    for k in range(1, 8):
        p.outline(_stadium(f, straight, radius - k * lane), _c(track, 1.25), max(1.0, p.px(0.05)))
    inner = radius - 8 * lane
    p.poly(_stadium(f, straight, inner), (70, 136, 68))
    _pitch(p, Frame(f.c, f.u, f.v, min(straight + inner * 0.9, p.px(105)), min(2 * inner * 0.9, p.px(68))))


def _pitch(p: Painter, f: Frame) -> None:
    """Football pitch markings (and mowing stripes) inside frame ``f``."""
    bands = 10
    for k in range(bands):
        x0, x1 = -1 + 2 * k / bands, -1 + 2 * (k + 1) / bands
        p.poly(f.rect(x0, x1, -1, 1), (76, 146, 72) if k % 2 else (66, 132, 64))
    white, line = (236, 236, 232), max(1.0, p.px(0.12))
    p.outline(f.rect(-1, 1, -1, 1), white, line)
    p.line(f.q((0, -1))[0], f.q((0, 1))[0], white, line)
    p.circle(f.c, p.px(9.15), white, width=max(1, int(line)))
    for end in (-1, 1):
        box_x, box_y = 2 * 16.5 / 105, 40.3 / 68
        goal_x, goal_y = 2 * 5.5 / 105, 18.3 / 68
        p.outline(f.rect(end * 1, end * (1 - box_x), -box_y, box_y), white, line)
        p.outline(f.rect(end * 1, end * (1 - goal_x), -goal_y, goal_y), white, line)


def _draw_soccer(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    p.poly(f.rect(-1, 1, -1, 1), (84, 140, 76))
    _pitch(p, Frame(f.c, f.u, f.v, f.length * 0.92, f.width * 0.9))


def _draw_pool(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    p.poly(f.rect(-1, 1, -1, 1), (224, 222, 212))
    rim_x, rim_y = 1 - 2 * p.px(0.7) / f.length, 1 - 2 * p.px(0.7) / f.width
    water = ((66, 178, 216), (52, 160, 206), (96, 196, 220))[rng.integers(3)]
    p.poly(f.rect(-rim_x, rim_x, -rim_y, rim_y), water)
    p.poly(f.rect(-rim_x, -0.3, -rim_y, rim_y), _c(water, 1.08))


def _draw_pier(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    concrete = (172, 170, 164) if rng.random() < 0.7 else (120, 104, 86)
    p.poly(f.rect(-1, 1, -1, 1), concrete, z=2.0)
    p.outline(f.rect(-1, 1, -1, 1), _c(concrete, 0.75), max(1.0, p.px(0.4)))
    for x in np.arange(-1, 1, max(p.px(12) / (f.length / 2), 0.05)):
        for y in (-0.85, 0.85):
            p.circle(f.q((x, y))[0], max(0.6, p.px(0.4)), (60, 60, 60))


def _draw_bridge(p: Painter, f: Frame, rng: np.random.Generator) -> None:
    p.poly(f.rect(-1, 1, -1, 1), (150, 150, 146), z=7.0)
    p.poly(f.rect(-1, 1, -0.78, 0.78), (92, 92, 96))
    p.line(f.q((-1, 0))[0], f.q((1, 0))[0], (214, 210, 190), max(1.0, p.px(0.15)))
    for y in (-0.9, 0.9):
        p.line(f.q((-1, y))[0], f.q((1, y))[0], (200, 200, 196), max(1.0, p.px(0.3)))


def draw_building(p: Painter, f: Frame, rng: np.random.Generator, flat: float = 0.3) -> None:
    """A roof: gable, hip (tiles, lit by the sun on one side) or flat (grey, parapet and rooftop units)."""
    height = rng.uniform(6, 16)
    sun = p.canvas.sun
    if rng.random() < flat:
        roof = FLAT_ROOFS[rng.integers(len(FLAT_ROOFS))] * rng.uniform(0.92, 1.06)
        p.poly(f.rect(-1, 1, -1, 1), roof, z=height)
        p.outline(f.rect(-1, 1, -1, 1), _c(roof, 1.15), max(1.0, p.px(0.4)))
        for _ in range(int(rng.integers(0, 5))):  # rooftop units
            x, y = rng.uniform(-0.7, 0.7, 2)
            size = p.px(rng.uniform(1.0, 2.5))
            corners = ((size, -size), (size, size), (-size, size), (-size, -size))
            unit = [(x * f.length / 2 + dx, y * f.width / 2 + dy) for dx, dy in corners]
            p.poly(f.m(unit), _c(roof, 1.2), z=height + 1.5)
        return
    roof = ROOFS[rng.choice(len(ROOFS), p=ROOF_WEIGHTS)] * rng.uniform(0.9, 1.08)
    p.poly(f.rect(-1, 1, -1, 1), roof, z=height)

    def shade(normal: np.ndarray) -> float:  # facets facing the sun (against the shadow direction) are brighter
        return 1.0 - 0.16 * float(np.dot(normal, sun))

    if rng.random() < 0.5:  # gable: two planes meeting at a ridge along the length
        p.poly(f.rect(-1, 1, -1, 0), _c(roof, shade(-f.v)), z=height)
        p.poly(f.rect(-1, 1, 0, 1), _c(roof, shade(f.v)), z=height)
    else:  # hip: two trapezoids and two end triangles
        r = min(0.9, f.width / f.length)
        p.poly(f.q([(-1, -1), (1, -1), (1 - r, 0), (-1 + r, 0)]), _c(roof, shade(-f.v)), z=height)
        p.poly(f.q([(-1, 1), (1, 1), (1 - r, 0), (-1 + r, 0)]), _c(roof, shade(f.v)), z=height)
        p.poly(f.q([(1, -1), (1, 1), (1 - r, 0)]), _c(roof, shade(f.u)), z=height)
        p.poly(f.q([(-1, -1), (-1, 1), (-1 + r, 0)]), _c(roof, shade(-f.u)), z=height)
    p.line(f.q((-1, 0))[0], f.q((1, 0))[0], _c(roof, 1.18), max(1.0, p.px(0.25)))


@dataclass(frozen=True)
class Style:
    """Size of the box (length along the heading in metres, length/width aspect) and the drawing function."""

    length_m: tuple[float, float]
    aspect: tuple[float, float]
    draw: Callable[[Painter, Frame, np.random.Generator], None]


STYLES: dict[str, Style] = {
    "small-vehicle": Style((4.0, 5.0), (2.1, 2.6), _draw_car),
    "large-vehicle": Style((9.0, 15.0), (3.2, 5.6), _draw_truck),
    "ship": Style((16.0, 48.0), (3.0, 6.0), _draw_ship),
    "plane": Style((16.0, 28.0), (0.9, 1.1), _draw_plane),
    "storage-tank": Style((8.0, 24.0), (1.0, 1.0), _draw_tank),
    "tennis-court": Style((34.0, 36.5), (1.9, 2.1), _draw_tennis),
    "basketball-court": Style((30.0, 32.0), (1.7, 1.85), _draw_basketball),
    "ground-track-field": Style((170.0, 185.0), (1.75, 1.9), _draw_track),
    "soccer-ball-field": Style((108.0, 118.0), (1.45, 1.6), _draw_soccer),
    "swimming-pool": Style((6.0, 16.0), (1.3, 2.5), _draw_pool),
    "harbor": Style((40.0, 100.0), (5.0, 10.0), _draw_pier),
    "bridge": Style((20.0, 200.0), (1.0, 20.0), _draw_bridge),
}
STYLE_INDEX = {name: i + 1 for i, name in enumerate(STYLES)}  # value in Canvas.object_mask


# --- placement ------------------------------------------------------------------------------------------------------

ON_LAND = tuple(COVER[n] for n in ("impervious", "low_vegetation", "bare", "agriculture"))
ON_WATER = (COVER["water"],)
ON_ROAD = (COVER["road"],)


def place(
    canvas: Canvas,
    style: str,
    centre: np.ndarray,
    length: float,
    width: float,
    angle: float,
    allowed: tuple[int, ...] | None = None,
    name: str | None = None,
    margin: float = 1.0,
    free: bool = False,
) -> bool:
    """Draw one object if its box is inside the image, on ``allowed`` covers and clear of other objects.

    ``free`` also keeps it off reserved layout (roads, sites, building plots).
    """
    h, w = canvas.height, canvas.width
    poly = rotated_box(centre, length, width, angle)
    if poly.min() < 1 or (poly[:, 0] > w - 2).any() or (poly[:, 1] > h - 2).any():
        return False
    if allowed is not None or free:
        probe = np.vstack([poly.mean(axis=0, keepdims=True), poly + (poly.mean(axis=0) - poly) * 0.15])
        py, px = probe[:, 1].astype(int), probe[:, 0].astype(int)
        if allowed is not None and not cover_lut(allowed)[canvas.cover[py, px]].all():
            return False
        if free and canvas.reserved[py, px].any():
            return False
    pad = int(np.ceil(margin)) + 1
    x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - pad, 0)
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + pad + 1
    local = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shifted = _fix(poly - [x0, y0])
    cv2.fillPoly(local, [shifted], 1, cv2.LINE_8, 4)
    if margin > 0:
        cv2.polylines(local, [shifted], True, 1, int(2 * margin + 1), cv2.LINE_8, 4)
    roi = canvas.occupied[y0:y1, x0:x1]
    if (roi & local[: roi.shape[0], : roi.shape[1]]).any():
        return False
    roi |= local[: roi.shape[0], : roi.shape[1]]
    STYLES[style].draw(Painter(canvas), Frame.of(centre, length, width, angle), canvas.rng)
    cv2.fillPoly(canvas.object_mask, [_fix(poly)], STYLE_INDEX[style], cv2.LINE_8, 4)
    canvas.objects.append(OrientedObject(poly, name or style, 0))
    return True


def sample_size(canvas: Canvas, style: str, length_m: float | None = None) -> tuple[float, float]:
    spec = STYLES[style]
    length = canvas.px(length_m if length_m is not None else canvas.rng.uniform(*spec.length_m))
    return length, length / canvas.rng.uniform(*spec.aspect)


def scatter(
    canvas: Canvas,
    style: str,
    count: int,
    allowed: tuple[int, ...],
    name: str | None = None,
    region: np.ndarray | None = None,
    free: bool = True,
) -> int:
    """Single objects at random places and headings on ``allowed`` covers (and inside ``region`` if given)."""
    rng = canvas.rng
    placed = 0
    mask = cover_lut(allowed)[canvas.cover[::4, ::4]]
    if region is not None:
        mask &= region[::4, ::4]
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0
    for _ in range(count * 12 + 30):
        if placed >= count:
            break
        k = rng.integers(len(ys))
        centre = np.array([xs[k] * 4 + rng.uniform(0, 4), ys[k] * 4 + rng.uniform(0, 4)])
        length, width = sample_size(canvas, style)
        angle = canvas.grid_angle + rng.integers(4) * np.pi / 2 if rng.random() < 0.6 else rng.uniform(0, 2 * np.pi)
        placed += place(canvas, style, centre, length, width, angle, allowed, name, canvas.px(2), free)
    return placed


def group(canvas: Canvas, style: str, count: int, allowed: tuple[int, ...], name: str | None = None) -> int:
    """Objects side by side in small groups (tennis courts, basketball courts), aligned with the grid."""
    rng = canvas.rng
    placed = 0
    ys, xs = np.nonzero(cover_lut(allowed)[canvas.cover[::4, ::4]])
    if len(ys) == 0:
        return 0
    for _ in range(count * 8):
        if placed >= count:
            break
        k = rng.integers(len(ys))
        centre = np.array([xs[k] * 4.0, ys[k] * 4.0])
        length, width = sample_size(canvas, style)
        angle = canvas.grid_angle + rng.integers(2) * np.pi / 2
        across = np.array([-np.sin(angle), np.cos(angle)])
        for i in range(int(rng.integers(1, 5))):
            if placed >= count:
                break
            ok = place(canvas, style, centre + across * i * (width + canvas.px(1)), length, width, angle, allowed,
                       name, margin=0.5, free=True)  # fmt: skip
            placed += ok
            if not ok:
                break
    return placed


def along_roads(canvas: Canvas, style: str, count: int, name: str | None = None) -> int:
    """Vehicles on roads: short queues driving in the lanes, and rows parked along the kerb."""
    rng = canvas.rng
    roads = [r for r in canvas.roads if r.kind != "runway" and r.width >= canvas.px(5)]
    if not roads:
        return 0
    lengths = np.array([np.linalg.norm(np.diff(r.points, axis=0), axis=1).sum() for r in roads])
    placed = 0
    for _ in range(count * 6):
        if placed >= count:
            break
        road = roads[rng.choice(len(roads), p=lengths / lengths.sum())]
        seg = np.diff(road.points, axis=0)
        seg_len = np.linalg.norm(seg, axis=1)
        i = rng.choice(len(seg), p=seg_len / seg_len.sum())
        u = seg[i] / max(seg_len[i], 1e-9)
        v = np.array([-u[1], u[0]])
        side = rng.choice([-1, 1])
        parked = style == "small-vehicle" and road.kind == "street" and rng.random() < 0.5
        if parked:  # at the kerb, bumper to bumper
            offset = side * (road.width / 2 - canvas.px(1.3))
            queue, gap = int(rng.integers(2, 9)), (0.6, 1.8)
        else:
            lanes = max(1, int(road.width / canvas.px(3.5) / 2))
            offset = side * (int(rng.integers(lanes)) + 0.5) * road.width / (2 * lanes)
            queue, gap = int(rng.integers(1, 6)), (2.0, 8.0)
        position = road.points[i] + u * rng.uniform(0, seg_len[i]) + v * offset
        heading = np.arctan2(u[1], u[0]) + (0 if side > 0 else np.pi)
        step_dir = np.array([np.cos(heading), np.sin(heading)])
        for _ in range(queue):
            if placed >= count:
                break
            length, width = sample_size(canvas, style)
            if not place(canvas, style, position, length, width, heading + rng.normal(0, 0.02), ON_ROAD, name, 0.5):
                break
            placed += 1
            position = position - step_dir * (length + canvas.px(rng.uniform(*gap)))
    return placed


def fill_lot(canvas: Canvas, site: Site, style: str, occupancy: float, name: str | None = None) -> int:
    """Parking lot: stall lines and vehicles parked side by side in double rows facing each other."""
    rng = canvas.rng
    assert canvas.image is not None
    spec = STYLES[style]
    stall_w = canvas.px(2.6 if style == "small-vehicle" else 4.2)
    stall_d = canvas.px(spec.length_m[1] + 0.8)
    aisle = canvas.px(6.5)
    u = np.array([np.cos(site.angle), np.sin(site.angle)])
    v = np.array([-u[1], u[0]])
    painter = Painter(canvas)
    placed = 0
    y = -site.width / 2 + stall_d / 2 + canvas.px(1)
    facing = 1
    n_slots = int((site.length - canvas.px(2)) / stall_w)
    while y + stall_d / 2 < site.width / 2 and n_slots > 0:
        row_centre = site.centre + v * y
        xs = (np.arange(n_slots) - (n_slots - 1) / 2) * stall_w
        if stall_w >= 3:
            for x in np.append(xs - stall_w / 2, xs[-1] + stall_w / 2):
                a, b = row_centre + u * x - v * stall_d / 2, row_centre + u * x + v * stall_d / 2
                painter.line(a, b, (208, 206, 196), 1)
        for x in xs:
            if rng.random() > occupancy:
                continue
            length, width = sample_size(canvas, style)
            heading = site.angle + facing * np.pi / 2 + rng.normal(0, 0.03)
            centre = row_centre + u * (x + rng.normal(0, 0.05 * stall_w)) + v * facing * (stall_d - length) / 2 * 0.6
            placed += place(canvas, style, centre, length, width, heading, None, name, margin=0.3)
        y += stall_d if facing > 0 else stall_d + aisle
        facing = -facing
    return placed


def fill_apron(canvas: Canvas, site: Site, count: int, name: str | None = None) -> int:
    """Apron: planes parked in a row, noses towards one long side, plus a few taxiing."""
    rng = canvas.rng
    u = np.array([np.cos(site.angle), np.sin(site.angle)])
    v = np.array([-u[1], u[0]])
    placed, x = 0, -site.length / 2 + canvas.px(20)
    while x < site.length / 2 - canvas.px(20) and placed < count:
        length, span = sample_size(canvas, "plane")
        x += span / 2
        centre = site.centre + u * x - v * (site.width / 2 - length / 2 - canvas.px(8))
        placed += place(canvas, "plane", centre, length, span, site.angle - np.pi / 2 + rng.normal(0, 0.03),
                        None, name, margin=canvas.px(2))  # fmt: skip
        x += span / 2 + canvas.px(rng.uniform(8, 25))
    for _ in range(6):
        if placed >= count:
            break
        length, span = sample_size(canvas, "plane")
        centre = site.centre + u * rng.uniform(-0.4, 0.4) * site.length + v * rng.uniform(0.0, 0.3) * site.width
        placed += place(canvas, "plane", centre, length, span, rng.uniform(0, 2 * np.pi), None, name, canvas.px(2))
    return placed


def fill_tank_farm(canvas: Canvas, site: Site, name: str | None = None) -> int:
    """Tank farm: a grid of similar tanks."""
    rng = canvas.rng
    diameter = canvas.px(rng.uniform(*STYLES["storage-tank"].length_m))
    limits = [canvas.px(m) for m in STYLES["storage-tank"].length_m]
    diameter = max(min(diameter, max(site.width, site.length) / 2.2), limits[0])  # two tanks in a small farm
    pitch = diameter * rng.uniform(1.3, 1.7)
    u = np.array([np.cos(site.angle), np.sin(site.angle)])
    v = np.array([-u[1], u[0]])
    nx, ny = max(1, int(site.length / pitch)), max(1, int(site.width / pitch))
    placed = 0
    for i in range(nx):
        for j in range(ny):
            if rng.random() < 0.15:
                continue
            d = float(np.clip(diameter * rng.uniform(0.9, 1.05), *limits))
            centre = site.centre + u * (i - (nx - 1) / 2) * pitch + v * (j - (ny - 1) / 2) * pitch
            placed += place(canvas, "storage-tank", centre, d, d, site.angle, None, name, margin=1)
    return placed


def harbor_piers(canvas: Canvas, count: int, name: str | None = None, ship_name: str | None = None) -> int:
    """Piers from the shore into the water, with ships moored alongside (when ``ship_name`` is given)."""
    rng = canvas.rng
    water = canvas.cover == COVER["water"]
    if water.mean() < 0.02:
        return 0
    f = 4 if min(canvas.height, canvas.width) >= 256 else 1  # shore normals from a quarter-resolution map
    coarse = water[::f, ::f].astype(np.float32)
    smooth = cv2.GaussianBlur(coarse, (0, 0), max(1.0, canvas.px(8) / f))
    gy, gx = np.gradient(smooth)
    shore = (smooth > 0.4) & (smooth < 0.6) & (canvas.cover[::f, ::f] != COVER["road"])
    ys, xs = np.nonzero(shore)
    if len(ys) == 0:
        return 0
    placed = 0
    for _ in range(count * 10):
        if placed >= count:
            break
        k = rng.integers(len(ys))
        normal = np.array([gx[ys[k], xs[k]], gy[ys[k], xs[k]]])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal /= np.linalg.norm(normal)
        length, width = sample_size(canvas, "harbor")
        angle = float(np.arctan2(normal[1], normal[0]))
        shore_point = np.array([xs[k], ys[k]], np.float64) * f
        centre = shore_point + normal * (length / 2 - canvas.px(4))
        poly = rotated_box(centre, length, width, angle)
        probe = np.linspace(poly[3], poly[0], 8)[2:]  # the pier's seaward part must be in water
        probe_ok = (probe.min() >= 0) & (probe[:, 0] < canvas.width).all() & (probe[:, 1] < canvas.height).all()
        if not probe_ok or water[probe[:, 1].astype(int), probe[:, 0].astype(int)].mean() < 0.99:
            continue
        if not place(canvas, "harbor", centre, length, width, angle, None, name, margin=canvas.px(4)):
            continue
        placed += 1
        if ship_name is None:
            continue
        v = np.array([-normal[1], normal[0]])
        for side in (-1, 1):
            if rng.random() < 0.35:
                continue
            s_len, s_wid = sample_size(canvas, "ship", rng.uniform(16, min(48, length * canvas.gsd * 0.9)))
            s_centre = centre + normal * rng.uniform(-0.1, 0.2) * length + v * side * (width / 2 + s_wid / 2 + 1.5)
            heading = angle + (0 if rng.random() < 0.5 else np.pi)
            place(canvas, "ship", s_centre, s_len, s_wid, heading, ON_WATER, ship_name, margin=1)
    return placed


def bridges(canvas: Canvas, name: str | None = None) -> int:
    """Bridges where roads cross a river: one oriented box per crossing."""
    if canvas.bridge_mask is None or not canvas.bridge_mask.any():
        return 0
    placed = 0
    for road in canvas.roads:
        for a, b in zip(road.points[:-1], road.points[1:], strict=True):
            n = int(np.linalg.norm(b - a)) + 1
            pts = np.linspace(a, b, n)
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < canvas.width) & (pts[:, 1] >= 0) & (pts[:, 1] < canvas.height)
            on = np.zeros(n, bool)
            on[inside] = canvas.bridge_mask[pts[inside, 1].astype(int), pts[inside, 0].astype(int)]
            edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
            for start, stop in zip(edges[::2], edges[1::2], strict=True):
                if stop - start < canvas.px(8):
                    continue
                p0, p1 = pts[start], pts[stop - 1]
                u = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-9)
                p0, p1 = p0 - u * canvas.px(6), p1 + u * canvas.px(6)
                length = float(np.linalg.norm(p1 - p0))
                angle = float(np.arctan2(u[1], u[0]))
                placed += place(canvas, "bridge", (p0 + p1) / 2, length, road.width + canvas.px(3), angle, None,
                                name, margin=0)  # fmt: skip
    return placed


def draw_buildings(canvas: Canvas, flat: float = 0.3) -> None:
    """Roofs on every building footprint laid out before painting."""
    painter = Painter(canvas)
    if canvas.buildings:
        cv2.fillPoly(canvas.occupied, [_fix(f) for f in canvas.buildings], 1, cv2.LINE_8, 4)
    for footprint in canvas.buildings:
        centre = footprint.mean(axis=0)
        length = float(np.linalg.norm(footprint[0] - footprint[3]))
        width = float(np.linalg.norm(footprint[1] - footprint[0]))
        d = footprint[0] - footprint[3]
        # One pixel larger than the footprint burnt into the cover, so no cover-coloured rim shows around the roof.
        frame = Frame.of(centre, length + 1, width + 1, float(np.arctan2(d[1], d[0])))
        draw_building(painter, frame, canvas.rng, flat)
