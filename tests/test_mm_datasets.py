"""The prepared data loads through the toolboxes' own dataset classes (mmrotate DOTA, mmseg Potsdam/LoveDA)."""

import numpy as np
import pytest

from rsfm.data.annotations import DIOR_R_CLASSES, DOTA_V2_CLASSES


@pytest.fixture(scope="module")
def prepared(default_data):
    return default_data


@pytest.mark.parametrize(("name", "classes"), [("dota_v2", DOTA_V2_CLASSES), ("dior_r", DIOR_R_CLASSES)])
def test_mmrotate_dota_dataset_reads_windows(prepared, name, classes):
    from mmrotate.datasets import DOTADataset
    from mmrotate.utils import register_all_modules

    register_all_modules()
    split = prepared / "tiles" / name / "train"
    dataset = DOTADataset(
        data_root=str(split), ann_file="annfiles/", data_prefix={"img_path": "images/"}, metainfo={"classes": classes},
        filter_cfg={"filter_empty_gt": True}, pipeline=[], test_mode=False,
    )  # fmt: skip
    assert len(dataset) > 0
    boxes = [inst for i in range(len(dataset)) for inst in dataset.get_data_info(i)["instances"]]
    assert boxes and all(0 <= inst["bbox_label"] < len(classes) for inst in boxes)
    coords = np.array([inst["bbox"] for inst in boxes])
    size = 1024 if name == "dota_v2" else 800
    assert coords.min() >= 0 and coords.max() <= size
    assert (split / "images" / dataset.get_data_info(0)["file_name"]).is_file()


def test_mmseg_datasets_read_crops(prepared):
    from mmseg.datasets import LoveDADataset, PotsdamDataset

    train = {"img_path": "img_dir/train", "seg_map_path": "ann_dir/train"}
    potsdam = PotsdamDataset(
        data_root=str(prepared / "tiles/potsdam"), data_prefix=train, reduce_zero_label=False, pipeline=[]
    )
    assert len(potsdam) == 27
    loveda = LoveDADataset(data_root=str(prepared / "prepared/loveda"), data_prefix=train, pipeline=[])
    assert len(loveda) == 6  # 3 per domain
    info = loveda.get_data_info(0)
    assert info["reduce_zero_label"] is True and info["seg_map_path"].endswith(".png")
