"""Dataset registry: where each release of both papers comes from, what its files are, how it is laid out.

One entry per dataset (in the manner of torchgeo's dataset classes, which own their url and md5): the source, file
names, sizes/checksums where the host publishes them or a well-kept peer (torchvision, torchgeo) recorded them, the
license note, the extracted layout the converters expect and the class names in official order. A checksum of None
means none is published; the download then still checks the transferred size against the server's Content-Length.

Where the official host is gone or unreliable and a peer pins a byte-identical copy (same md5), the url is that copy
and ``notes`` names the official one. Hosts that need a form, a login, Google Drive, Baidu or OneDrive are
``manual``: the download rule stops, says where to get the files and where to put them, and continues once they are
there. ``layout`` entries are paths relative to the extracted folder; entries with ``*`` are glob patterns.

Where the release files needed depend on the dataset's settings (Potsdam: which ortho product, which labels), the
entry lists every file of the release and its ``select`` narrows it to those the settings need:
``get_dataset(name, settings)`` is the entry the download, verify and extract steps work with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rsfm.data.annotations import DIOR_R_CLASSES, DOTA_V2_CLASSES
from rsfm.errors import ConfigError, DataError

TASKS = ("pretraining", "detection", "segmentation", "classification")


@dataclass(frozen=True)
class RemoteFile:
    """One release file. ``url`` None means it cannot be fetched by script (manual download)."""

    name: str
    url: str | None = None
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    task: str
    kind: str
    homepage: str
    license: str
    citation: str
    files: tuple[RemoteFile, ...]
    layout: tuple[str, ...]
    classes: tuple[str, ...] = ()
    multilabel: bool = False  # classification: an item has a set of labels
    bands: tuple[str, ...] = ()  # named spectral bands of a multispectral release (GEO-Bench), in release order
    image_suffix: str = ""  # the image files' suffix where the kind accepts several (what synthetic copies write)
    manual: bool = False
    manual_instructions: str = ""
    notes: str = ""
    images: int | None = None  # images in the release, as its authors count them (what a pretraining epoch sees)
    # The settings of data.datasets.<name> that decide which release files are needed, and the function narrowing
    # the entry (files, layout, instructions) to them; none: every file is needed whatever the settings.
    selected_by: tuple[str, ...] = ()
    select: Callable[[DatasetSpec, Mapping[str, Any]], DatasetSpec] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # the kind is checked against rsfm.data.kinds.KINDS, which reads this registry
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} not in {TASKS}")
        if bool(self.selected_by) != (self.select is not None):
            raise ValueError(f"{self.name}: `selected_by` and `select` go together")
        if not self.manual and any(f.url is None for f in self.files):
            raise ValueError(f"{self.name}: every file of an automatic download needs a url")
        if self.manual and not self.manual_instructions:
            raise ValueError(f"{self.name}: a manual download needs instructions")


EUROSAT_CLASSES = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
    "Residential", "River", "SeaLake",
)  # fmt: skip
UCMERCED_CLASSES = (
    "agricultural", "airplane", "baseballdiamond", "beach", "buildings", "chaparral", "denseresidential", "forest",
    "freeway", "golfcourse", "harbor", "intersection", "mediumresidential", "mobilehomepark", "overpass",
    "parkinglot", "river", "runway", "sparseresidential", "storagetanks", "tenniscourt",
)  # fmt: skip
AID_CLASSES = (
    "Airport", "BareLand", "BaseballField", "Beach", "Bridge", "Center", "Church", "Commercial", "DenseResidential",
    "Desert", "Farmland", "Forest", "Industrial", "Meadow", "MediumResidential", "Mountain", "Park", "Parking",
    "Playground", "Pond", "Port", "RailwayStation", "Resort", "River", "School", "SparseResidential", "Square",
    "Stadium", "StorageTanks", "Viaduct",
)  # fmt: skip
RESISC45_CLASSES = (
    "airplane", "airport", "baseball_diamond", "basketball_court", "beach", "bridge", "chaparral", "church",
    "circular_farmland", "cloud", "commercial_area", "dense_residential", "desert", "forest", "freeway",
    "golf_course", "ground_track_field", "harbor", "industrial_area", "intersection", "island", "lake", "meadow",
    "medium_residential", "mobile_home_park", "mountain", "overpass", "palace", "parking_lot", "railway",
    "railway_station", "rectangular_farmland", "river", "roundabout", "runway", "sea_ice", "ship", "snowberg",
    "sparse_residential", "stadium", "storage_tank", "tennis_court", "terrace", "thermal_power_station", "wetland",
)  # fmt: skip
# GEO-Bench's task specs take their label names from torchgeo's So2Sat / BigEarthNet classes (its converters).
SO2SAT_CLASSES = (
    "Compact high rise", "Compact mid rise", "Compact low rise", "Open high rise", "Open mid rise", "Open low rise",
    "Lightweight low rise", "Large low rise", "Sparsely built", "Heavy industry", "Dense trees", "Scattered trees",
    "Bush, scrub", "Low plants", "Bare rock or paved", "Bare soil or sand", "Water",
)  # fmt: skip
# BigEarthNet's 43-label nomenclature (CORINE land cover level 3), the label vector order of m-bigearthnet.
BIGEARTHNET_43_CLASSES = (
    "Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units",
    "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites", "Dump sites",
    "Construction sites", "Green urban areas", "Sport and leisure facilities", "Non-irrigated arable land",
    "Permanently irrigated land", "Rice fields", "Vineyards", "Fruit trees and berry plantations", "Olive groves",
    "Pastures", "Annual crops associated with permanent crops", "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland",
    "Moors and heathland", "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands",
    "Bare rock", "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes", "Salines",
    "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries", "Sea and ocean",
)  # fmt: skip
BRICK_KILN_CLASSES = ("not brick kiln", "brick kiln")  # as in GEO-Bench's brick_kiln converter
# Band descriptors of the GEO-Bench v1 classification tasks (Sentinel-2 L1C; m-bigearthnet is L2A without B10;
# m-so2sat stacks Sentinel-1 and ten Sentinel-2 bands). The reader itself always follows each file's bands_order.
SENTINEL2_BANDS = (
    "01 - Coastal aerosol", "02 - Blue", "03 - Green", "04 - Red", "05 - Vegetation Red Edge",
    "06 - Vegetation Red Edge", "07 - Vegetation Red Edge", "08 - NIR", "08A - Vegetation Red Edge",
    "09 - Water vapour", "10 - SWIR - Cirrus", "11 - SWIR", "12 - SWIR",
)  # fmt: skip
SENTINEL1_BANDS = ("01 - VH.Real", "02 - VH.Imaginary", "03 - VV.Real", "04 - VV.Imaginary", "05 - VH.LEE Filtered",
                   "06 - VV.LEE Filtered", "07 - VH.LEE Filtered.Real", "08 - VV.LEE Filtered.Imaginary")  # fmt: skip
# mmseg's Potsdam order: the class indices of the prepared masks.
POTSDAM_CLASSES = ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter")


@dataclass(frozen=True)
class PotsdamPart:
    """One archive of the ISPRS Potsdam release: its tiles are ``top_potsdam_<x>_<y>_<suffix>.tif``."""

    archive: str
    suffix: str
    bands: tuple[str, ...] = ()  # imagery: the bands in the file's channel order

    @property
    def layout(self) -> str:
        return f"**/top_potsdam_*_{self.suffix}.tif"


# The ortho products (data.datasets.potsdam.imagery) and label sets (.labels) of the release: one of each is used.
POTSDAM_IMAGERY: dict[str, PotsdamPart] = {
    "RGB": PotsdamPart("2_Ortho_RGB.zip", "RGB", ("R", "G", "B")),
    "IRRG": PotsdamPart("3_Ortho_IRRG.zip", "IRRG", ("IR", "R", "G")),
    "RGBIR": PotsdamPart("4_Ortho_RGBIR.zip", "RGBIR", ("R", "G", "B", "IR")),
}
POTSDAM_LABELS: dict[str, PotsdamPart] = {
    "eroded": PotsdamPart("5_Labels_all_noBoundary.zip", "label_noBoundary"),
    "full": PotsdamPart("5_Labels_all.zip", "label"),
}
_POTSDAM_PARTS = (*POTSDAM_IMAGERY.values(), *POTSDAM_LABELS.values())


def _potsdam_instructions(chosen: str = "") -> str:
    imagery = ", ".join(f"{key}: {part.archive}" for key, part in POTSDAM_IMAGERY.items())
    labels = ", ".join(f"{key}: {part.archive}" for key, part in POTSDAM_LABELS.items())
    return (
        "Potsdam is released after filling in the ISPRS data request form on the homepage. From the download link "
        f"you receive take the ortho archive of the `imagery` setting of data.datasets.potsdam ({imagery}) and the "
        f"label archive of its `labels` setting ({labels}){chosen}. (If the link gives one Potsdam.zip holding "
        "these archives, unzip it and take them from there.)"
    )


def potsdam_part(key: str, value: Any) -> PotsdamPart:
    """The part of the Potsdam release that setting ``key`` (imagery or labels) = ``value`` uses; ConfigError else."""
    choices = {"imagery": POTSDAM_IMAGERY, "labels": POTSDAM_LABELS}[key]
    if value not in choices:
        raise ConfigError(f"config key 'data.datasets.potsdam.{key}': {value!r} is none of {', '.join(choices)}")
    return choices[value]


def _potsdam_release(spec: DatasetSpec, settings: Mapping[str, Any]) -> DatasetSpec:
    """Potsdam narrowed to the ortho product of ``imagery`` and the label set of ``labels``."""
    if unset := [key for key in spec.selected_by if key not in settings]:
        raise ConfigError(
            f"config keys {', '.join(f'data.datasets.potsdam.{k}' for k in unset)} are not set: pass the dataset's "
            "config as validated (rsfm.config.validate_config fills in the schema's defaults)"
        )
    parts = (potsdam_part("imagery", settings["imagery"]), potsdam_part("labels", settings["labels"]))
    chosen = (
        f"; with imagery: {settings['imagery']} and labels: {settings['labels']} these are {parts[0].archive} and "
        f"{parts[1].archive}"
    )
    return replace(
        spec,
        files=tuple(RemoteFile(part.archive) for part in parts),
        layout=tuple(part.layout for part in parts),
        manual_instructions=_potsdam_instructions(chosen),
    )


# The test masks of LoveDA are withheld (evaluated on its server).
_LOVEDA_LAYOUT = (
    "Train/Urban/images_png", "Train/Urban/masks_png", "Train/Rural/images_png", "Train/Rural/masks_png",
    "Val/Urban/images_png", "Val/Urban/masks_png", "Val/Rural/images_png", "Val/Rural/masks_png",
    "Test/Urban/images_png", "Test/Rural/images_png",
)  # fmt: skip
_HF = "https://huggingface.co/datasets"
_GEOBENCH_ZIPS = f"{_HF}/recursix/geo-bench-1.0/resolve/main/classification_v1.0"


def _geobench(
    name: str, task: str, title: str, classes: tuple[str, ...], license: str, notes: str,
    bands: tuple[str, ...], multilabel: bool = False, size: int | None = None, sha256: str | None = None,
) -> DatasetSpec:  # fmt: skip
    """One GEO-Bench v1.0 classification task: ``<task>.zip`` extracting to ``<task>/`` (HDF5 samples + partition)."""
    return DatasetSpec(
        name=name, title=f"GEO-Bench {task}: {title}", task="classification", kind="geobench",
        homepage="https://github.com/ServiceNow/geo-bench",
        license=f"{license} (source dataset); GEO-Bench's HuggingFace card: CC BY-SA 4.0",
        citation="Lacoste et al., GEO-Bench: Toward Foundation Models for Earth Monitoring, NeurIPS 2023 D&B",
        files=(RemoteFile(f"{task}.zip", f"{_GEOBENCH_ZIPS}/{task}.zip", size=size, sha256=sha256),),
        layout=(task, f"{task}/default_partition.json"), classes=classes, bands=bands, multilabel=multilabel,
        notes=f"HuggingFace dataset recursix/geo-bench-1.0 (what geobench-download fetches). {notes}",
    )  # fmt: skip


_DATASETS = (
    DatasetSpec(
        name="millionaid",
        title="Million-AID",
        task="pretraining",
        kind="millionaid",
        homepage="https://captain-whu.github.io/DiRS/",
        license="research use only (see the Million-AID page)",
        citation="Long et al., On Creating Benchmark Dataset for Aerial Image Interpretation: Reviews, Guidances, "
        "and Million-AID, IEEE JSTARS 2021",
        files=(
            RemoteFile("train.zip", md5="1b40503cafa9b0601653ca36cd788852"),
            RemoteFile("test.zip", md5="51a63ee3eeb1351889eacff349a983d8"),
        ),
        layout=("train", "test"),
        manual=True,
        manual_instructions=(
            "Million-AID is distributed through OneDrive / Baidu Netdisk links on its homepage. Download train.zip "
            "(train/<category>/.../*.jpg) and test.zip (test/*.jpg)."
        ),
        notes="Paper 1 pretrains on all ~1M images (train and test), labels unused. md5s as recorded by torchgeo.",
        images=1_000_848,  # Long et al. 2021: 10,000 labelled train + 990,848 test images
    ),
    DatasetSpec(
        name="dota_v2",
        title="DOTA v2.0",
        task="detection",
        kind="dota",
        homepage="https://captain-whu.github.io/DOTA/dataset.html",
        license="academic use only (Google Earth, GF-2 and JL-1 imagery terms)",
        citation="Ding et al., Object Detection in Aerial Images: A Large-Scale Benchmark and Challenges, TPAMI 2021",
        files=(RemoteFile("train.zip"), RemoteFile("val.zip"), RemoteFile("test-dev.zip")),
        layout=("train/images", "train/labelTxt", "val/images", "val/labelTxt", "test/images"),
        classes=DOTA_V2_CLASSES,
        manual=True,
        manual_instructions=(
            "DOTA is shared through Google Drive / Baidu Netdisk links on its homepage after accepting its terms. "
            "DOTA v2.0 = the DOTA v1.0 images plus the v2.0 extra images (all image parts of train, val and "
            "test-dev), labelled by the labelTxt-v2.0 files (not the v1.0/v1.5 labels). Unpack the parts into one "
            "folder laid out as train/images/*.png, train/labelTxt/*.txt, val/images, val/labelTxt and test/images; "
            "then either set `source: extracted` with `path:` to it (no copy), or zip each split folder as train.zip "
            "(holding train/), val.zip (val/) and test-dev.zip (test/) and put them into the folder named below."
        ),
        notes="Split with size 1024, gap 200 (mmrotate's ss configs); ms: rates 0.5/1.0/1.5, gap 500. "
        "No checksums are published for the Drive/Baidu parts.",
    ),
    DatasetSpec(
        name="dior_r",
        title="DIOR-R",
        task="detection",
        kind="dior_r",
        homepage="https://gcheng-nwpu.github.io/#Datasets",
        license="academic use only",
        citation="Cheng et al., Anchor-Free Oriented Proposal Generator for Object Detection, TGRS 2022",
        files=(
            RemoteFile("JPEGImages-trainval.zip"),
            RemoteFile("JPEGImages-test.zip"),
            RemoteFile("Annotations.zip"),
            RemoteFile("ImageSets.zip"),
        ),
        layout=("JPEGImages-trainval", "JPEGImages-test", "Annotations/Oriented Bounding Boxes", "ImageSets/Main"),
        classes=DIOR_R_CLASSES,
        manual=True,
        manual_instructions=(
            "The DIOR images (JPEGImages-trainval.zip, JPEGImages-test.zip) and ImageSets.zip "
            "(ImageSets/Main/{train,val,test}.txt) come from the DIOR Google Drive / Baidu links, the oriented "
            "annotations (DIOR-R) from the same author's page. Provide the DIOR-R annotations as Annotations.zip "
            "holding 'Annotations/Oriented Bounding Boxes/*.xml'."
        ),
        notes="800 x 800 images; 11,725 trainval and 11,738 test images. No checksums are published.",
    ),
    DatasetSpec(
        name="potsdam",
        title="ISPRS Potsdam 2D semantic labeling",
        task="segmentation",
        kind="potsdam",
        homepage="https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-potsdam.aspx",
        license="ISPRS benchmark terms: research use, cite the benchmark, no redistribution",
        citation="Rottensteiner et al., The ISPRS benchmark on urban object classification and 3D building "
        "reconstruction, ISPRS Annals 2012",
        files=tuple(RemoteFile(part.archive) for part in _POTSDAM_PARTS),
        # Globs: peers (torchgeo, mmseg's converter) find the label tifs at the top of their zips, not in a folder.
        layout=tuple(part.layout for part in _POTSDAM_PARTS),
        classes=POTSDAM_CLASSES,
        manual=True,
        manual_instructions=_potsdam_instructions(),
        notes="38 tiles of 6000 x 6000 at 5 cm; 24 train / 14 test tiles in the usual split. No checksums published.",
        selected_by=("imagery", "labels"),
        select=_potsdam_release,
    ),
    DatasetSpec(
        name="loveda",
        title="LoveDA",
        task="segmentation",
        kind="loveda",
        homepage="https://github.com/Junjue-Wang/LoveDA",
        license="CC BY-NC-SA 4.0",
        citation="Wang et al., LoveDA: A Remote Sensing Land-Cover Dataset for Domain Adaptive Semantic "
        "Segmentation, NeurIPS Datasets and Benchmarks 2021",
        files=tuple(
            RemoteFile(f"{split}.zip", f"https://zenodo.org/records/5706578/files/{split}.zip?download=1", md5=md5)
            for split, md5 in (
                ("Train", "de2b196043ed9b4af1690b3f9a7d558f"),
                ("Val", "84cae2577468ff0b5386758bb386d31d"),
                ("Test", "a489be0090465e01fb067795d24e6b47"),
            )
        ),
        layout=_LOVEDA_LAYOUT,
        classes=("background", "building", "road", "water", "barren", "forest", "agriculture"),
        notes="Zenodo record 5706578 (doi:10.5281/zenodo.5706578); md5s as recorded by torchgeo. "
        "Masks: 0 no-data, 1..7 the classes.",
    ),
    DatasetSpec(
        name="eurosat",
        title="EuroSAT (RGB)",
        task="classification",
        kind="class_folders",
        homepage="https://github.com/phelber/EuroSAT",
        license="MIT",
        citation="Helber et al., EuroSAT: A Novel Dataset and Deep Learning Benchmark for Land Use and Land "
        "Cover Classification, IEEE JSTARS 2019",
        files=(
            RemoteFile(
                "EuroSAT.zip",
                f"{_HF}/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
                md5="c8fa014336c82ac7804f0398fcb19387",
            ),
        ),
        layout=("2750",),
        classes=EUROSAT_CLASSES,
        image_suffix=".jpg",
        notes="27,000 64 x 64 RGB jpgs in 2750/<class>/. Url and md5 as in torchvision's EuroSAT: torchgeo's pinned "
        "copy of the official https://madm.dfki.de/files/sentinel/EuroSAT.zip (same md5).",
    ),
    DatasetSpec(
        name="ucmerced",
        title="UC Merced Land Use",
        task="classification",
        kind="class_folders",
        homepage="http://weegee.vision.ucmerced.edu/datasets/landuse.html",
        license="public domain imagery (USGS National Map); cite the paper",
        citation="Yang and Newsam, Bag-Of-Visual-Words and Spatial Extensions for Land-Use Classification, "
        "ACM SIGSPATIAL 2010",
        files=(
            RemoteFile(
                "UCMerced_LandUse.zip",
                f"{_HF}/torchgeo/ucmerced/resolve/7c5ef3454d9b1cccfa7ccde0c01fc8f00a45909a/UCMerced_LandUse.zip",
                md5="5b7ec56793786b6dc8a908e8854ac0e4",
            ),
        ),
        layout=("UCMerced_LandUse/Images",),
        classes=UCMERCED_CLASSES,
        image_suffix=".tif",
        notes="2,100 256 x 256 tifs in UCMerced_LandUse/Images/<class>/. Url and md5 as in torchgeo: a pinned copy "
        "of the official http://weegee.vision.ucmerced.edu/datasets/UCMerced_LandUse.zip (same md5; plain http).",
    ),
    DatasetSpec(
        name="aid",
        title="AID: Aerial Image Dataset",
        task="classification",
        kind="class_folders",
        homepage="https://captain-whu.github.io/AID/",
        license="research use only",
        citation="Xia et al., AID: A Benchmark Data Set for Performance Evaluation of Aerial Scene "
        "Classification, TGRS 2017",
        files=(RemoteFile("AID.zip"),),
        layout=("AID",),
        classes=AID_CLASSES,
        image_suffix=".jpg",
        manual=True,
        manual_instructions=(
            "AID is shared via OneDrive / Baidu Netdisk links on its homepage; save the archive as AID.zip (it must "
            "hold AID/<Class>/*.jpg). If you get another format (e.g. .rar), extract it yourself and set `source: "
            "extracted` with `path:` to the folder holding AID/."
        ),
        notes="10,000 600 x 600 jpgs, 30 classes. No checksum published.",
    ),
    DatasetSpec(
        name="resisc45",
        title="NWPU-RESISC45",
        task="classification",
        kind="class_folders",
        homepage="https://gcheng-nwpu.github.io/#Datasets",
        license="no explicit license; academic research use (cite the paper)",
        citation="Cheng et al., Remote Sensing Image Scene Classification: Benchmark and State of the Art, "
        "Proc. IEEE 2017",
        files=(
            RemoteFile(
                "NWPU-RESISC45.zip",
                f"{_HF}/isaaccorley/resisc45/resolve/883edc0eee77b2c84225472f10f126e3ed83fa6e/NWPU-RESISC45.zip",
                md5="75206b2e16446591afa88e2628744886",
            ),
        ),
        layout=("NWPU-RESISC45",),
        classes=RESISC45_CLASSES,
        image_suffix=".jpg",
        notes="31,500 256 x 256 jpgs in NWPU-RESISC45/<class>/. The official release is NWPU-RESISC45.rar on "
        "OneDrive (md5 d824acb73957502b00efd559fc6cfbbb), which cannot be fetched by script nor extracted here; "
        "url and md5 are torchgeo's zip of the same folder (torchgeo >= 0.6).",
    ),
    _geobench(
        "geobench_m_eurosat",
        "m-eurosat",
        "EuroSAT (Sentinel-2, 13 bands)",
        EUROSAT_CLASSES,
        license="MIT",
        notes="10 classes, 64 x 64. No checksum published.",
        bands=SENTINEL2_BANDS,
    ),
    _geobench(
        "geobench_m_bigearthnet",
        "m-bigearthnet",
        "BigEarthNet (Sentinel-2, 12 bands)",
        BIGEARTHNET_43_CLASSES,
        license="CDLA-Permissive-1.0",
        notes="43 labels, multi-label, 120 x 120. Size and sha256 as measured by a third party (not published).",
        bands=tuple(b for b in SENTINEL2_BANDS if not b.startswith("10")),
        multilabel=True,
        size=6_561_072_575,
        sha256="7997a68855b473c0c9b92986d1365cddaf9f83d90b7858c81914bd915320bed4",
    ),
    _geobench(
        "geobench_m_so2sat",
        "m-so2sat",
        "So2Sat LCZ42 (Sentinel-1 + Sentinel-2)",
        SO2SAT_CLASSES,
        license="CC BY 4.0",
        notes="17 local climate zones, 32 x 32. No checksum published.",
        bands=SENTINEL1_BANDS + tuple(b for b in SENTINEL2_BANDS if b[:2] not in {"01", "09", "10"}),
    ),
    _geobench(
        "geobench_m_brick_kiln",
        "m-brick-kiln",
        "Brick kilns (Sentinel-2, 13 bands)",
        BRICK_KILN_CLASSES,
        license="CC BY-SA 4.0",
        notes="2 classes, 64 x 64. No checksum published.",
        bands=SENTINEL2_BANDS,
    ),
)
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _DATASETS}


def get_dataset(name: str, settings: Mapping[str, Any] | None = None) -> DatasetSpec:
    """The registry entry for ``name``; DataError listing the known names otherwise.

    With ``settings`` (data.datasets.<name>, or the part :func:`release_settings` picks), the entry narrowed to the
    release files those settings need; without, the whole release.
    """
    try:
        spec = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None
    if settings is None or spec.select is None:
        return spec
    return spec.select(spec, settings)


def release_settings(name: str, dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of ``name`` that decide which release files are needed: what the download, verify and extract
    rules are given (so changing, say, the crop size does not download or extract anything again)."""
    return {key: dataset_cfg[key] for key in get_dataset(name).selected_by if key in dataset_cfg}
