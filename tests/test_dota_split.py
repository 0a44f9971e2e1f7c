"""The DOTA/DIOR-R splitter against windows and clipped polygons derived independently here (no shapely)."""

import math
import zipfile
from collections import Counter

import cv2
import numpy as np
import pandas as pd
import pytest

from rsfm.data.annotations import DotaLabel, OrientedObject, read_dota_label, write_dior_xml, write_dota_label
from rsfm.data.dota_split import split_dataset, split_scene
from rsfm.data.download import extract_archives
from rsfm.data.kinds.dior_r import convert_dior_r
from rsfm.data.kinds.dota import dota_layout_from_extracted
from rsfm.data.polygons import clip_objects, sliding_windows
from rsfm.data.synthetic import write_dior_r_like
from rsfm.errors import DataError
from rsfm.io import read_image, write_image

# --- independent geometry ------------------------------------------------------------------------------------------


def reference_starts(length, size, gap):
    """mmrotate's formula: n = ceil((L - size) / step) + 1 windows, the last one moved back to L - size."""
    if length <= size:
        return [0]
    step = size - gap
    n = math.ceil((length - size) / step) + 1
    starts = [i * step for i in range(n)]
    starts[-1] = length - size
    return starts


def area(points):
    if len(points) < 3:
        return 0.0
    pts = np.asarray(points, dtype=float)
    return 0.5 * abs(np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1)))


def signed_area(points):
    pts = np.asarray(points, dtype=float)
    return 0.5 * (np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1)))


def clip_convex(subject, clip):
    """Sutherland–Hodgman: ``subject`` clipped by the convex polygon ``clip`` (either orientation)."""
    clip = [tuple(p) for p in clip]
    if signed_area(clip) < 0:
        clip = clip[::-1]
    points = [tuple(p) for p in subject]
    for (ax, ay), (bx, by) in zip(clip, clip[1:] + clip[:1], strict=True):

        def side(p, ax=ax, ay=ay, bx=bx, by=by):
            return (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)  # >= 0: left of a->b, inside

        def crossing(p, q, sp, sq):
            t = sp / (sp - sq)
            return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

        out = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            sp, sc = side(previous), side(current)
            if sc >= 0:
                if sp < 0:
                    out.append(crossing(previous, current, sp, sc))
                out.append(current)
            elif sp >= 0:
                out.append(crossing(previous, current, sp, sc))
        points = out
        if not points:
            return []
    return points


