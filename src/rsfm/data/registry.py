"""Dataset registry: where each release of both papers comes from, what its files are, how it is laid out.

One entry per dataset (in the manner of torchgeo's dataset classes, which own their url and md5): the official
source, file names, sizes/checksums where the host publishes them (or a well-kept peer recorded them), the license
note, the extracted layout the converters expect and the class names in official order. Checksums marked None are not
published; the download still verifies the transferred size against the server's Content-Length.

Hosts that need a form, a login, Google Drive, Baidu or OneDrive are ``manual``: the download rule stops and tells
the user where to get the files and where to put them, and continues once they are there.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsfm.data.annotations import DIOR_R_CLASSES, DOTA_V2_CLASSES
from rsfm.errors import DataError

TASKS = ("pretraining", "detection", "segmentation", "classification")
KINDS = ("millionaid", "dota", "dior_r", "potsdam", "loveda", "class_folders", "geobench")


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
    manual: bool = False
    manual_instructions: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS or self.kind not in KINDS:
            raise ValueError(f"{self.name}: task {self.task!r} / kind {self.kind!r} not in {TASKS} / {KINDS}")
        if not self.manual and any(f.url is None for f in self.files):
            raise ValueError(f"{self.name}: every file of an automatic download needs a url")


_GEOBENCH_HOME = "https://github.com/ServiceNow/geo-bench"
_GEOBENCH_HF = "https://huggingface.co/datasets/recursix/geo-bench-1.0/resolve/main/classification_v1.0"
_GEOBENCH_CITATION = "Lacoste et al., GEO-Bench: Toward Foundation Models for Earth Monitoring, NeurIPS 2023"
_GEOBENCH_LICENSE = "per source dataset (CC-BY / CDLA variants); see the GEO-Bench paper, Table 6"

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
SO2SAT_CLASSES = (
    "compact_high_rise", "compact_mid_rise", "compact_low_rise", "open_high_rise", "open_mid_rise", "open_low_rise",
    "lightweight_low_rise", "large_low_rise", "sparsely_built", "heavy_industry", "dense_trees", "scattered_trees",
    "bush_scrub", "low_plants", "bare_rock_or_paved", "bare_soil_or_sand", "water",
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


def _geobench(name: str, task: str, title: str, classes: tuple[str, ...], notes: str) -> DatasetSpec:
    return DatasetSpec(
        name=name, title=f"GEO-Bench {task}: {title}", task="classification", kind="geobench",
        homepage=_GEOBENCH_HOME, license=_GEOBENCH_LICENSE, citation=_GEOBENCH_CITATION,
        files=(RemoteFile(f"{task}.zip", f"{_GEOBENCH_HF}/{task}.zip"),),
        layout=(task, f"{task}/default_partition.json"), classes=classes,
        notes="Hosted on the HuggingFace hub (recursix/geo-bench-1.0); no checksums published. " + notes,
    )  # fmt: skip


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="millionaid",
            title="Million-AID",
            task="pretraining",
            kind="millionaid",
            homepage="https://captain-whu.github.io/DiRS/",
            license="research use only (see the Million-AID page)",
            citation="Long et al., On Creating Benchmark Dataset for Aerial Image Interpretation, IEEE JSTARS 2021",
            files=(RemoteFile("train.zip"), RemoteFile("test.zip")),
            layout=("train", "test"),
            manual=True,
            manual_instructions=(
                "Million-AID is distributed through OneDrive and Baidu Netdisk links on its homepage. Download the "
                "train and test archives (zip; if your mirror gives .rar parts, extract them yourself and use "
                "`source: extracted` with `path:` pointing at the folder holding train/ and test/)."
            ),
            notes="Paper 1 pretrains on all ~1M images (train and test folders), labels unused.",
        ),
        DatasetSpec(
            name="dota_v2",
            title="DOTA v2.0",
            task="detection",
            kind="dota",
            homepage="https://captain-whu.github.io/DOTA/dataset.html",
            license="academic use only (Google Earth / GF-2 / JL-1 imagery terms)",
            citation="Ding et al., Object Detection in Aerial Images: A Large-Scale Benchmark and Challenges, "
            "TPAMI 2021",
            files=(
                RemoteFile("train.zip"),
                RemoteFile("val.zip"),
                RemoteFile("test-dev.zip"),
            ),
            layout=("train/images", "train/labelTxt", "val/images", "val/labelTxt", "test/images"),
            classes=DOTA_V2_CLASSES,
            manual=True,
            manual_instructions=(
                "DOTA is shared through Google Drive / Baidu Netdisk after accepting its terms on the homepage. "
                "DOTA v2.0 = the DOTA v1.0 images plus the v2.0 extra images, with the labelTxt-v2.0 labels. Pack them "
                "as train.zip (train/images/*.png, train/labelTxt/*.txt), val.zip (val/images, val/labelTxt) and "
                "test-dev.zip (test/images), or extract them into one folder with that layout and set "
                "`source: extracted` with `path:`."
            ),
            notes="Split with size 1024, gap 200 (mmrotate's ss configs); ms: rates 0.5/1.0/1.5, gap 500.",
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
                "DIOR images come from the DIOR page (Google Drive / Baidu) and the oriented annotations (DIOR-R) from "
                "the same author's page. Provide JPEGImages-trainval.zip, JPEGImages-test.zip, Annotations.zip "
                "(holding "
                "'Annotations/Oriented Bounding Boxes/*.xml') and ImageSets.zip (ImageSets/Main/{train,val,test}.txt)."
            ),
            notes="800 x 800 images; 11,725 trainval and 11,738 test images.",
        ),
        DatasetSpec(
            name="potsdam",
            title="ISPRS Potsdam 2D semantic labeling",
            task="segmentation",
            kind="potsdam",
            homepage="https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-potsdam.aspx",
            license="ISPRS benchmark terms: research use, cite the benchmark",
            citation="Rottensteiner et al., The ISPRS benchmark on urban object classification and 3D building "
            "reconstruction, ISPRS Annals 2012",
            files=(
                RemoteFile("2_Ortho_RGB.zip"),
                RemoteFile("5_Labels_all.zip"),
                RemoteFile("5_Labels_all_noBoundary.zip"),
            ),
            layout=("2_Ortho_RGB", "5_Labels_all", "5_Labels_all_noBoundary"),
            classes=("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter"),
            manual=True,
            manual_instructions=(
                "Potsdam is released after filling in the ISPRS data request form on the homepage; download "
                "2_Ortho_RGB.zip, 5_Labels_all.zip and 5_Labels_all_noBoundary.zip from the link you receive."
            ),
            notes="38 tiles of 6000 x 6000 at 5 cm; 24 train / 14 test tiles in the usual split.",
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
            files=(
                RemoteFile(
                    "Train.zip",
                    "https://zenodo.org/records/5706578/files/Train.zip?download=1",
                    md5="de2b196043ed9b4af1690b3f9a7d558f",
                ),
                RemoteFile(
                    "Val.zip",
                    "https://zenodo.org/records/5706578/files/Val.zip?download=1",
                    md5="84cae2577468ff0b5386758bb386d31d",
                ),
                RemoteFile(
                    "Test.zip",
                    "https://zenodo.org/records/5706578/files/Test.zip?download=1",
                    md5="a489be0090465e01fb067795d24e6b47",
                ),
            ),
            layout=(
                "Train/Urban/images_png",
                "Train/Urban/masks_png",
                "Train/Rural/images_png",
                "Train/Rural/masks_png",
                "Val/Urban/images_png",
                "Val/Rural/images_png",
                "Test/Urban/images_png",
                "Test/Rural/images_png",
            ),
            classes=("background", "building", "road", "water", "barren", "forest", "agriculture"),
            notes="Zenodo record 5706578; md5s as recorded by torchgeo. Masks: 0 no-data, 1..7 classes.",
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
                    "https://madm.dfki.de/files/sentinel/EuroSAT.zip",
                    md5="c8fa014336c82ac7804f0398fcb19387",
                ),
            ),
            layout=("2750",),
            classes=EUROSAT_CLASSES,
            notes="27,000 64 x 64 RGB jpgs in 2750/<class>/; md5 as recorded by torchvision.",
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
                    "http://weegee.vision.ucmerced.edu/datasets/UCMerced_LandUse.zip",
                    md5="5b7ec56793786b6dc8a908e8854ac0e4",
                ),
            ),
            layout=("UCMerced_LandUse/Images",),
            classes=UCMERCED_CLASSES,
            notes="2,100 256 x 256 tifs; md5 as recorded by torchgeo.",
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
            manual=True,
            manual_instructions="AID is shared via OneDrive / Baidu links on its homepage; download AID.zip.",
            notes="10,000 600 x 600 jpgs, 30 classes.",
        ),
        DatasetSpec(
            name="resisc45",
            title="NWPU-RESISC45",
            task="classification",
            kind="class_folders",
            homepage="https://gcheng-nwpu.github.io/#Datasets",
            license="research use only",
            citation="Cheng et al., Remote Sensing Image Scene Classification: Benchmark and State of the Art, "
            "Proc. IEEE 2017",
            files=(RemoteFile("NWPU-RESISC45.rar", md5="d824acb73957502b00efd559fc6cfbbb"),),
            layout=("NWPU-RESISC45",),
            classes=RESISC45_CLASSES,
            manual=True,
            manual_instructions=(
                "NWPU-RESISC45 is shared as a RAR archive via OneDrive on its homepage. RAR cannot be extracted here: "
                "unpack it yourself (unrar/7z) and set `source: extracted` with `path:` pointing at the folder that "
                "holds NWPU-RESISC45/."
            ),
            notes="31,500 256 x 256 jpgs, 45 classes; md5 of the RAR as recorded by torchgeo.",
        ),
        _geobench(
            "geobench_m_eurosat", "m-eurosat", "EuroSAT (Sentinel-2, 13 bands)", EUROSAT_CLASSES, "10 classes, 64 x 64."
        ),
        _geobench(
            "geobench_m_bigearthnet",
            "m-bigearthnet",
            "BigEarthNet (Sentinel-2, 12 bands)",
            BIGEARTHNET_43_CLASSES,
            "43 labels, multi-label, 120 x 120.",
        ),
        _geobench(
            "geobench_m_so2sat",
            "m-so2sat",
            "So2Sat LCZ42 (Sentinel-1 + Sentinel-2)",
            SO2SAT_CLASSES,
            "17 local climate zones, 32 x 32.",
        ),
        _geobench(
            "geobench_m_brick_kiln",
            "m-brick-kiln",
            "Brick kilns (Sentinel-2, 13 bands)",
            ("not_brick_kiln", "brick_kiln"),
            "2 classes, 64 x 64.",
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None
