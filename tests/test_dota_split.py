"""The tiler against windows and clipped polygons computed independently here."""

import math

import numpy as np
import pandas as pd
import pytest

from rsfm.data.annotations import DotaLabel, OrientedObject, read_dota_label, write_dior_xml, write_dota_label
from rsfm.data.dota_split import clip_objects, convert_dior_r, sliding_windows, split_dataset
from rsfm.errors import DataError
from rsfm.io import read_image, write_image


def reference_starts(length, size, gap):
    """mmrotate's formula: n = ceil((L - size) / step) + 1 windows, the last one moved back to L - size."""
    if length <= size:
        return [0]
    step = size - gap
    n = math.ceil((length - size) / step) + 1
    starts = [i * step for i in range(n)]
    starts[-1] = length - size
    return starts


@pytest.mark.parametrize("length", [600, 1024, 1025, 2000, 3000, 4000, 8000])
def test_windows_match_reference(length):
    windows = sliding_windows(length, 700, 1024, 200)
    assert sorted({x for x, _ in windows}) == reference_starts(length, 1024, 200)
    assert {y for _, y in windows} == {0}


def test_windows_hand_derived():
    assert sorted({x for x, _ in sliding_windows(2000, 10, 1024, 200)}) == [0, 824, 976]
    assert sliding_windows(1024, 1024, 1024, 200) == [(0, 0)]
    with pytest.raises(ValueError):
        sliding_windows(100, 100, 64, 64)


def sutherland_hodgman(subject, xmin, ymin, xmax, ymax):
    """Clip a polygon to an axis-aligned box (written here, independent of shapely)."""

    def clip(points, inside, intersect):
        out = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    out.append(intersect(previous, current))
                out.append(current)
            elif inside(previous):
                out.append(intersect(previous, current))
        return out

    def at_x(x0):
        return lambda p, q: (x0, p[1] + (q[1] - p[1]) * (x0 - p[0]) / (q[0] - p[0]))

    def at_y(y0):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y0 - p[1]) / (q[1] - p[1]), y0)

    points = [tuple(p) for p in subject]
    for inside, intersect in (
        (lambda p: p[0] >= xmin, at_x(xmin)), (lambda p: p[0] <= xmax, at_x(xmax)),
        (lambda p: p[1] >= ymin, at_y(ymin)), (lambda p: p[1] <= ymax, at_y(ymax)),
    ):  # fmt: skip
        points = clip(points, inside, intersect) if points else []
    return points


def area(points):
    pts = np.asarray(points, dtype=float)
    return 0.5 * abs(np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1)))


def test_axis_aligned_object_cut_by_window_is_clipped_and_difficult():
    obj = OrientedObject([[900, 100], [1100, 100], [1100, 150], [900, 150]], "large-vehicle", 0)
    inside = clip_objects([obj], 0, 0, 1024, iof_thr=0.5)
    assert len(inside) == 1 and inside[0].difficult == 2
    np.testing.assert_allclose(sorted(map(tuple, inside[0].poly)), [(900, 100), (900, 150), (1024, 100), (1024, 150)])
    assert clip_objects([obj], 0, 0, 1024, iof_thr=0.7) == []  # iof 124/200 = 0.62 < 0.7: dropped
    kept = clip_objects([obj], 0, 0, 1024, iof_thr=0.7, keep_low_iof=True)  # devkit behaviour
    assert len(kept) == 1 and kept[0].difficult == 2
    moved = clip_objects([obj], 824, 0, 1024, iof_thr=0.7)  # fully inside the next window: translated, untouched
    assert moved[0].difficult == 0
    np.testing.assert_allclose(moved[0].poly, obj.poly - (824, 0))