def box_corners(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def iou_convex(a, b):
    inter = area(clip_convex(a, b))
    return inter / (area(a) + area(b) - inter)


def is_convex(points):
    pts = np.asarray(points, dtype=float)
    edges = np.roll(pts, -1, axis=0) - pts
    cross = edges[:, 0] * np.roll(edges[:, 1], -1) - edges[:, 1] * np.roll(edges[:, 0], -1)
    return bool(np.all(cross >= -1e-9) or np.all(cross <= 1e-9))


def min_area_rect(points):
    """Minimum-area enclosing rectangle of a convex polygon: one side lies along one of its sides."""
    pts = np.asarray(points, dtype=float)
    best = None
    for a, b in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if np.linalg.norm(b - a) < 1e-9:
            continue
        u = (b - a) / np.linalg.norm(b - a)
        v = np.array([-u[1], u[0]])
        pu, pv = pts @ u, pts @ v
        rect_area = (pu.max() - pu.min()) * (pv.max() - pv.min())
        if best is None or rect_area < best[0]:
            corners = [u * s + v * t for s, t in ((pu.min(), pv.min()), (pu.max(), pv.min()),
                                                   (pu.max(), pv.max()), (pu.min(), pv.max()))]  # fmt: skip
            best = (rect_area, np.array(corners))
    return best[1]


def rotated_rect(centre, width, height, degrees):
    theta = np.radians(degrees)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    half = np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2
    return half @ rot.T + np.asarray(centre, dtype=float)


def is_clockwise_on_screen(points):
    return signed_area(points) > 0  # with y pointing down, positive shoelace area is clockwise on screen


# --- windows -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [600, 1023, 1024, 1025, 1848, 2000, 3000, 4000, 8000])
def test_windows_match_mmrotate_formula(length):
    windows = sliding_windows(length, 700, 1024, 200)
    assert [x for x, _ in windows] == reference_starts(length, 1024, 200)
    assert {y for _, y in windows} == {0}


def test_windows_hand_derived():
    assert [x for x, _ in sliding_windows(2000, 10, 1024, 200)] == [0, 824, 976]
    assert sliding_windows(1024, 1024, 1024, 200) == [(0, 0)]
    assert sliding_windows(600, 600, 1024, 200) == [(0, 0)]
    # 3000: ceil((3000 - 1024) / 824) + 1 = 4 windows, the last moved back from 2472 to 1976
    assert [x for x, _ in sliding_windows(3000, 10, 1024, 200)] == [0, 824, 1648, 1976]
    # gap 0 tiles exactly when the size divides the length (DIOR-R: 800 x 800 images, size 800)
    assert sliding_windows(1600, 800, 800, 0) == [(0, 0), (800, 0)]
    # row by row, each axis on its own (a small axis gets the single start 0)
    assert sliding_windows(2000, 500, 1024, 200) == [(0, 0), (824, 0), (976, 0)]
    assert sliding_windows(1500, 1300, 1024, 200) == [(0, 0), (476, 0), (0, 276), (476, 276)]
    for gap in (1024, 2000, -1):
        with pytest.raises(ValueError):
            sliding_windows(5000, 5000, 1024, gap)


# --- clipping ------------------------------------------------------------------------------------------------------


def test_axis_aligned_object_half_inside_is_clipped_and_marked():
    obj = OrientedObject([[900, 100], [1100, 100], [1100, 150], [900, 150]], "large-vehicle", 1)
    # iof = 124 / 200 = 0.62
    (cut,) = clip_objects([obj], 0, 0, 1024, iof_thr=0.5)
    assert cut.difficult == 2 and cut.name == "large-vehicle"
    np.testing.assert_allclose(cut.poly, [[900, 100], [1024, 100], [1024, 150], [900, 150]])  # same first corner
    assert clip_objects([obj], 0, 0, 1024, iof_thr=0.7) == []
    (low,) = clip_objects([obj], 0, 0, 1024, iof_thr=0.7, keep_low_iof=True, truncated_difficulty=3)  # the devkit's
    assert low.difficult == 3
    np.testing.assert_allclose(low.poly, cut.poly)
    # the next window holds it whole: translated, difficulty kept
    (whole,) = clip_objects([obj], 824, 0, 1024)
    assert whole.difficult == 1
    np.testing.assert_allclose(whole.poly, obj.poly - (824, 0))
    # seen from a window at an offset, it is the same rectangle in that window's coordinates
    (shifted,) = clip_objects(
        [OrientedObject(obj.poly + np.array([1000, 2000]), "ship")], 1000, 2000, 1024, iof_thr=0.5
    )
    np.testing.assert_allclose(shifted.poly, cut.poly)


def test_iof_threshold_boundaries_and_counts():
    inside = OrientedObject([[10, 10], [40, 10], [40, 30], [10, 30]], "ship", 0)
    exactly = OrientedObject([[94, 10], [104, 10], [104, 20], [94, 20]], "ship", 0)  # 6/10 inside: iof 0.6
    outside = OrientedObject([[200, 10], [240, 10], [240, 30], [200, 30]], "ship", 0)
    flat = OrientedObject([[10, 50], [20, 50], [30, 50], [40, 50]], "ship", 0)  # zero area
    counts = Counter()
    kept = clip_objects([inside, exactly, outside, flat], 0, 0, 100, iof_thr=0.6, counts=counts)
    assert [o.difficult for o in kept] == [0, 2]
    np.testing.assert_allclose(kept[1].poly, [[94, 10], [100, 10], [100, 20], [94, 20]])
    assert counts["degenerate"] == 1 and counts["truncated"] == 1 and counts["kept"] == 2
    counts = Counter()
    assert len(clip_objects([inside, exactly], 0, 0, 100, iof_thr=0.61, counts=counts)) == 1
    assert counts["low_iof"] == 1


@pytest.mark.parametrize("angle", [10, 30, 45, 70])
def test_rotated_square_across_window_corner(angle):
    square = rotated_rect((1000, 1000), 120, 120, angle)
    window = box_corners(0, 0, 1024, 1024)
    clipped = clip_convex(square, window)
    iof = area(clipped) / area(square)
    for thr in (0.3, 0.9):
        result = clip_objects([OrientedObject(square, "ship")], 0, 0, 1024, iof_thr=thr)
        assert len(result) == (1 if iof >= thr else 0)
    (obj,) = clip_objects([OrientedObject(square, "ship")], 0, 0, 1024, iof_thr=0.3)
    assert obj.difficult == 2 and obj.poly.shape == (4, 2)
    assert obj.poly.min() >= 0 and obj.poly.max() <= 1024
    assert is_convex(obj.poly) and is_clockwise_on_screen(obj.poly)
    assert np.argmin(np.linalg.norm(obj.poly - square[0], axis=1)) == 0  # starts at the corner nearest the original's
    fit = iou_convex(obj.poly, clipped)
    if len(clipped) == 4:
        assert area(obj.poly) == pytest.approx(area(clipped)) and fit == pytest.approx(1)
    else:
        # never a worse fit than the minimum-area rectangle clamped to the window, and a close one
        clamped = np.clip(min_area_rect(clipped), 0, 1024)
        if is_convex(clamped):
            assert fit >= iou_convex(clamped, clipped) - 1e-9
        assert fit >= 0.8


def test_clipped_polygons_fit_random_boxes():
    rng = np.random.default_rng(3)
    fits = []
    for _ in range(300):
        poly = rotated_rect(rng.uniform(450, 560, 2), rng.uniform(10, 120), rng.uniform(5, 60), rng.uniform(0, 180))
        clipped = clip_convex(poly, box_corners(0, 0, 512, 512))
        iof = area(clipped) / area(poly)
        result = clip_objects([OrientedObject(poly, "ship", 1)], 0, 0, 512, iof_thr=0.5)
        assert len(result) == (1 if iof >= 0.5 else 0)
        if result:
            (obj,) = result
            assert obj.poly.min() >= 0 and obj.poly.max() <= 512
            assert obj.difficult == (1 if iof > 1 - 1e-9 else 2)
            fits.append(iou_convex(obj.poly, clipped))
    assert min(fits) >= 0.8 and np.mean(fits) >= 0.95


def test_min_rect_fit_clamps_the_rectangle():
    square = rotated_rect((1000, 1000), 120, 120, 30)
    (obj,) = clip_objects([OrientedObject(square, "ship")], 0, 0, 1024, iof_thr=0.3, quad_fit="min_rect")
    clipped = clip_convex(square, box_corners(0, 0, 1024, 1024))
    expected = np.clip(min_area_rect(clipped), 0, 1024)
    assert sorted(map(tuple, np.round(obj.poly, 6))) == sorted(map(tuple, np.round(expected, 6)))


def test_corner_cut_to_triangle_keeps_its_shape():
    diamond = OrientedObject(rotated_rect((128, 128), 60, 60, 45), "plane")  # a quarter inside: a triangle
    (obj,) = clip_objects([diamond], 0, 0, 128, iof_thr=0.2)
    clipped = clip_convex(diamond.poly, box_corners(0, 0, 128, 128))
    assert len({tuple(np.round(p, 6)) for p in clipped}) == 3 and area(obj.poly) == pytest.approx(area(clipped))
    assert obj.poly.shape == (4, 2) and obj.poly.min() >= 0 and obj.poly.max() <= 128


# --- one scene -----------------------------------------------------------------------------------------------------


def draw_scene(image_path, label_path, width, height, objects, rng):
    image = rng.integers(60, 90, size=(height, width, 3), dtype=np.uint8)
    for obj in objects:
        cv2.fillPoly(image, [np.round(obj.poly).astype(np.int32)], (200, 40, 40))
    write_image(image_path, image)
    if label_path is not None:
        write_dota_label(label_path, DotaLabel(objects, {"imagesource": "test", "gsd": "0.5"}))
    return image


def test_split_scene_rates_names_and_scaled_coordinates(tmp_path, rng):
    objects = [OrientedObject([[100, 120], [300, 120], [300, 200], [100, 200]], "ship", 1)]
    image = draw_scene(tmp_path / "S.png", tmp_path / "S.txt", 1400, 900, objects, rng)
    records = split_scene(tmp_path / "S.png", tmp_path / "S.txt", tmp_path / "img", tmp_path / "lab",
                          sizes=(512,), gaps=(112,), rates=(1.0, 0.5, 1.5))  # fmt: skip
    names = {r["image"] for r in records}
    # rate 1: 1400 -> [0, 400, 800, 888], 900 -> [0, 388]; 0.5: 700 x 450 -> [0, 188] x [0]; 1.5: 2100 x 1350
    expected = {
        f"S__1__{x}___{y}.png" for x in reference_starts(1400, 512, 112) for y in reference_starts(900, 512, 112)
    }
    expected |= {f"S__0.5__{x}___0.png" for x in reference_starts(700, 512, 112)}
    expected |= {f"S__1.5__{x}___{y}.png" for x in reference_starts(2100, 512, 112)
                 for y in reference_starts(1350, 512, 112)}  # fmt: skip
    assert names == expected and len(records) == len(expected)
    (half,) = read_dota_label(tmp_path / "lab/S__0.5__0___0.txt").objects
    np.testing.assert_allclose(half.poly, objects[0].poly * 0.5)
    assert half.difficult == 1
    (big,) = read_dota_label(tmp_path / "lab/S__1.5__0___0.txt").objects
    np.testing.assert_allclose(big.poly, objects[0].poly * 1.5)
    # windows hold the image's pixels (rate 1) and a bilinear resize of it (other rates)
    np.testing.assert_array_equal(read_image(tmp_path / "img/S__1__400___388.png"), image[388:900, 400:912])
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_LINEAR)
    window = read_image(tmp_path / "img/S__0.5__188___0.png")
    np.testing.assert_array_equal(window[:450], small[:, 188:700])
    assert (window[450:] == (104, 116, 124)).all()
    record = next(r for r in records if r["image"] == "S__0.5__188___0.png")
    assert (record["width"], record["height"], record["x"], record["y"], record["rate"]) == (512, 450, 188, 0, 0.5)
    with pytest.raises(ValueError, match="same name"):
        split_scene(tmp_path / "S.png", None, tmp_path / "x", None, sizes=(512, 800), gaps=(0, 0))


