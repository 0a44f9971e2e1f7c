"""Deterministic synthetic remote-sensing data, written in the raw layout and format of each real release.

The embedded default config runs every rule of the pipeline on these files, so the real converters, tilers and
loaders are what gets exercised. Scenes look aerial rather than flat: land cover comes from smooth random fields and
straight-edged parcels (crop fields with rows, blobby forest canopy, shore-shaded water, grainy pavement, roads with
markings, street grids with gabled and flat roofs), lit by one sun that casts shadows; oriented objects are drawn with
class-specific shapes, sizes, aspect ratios, colours and placement (cars in parking rows and lanes, ships on water and
at piers, planes on aprons, tanks in farms, courts in groups). Classes differ clearly in colour, texture and shape,
because later stages check that detectors, segmenters and probes actually learn on it.

Modules: ``scene`` (land cover, painting, shadows), ``objects`` (object styles and placement), ``recipes`` (what a
scene contains; scene-class recipes), ``writers`` (the dataset formats). Every writer takes a ``seed`` (same seed,
byte-identical files) and writes through :func:`rsfm.io.atomic_dir`.
"""

from rsfm.data.synthetic.objects import STYLES
from rsfm.data.synthetic.recipes import Recipe, Scene, class_recipe, render, render_scene
from rsfm.data.synthetic.scene import COVER_NAMES, COVERS, smooth_noise
from rsfm.data.synthetic.writers import (
    DIOR_STYLES,
    DOTA_SYNTHETIC_CLASSES,
    LOVEDA_OF_COVER,
    POTSDAM_COLOURS,
    S2_BANDS,
    band_values,
    render_class_image,
    write_class_folders_like,
    write_dior_r_like,
    write_dota_like,
    write_geobench_like,
    write_loveda_like,
    write_millionaid_like,
    write_potsdam_like,
)

__all__ = [
    "COVERS",
    "COVER_NAMES",
    "DIOR_STYLES",
    "DOTA_SYNTHETIC_CLASSES",
    "LOVEDA_OF_COVER",
    "POTSDAM_COLOURS",
    "S2_BANDS",
    "STYLES",
    "Recipe",
    "Scene",
    "band_values",
    "class_recipe",
    "render",
    "render_class_image",
    "render_scene",
    "smooth_noise",
    "write_class_folders_like",
    "write_dior_r_like",
    "write_dota_like",
    "write_geobench_like",
    "write_loveda_like",
    "write_millionaid_like",
    "write_potsdam_like",
]
