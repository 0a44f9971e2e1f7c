"""Scene recipes: what a scene contains (land-cover mixture, roads, built-up share, water, objects) and the renderer
that turns a recipe into an image, its land-cover map and its annotated objects.

Scene-classification classes map to recipes by keywords of their names (forest, river, residential, ...); unknown
names get a recipe chosen by a hash of the name, and every class gets its own small colour cast and mixture changes,
so any list of class names yields distinct, learnable classes, the same in every run.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from rsfm.data.annotations import OrientedObject
from rsfm.data.synthetic.objects import (
    ON_WATER,
    STYLES,
    along_roads,
    bridges,
    draw_buildings,
    fill_apron,
    fill_lot,
    fill_tank_farm,
    group,
    harbor_piers,
    scatter,
)
from rsfm.data.synthetic.scene import (
    COVER,
    COVERS,
    LAND,
    Canvas,
    Road,
    Site,
    add_buildings,
    add_clutter,
    add_coast,
    add_river,
    add_roads,
    add_site,
    add_street_grid,
    add_trees,
    base_landcover,
    cast_shadows,
    draw_roads,
    finish,
    paint,
    paint_markings,
    rotated_box,
    smooth_noise,
)


@dataclass(frozen=True)
class Recipe:
    """The content of a scene. Densities are per hectare; ``objects`` maps an object style to a density factor."""

    covers: Mapping[str, float]
    region_m: float = 150.0  # size of natural land-cover regions
    parcel_m: float = 80.0  # size of fields and plots
    roads: int = 0  # arterial roads across the scene
    road_m: tuple[float, float] = (7.0, 14.0)  # their width
    urban: float = 0.0  # share of the scene that is built up (street grid, buildings, gardens)
    street_spacing_m: tuple[float, float] = (60.0, 120.0)
    buildings: float = 0.0  # per hectare of built-up zone
    building_m: tuple[float, float] = (8.0, 22.0)
    flat_roofs: float = 0.3
    trees: float = 0.0  # single trees per hectare of open land
    tree_m: tuple[float, float] = (2.0, 5.0)
    clutter: float = 0.0  # clutter patches per hectare
    river: bool = False
    coast: float = 0.0  # share of the scene that is sea
    runway: bool = False
    objects: Mapping[str, float] = field(default_factory=dict)
    tint: tuple[float, float, float] = (0.0, 0.0, 0.0)
    haze: float = 0.0


@dataclass
class Scene:
    """A rendered scene: the image and its ground truth (land cover, objects), plus the canvas it was built on."""

    image: np.ndarray  # H x W x 3 uint8
    cover: np.ndarray  # H x W uint8, indices into COVER_NAMES
    objects: list[OrientedObject]
    object_mask: np.ndarray  # H x W uint8, objects.STYLE_INDEX of the object at each pixel (0: none)
    canvas: Canvas


def render(
    rng: np.random.Generator, width: int, height: int, recipe: Recipe, gsd: float, density: float = 1.0
) -> Scene:
    """Render ``recipe`` at ``gsd`` metres per pixel; ``density`` scales all object counts."""
    canvas = Canvas(rng, height, width, gsd)
    base_landcover(canvas, dict(recipe.covers), recipe.region_m, recipe.parcel_m)
    if recipe.coast > 0:
        add_coast(canvas, recipe.coast)
    if recipe.river:
        add_river(canvas)
    add_roads(canvas, recipe.roads, recipe.road_m)
    extent_m = min(width, height) * gsd
    if recipe.runway and extent_m >= 400:
        _add_airport(canvas)
    zone = None
    if recipe.urban > 0:
        zone = _urban_zone(canvas, recipe.urban)
        add_street_grid(canvas, zone & (canvas.cover != COVER["water"]), recipe.street_spacing_m, 9.0)
    draw_roads(canvas)
    if zone is not None:
        garden = zone & np.isin(canvas.cover, [COVER["agriculture"], COVER["tree"], COVER["bare"]])
        canvas.cover[garden] = COVER["low_vegetation"]
    hectares = canvas.area_m2 / 1e4
    _add_sites(canvas, recipe, density, extent_m)
    if recipe.buildings > 0:
        zone_ha = hectares * (float(zone.mean()) if zone is not None else 1.0)
        add_buildings(canvas, zone, _count(rng, recipe.buildings * zone_ha), recipe.building_m)
    add_trees(canvas, _count(rng, recipe.trees * hectares), recipe.tree_m)
    add_clutter(canvas, _count(rng, recipe.clutter * hectares))
    paint(canvas)
    paint_markings(canvas)
    draw_buildings(canvas, recipe.flat_roofs)
    _populate(canvas, recipe, density, zone)
    cast_shadows(canvas)
    image = finish(canvas, recipe.haze, recipe.tint)
    return Scene(image, canvas.cover, canvas.objects, canvas.object_mask, canvas)


def _count(rng: np.random.Generator, expected: float, minimum: int = 0) -> int:
    """A Poisson count around ``expected``, at least ``minimum``: scenes of one recipe differ in how much they hold."""
    return max(minimum, int(rng.poisson(max(expected, 0.0))))


def _urban_zone(canvas: Canvas, share: float) -> np.ndarray:
    """The built-up part of the scene: ``share`` of its land, in one or a few smooth blobs."""
    land = canvas.cover != COVER["water"]
    if share >= 0.99 or not land.any():
        return land
    field_ = smooth_noise(canvas.rng, canvas.height, canvas.width, canvas.px(400))
    return land & (field_ > np.quantile(field_[land][::7], 1 - share))  # the quantile of every 7th pixel: cheap


def _add_airport(canvas: Canvas) -> None:
    """A runway across the scene (placed to cross as little water as possible), an apron with a terminal and a
    taxiway alongside it; roads stop at the airport grounds."""
    rng, h, w = canvas.rng, canvas.height, canvas.width
    runway_width = canvas.px(45)
    water = canvas.cover == COVER["water"]
    half_length = np.hypot(h, w)
    best = None  # of 8 headings along the street grid, the one whose runway crosses the least water
    for _ in range(8):
        angle = canvas.grid_angle + rng.integers(2) * np.pi / 2 + rng.normal(0, 0.05)
        along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
        centre = np.array([w, h]) / 2 + across * rng.uniform(-0.3, 0.3) * min(h, w)
        points = centre + np.linspace(-half_length, half_length, 200)[:, None] * along
        inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
        wet = water[points[inside, 1].astype(int), points[inside, 0].astype(int)].mean() if inside.any() else 1.0
        if best is None or wet < best[0]:
            best = (wet, angle, centre, along, across)
    assert best is not None
    _, angle, centre, along, across = best
    ends = np.array([centre - along * half_length, centre + along * half_length])
    # The airport grounds (runway strip, apron, terminal) are grass first; roads stop at them.
    grounds = np.zeros((h, w), np.uint8)
    side = rng.choice([-1, 1])  # the side of the runway the apron is on
    apron_width = canvas.px(rng.uniform(70, 110))
    apron_length = min(canvas.px(rng.uniform(250, 450)), 0.8 * max(h, w))
    apron_centre = (
        centre
        + across * side * (runway_width / 2 + canvas.px(60) + apron_width / 2)
        + along * rng.uniform(-0.2, 0.2) * w
    )
    apron = rotated_box(apron_centre, apron_length, apron_width, angle)
    taxiway = rotated_box(
        apron_centre - across * side * (apron_width / 2 + canvas.px(30)), apron_length * 0.9, canvas.px(25), angle
    )
    runway_strip = rotated_box(centre, 2 * half_length, runway_width + canvas.px(120), angle)
    cv2.fillPoly(grounds, [np.round(runway_strip).astype(np.int32)], 1)
    terminal = rotated_box(
        apron_centre + across * side * (apron_width / 2 + canvas.px(14)), apron_length * 0.6, canvas.px(22), angle
    )
    for poly in (apron, rotated_box(terminal.mean(axis=0), apron_length * 0.6 + canvas.px(10), canvas.px(32), angle)):
        cv2.fillPoly(grounds, [np.round(poly).astype(np.int32)], 1)
    grass = grounds.astype(bool) & (canvas.cover != COVER["water"])
    canvas.cover[grass] = COVER["low_vegetation"]  # airfield grass
    for poly in (apron, taxiway):
        cv2.fillPoly(canvas.cover, [np.round(poly).astype(np.int32)], COVER["impervious"])
    cv2.fillPoly(canvas.cover, [np.round(terminal).astype(np.int32)], COVER["building"])
    canvas.buildings.append(terminal)
    cv2.polylines(canvas.cover, [np.round(ends).astype(np.int32)], False, COVER["impervious"], int(runway_width))
    canvas.reserved |= grounds
    canvas.keep_out = grounds.astype(bool)
    canvas.roads.append(Road(ends, runway_width, "runway"))
    # Planes park with their noses towards the terminal (fill_apron parks them along the site's -across edge).
    canvas.sites.append(
        Site("apron", apron_centre, float(angle + (np.pi if side > 0 else 0)), apron_length, apron_width)
    )


def _add_sites(canvas: Canvas, recipe: Recipe, density: float, extent_m: float) -> None:
    """Reserve the sites that objects fill after painting: a small airfield, tank farms, car and truck parks."""
    rng = canvas.rng
    km2 = canvas.area_m2 / 1e6
    wanted = recipe.objects

    def size(lo: float, hi: float, share: float = 0.6) -> float:  # sites must fit into small scenes too
        return min(rng.uniform(lo, hi), share * extent_m)

    if wanted.get("plane", 0) > 0 and not any(site.kind == "apron" for site in canvas.sites):
        add_site(canvas, "apron", size(60, 200), size(40, 90, 0.35), "impervious")  # a small airfield
    if wanted.get("storage-tank", 0) > 0:
        for _ in range(max(1, _count(rng, 1.5 * km2 * wanted["storage-tank"] * density))):
            add_site(canvas, "tank_farm", size(40, 120), size(35, 90, 0.35), rng.choice(["bare", "impervious"]))
    if wanted.get("small-vehicle", 0) > 0:
        lots = 6 * km2 * min(wanted["small-vehicle"] * density, 1.5)
        for _ in range(_count(rng, lots, 1 if km2 > 0.02 else 0)):
            add_site(canvas, "lot", size(30, 90), size(18, 45, 0.35), "impervious")
    if wanted.get("large-vehicle", 0) > 0:
        for _ in range(_count(rng, 2 * km2 * min(wanted["large-vehicle"] * density, 1.5), 1 if km2 > 0.2 else 0)):
            add_site(canvas, "truck_lot", size(40, 100), size(20, 40, 0.35), "impervious")


def _populate(canvas: Canvas, recipe: Recipe, density: float, zone: np.ndarray | None) -> None:
    """Objects of every wanted class, in its typical place (sites, roads, water, open land)."""
    rng = canvas.rng
    km2 = canvas.area_m2 / 1e6
    # Most counts are per km of road or per km² (of water, for ships), times the recipe's factor and ``density``.
    wanted = {style: factor * density for style, factor in recipe.objects.items() if factor > 0}

    def visible(style: str) -> bool:  # smaller than ~3 pixels: a speck no detector (or eye) would see
        return canvas.px(STYLES[style].length_m[1]) >= 3

    for site in canvas.sites:
        if site.kind == "lot" and visible("small-vehicle"):
            fill_lot(canvas, site, "small-vehicle", rng.uniform(0.5, 0.95))
        elif site.kind == "truck_lot" and visible("large-vehicle"):
            fill_lot(canvas, site, "large-vehicle", rng.uniform(0.4, 0.9))
        elif site.kind == "apron" and visible("plane"):
            fill_apron(canvas, site, max(1, int(site.length / canvas.px(40))))
        elif site.kind == "tank_farm" and visible("storage-tank"):
            fill_tank_farm(canvas, site)
    if "bridge" in wanted:
        bridges(canvas)
    if "harbor" in wanted and visible("harbor"):
        harbor_piers(canvas, _count(rng, 3 * wanted["harbor"], 1), ship_name="ship" if "ship" in wanted else None)
    if "ship" in wanted and visible("ship"):
        water_km2 = km2 * float((canvas.cover == COVER["water"]).mean())
        scatter(canvas, "ship", _count(rng, 40 * water_km2 * wanted["ship"], 1), ON_WATER, free=False)
    road_px = sum(float(np.linalg.norm(np.diff(r.points, axis=0), axis=1).sum()) for r in canvas.roads)
    road_km = road_px * canvas.gsd / 1e3
    for style, per_km in (("small-vehicle", 10), ("large-vehicle", 2.5)):
        if style in wanted and visible(style):
            along_roads(canvas, style, _count(rng, per_km * road_km * wanted[style]))
    land = tuple(COVER[n] for n in ("low_vegetation", "impervious", "bare"))
    for style, per_km2 in (("ground-track-field", 0.8), ("soccer-ball-field", 1.0)):
        if style in wanted and visible(style):
            scatter(canvas, style, _count(rng, per_km2 * km2 * wanted[style], 1), (*land, COVER["agriculture"]))
    for style, per_km2 in (("tennis-court", 10), ("basketball-court", 6)):
        if style in wanted and visible(style):
            group(canvas, style, _count(rng, per_km2 * km2 * wanted[style], 1), land)
    if "swimming-pool" in wanted and visible("swimming-pool"):
        scatter(canvas, "swimming-pool", _count(rng, 40 * km2 * wanted["swimming-pool"], 1),
                    (COVER["low_vegetation"],), region=zone)  # fmt: skip
    if "building" in wanted:
        canvas.objects.extend(OrientedObject(footprint, "building", 0) for footprint in canvas.buildings)


# --- render_scene: the general entry point --------------------------------------------------------------------------


def render_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    landcover_classes: Mapping[str, float] | Sequence[str],
    object_classes: Sequence[str] = (),
    object_density: float = 1.0,
    *,
    gsd: float = 0.4,
) -> tuple[np.ndarray, np.ndarray, list[OrientedObject]]:
    """Render an aerial scene: (image H x W x 3 uint8, land cover H x W uint8 (indices into COVER_NAMES), objects).

    ``landcover_classes`` are cover names (or name -> weight); "building" in it makes that share of the scene a
    built-up zone with a street grid and "road" adds arterial roads. ``object_classes`` are style names (see
    ``STYLES``; "building" returns the roofs as objects too); the sea, a river or a runway are added when ships,
    harbors, bridges or planes need them. Objects are returned with clockwise oriented boxes in pixel coordinates.
    """
    if isinstance(landcover_classes, Mapping):
        weights = dict(landcover_classes)
    else:
        weights = dict.fromkeys(landcover_classes, 1.0)
    unknown = set(weights) - set(COVERS) | set(object_classes) - set(STYLES) - {"building"}
    if unknown:
        raise ValueError(f"unknown land-cover or object classes {sorted(unknown)}")
    total = sum(weights.values()) or 1.0
    urban = weights.pop("building", 0.0) / total
    roads = 1 + 2 * int(weights.pop("road", 0.0) > 0)
    if not any(weights.get(n, 0) > 0 for n in COVERS):
        weights["low_vegetation"] = 1.0
    wants = set(object_classes)
    if not urban and wants & {"small-vehicle", "swimming-pool", "building"}:
        urban = 0.2  # a town for the cars, pools and roofs
    recipe = Recipe(
        covers=weights,
        roads=roads,
        urban=min(0.9, urban * 1.5),
        buildings=30.0 if (urban or "building" in wants) else 10.0,
        coast=0.3 if wants & {"ship", "harbor"} and weights.get("water", 0) / total < 0.2 else 0.0,
        river="bridge" in wants,
        runway="plane" in wants,
        trees=5.0,
        objects=dict.fromkeys(object_classes, 1.0),
    )
    scene = render(rng, width, height, recipe, gsd, object_density)
    return scene.image, scene.cover, scene.objects


DETECTION_SCENE = Recipe(
    covers={"low_vegetation": 1.0, "agriculture": 0.9, "tree": 0.5, "bare": 0.25, "impervious": 0.08},
    roads=3,
    urban=0.35,
    buildings=25.0,
    trees=4.0,
    clutter=0.1,
)


def detection_recipe(rng: np.random.Generator, styles: Sequence[str], density: float = 1.0) -> Recipe:
    """A mixed aerial scene for detection sets: a town, fields, a coast or river as the classes need them; each
    class gets a random per-scene emphasis (some scenes are ports, others car parks)."""
    wants = set(styles)
    emphasis = {style: float(np.exp(rng.normal(0, 0.4))) * density for style in styles if style != "building"}
    return replace(
        DETECTION_SCENE,
        coast=float(rng.uniform(0.2, 0.35)) if wants & {"ship", "harbor"} else 0.0,
        river="bridge" in wants,
        runway="plane" in wants,
        objects=emphasis,
    )


# --- scene classes --------------------------------------------------------------------------------------------------

_RESIDENTIAL = Recipe(covers={"low_vegetation": 1.0, "impervious": 0.3}, urban=1.0, street_spacing_m=(50, 90),
                      buildings=22.0, trees=25.0, objects={"small-vehicle": 0.6, "swimming-pool": 0.5})  # fmt: skip
_INDUSTRIAL = Recipe(covers={"impervious": 1.0, "bare": 0.4}, urban=1.0, street_spacing_m=(90, 160), buildings=5.0,
                     building_m=(30, 90), flat_roofs=0.95, clutter=2.0,
                     objects={"large-vehicle": 1.5, "small-vehicle": 0.5})  # fmt: skip
_CROPS = Recipe(covers={"agriculture": 1.0}, parcel_m=140.0)

# (keywords, recipe); the first entry with a keyword contained in the class name wins.
CLASS_RECIPES: tuple[tuple[tuple[str, ...], Recipe], ...] = (
    (("cloud",), Recipe(covers={"agriculture": 1.0, "tree": 0.5}, haze=0.85)),
    (("snow", "ice", "glacier"), Recipe(covers={"water": 1.0, "bare": 0.8}, haze=0.55, tint=(10, 14, 24))),
    (("permanentcrop", "orchard", "vineyard", "fruit", "olive"),
     Recipe(covers={"agriculture": 1.0, "low_vegetation": 0.3}, parcel_m=120, trees=500, tree_m=(1.0, 2.0))),
    (("circularfarm",), Recipe(covers={"agriculture": 1.0, "bare": 0.6}, parcel_m=200)),
    (("crop", "farm", "agricult", "field", "arable", "terrace", "paddy", "greenhouse"), _CROPS),
    (("forest", "densetree", "wood"), Recipe(covers={"tree": 1.0, "low_vegetation": 0.06}, region_m=300)),
    (("harbor", "port"), Recipe(covers={"impervious": 1.0, "bare": 0.2}, coast=0.5, roads=1,
                                objects={"harbor": 2.0, "ship": 3.0})),
    (("bridge", "viaduct", "overpass"), Recipe(covers={"low_vegetation": 1.0, "tree": 0.4}, river=True, roads=2,
                                               road_m=(12, 20), objects={"bridge": 1.0, "small-vehicle": 1.0})),
    (("river", "stream", "canal"), Recipe(covers={"low_vegetation": 1.0, "tree": 0.5, "agriculture": 0.5},
                                          river=True)),
    (("sea", "lake", "pond", "water", "ocean", "reservoir"),
     Recipe(covers={"water": 4.0, "low_vegetation": 0.3, "tree": 0.2}, region_m=500)),
    (("beach", "coast", "island"), Recipe(covers={"bare": 1.0, "low_vegetation": 0.2}, coast=0.45)),
    (("wetland", "marsh", "swamp"), Recipe(covers={"low_vegetation": 1.0, "water": 0.7}, region_m=60)),
    (("airport", "airplane", "runway", "apron"), Recipe(covers={"low_vegetation": 1.0, "impervious": 0.2},
                                                        runway=True, objects={"plane": 2.0})),
    (("parking",), Recipe(covers={"impervious": 1.0, "low_vegetation": 0.2}, roads=1,
                          objects={"small-vehicle": 5.0, "large-vehicle": 0.3})),
    (("tank",), Recipe(covers={"bare": 0.6, "impervious": 1.0}, roads=1, objects={"storage-tank": 3.0})),
    (("kiln", "power", "thermal", "heavyindustry", "mining", "mine"),
     replace(_INDUSTRIAL, covers={"bare": 1.0, "impervious": 0.6}, objects={"storage-tank": 1.5})),
    (("tennis", "basketball", "court", "playground", "baseball"),
     Recipe(covers={"low_vegetation": 1.0, "impervious": 0.5}, objects={"tennis-court": 3.0, "basketball-court": 2.0})),
    (("stadium", "track", "soccer", "football", "sport"),
     Recipe(covers={"low_vegetation": 1.0, "impervious": 0.4}, objects={"ground-track-field": 2.0,
                                                                       "soccer-ball-field": 1.0})),
    (("lightweight", "mobilehome"), replace(_RESIDENTIAL, buildings=60.0, building_m=(5, 10), trees=5.0,
                                            street_spacing_m=(35, 60))),
    (("compact", "denseresidential", "highrise", "apartment"),
     replace(_RESIDENTIAL, buildings=40.0, building_m=(15, 40), flat_roofs=0.7, trees=8.0)),
    (("sparse", "scatteredtree", "openlow"), replace(_RESIDENTIAL, buildings=6.0, trees=60.0,
                                                     street_spacing_m=(90, 150))),
    (("residential", "building", "house", "openmid", "openhigh", "urban"), _RESIDENTIAL),
    (("industrial", "largelow", "factory", "storage"), _INDUSTRIAL),
    (("commercial", "center", "square", "school", "church", "palace", "resort", "station", "store"),
     replace(_RESIDENTIAL, covers={"impervious": 1.0, "low_vegetation": 0.3}, buildings=12.0, building_m=(20, 50),
             flat_roofs=0.8, objects={"small-vehicle": 2.0})),
    (("highway", "freeway", "road", "intersection", "railway", "motorway"),
     Recipe(covers={"low_vegetation": 1.0, "agriculture": 0.6, "tree": 0.3}, roads=1, road_m=(22, 32),
            objects={"small-vehicle": 2.0, "large-vehicle": 1.0})),
    (("golf", "park", "greenurban"), Recipe(covers={"low_vegetation": 1.0, "tree": 0.25, "bare": 0.04}, region_m=60,
                                            trees=40)),
    (("pasture", "meadow", "grass", "lowplant"), Recipe(covers={"low_vegetation": 1.0}, region_m=200, trees=1.0)),
    (("herbaceous", "bush", "scrub", "shrub", "chaparral", "heath", "moor"),
     Recipe(covers={"low_vegetation": 1.0, "bare": 0.5}, region_m=40, trees=150, tree_m=(1.0, 3.0))),
    (("desert", "bare", "barren", "sand", "rock", "mountain", "dune", "paved"),
     Recipe(covers={"bare": 1.0, "low_vegetation": 0.05}, region_m=100)),
)  # fmt: skip
_GENERIC = tuple(recipe for _, recipe in CLASS_RECIPES)


def class_recipe(name: str) -> Recipe:
    """The recipe of a scene class: the first keyword match (a hash pick for unknown or negated names), with a
    deterministic per-name colour cast and mixture jitter so classes sharing a recipe still differ."""
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    hashed = np.random.default_rng(zlib.crc32(key.encode()))
    negated = key.startswith(("not", "non", "no"))
    matches = [recipe for words, recipe in CLASS_RECIPES if any(w in key for w in words)] if not negated else []
    base = matches[0] if matches else _GENERIC[int(hashed.integers(len(_GENERIC)))]
    spread = 9.0 if matches else 18.0
    covers = {cover: weight * float(hashed.uniform(0.75, 1.3)) for cover, weight in base.covers.items()}
    shifts = hashed.uniform(-spread, spread, 3)
    tint = tuple(float(base_tint) + float(shift) for base_tint, shift in zip(base.tint, shifts, strict=True))
    return replace(base, covers=covers, tint=tint, region_m=base.region_m * float(hashed.uniform(0.8, 1.25)))


def default_gsd(image_size: int) -> float:
    """Ground sampling distance for a class patch: Sentinel-2 (10 m) for small patches, aerial otherwise."""
    return 10.0 if image_size <= 64 else 0.5


__all__ = ["LAND", "Recipe", "Scene", "class_recipe", "default_gsd", "detection_recipe", "render", "render_scene"]