def test_small_image_is_padded(tmp_path, rng):
    image = draw_scene(tmp_path / "s.png", None, 300, 200, [], rng)
    # 300 x 200 with 256-pixel windows: x starts 0 and 44, one (padded) start along y
    records = split_scene(tmp_path / "s.png", None, tmp_path / "img", None, sizes=(256,), gaps=(0,))
    assert [(r["image"], r["width"], r["height"]) for r in records] == [
        ("s__1__0___0.png", 256, 200), ("s__1__44___0.png", 256, 200)]  # fmt: skip
    (record,) = split_scene(tmp_path / "s.png", None, tmp_path / "img2", None, sizes=(512,), gaps=(0,),
                            pad_value=(1, 2, 3))  # fmt: skip
    window = read_image(tmp_path / "img2/s__1__0___0.png")
    assert window.shape == (512, 512, 3) and (record["width"], record["height"]) == (300, 200)
    np.testing.assert_array_equal(window[:200, :300], image)
    assert (window[200:] == (1, 2, 3)).all() and (window[:, 300:] == (1, 2, 3)).all()


def test_keep_empty(tmp_path, rng):
    objects = [OrientedObject([[10, 10], [50, 10], [50, 30], [10, 30]], "ship")]
    draw_scene(tmp_path / "P.png", tmp_path / "P.txt", 2000, 900, objects, rng)
    kwargs = {"sizes": (1024,), "gaps": (200,)}
    kept = split_scene(tmp_path / "P.png", tmp_path / "P.txt", tmp_path / "a", tmp_path / "al", keep_empty=False,
                       **kwargs)  # fmt: skip
    assert [r["image"] for r in kept] == ["P__1__0___0.png"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["P__1__0___0.png"]
    every = split_scene(tmp_path / "P.png", tmp_path / "P.txt", tmp_path / "b", tmp_path / "bl", **kwargs)
    assert len(every) == 3 and sum(r["objects"] for r in every) == 1
    assert (tmp_path / "bl/P__1__976___0.txt").read_text() == ""
    # a test image (no label) gets every window and no label file, whatever keep_empty says
    test = split_scene(tmp_path / "P.png", None, tmp_path / "c", tmp_path / "cl", keep_empty=False, **kwargs)
    assert len(test) == 3 and not (tmp_path / "cl").exists()


def test_unknown_class_names_file_and_class(tmp_path, rng):
    objects = [OrientedObject([[10, 10], [50, 10], [50, 30], [10, 30]], "spaceship")]
    draw_scene(tmp_path / "P.png", tmp_path / "P.txt", 300, 300, objects, rng)
    with pytest.raises(DataError, match=r"P\.txt.*spaceship"):
        split_scene(tmp_path / "P.png", tmp_path / "P.txt", tmp_path / "o", None, classes={"ship", "plane"})


# --- a folder of scenes --------------------------------------------------------------------------------------------


def test_split_dataset_end_to_end(tmp_path, rng):
    objects = [
        OrientedObject([[100, 100], [160, 100], [160, 130], [100, 130]], "small-vehicle"),
        OrientedObject([[1000, 500], [1100, 500], [1100, 560], [1000, 560]], "ship", 1),  # crosses x = 1024
        OrientedObject(rotated_rect((1300, 1150), 110, 40, 25), "plane"),
        OrientedObject(rotated_rect((800, 300), 300, 80, 40), "harbor"),  # crosses x = 1024? no: whole in (0, 0)
        OrientedObject(rotated_rect((1480, 700), 120, 60, 60), "plane"),  # sticks out of the image (right edge)
    ]
    draw_scene(tmp_path / "img/P0001.png", tmp_path / "lab/P0001.txt", 1500, 1300, objects, rng)
    draw_scene(tmp_path / "img/P0002.png", tmp_path / "lab/P0002.txt", 600, 500, [], rng)
    index = split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=2, rates=(1.0, 0.5),
                          classes={"small-vehicle", "ship", "plane", "harbor"})  # fmt: skip

    expected = {f"P0001__1__{x}___{y}.png" for x in reference_starts(1500, 1024, 200)
                for y in reference_starts(1300, 1024, 200)}  # fmt: skip
    expected |= {"P0001__0.5__0___0.png", "P0002__1__0___0.png", "P0002__0.5__0___0.png"}
    on_disk = pd.read_csv(tmp_path / "out/index.csv")
    assert on_disk["image"].tolist() == sorted(expected) == index["image"].tolist()
    assert set(on_disk.columns) >= {"image", "source", "rate", "x", "y", "width", "height", "objects", "truncated"}
    assert sorted(p.name for p in (tmp_path / "out/images").iterdir()) == sorted(expected)
    assert sorted(p.name for p in (tmp_path / "out/annfiles").iterdir()) == sorted(n[:-4] + ".txt" for n in expected)
    for row in on_disk.itertuples():
        assert read_image(tmp_path / "out/images" / row.image).shape == (1024, 1024, 3)
        label = read_dota_label(tmp_path / "out/annfiles" / row.image.replace(".png", ".txt"))
        assert len(label.objects) == row.objects
        assert sum(o.difficult == 2 for o in label.objects) == row.truncated
        for obj in label.objects:
            assert obj.poly.min() >= 0 and obj.poly.max() <= 1024
    half = read_dota_label(tmp_path / "out/annfiles/P0001__0.5__0___0.txt").objects
    assert [o.name for o in half] == ["small-vehicle", "ship", "plane", "harbor", "plane"]
    np.testing.assert_allclose(half[0].poly, objects[0].poly * 0.5)
    # the ship: iof 24/100 in window (0, 0) -> dropped there; whole (difficulty 1) in window (476, 0)
    first = read_dota_label(tmp_path / "out/annfiles/P0001__1__0___0.txt").objects
    assert [o.name for o in first] == ["small-vehicle", "harbor"]
    second = read_dota_label(tmp_path / "out/annfiles/P0001__1__476___0.txt").objects
    ship = next(o for o in second if o.name == "ship")
    assert ship.difficult == 1
    np.testing.assert_allclose(ship.poly, objects[1].poly - (476, 0), atol=0.05)
    # the plane beyond the image edge is truncated by the window flush with that edge
    assert any(o.name == "plane" and o.difficult == 2 for o in second)
    row = on_disk.set_index("image").loc["P0002__1__0___0.png"]
    assert (row.width, row.height, row.objects) == (600, 500, 0)
    small = read_image(tmp_path / "out/images/P0002__1__0___0.png")
    assert (small[500:] == (104, 116, 124)).all() and (small[:, 600:] == (104, 116, 124)).all()


