"""Oriented objects: class styles (size, aspect, drawn shape, colours) and their placement on a painted canvas.

Shapes are drawn in an object frame (``Frame``): x along the heading, y across, either in pixels
(:meth:`Frame.pixel_points`) or as fractions of the half-length/half-width of the box (:meth:`Frame.box_points`,
where (1, 0) is the front centre and (-1, -1) the rear left corner), with OpenCV's anti-aliased fixed-point drawing.
Every object is checked against an occupancy raster before it is drawn, so objects never overlap; its oriented box is
the annotation (clockwise, starting front-left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from rsfm.data.annotations import OrientedObject
from rsfm.data.synthetic.scene import COVER, FRACTION_BITS, Canvas, Site, cover_lut, rotated_box

# --- drawing helpers ------------------------------------------------------------------------------------------------

Colour = tuple[float, float, float] | np.ndarray


def _rgb(colour: Colour, brightness: float = 1.0) -> tuple[float, float, float]:
    """``colour`` times ``brightness``, clipped to 0..255, as the plain tuple OpenCV takes."""
    r, g, b = (min(255.0, max(0.0, float(v) * brightness)) for v in colour[:3])
    return r, g, b


def _fixed_point(points: np.ndarray) -> np.ndarray:
    """Image points as OpenCV's fixed-point integers (``FRACTION_BITS`` fractional bits): sub-pixel outlines."""
    return np.round(np.asarray(points, np.float64) * (1 << FRACTION_BITS)).astype(np.int32)


