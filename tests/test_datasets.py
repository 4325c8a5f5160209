import numpy as np
import pytest
from PIL import Image

from zsseg import ZsegError
from zsseg.evaluation.datasets import GenericDataset, get_spec

from .conftest import require_shared


def make_tree(root, labels, size=(6, 4)):
    for split_dir in ("images", "labels"):
        (root / "val" / split_dir).mkdir(parents=True, exist_ok=True)
    for i, lab in enumerate(labels):
        Image.new("RGB", size).save(root / "val" / "images" / f"{i:03d}.jpg")
        Image.fromarray(np.asarray(lab, dtype=np.uint8)).save(root / "val" / "labels" / f"{i:03d}.png")


def test_label_maps_are_data(tmp_path):
    lab = np.tile(np.array([0, 1, 20, 255, 3, 4], np.uint8), (4, 1))
    make_tree(tmp_path, [lab])
    voc21 = GenericDataset(tmp_path, "val", get_spec("voc21"))
    s = voc21.samples[0]
    assert voc21.read_label(s)[0].tolist() == [0, 1, 20, 255, 3, 4]
    voc20 = GenericDataset(tmp_path, "val", get_spec("voc20"))
    assert voc20.read_label(s)[0].tolist() == [255, 0, 19, 255, 2, 3]
    ade = GenericDataset(tmp_path, "val", get_spec("ade150"))
    assert ade.read_label(s)[0].tolist() == [255, 0, 19, 255, 2, 3]


def test_coco_stuff_171_mapping(tmp_path):
    lab = np.tile(np.array([0, 11, 12, 181, 255, 90], np.uint8), (4, 1))  # 11 and 90 are unused ids
    make_tree(tmp_path, [lab])
    ds = GenericDataset(tmp_path, "val", get_spec("coco_stuff171"))
    assert ds.read_label(ds.samples[0])[0].tolist() == [0, 255, 11, 170, 255, 255]


def test_camvid_unlabelled(tmp_path):
    make_tree(tmp_path, [np.tile(np.array([0, 10, 11, 5, 5, 5], np.uint8), (4, 1))])
    ds = GenericDataset(tmp_path, "val", get_spec("camvid"))
    assert ds.read_label(ds.samples[0])[0].tolist() == [0, 10, 255, 5, 5, 5]


def test_malformed_datasets_name_the_file(tmp_path):
    make_tree(tmp_path, [np.full((4, 6), 30, np.uint8)])
    ds = GenericDataset(tmp_path, "val", get_spec("voc21"))
    with pytest.raises(ZsegError, match=r"000\.png: label values \[30\]"):
        ds.read_label(ds.samples[0])
    with pytest.raises(ZsegError, match="label is 6x4 but its image is 5x5"):
        ds.read_label(ds.samples[0], (5, 5))
    (tmp_path / "val" / "labels" / "000.png").unlink()
    with pytest.raises(ZsegError, match="000.png: missing label"):
        GenericDataset(tmp_path, "val", get_spec("voc21"))
    with pytest.raises(ZsegError, match="folder not found"):
        GenericDataset(tmp_path, "train", get_spec("voc21"))
    with pytest.raises(ZsegError, match="unknown dataset"):
        get_spec("imagenet")


@pytest.mark.integration
@pytest.mark.parametrize("folder, spec, count", [("voc2012", "voc21", 112), ("camvid", "camvid", 101), ("ade20k", "ade150", 3), ("coco_stuff", "coco_stuff171", 10)])
def test_real_shared_data(folder, spec, count):
    root = require_shared("data", folder)
    ds = GenericDataset(root, "val", get_spec(spec))
    assert len(ds) == count
    for s in ds.samples[:3]:
        with Image.open(s.image_path) as im:
            lab = ds.read_label(s, (im.size[1], im.size[0]))
        assert lab.dtype == np.int64 and ((lab == 255) | ((lab >= 0) & (lab < len(ds.spec.load_vocabulary())))).all()