@pytest.mark.parametrize("angle", [10, 30, 45, 70])
def test_rotated_object_across_window_corner(angle):
    centre, half = np.array([1000.0, 1000.0]), 60.0
    theta = np.radians(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    square = (np.array([[-half, -half], [half, -half], [half, half], [-half, half]]) @ rot.T) + centre
    clipped = sutherland_hodgman(square, 0, 0, 1024, 1024)
    iof = area(clipped) / area(square)
    result = clip_objects([OrientedObject(square, "ship")], 0, 0, 1024, iof_thr=0.3)
    if iof >= 0.3:
        (obj,) = result
        assert obj.difficult == 2 and obj.poly.shape == (4, 2)
        assert obj.poly.min() >= 0 and obj.poly.max() <= 1024
        # the 4-gon is the true intersection when that is a quadrilateral, else a close inner approximation
        if len(clipped) == 4:
            assert area(obj.poly) == pytest.approx(area(clipped))
        else:
            assert 0.8 * area(clipped) <= area(obj.poly) <= area(clipped) + 1e-6
    else:
        assert result == []


def draw_scene(path, label_path, width, height, objects, rng):
    image = rng.integers(60, 90, size=(height, width, 3), dtype=np.uint8)
    for obj in objects:
        import cv2

        cv2.fillPoly(image, [obj.poly.astype(np.int32)], (200, 40, 40))
    write_image(path, image)
    write_dota_label(label_path, DotaLabel(objects, {"imagesource": "test", "gsd": "0.5"}))
    return image


def test_split_dataset_end_to_end(tmp_path, rng):
    objects = [
        OrientedObject([[100, 100], [160, 100], [160, 130], [100, 130]], "small-vehicle"),
        OrientedObject([[1000, 500], [1100, 500], [1100, 560], [1000, 560]], "ship"),  # crosses x = 1024
        OrientedObject([[1300, 1100], [1400, 1150], [1380, 1190], [1280, 1140]], "plane"),
    ]
    draw_scene(tmp_path / "img/P0001.png", tmp_path / "lab/P0001.txt", 1500, 1300, objects, rng)
    draw_scene(tmp_path / "img/P0002.png", tmp_path / "lab/P0002.txt", 600, 500, [], rng)
    index = split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=2, rates=(1.0, 0.5))

    xs = reference_starts(1500, 1024, 200)
    ys = reference_starts(1300, 1024, 200)
    expected = {f"P0001__1__{x}___{y}.png" for x in xs for y in ys} | {"P0001__0.5__0___0.png", "P0002__1__0___0.png",
                                                                       "P0002__0.5__0___0.png"}  # fmt: skip
    assert set(index["image"]) == expected
    assert pd.read_csv(tmp_path / "out/index.csv")["image"].tolist() == sorted(expected)
    for name in expected:
        assert read_image(tmp_path / "out/images" / name).shape == (1024, 1024, 3)
        label = read_dota_label(tmp_path / "out/annfiles" / name.replace(".png", ".txt"))
        for obj in label.objects:
            assert obj.poly.min() >= 0 and obj.poly.max() <= 1024
    half = read_dota_label(tmp_path / "out/annfiles/P0001__0.5__0___0.txt").objects
    assert {o.name for o in half} == {"small-vehicle", "ship", "plane"}
    np.testing.assert_allclose(half[0].poly, objects[0].poly * 0.5)
    # padding of the small image uses the pad value
    small = read_image(tmp_path / "out/images/P0002__1__0___0.png")
    assert (small[600:, 700:] == (104, 116, 124)).all()
    # the ship cut at x = 1024 in window (0, 0): iof 24/100 < 0.7 -> dropped there, whole in window (476, 0)
    first = read_dota_label(tmp_path / "out/annfiles/P0001__1__0___0.txt").objects
    assert [o.name for o in first] == ["small-vehicle"]
    second = read_dota_label(tmp_path / f"out/annfiles/P0001__1__{xs[1]}___0.txt").objects
    assert "ship" in [o.name for o in second]


def test_keep_empty_false_skips_empty_windows(tmp_path, rng):
    objects = [OrientedObject([[10, 10], [50, 10], [50, 30], [10, 30]], "ship")]
    draw_scene(tmp_path / "img/P1.png", tmp_path / "lab/P1.txt", 2000, 900, objects, rng)
    index = split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=1, keep_empty=False)
    assert index["image"].tolist() == ["P1__1__0___0.png"]


def test_unreadable_image_fails_and_leaves_nothing(tmp_path, rng):
    draw_scene(tmp_path / "img/P1.png", tmp_path / "lab/P1.txt", 300, 300, [], rng)
    (tmp_path / "img/P2.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (tmp_path / "lab/P2.txt").write_text("")
    with pytest.raises(DataError, match=r"P2\.png"):
        split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=2)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "lab"]


def test_convert_dior_r(tmp_path, rng):
    root = tmp_path / "dior"
    (root / "ImageSets/Main").mkdir(parents=True)
    objects = [OrientedObject([[10, 10], [60, 10], [60, 40], [10, 40]], "vehicle")]
    for split, ids, folder in (("train", ["00001"], "JPEGImages-trainval"), ("val", ["00002"], "JPEGImages-trainval"),
                               ("test", ["00003"], "JPEGImages-test")):  # fmt: skip
        (root / f"ImageSets/Main/{split}.txt").write_text("\n".join(ids) + "\n")
        for image_id in ids:
            write_image(root / folder / f"{image_id}.jpg", rng.integers(0, 255, (800, 800, 3), np.uint8))
            write_dior_xml(root / "Annotations/Oriented Bounding Boxes" / f"{image_id}.xml", f"{image_id}.jpg",
                           (800, 800), objects)  # fmt: skip
    convert_dior_r(root, tmp_path / "prepared")
    label = read_dota_label(tmp_path / "prepared/train/labelTxt/00001.txt")
    np.testing.assert_allclose(label.objects[0].poly, objects[0].poly)
    assert (tmp_path / "prepared/test/images/00003.jpg").is_file()
    (root / "JPEGImages-test/00003.jpg").unlink()
    with pytest.raises(DataError, match="00003"):
        convert_dior_r(root, tmp_path / "prepared2")
    assert not (tmp_path / "prepared2").exists()