class Painter:
    """Draws anti-aliased shapes into the canvas image; shapes given a ``height`` (metres) also raise the elevation
    map, so they cast shadows."""

    def __init__(self, canvas: Canvas) -> None:
        assert canvas.image is not None
        self.image, self.elevation, self.canvas = canvas.image, canvas.elevation, canvas

    def polygon(self, points: np.ndarray, colour: Colour, height: float | None = None, alpha: float = 1.0) -> None:
        """A filled polygon; ``alpha`` below 1 blends it over what is there (wakes)."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if alpha < 1.0:
            # Blend inside the polygon's bounding box only: a full-image copy per wake would dominate the cost.
            h, w = self.image.shape[:2]
            x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int) - 1, 0, [w, h])
            x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 2, 0, [w, h])
            if x1 <= x0 or y1 <= y0:
                return
            roi = self.image[y0:y1, x0:x1]
            layer = roi.copy()
            cv2.fillPoly(layer, [_fixed_point(points - [x0, y0])], _rgb(colour), cv2.LINE_AA, FRACTION_BITS)
            roi[:] = cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0)
        else:
            cv2.fillPoly(self.image, [_fixed_point(points)], _rgb(colour), cv2.LINE_AA, FRACTION_BITS)
        if height is not None:
            cv2.fillPoly(self.elevation, [_fixed_point(points)], float(height), cv2.LINE_8, FRACTION_BITS)

    def circle(
        self, centre: np.ndarray, radius: float, colour: Colour, height: float | None = None, thickness: int = -1
    ) -> None:
        """A disc (``thickness`` -1) or a ring ``thickness`` pixels wide."""
        centre_fixed = tuple(_fixed_point(centre).tolist())
        radius_fixed = round(radius * (1 << FRACTION_BITS))
        cv2.circle(self.image, centre_fixed, radius_fixed, _rgb(colour), thickness, cv2.LINE_AA, FRACTION_BITS)
        if height is not None:
            cv2.circle(self.elevation, centre_fixed, radius_fixed, float(height), thickness, cv2.LINE_8, FRACTION_BITS)

    def line(self, start: np.ndarray, end: np.ndarray, colour: Colour, thickness: float = 1.0) -> None:
        """A straight line at least one pixel wide."""
        start_fixed, end_fixed = tuple(_fixed_point(start).tolist()), tuple(_fixed_point(end).tolist())
        cv2.line(self.image, start_fixed, end_fixed, _rgb(colour), max(1, round(thickness)), cv2.LINE_AA, FRACTION_BITS)

    def outline(self, points: np.ndarray, colour: Colour, thickness: float = 1.0, closed: bool = True) -> None:
        """The outline of a polygon (or an open polyline), at least one pixel wide."""
        cv2.polylines(self.image, [_fixed_point(points)], closed, _rgb(colour), max(1, round(thickness)), cv2.LINE_AA,
                      FRACTION_BITS)  # fmt: skip

    def px(self, metres: float) -> float:
        """Pixels spanned by ``metres`` on the ground."""
        return self.canvas.px(metres)


@dataclass
class Frame:
    """An object's frame: centre, unit vectors along (the heading) and across, box length and width in pixels."""

    centre: np.ndarray
    along: np.ndarray
    across: np.ndarray
    length: float
    width: float

    @classmethod
    def from_box(cls, centre: np.ndarray, length: float, width: float, angle: float) -> Frame:
        """The frame of a ``length`` x ``width`` box at ``centre``, heading ``angle`` radians (image coordinates)."""
        along = np.array([np.cos(angle), np.sin(angle)])
        return cls(np.asarray(centre, np.float64), along, np.array([-along[1], along[0]]), length, width)

    def pixel_points(self, offsets: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """Image points of (along, across) offsets in pixels from the centre."""
        xy = np.asarray(offsets, np.float64).reshape(-1, 2)
        return self.centre + xy[:, :1] * self.along + xy[:, 1:] * self.across

    def pixel_point(self, along: float, across: float) -> np.ndarray:
        """The image point of one (along, across) offset in pixels."""
        return self.pixel_points([(along, across)])[0]

    def box_points(self, fractions: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """Image points of (along, across) fractions of the half-length and half-width."""
        xy = np.asarray(fractions, np.float64).reshape(-1, 2) * [self.length / 2, self.width / 2]
        return self.pixel_points(xy)

    def box_point(self, along: float, across: float) -> np.ndarray:
        """The image point of one (along, across) pair of box fractions."""
        return self.box_points([(along, across)])[0]

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Corners of the rectangle from box fraction ``x0`` to ``x1`` along and ``y0`` to ``y1`` across."""
        return self.box_points([(x1, y0), (x1, y1), (x0, y1), (x0, y0)])


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
COURT_WHITE = (238, 238, 236)


def _draw_car(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A car seen from above: a body with rounded corners in a paint colour, windscreen, rear window and roof."""
    colour = CAR_COLOURS[rng.choice(len(CAR_COLOURS), p=CAR_WEIGHTS)] * rng.uniform(0.92, 1.05)
    body = [(1, -0.7), (0.86, -1), (-0.9, -1), (-1, -0.78), (-1, 0.78), (-0.9, 1), (0.86, 1), (1, 0.7)]
    painter.polygon(frame.box_points(body), colour, height=1.5)
    painter.polygon(frame.rect(0.2, 0.46, -0.78, 0.78), GLASS)  # windscreen
    painter.polygon(frame.rect(-0.76, -0.6, -0.72, 0.72), GLASS)  # rear window
    painter.polygon(frame.rect(-0.6, 0.2, -0.76, 0.76), _rgb(colour, 1.06))  # the roof catches more light


def _draw_truck(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A large vehicle: a bus (one body with window bands) or a lorry (cab, windscreen and a longer trailer)."""
    if rng.random() < 0.25:  # a bus
        body = ((226, 190, 50), (232, 232, 230), (180, 50, 44), (60, 96, 160))[rng.integers(4)]
        painter.polygon(frame.rect(-1, 1, -1, 1), body, height=3.2)
        for side in (-1, 1):
            painter.polygon(frame.rect(-0.92, 0.9, side * 0.96, side * 0.74), GLASS)
        painter.polygon(frame.rect(-0.3, 0.1, -0.4, 0.4), (200, 200, 200))  # roof hatch or air conditioning
        return
    cab = CAR_COLOURS[rng.integers(len(CAR_COLOURS))]
    trailer = ((232, 232, 228), (200, 202, 206), (150, 160, 176), (190, 70, 60), (90, 120, 90))[rng.integers(5)]
    painter.polygon(frame.rect(0.68, 1, -0.88, 0.88), cab, height=3.0)
    painter.polygon(frame.rect(0.9, 0.99, -0.78, 0.78), GLASS)
    painter.polygon(frame.rect(0.62, 0.68, -0.4, 0.4), (40, 40, 44))  # the gap between cab and trailer
    painter.polygon(frame.rect(-1, 0.62, -1, 1), trailer, height=3.8)
    ridge_colour, ridge_width = _rgb(trailer, 0.86), max(1.0, frame.width / 10)
    painter.line(frame.box_point(-1, 0), frame.box_point(0.62, 0), ridge_colour, ridge_width)


def _draw_ship(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A ship with a pointed bow, half of them moving (a wake behind): a cargo ship with container bays and a bridge
    at the stern, a tanker with its pipe line and hatches, a yacht with a white deckhouse, or a small boat."""
    kind = ("cargo", "tanker", "yacht", "boat")[rng.choice(4, p=[0.35, 0.2, 0.25, 0.2])]
    if rng.random() < 0.5:  # the wake: a faint wide fan and a brighter core behind the stern
        wake = [(-1, -0.7), (-1, 0.7), (-3.2, 2.2), (-3.2, -2.2)]
        core = [(-1, -0.5), (-1, 0.5), (-2.6, 0.8), (-2.6, -0.8)]
        painter.polygon(frame.box_points(wake), (120, 140, 152), alpha=0.12)
        painter.polygon(frame.box_points(core), (205, 214, 218), alpha=0.22)
    hull_outline = [(1, 0), (0.72, -0.88), (0.45, -1), (-0.95, -1), (-1, -0.86), (-1, 0.86), (-0.95, 1), (0.45, 1),
                    (0.72, 0.88)]  # fmt: skip
    if kind in ("cargo", "tanker"):
        hull = ((110, 42, 40), (46, 48, 56), (44, 62, 104), (122, 126, 132))[rng.integers(4)]
    else:
        hull = (234, 236, 238)
    painter.polygon(frame.box_points(hull_outline), hull, height=3.0)
    deck = frame.box_points(np.array(hull_outline) * [0.9, 0.78])  # the deck inside the bulwark
    if kind == "cargo":
        painter.polygon(deck, (120, 118, 112))
        bays = max(1, int(frame.length * 0.55 / max(painter.px(6.1), 2)))  # one bay per 20-foot container (6.1 m)
        rows = 3 if frame.width > 9 else 2
        bay_edges = np.linspace(-0.5, 0.62, bays + 1)
        row_edges = np.linspace(-0.7, 0.7, rows + 1)
        colours = CONTAINERS[rng.integers(len(CONTAINERS), size=(bays, rows))]
        for bay in range(bays):
            if rng.random() < 0.15:  # an empty bay
                continue
            for row in range(rows):
                container = frame.rect(bay_edges[bay] + 0.01, bay_edges[bay + 1] - 0.01, row_edges[row] + 0.02,
                                       row_edges[row + 1] - 0.02)  # fmt: skip
                painter.polygon(container, colours[bay, row], height=8)
        painter.polygon(frame.rect(-0.9, -0.62, -0.72, 0.72), (236, 236, 236), height=14)  # bridge at the stern
    elif kind == "tanker":
        painter.polygon(deck, (96, 112, 96))
        painter.line(frame.box_point(-0.55, 0), frame.box_point(0.8, 0), (200, 200, 196), max(1.0, frame.width / 12))
        for x in np.linspace(-0.4, 0.7, 5):  # tank hatches along the pipe line
            painter.circle(frame.box_point(x, 0), max(0.6, frame.width / 14), (210, 210, 205))
        painter.polygon(frame.rect(-0.92, -0.66, -0.7, 0.7), (236, 236, 236), height=12)
    elif kind == "yacht":
        painter.polygon(deck, (196, 168, 122))  # teak
        deckhouse = [(0.45, 0), (0.3, -0.5), (-0.55, -0.55), (-0.55, 0.55), (0.3, 0.5)]
        painter.polygon(frame.box_points(deckhouse), (244, 244, 244), height=5)
        painter.line(frame.box_point(0.25, -0.3), frame.box_point(0.25, 0.3), GLASS, max(1.0, frame.width / 10))
    else:
        painter.polygon(deck, (150, 156, 160))
        painter.polygon(frame.rect(-0.4, 0.1, -0.5, 0.5), (226, 226, 226), height=4)


def _draw_plane(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """An airliner: fuselage with a pointed nose, swept wings with engines, tailplane, livery on the tail and the
    cockpit windows. The box is length x wingspan."""
    length, span = frame.length, frame.width
    body = np.array((238, 238, 240) if rng.random() < 0.7 else (200, 204, 210), np.float64)
    half_fuselage = 0.055 * length  # pixels
    ratio = half_fuselage / length
    # One side of the fuselage from nose to tail, in lengths; the other side mirrors it.
    side_outline = [(0.5, 0), (0.46, -0.6 * ratio), (0.4, -ratio), (-0.38, -ratio), (-0.5, -0.3 * ratio)]
    fuselage = np.array(side_outline + [(x, -y) for x, y in reversed(side_outline[1:])]) * length
    for side in (-1, 1):
        wing = [(0.12 * length, side * half_fuselage), (-0.14 * length, side * span / 2),
                (-0.22 * length, side * span / 2), (-0.1 * length, side * half_fuselage)]  # fmt: skip
        painter.polygon(frame.pixel_points(wing), _rgb(body, 0.93), height=4.0)
        tail = [(-0.34 * length, side * half_fuselage), (-0.46 * length, side * 0.2 * span),
                (-0.5 * length, side * 0.2 * span), (-0.44 * length, side * half_fuselage)]  # fmt: skip
        painter.polygon(frame.pixel_points(tail), _rgb(body, 0.93), height=4.5)
        engine_y = side * 0.28 * span
        engine = [(0.12 * length, engine_y - 0.03 * length), (0.12 * length, engine_y + 0.03 * length),
                  (0.0, engine_y + 0.03 * length), (0.0, engine_y - 0.03 * length)]  # fmt: skip
        painter.polygon(frame.pixel_points(engine), (96, 98, 104))
    painter.polygon(frame.pixel_points(fuselage), body, height=5.0)
    livery = ((40, 70, 150), (180, 40, 40), (40, 40, 44), (236, 236, 236))[rng.integers(4)]
    tail_start, tail_end = frame.pixel_point(-0.32 * length, 0), frame.pixel_point(-0.5 * length, 0)
    painter.line(tail_start, tail_end, livery, max(1.0, half_fuselage * 0.7))
    cockpit_left = frame.pixel_point(0.44 * length, -0.5 * half_fuselage)
    cockpit_right = frame.pixel_point(0.44 * length, 0.5 * half_fuselage)
    painter.line(cockpit_left, cockpit_right, GLASS, 1)


def _draw_storage_tank(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A round storage tank: a floating roof (a darker disc, offset by its shadow inside the rim) or a fixed cone
    roof (seams and a vent), with a dark rim."""
    radius = min(frame.length, frame.width) / 2 * 0.97
    shell = ((230, 230, 224), (206, 206, 200), (176, 186, 176), (222, 214, 196))[rng.integers(4)]
    height = rng.uniform(8, 16)
    painter.circle(frame.centre, radius, shell, height=height)
    if rng.random() < 0.5:
        painter.circle(frame.centre, radius * 0.84, _rgb(shell, 0.78))
        painter.circle(frame.centre + painter.canvas.sun * radius * 0.1, radius * 0.7, _rgb(shell, 0.84))
    else:
        for angle in np.linspace(0, np.pi, 4, endpoint=False):
            half_seam = np.array([np.cos(angle), np.sin(angle)]) * radius * 0.95
            painter.line(frame.centre - half_seam, frame.centre + half_seam, _rgb(shell, 0.9), max(1.0, radius / 18))
        painter.circle(frame.centre, max(0.8, radius * 0.12), _rgb(shell, 0.7))
    painter.circle(frame.centre, radius, _rgb(shell, 0.72), thickness=max(1, int(radius / 12)))


def _draw_tennis_court(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A tennis court to scale: a coloured surround, the court with doubles and singles lines, service lines, the
    centre line and the net."""
    surround, court = (((60, 118, 84), (50, 96, 152)), ((72, 128, 90), (92, 152, 98)), ((172, 90, 62), (190, 104, 72)),
                       ((124, 54, 52), (52, 112, 74)))[rng.integers(4)]  # fmt: skip
    painter.polygon(frame.rect(-1, 1, -1, 1), surround)
    court_x, court_y = 0.68, 0.63  # court (23.77 x 10.97 m) inside a ~35 x 17.5 m surround
    painter.polygon(frame.rect(-court_x, court_x, -court_y, court_y), court)
    line_width = max(1.0, painter.px(0.08))
    painter.outline(frame.rect(-court_x, court_x, -court_y, court_y), COURT_WHITE, line_width)
    # Singles sidelines 8.23 m apart; service lines 6.40 m from the net, of a half court 11.885 m long.
    singles_y, service_x = court_y * 8.23 / 10.97, court_x * 6.40 / 11.885
    for y in (-singles_y, singles_y):
        painter.line(frame.box_point(-court_x, y), frame.box_point(court_x, y), COURT_WHITE, line_width)
    for x in (-service_x, service_x):
        painter.line(frame.box_point(x, -singles_y), frame.box_point(x, singles_y), COURT_WHITE, line_width)
    painter.line(frame.box_point(-service_x, 0), frame.box_point(service_x, 0), COURT_WHITE, line_width)
    net_start, net_end = frame.box_point(0, -court_y * 1.08), frame.box_point(0, court_y * 1.08)
    painter.line(net_start, net_end, (40, 40, 40), max(1.0, painter.px(0.15)))


def _draw_basketball_court(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A basketball court to scale (28 m): surround, court, centre line and circle, the keys and the three-point
    arcs."""
    surround, court = (((128, 128, 124), (198, 124, 74)), ((146, 92, 72), (64, 102, 162)),
                       ((118, 120, 118), (84, 140, 92)))[rng.integers(3)]  # fmt: skip
    painter.polygon(frame.rect(-1, 1, -1, 1), surround)
    court_x, court_y = 0.9, 0.83
    painter.polygon(frame.rect(-court_x, court_x, -court_y, court_y), court)
    line_width = max(1.0, painter.px(0.08))
    painter.outline(frame.rect(-court_x, court_x, -court_y, court_y), COURT_WHITE, line_width)
    painter.line(frame.box_point(0, -court_y), frame.box_point(0, court_y), COURT_WHITE, line_width)
    painter.circle(frame.centre, painter.px(1.8), COURT_WHITE, thickness=max(1, int(line_width)))
    for end in (-1, 1):
        key_depth = 2 * 5.8 / 28 * court_x  # the key reaches 5.8 m into a 28 m court
        key = frame.rect(end * court_x, end * (court_x - key_depth), -0.33 * court_y, 0.33 * court_y)
        painter.outline(key, COURT_WHITE, line_width)
        basket = frame.box_point(end * (court_x - 2 * 1.575 / 28 * court_x), 0)  # 1.575 m from the end line
        heading = np.degrees(np.arctan2(frame.along[1], frame.along[0])) + (180 if end > 0 else 0)
        radius = round(painter.px(6.75) * (1 << FRACTION_BITS))  # the three-point arc, 6.75 m around the basket
        cv2.ellipse(painter.image, tuple(_fixed_point(basket).tolist()), (radius, radius), heading, -80, 80,
                    _rgb(COURT_WHITE), max(1, int(line_width)), cv2.LINE_AA, FRACTION_BITS)  # fmt: skip


def _stadium_outline(frame: Frame, straight: float, radius: float, points_per_bend: int = 24) -> np.ndarray:
    """Outline of a running track (two half circles joined by straights), sizes in frame pixels."""
    angles = np.linspace(-np.pi / 2, np.pi / 2, points_per_bend)
    right = np.stack([straight / 2 + radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    left = np.stack([-straight / 2 - radius * np.cos(angles), -radius * np.sin(angles)], axis=1)
    return frame.pixel_points(np.concatenate([right, left]))


def _draw_track_field(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A ground track field: a running track of eight 1.22 m lanes around a football pitch."""
    track = ((168, 78, 62), (172, 96, 70), (72, 104, 150))[rng.integers(3)]
    radius = frame.width / 2
    straight = frame.length - frame.width
    painter.polygon(_stadium_outline(frame, straight, radius), track)
    lane = painter.px(1.22)
    for lane_index in range(1, 8):
        lane_line = _stadium_outline(frame, straight, radius - lane_index * lane)
        painter.outline(lane_line, _rgb(track, 1.25), max(1.0, painter.px(0.05)))
    infield = radius - 8 * lane
    painter.polygon(_stadium_outline(frame, straight, infield), (70, 136, 68))
    # The pitch fills the infield, at most a full-size 105 x 68 m one.
    pitch_length, pitch_width = min(straight + infield * 0.9, painter.px(105)), min(2 * infield * 0.9, painter.px(68))
    _draw_pitch_markings(painter, replace(frame, length=pitch_length, width=pitch_width))


def _draw_pitch_markings(painter: Painter, frame: Frame) -> None:
    """A football pitch filling ``frame``: mowing stripes, touch and halfway lines, centre circle, penalty and goal
    areas (in proportion to a 105 x 68 m pitch)."""
    bands = 10
    for band in range(bands):
        x0, x1 = -1 + 2 * band / bands, -1 + 2 * (band + 1) / bands
        painter.polygon(frame.rect(x0, x1, -1, 1), (76, 146, 72) if band % 2 else (66, 132, 64))
    white, line_width = (236, 236, 232), max(1.0, painter.px(0.12))
    painter.outline(frame.rect(-1, 1, -1, 1), white, line_width)
    painter.line(frame.box_point(0, -1), frame.box_point(0, 1), white, line_width)
    painter.circle(frame.centre, painter.px(9.15), white, thickness=max(1, int(line_width)))
    for end in (-1, 1):
        box_x, box_y = 2 * 16.5 / 105, 40.3 / 68  # penalty area: 16.5 m deep, 40.3 m wide
        goal_x, goal_y = 2 * 5.5 / 105, 18.3 / 68  # goal area: 5.5 m deep, 18.3 m wide
        painter.outline(frame.rect(end * 1, end * (1 - box_x), -box_y, box_y), white, line_width)
        painter.outline(frame.rect(end * 1, end * (1 - goal_x), -goal_y, goal_y), white, line_width)


def _draw_soccer_field(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A soccer ball field: a grass surround with a marked pitch inside."""
    painter.polygon(frame.rect(-1, 1, -1, 1), (84, 140, 76))
    _draw_pitch_markings(painter, replace(frame, length=frame.length * 0.92, width=frame.width * 0.9))


def _draw_swimming_pool(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A swimming pool: a light deck rim around blue water, lighter at the shallow end."""
    painter.polygon(frame.rect(-1, 1, -1, 1), (224, 222, 212))
    rim_x, rim_y = 1 - 2 * painter.px(0.7) / frame.length, 1 - 2 * painter.px(0.7) / frame.width  # a 0.7 m rim
    water = ((66, 178, 216), (52, 160, 206), (96, 196, 220))[rng.integers(3)]
    painter.polygon(frame.rect(-rim_x, rim_x, -rim_y, rim_y), water)
    painter.polygon(frame.rect(-rim_x, -0.3, -rim_y, rim_y), _rgb(water, 1.08))


def _draw_pier(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A harbor pier: a concrete (or timber) deck with a darker edge and bollards every 12 m along both sides."""
    concrete = (172, 170, 164) if rng.random() < 0.7 else (120, 104, 86)
    painter.polygon(frame.rect(-1, 1, -1, 1), concrete, height=2.0)
    painter.outline(frame.rect(-1, 1, -1, 1), _rgb(concrete, 0.75), max(1.0, painter.px(0.4)))
    for x in np.arange(-1, 1, max(painter.px(12) / (frame.length / 2), 0.05)):
        for y in (-0.85, 0.85):
            painter.circle(frame.box_point(x, y), max(0.6, painter.px(0.4)), (60, 60, 60))


def _draw_bridge(painter: Painter, frame: Frame, rng: np.random.Generator) -> None:
    """A road bridge: a raised concrete deck, the carriageway with its centre line, and parapets along both sides."""
    painter.polygon(frame.rect(-1, 1, -1, 1), (150, 150, 146), height=7.0)
    painter.polygon(frame.rect(-1, 1, -0.78, 0.78), (92, 92, 96))
    painter.line(frame.box_point(-1, 0), frame.box_point(1, 0), (214, 210, 190), max(1.0, painter.px(0.15)))
    for y in (-0.9, 0.9):
        painter.line(frame.box_point(-1, y), frame.box_point(1, y), (200, 200, 196), max(1.0, painter.px(0.3)))


def draw_building(painter: Painter, frame: Frame, rng: np.random.Generator, flat: float = 0.3) -> None:
    """A roof filling ``frame``: gable or hip (tiles, facets lit by the sun) or, with probability ``flat``, flat
    (grey, a bright parapet and rooftop units)."""
    height = rng.uniform(6, 16)
    sun = painter.canvas.sun
    if rng.random() < flat:
        roof = FLAT_ROOFS[rng.integers(len(FLAT_ROOFS))] * rng.uniform(0.92, 1.06)
        painter.polygon(frame.rect(-1, 1, -1, 1), roof, height=height)
        painter.outline(frame.rect(-1, 1, -1, 1), _rgb(roof, 1.15), max(1.0, painter.px(0.4)))
        for _ in range(int(rng.integers(0, 5))):  # rooftop units (air conditioning, lift housings)
            x, y = rng.uniform(-0.7, 0.7, 2)
            size = painter.px(rng.uniform(1.0, 2.5))
            corners = ((size, -size), (size, size), (-size, size), (-size, -size))
            unit = [(x * frame.length / 2 + dx, y * frame.width / 2 + dy) for dx, dy in corners]
            painter.polygon(frame.pixel_points(unit), _rgb(roof, 1.2), height=height + 1.5)
        return
    roof = ROOFS[rng.choice(len(ROOFS), p=ROOF_WEIGHTS)] * rng.uniform(0.9, 1.08)
    painter.polygon(frame.rect(-1, 1, -1, 1), roof, height=height)

    def lit(normal: np.ndarray) -> float:  # facets facing the sun (against the shadow direction) are brighter
        return 1.0 - 0.16 * float(np.dot(normal, sun))

    if rng.random() < 0.5:  # gable: two planes meeting at a ridge along the length
        painter.polygon(frame.rect(-1, 1, -1, 0), _rgb(roof, lit(-frame.across)), height=height)
        painter.polygon(frame.rect(-1, 1, 0, 1), _rgb(roof, lit(frame.across)), height=height)
    else:  # hip: two trapezoids and two end triangles; the ridge stops short of the ends by ``hip`` half-lengths
        hip = min(0.9, frame.width / frame.length)
        facets = (
            ([(-1, -1), (1, -1), (1 - hip, 0), (-1 + hip, 0)], -frame.across),
            ([(-1, 1), (1, 1), (1 - hip, 0), (-1 + hip, 0)], frame.across),
            ([(1, -1), (1, 1), (1 - hip, 0)], frame.along),
            ([(-1, -1), (-1, 1), (-1 + hip, 0)], -frame.along),
        )
        for corners, normal in facets:
            painter.polygon(frame.box_points(corners), _rgb(roof, lit(normal)), height=height)
    painter.line(frame.box_point(-1, 0), frame.box_point(1, 0), _rgb(roof, 1.18), max(1.0, painter.px(0.25)))  # ridge


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
    "storage-tank": Style((8.0, 24.0), (1.0, 1.0), _draw_storage_tank),
    "tennis-court": Style((34.0, 36.5), (1.9, 2.1), _draw_tennis_court),
    "basketball-court": Style((30.0, 32.0), (1.7, 1.85), _draw_basketball_court),
    "ground-track-field": Style((170.0, 185.0), (1.75, 1.9), _draw_track_field),
    "soccer-ball-field": Style((108.0, 118.0), (1.45, 1.6), _draw_soccer_field),
    "swimming-pool": Style((6.0, 16.0), (1.3, 2.5), _draw_swimming_pool),
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
        # Covers are probed at the centre and just inside the corners: cheap, and enough for boxes within a parcel.
        probe = np.vstack([poly.mean(axis=0, keepdims=True), poly + (poly.mean(axis=0) - poly) * 0.15])
        probe_y, probe_x = probe[:, 1].astype(int), probe[:, 0].astype(int)
        if allowed is not None and not cover_lut(allowed)[canvas.cover[probe_y, probe_x]].all():
            return False
        if free and canvas.reserved[probe_y, probe_x].any():
            return False
    # The box plus ``margin`` pixels around it, rasterised into a patch of the occupancy map.
    pad = int(np.ceil(margin)) + 1
    x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - pad, 0)
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + pad + 1
    footprint = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shifted = _fixed_point(poly - [x0, y0])
    cv2.fillPoly(footprint, [shifted], 1, cv2.LINE_8, FRACTION_BITS)
    if margin > 0:
        cv2.polylines(footprint, [shifted], True, 1, int(2 * margin + 1), cv2.LINE_8, FRACTION_BITS)
    occupied = canvas.occupied[y0:y1, x0:x1]
    footprint = footprint[: occupied.shape[0], : occupied.shape[1]]  # clipped where the patch leaves the image
    if (occupied & footprint).any():
        return False
    occupied |= footprint
    STYLES[style].draw(Painter(canvas), Frame.from_box(centre, length, width, angle), canvas.rng)
    cv2.fillPoly(canvas.object_mask, [_fixed_point(poly)], STYLE_INDEX[style], cv2.LINE_8, FRACTION_BITS)
    canvas.objects.append(OrientedObject(poly, name or style, 0))
    return True


def sample_size(canvas: Canvas, style: str, length_m: float | None = None) -> tuple[float, float]:
    """A random box of ``style`` in pixels, (length, width): the length from its range unless ``length_m`` is
    given, the width from its aspect range."""
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
    # Candidate centres: the allowed cells of a 4-pixel grid, jittered within the cell when drawn.
    mask = cover_lut(allowed)[canvas.cover[::4, ::4]]
    if region is not None:
        mask &= region[::4, ::4]
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0
    for _ in range(count * 12 + 30):
        if placed >= count:
            break
        pick = rng.integers(len(ys))
        centre = np.array([xs[pick] * 4 + rng.uniform(0, 4), ys[pick] * 4 + rng.uniform(0, 4)])
        length, width = sample_size(canvas, style)
        # Most objects line up with the street grid, the others take any heading.
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
        pick = rng.integers(len(ys))
        centre = np.array([xs[pick] * 4.0, ys[pick] * 4.0])
        length, width = sample_size(canvas, style)
        angle = canvas.grid_angle + rng.integers(2) * np.pi / 2
        across = np.array([-np.sin(angle), np.cos(angle)])
        for position in range(int(rng.integers(1, 5))):  # one to four in a row, a metre apart
            if placed >= count:
                break
            neighbour = centre + across * position * (width + canvas.px(1))
            fits = place(canvas, style, neighbour, length, width, angle, allowed, name, margin=0.5, free=True)
            placed += fits
            if not fits:
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
        # A point on the road network, uniform along its length: a road by length, then a segment by length.
        road = roads[rng.choice(len(roads), p=lengths / lengths.sum())]
        segments = np.diff(road.points, axis=0)
        segment_lengths = np.linalg.norm(segments, axis=1)
        segment = rng.choice(len(segments), p=segment_lengths / segment_lengths.sum())
        along = segments[segment] / max(segment_lengths[segment], 1e-9)
        across = np.array([-along[1], along[0]])
        side = rng.choice([-1, 1])
        parked = style == "small-vehicle" and road.kind == "street" and rng.random() < 0.5
        if parked:  # at the kerb, bumper to bumper
            offset = side * (road.width / 2 - canvas.px(1.3))
            queue, gap = int(rng.integers(2, 9)), (0.6, 1.8)
        else:  # in one of the lanes of its side (right-hand traffic), a few metres apart
            lanes = max(1, int(road.width / canvas.px(3.5) / 2))
            offset = side * (int(rng.integers(lanes)) + 0.5) * road.width / (2 * lanes)
            queue, gap = int(rng.integers(1, 6)), (2.0, 8.0)
        position = road.points[segment] + along * rng.uniform(0, segment_lengths[segment]) + across * offset
        heading = np.arctan2(along[1], along[0]) + (0 if side > 0 else np.pi)
        forward = np.array([np.cos(heading), np.sin(heading)])
        for _ in range(queue):
            if placed >= count:
                break
            length, width = sample_size(canvas, style)
            if not place(canvas, style, position, length, width, heading + rng.normal(0, 0.02), ON_ROAD, name, 0.5):
                break
            placed += 1
            position = position - forward * (length + canvas.px(rng.uniform(*gap)))  # the next one queues behind
    return placed


def fill_lot(canvas: Canvas, site: Site, style: str, occupancy: float, name: str | None = None) -> int:
    """Parking lot: stall lines and vehicles parked side by side in double rows facing each other."""
    rng = canvas.rng
    assert canvas.image is not None
    spec = STYLES[style]
    stall_width = canvas.px(2.6 if style == "small-vehicle" else 4.2)
    stall_depth = canvas.px(spec.length_m[1] + 0.8)
    aisle = canvas.px(6.5)
    along = np.array([np.cos(site.angle), np.sin(site.angle)])
    across = np.array([-along[1], along[0]])
    painter = Painter(canvas)
    placed = 0
    row_y = -site.width / 2 + stall_depth / 2 + canvas.px(1)
    facing = 1
    n_stalls = int((site.length - canvas.px(2)) / stall_width)
    while row_y + stall_depth / 2 < site.width / 2 and n_stalls > 0:
        row_centre = site.centre + across * row_y
        stall_x = (np.arange(n_stalls) - (n_stalls - 1) / 2) * stall_width
        if stall_width >= 3:  # stall lines only where they are more than a smudge
            for x in np.append(stall_x - stall_width / 2, stall_x[-1] + stall_width / 2):
                line_start = row_centre + along * x - across * stall_depth / 2
                line_end = row_centre + along * x + across * stall_depth / 2
                painter.line(line_start, line_end, (208, 206, 196), 1)
        for x in stall_x:
            if rng.random() > occupancy:
                continue
            length, width = sample_size(canvas, style)
            heading = site.angle + facing * np.pi / 2 + rng.normal(0, 0.03)
            # Off the stall's centre a little, and pulled in towards its front.
            centre = (row_centre + along * (x + rng.normal(0, 0.05 * stall_width))
                      + across * facing * (stall_depth - length) / 2 * 0.6)  # fmt: skip
            placed += place(canvas, style, centre, length, width, heading, None, name, margin=0.3)
        # Rows come in pairs facing each other across an aisle; the next pair starts back to back with this row.
        row_y += stall_depth if facing > 0 else stall_depth + aisle
        facing = -facing
    return placed


def fill_apron(canvas: Canvas, site: Site, count: int, name: str | None = None) -> int:
    """Apron: planes parked in a row, noses towards one long side, plus a few taxiing."""
    rng = canvas.rng
    along = np.array([np.cos(site.angle), np.sin(site.angle)])
    across = np.array([-along[1], along[0]])
    placed, x = 0, -site.length / 2 + canvas.px(20)
    while x < site.length / 2 - canvas.px(20) and placed < count:
        length, span = sample_size(canvas, "plane")
        x += span / 2
        centre = site.centre + along * x - across * (site.width / 2 - length / 2 - canvas.px(8))
        placed += place(canvas, "plane", centre, length, span, site.angle - np.pi / 2 + rng.normal(0, 0.03),
                        None, name, margin=canvas.px(2))  # fmt: skip
        x += span / 2 + canvas.px(rng.uniform(8, 25))  # wingtip clearance to the next stand
    for _ in range(6):
        if placed >= count:
            break
        length, span = sample_size(canvas, "plane")
        centre = (
            site.centre + along * rng.uniform(-0.4, 0.4) * site.length + across * rng.uniform(0.0, 0.3) * site.width
        )
        placed += place(canvas, "plane", centre, length, span, rng.uniform(0, 2 * np.pi), None, name, canvas.px(2))
    return placed


def fill_tank_farm(canvas: Canvas, site: Site, name: str | None = None) -> int:
    """Tank farm: a grid of similar tanks, a few stands left empty."""
    rng = canvas.rng
    diameter = canvas.px(rng.uniform(*STYLES["storage-tank"].length_m))
    limits = [canvas.px(m) for m in STYLES["storage-tank"].length_m]
    diameter = max(min(diameter, max(site.width, site.length) / 2.2), limits[0])  # two tanks in a small farm
    pitch = diameter * rng.uniform(1.3, 1.7)
    along = np.array([np.cos(site.angle), np.sin(site.angle)])
    across = np.array([-along[1], along[0]])
    columns, rows = max(1, int(site.length / pitch)), max(1, int(site.width / pitch))
    placed = 0
    for column in range(columns):
        for row in range(rows):
            if rng.random() < 0.15:
                continue
            tank_diameter = float(np.clip(diameter * rng.uniform(0.9, 1.05), *limits))
            centre = (
                site.centre + along * (column - (columns - 1) / 2) * pitch + across * (row - (rows - 1) / 2) * pitch
            )
            placed += place(
                canvas, "storage-tank", centre, tank_diameter, tank_diameter, site.angle, None, name, margin=1
            )
    return placed


def harbor_piers(canvas: Canvas, count: int, name: str | None = None, ship_name: str | None = None) -> int:
    """Piers from the shore into the water, with ships moored alongside (when ``ship_name`` is given)."""
    rng = canvas.rng
    water = canvas.cover == COVER["water"]
    if water.mean() < 0.02:
        return 0
    step = 4 if min(canvas.height, canvas.width) >= 256 else 1  # shore normals from a quarter-resolution map
    coarse = water[::step, ::step].astype(np.float32)
    smooth = cv2.GaussianBlur(coarse, (0, 0), max(1.0, canvas.px(8) / step))
    grad_y, grad_x = np.gradient(smooth)  # points towards the water
    shore = (smooth > 0.4) & (smooth < 0.6) & (canvas.cover[::step, ::step] != COVER["road"])
    ys, xs = np.nonzero(shore)
    if len(ys) == 0:
        return 0
    placed = 0
    for _ in range(count * 10):
        if placed >= count:
            break
        pick = rng.integers(len(ys))
        normal = np.array([grad_x[ys[pick], xs[pick]], grad_y[ys[pick], xs[pick]]])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal /= np.linalg.norm(normal)
        length, width = sample_size(canvas, "harbor")
        angle = float(np.arctan2(normal[1], normal[0]))
        shore_point = np.array([xs[pick], ys[pick]], np.float64) * step
        centre = shore_point + normal * (length / 2 - canvas.px(4))  # rooted 4 m inland
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
        along_shore = np.array([-normal[1], normal[0]])
        for side in (-1, 1):
            if rng.random() < 0.35:  # an empty berth
                continue
            ship_length_m = rng.uniform(16, min(48, length * canvas.gsd * 0.9))  # no longer than the pier
            ship_length, ship_width = sample_size(canvas, "ship", ship_length_m)
            ship_centre = (centre + normal * rng.uniform(-0.1, 0.2) * length
                           + along_shore * side * (width / 2 + ship_width / 2 + 1.5))  # fmt: skip
            heading = angle + (0 if rng.random() < 0.5 else np.pi)
            place(canvas, "ship", ship_centre, ship_length, ship_width, heading, ON_WATER, ship_name, margin=1)
    return placed


def bridges(canvas: Canvas, name: str | None = None) -> int:
    """Bridges where roads cross a river: one oriented box per crossing."""
    if canvas.bridge_mask is None or not canvas.bridge_mask.any():
        return 0
    placed = 0
    for road in canvas.roads:
        for segment_start, segment_end in zip(road.points[:-1], road.points[1:], strict=True):
            # Sample the segment about once per pixel and find the runs of samples on the bridge mask.
            samples = int(np.linalg.norm(segment_end - segment_start)) + 1
            points = np.linspace(segment_start, segment_end, samples)
            inside = (points[:, 0] >= 0) & (points[:, 0] < canvas.width) & (points[:, 1] >= 0)
            inside &= points[:, 1] < canvas.height
            on_bridge = np.zeros(samples, bool)
            on_bridge[inside] = canvas.bridge_mask[points[inside, 1].astype(int), points[inside, 0].astype(int)]
            changes = np.flatnonzero(np.diff(np.concatenate([[0], on_bridge.astype(int), [0]])))
            for first, stop in zip(changes[::2], changes[1::2], strict=True):
                if stop - first < canvas.px(8):  # a corner clipped, not a crossing
                    continue
                deck_start, deck_end = points[first], points[stop - 1]
                direction = (deck_end - deck_start) / max(np.linalg.norm(deck_end - deck_start), 1e-9)
                # The deck reaches 6 m onto either bank.
                deck_start, deck_end = deck_start - direction * canvas.px(6), deck_end + direction * canvas.px(6)
                length = float(np.linalg.norm(deck_end - deck_start))
                angle = float(np.arctan2(direction[1], direction[0]))
                placed += place(canvas, "bridge", (deck_start + deck_end) / 2, length, road.width + canvas.px(3),
                                angle, None, name, margin=0)  # fmt: skip
    return placed


def draw_buildings(canvas: Canvas, flat: float = 0.3) -> None:
    """Roofs on every building footprint laid out before painting."""
    painter = Painter(canvas)
    if canvas.buildings:
        cv2.fillPoly(canvas.occupied, [_fixed_point(fp) for fp in canvas.buildings], 1, cv2.LINE_8, FRACTION_BITS)
    for footprint in canvas.buildings:
        centre = footprint.mean(axis=0)
        length = float(np.linalg.norm(footprint[0] - footprint[3]))
        width = float(np.linalg.norm(footprint[1] - footprint[0]))
        heading = footprint[0] - footprint[3]  # rear-left to front-left corner
        # One pixel larger than the footprint burnt into the cover, so no cover-coloured rim shows around the roof.
        frame = Frame.from_box(centre, length + 1, width + 1, float(np.arctan2(heading[1], heading[0])))
        draw_building(painter, frame, canvas.rng, flat)
