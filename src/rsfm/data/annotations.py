"""Oriented-object annotation formats: DOTA label text files and DIOR-R VOC-style XML.

DOTA (https://captain-whu.github.io/DOTA/dataset.html) label file, one object per line after optional header lines:
    imagesource:GoogleEarth
    gsd:0.146343590398
    x1 y1 x2 y2 x3 y3 x4 y4 category difficult
Points go clockwise from any corner; ``difficult`` is 0/1 in the release and 2 for objects truncated by splitting.

DIOR-R (Cheng et al. 2022) ships one XML per image under ``Annotations/Oriented Bounding Boxes`` with
``<robndbox>`` holding the four corners (x_left_top, y_left_top, x_right_top, ..., x_left_bottom, y_left_bottom) and
an ``<angle>`` element.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsfm.errors import DataError
from rsfm.io import atomic_write

DOTA_V2_CLASSES: tuple[str, ...] = (
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court", "basketball-court",
    "ground-track-field", "harbor", "bridge", "large-vehicle", "small-vehicle", "helicopter",
    "roundabout", "soccer-ball-field", "swimming-pool", "container-crane", "airport", "helipad",
)  # fmt: skip

DIOR_R_CLASSES: tuple[str, ...] = (
    "airplane", "airport", "baseballfield", "basketballcourt", "bridge", "chimney",
    "expressway-service-area", "expressway-toll-station", "dam", "golffield", "groundtrackfield",
    "harbor", "overpass", "ship", "stadium", "storagetank", "tenniscourt", "trainstation", "vehicle", "windmill",
)  # fmt: skip

_DIOR_CORNERS = (
    "x_left_top", "y_left_top", "x_right_top", "y_right_top",
    "x_right_bottom", "y_right_bottom", "x_left_bottom", "y_left_bottom",
)  # fmt: skip


@dataclass
class OrientedObject:
    """One annotated object: a quadrilateral (4 x 2, pixel coordinates), its class name and difficulty."""

    poly: np.ndarray
    name: str
    difficult: int = 0

    def __post_init__(self) -> None:
        self.poly = np.asarray(self.poly, dtype=np.float64).reshape(4, 2)


@dataclass
class DotaLabel:
    """The content of one DOTA label file."""

    objects: list[OrientedObject] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)  # header lines, e.g. {"imagesource": ..., "gsd": ...}


def read_dota_label(path: str | os.PathLike[str]) -> DotaLabel:
    """Parse a DOTA label file; raises DataError naming the file and line on malformed content."""
    path = Path(path)
    label = DotaLabel()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read DOTA label {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) == 1 and ":" in line:  # header such as "gsd:0.15" or "imagesource:GoogleEarth"
            key, _, value = line.partition(":")
            label.meta[key] = value
            continue
        if len(fields) < 9:
            raise DataError(f"{path}:{number}: expected 'x1 y1 ... x4 y4 category [difficult]', got {line!r}")
        try:
            coords = [float(v) for v in fields[:8]]
            difficult = int(fields[9]) if len(fields) > 9 else 0
        except ValueError as error:
            raise DataError(f"{path}:{number}: non-numeric coordinate or difficulty in {line!r}") from error
        label.objects.append(OrientedObject(np.array(coords).reshape(4, 2), fields[8], difficult))
    return label


def format_dota_object(obj: OrientedObject) -> str:
    """One DOTA label line; coordinates keep one decimal, as the split tools of the DOTA devkit write them."""
    coords = " ".join(f"{v:.1f}" for v in obj.poly.reshape(-1))
    return f"{coords} {obj.name} {obj.difficult}"


def write_dota_label(path: str | os.PathLike[str], label: DotaLabel) -> None:
    """Write a DOTA label file atomically (header lines first, then one object per line)."""
    lines = [f"{key}:{value}" for key, value in label.meta.items()]
    lines += [format_dota_object(obj) for obj in label.objects]
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + ("\n" if lines else ""))


def read_dior_xml(path: str | os.PathLike[str]) -> tuple[list[OrientedObject], tuple[int, int] | None]:
    """Read a DIOR-R oriented-box XML: (objects, (width, height) or None when the file has no size)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise DataError(f"cannot parse DIOR-R annotation {path}: {error}") from error
    size = None
    size_node = root.find("size")
    if size_node is not None and size_node.findtext("width"):
        size = (int(float(size_node.findtext("width"))), int(float(size_node.findtext("height"))))
    objects = []
    for node in root.iter("object"):
        name = (node.findtext("name") or "").strip()
        box = node.find("robndbox")
        if box is None:
            raise DataError(f"{path}: object {name!r} has no <robndbox>; is this the horizontal-box XML of DIOR?")
        try:
            coords = [float(box.findtext(key)) for key in _DIOR_CORNERS]
        except (TypeError, ValueError) as error:
            raise DataError(f"{path}: object {name!r} has a missing or non-numeric corner") from error
        difficult = int(node.findtext("difficult") or 0)
        objects.append(OrientedObject(np.array(coords).reshape(4, 2), name, difficult))
    return objects, size


def write_dior_xml(
    path: str | os.PathLike[str], filename: str, size: tuple[int, int], objects: list[OrientedObject]
) -> None:
    """Write a DIOR-R style oriented-box XML (the layout read by read_dior_xml and by mmrotate's DIOR dataset)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "DIOR"
    size_node = ET.SubElement(root, "size")
    ET.SubElement(size_node, "width").text = str(size[0])
    ET.SubElement(size_node, "height").text = str(size[1])
    ET.SubElement(size_node, "depth").text = "3"
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = str(obj.difficult)
        box = ET.SubElement(node, "robndbox")
        for key, value in zip(_DIOR_CORNERS, obj.poly.reshape(-1), strict=True):
            ET.SubElement(box, key).text = f"{value:.1f}"
        (x1, y1), (x2, y2) = obj.poly[0], obj.poly[1]
        ET.SubElement(node, "angle").text = f"{np.degrees(np.arctan2(y2 - y1, x2 - x1)):.1f}"
    ET.indent(root)
    with atomic_write(path, "wb") as handle:
        ET.ElementTree(root).write(handle, encoding="utf-8", xml_declaration=False)