def test_split_dataset_test_images_without_labels(tmp_path, rng):
    draw_scene(tmp_path / "img/T1.png", None, 1100, 700, [], rng)
    index = split_dataset(tmp_path / "img", None, tmp_path / "out", workers=1, keep_empty=False)
    assert index["image"].tolist() == ["T1__1__0___0.png", "T1__1__76___0.png"]
    assert not (tmp_path / "out/annfiles").exists()


def test_missing_label_file_fails_before_writing(tmp_path, rng):
    draw_scene(tmp_path / "img/P1.png", tmp_path / "lab/P1.txt", 300, 300, [], rng)
    draw_scene(tmp_path / "img/P2.png", None, 300, 300, [], rng)
    (tmp_path / "lab").mkdir(exist_ok=True)
    with pytest.raises(DataError, match=r"P2\.txt"):
        split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_unreadable_image_fails_and_leaves_nothing(tmp_path, rng):
    draw_scene(tmp_path / "img/P1.png", tmp_path / "lab/P1.txt", 300, 300, [], rng)
    (tmp_path / "img/P2.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (tmp_path / "lab/P2.txt").write_text("")
    with pytest.raises(DataError, match=r"P2\.png"):
        split_dataset(tmp_path / "img", tmp_path / "lab", tmp_path / "out", workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "lab"]  # no out/, no temporary folder


def test_bad_options_fail_early(tmp_path, rng):
    draw_scene(tmp_path / "img/P1.png", None, 300, 300, [], rng)
    with pytest.raises(ValueError):
        split_dataset(tmp_path / "img", None, tmp_path / "out", sizes=(512,), gaps=(512,))
    with pytest.raises(TypeError):
        split_dataset(tmp_path / "img", None, tmp_path / "out", size=512)
    assert not (tmp_path / "out").exists()


# --- release layouts -----------------------------------------------------------------------------------------------


def test_convert_dior_r(tmp_path, rng):
    root = tmp_path / "dior"
    (root / "ImageSets/Main").mkdir(parents=True)
    objects = [OrientedObject([[10, 10], [60, 10], [60, 40], [10, 40]], "vehicle", 1),
               OrientedObject([[100, 100], [300, 120], [290, 220], [90, 200]], "Expressway-Service-area")]  # fmt: skip
    layout = (("train", ["00001", "00002"], "JPEGImages-trainval"), ("val", ["00003"], "JPEGImages-trainval"),
              ("test", ["11726"], "JPEGImages-test"))  # fmt: skip
    for split, ids, folder in layout:
        (root / f"ImageSets/Main/{split}.txt").write_text("\n".join(ids) + "\n")
        for image_id in ids:
            write_image(root / folder / f"{image_id}.jpg", rng.integers(0, 255, (80, 80, 3), np.uint8))
            write_dior_xml(root / "Annotations/Oriented Bounding Boxes" / f"{image_id}.xml", f"{image_id}.jpg",
                           (800, 800), objects)  # fmt: skip
    assert convert_dior_r(root, tmp_path / "prepared") == {"train": 2, "val": 1, "test": 1}
    label = read_dota_label(tmp_path / "prepared/train/labelTxt/00001.txt")
    assert [o.name for o in label.objects] == ["vehicle", "expressway-service-area"]
    assert [o.difficult for o in label.objects] == [1, 0]
    np.testing.assert_allclose(label.objects[1].poly, objects[1].poly)
    for split, ids, _ in layout:
        assert sorted(p.name for p in (tmp_path / f"prepared/{split}/images").iterdir()) == [f"{i}.jpg" for i in ids]
    (root / "JPEGImages-test/11726.jpg").unlink()
    (root / "Annotations/Oriented Bounding Boxes/00003.xml").unlink()
    with pytest.raises(DataError) as error:
        convert_dior_r(root, tmp_path / "prepared2")
    assert "11726.jpg" in str(error.value) and "00003.xml" in str(error.value)
    assert not (tmp_path / "prepared2").exists()


def test_dota_layout_from_extracted(tmp_path, rng):
    root = tmp_path / "DOTA"
    objects = [OrientedObject([[10, 10], [60, 10], [60, 40], [10, 40]], "plane")]
    for split, stems in (("train", ["P0001", "P0002"]), ("val", ["P0003"]), ("test", ["P0004"])):
        for stem in stems:
            label = None if split == "test" else root / split / "labelTxt" / f"{stem}.txt"
            draw_scene(root / split / "images" / f"{stem}.png", label, 64, 64, objects, rng)
    splits = dota_layout_from_extracted(root, tmp_path / "prepared")
    assert sorted(splits) == ["test", "train", "val"]
    assert sorted(p.name for p in (tmp_path / "prepared/train/labelTxt").iterdir()) == ["P0001.txt", "P0002.txt"]
    assert (tmp_path / "prepared/test/images/P0004.png").is_file()
    assert not (tmp_path / "prepared/test/labelTxt").exists()
    (root / "val/labelTxt/P0003.txt").unlink()
    with pytest.raises(DataError, match="P0003"):
        dota_layout_from_extracted(root, tmp_path / "prepared2")
    assert not (tmp_path / "prepared2").exists()
    with pytest.raises(DataError, match="val"):
        dota_layout_from_extracted(root / "train", tmp_path / "prepared3")


def _zip_folder(archive, root, members):
    with zipfile.ZipFile(archive, "w") as zf:
        for member in members:
            zf.write(root / member, member)


def test_incomplete_dior_r_release_is_reported_at_once(tmp_path, rng):
    # The release's archives, made from a small DIOR-R: JPEGImages-test.zip was never fetched, ImageSets.zip lacks
    # val.txt, one trainval image and two annotations are missing from theirs.
    release = tmp_path / "release"
    write_dior_r_like(release, {"train": 3, "val": 1, "test": 2}, image_size=64, seed=0)
    (release / "ImageSets/Main/val.txt").unlink()
    (release / "JPEGImages-trainval/00002.jpg").unlink()
    for image_id in ("00003", "00005"):
        (release / f"Annotations/Oriented Bounding Boxes/{image_id}.xml").unlink()
    archives = []
    for part in ("JPEGImages-trainval", "Annotations", "ImageSets"):
        archives.append(tmp_path / f"{part}.zip")
        _zip_folder(archives[-1], release, sorted(p.relative_to(release) for p in (release / part).rglob("*.*")))
    extract_archives(archives, tmp_path / "extracted")
    with pytest.raises(DataError) as error:
        convert_dior_r(tmp_path / "extracted", tmp_path / "prepared")
    message = str(error.value)
    assert "folders missing: JPEGImages-test (for 2 listed images)" in message
    assert "image lists missing: ImageSets/Main/val.txt" in message
    assert "listed in ImageSets/Main/train.txt but absent: 1 of 3 (JPEGImages-trainval/00002.jpg)" in message
    assert "annotations missing from Annotations/Oriented Bounding Boxes: 2 of 5 (00003.xml, 00005.xml)" in message
    assert "from JPEGImages-test.zip, JPEGImages-trainval.zip, ImageSets.zip, Annotations.zip of the release" in message
    assert "`path:` of data.datasets.dior_r" in message and "nothing was written" in message
    assert not (tmp_path / "prepared").exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["release", "extracted", *(a.name for a in archives)]
    )


def test_dior_r_report_is_bounded(tmp_path):
    root = tmp_path / "dior"
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "JPEGImages-trainval").mkdir()
    (root / "ImageSets/Main/train.txt").write_text("".join(f"{i:05d}\n" for i in range(1, 41)))
    with pytest.raises(DataError) as error:
        convert_dior_r(root, tmp_path / "prepared", splits=("train",))
    message = str(error.value)
    assert "folders missing: Annotations/Oriented Bounding Boxes\n" in message
    assert "but absent: 40 of 40 (JPEGImages-trainval/00001.jpg, " in message and "00005.jpg and 35 more)" in message
    assert "00006.jpg" not in message and "xml" not in message  # a missing folder is named, not its 40 files
