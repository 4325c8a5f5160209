import numpy as np
import pytest
from PIL import Image

from zsseg import ZsegError
from zsseg.datasets import SegmentationDataset, get_spec

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
    voc21 = SegmentationDataset(tmp_path, "val", get_spec("voc21"))
    s = voc21.samples[0]
    assert voc21.read_label(s)[0].tolist() == [0, 1, 20, -1, 3, 4]
    voc20 = SegmentationDataset(tmp_path, "val", get_spec("voc20"))
    assert voc20.read_label(s)[0].tolist() == [-1, 0, 19, -1, 2, 3]
    ade = SegmentationDataset(tmp_path, "val", get_spec("ade150"))
    assert ade.read_label(s)[0].tolist() == [-1, 0, 19, -1, 2, 3]


def test_coco_stuff_171_mapping(tmp_path):
    lab = np.tile(np.array([0, 11, 12, 181, 255, 90], np.uint8), (4, 1))  # 11 and 90 are unused ids
    make_tree(tmp_path, [lab])
    ds = SegmentationDataset(tmp_path, "val", get_spec("coco_stuff171"))
    assert ds.read_label(ds.samples[0])[0].tolist() == [0, -1, 11, 170, -1, -1]


def test_camvid_unlabelled(tmp_path):
    make_tree(tmp_path, [np.tile(np.array([0, 10, 11, 5, 5, 5], np.uint8), (4, 1))])
    ds = SegmentationDataset(tmp_path, "val", get_spec("camvid"))
    assert ds.read_label(ds.samples[0])[0].tolist() == [0, 10, -1, 5, 5, 5]


def test_a_generic_label_beyond_the_class_list_says_what_to_do(tmp_path):
    """CamVid's 'Void' is value 11 beside 11 classes: read as the generic layout, the error names the
    file, the ids the class list allows and the two remedies, on one line."""
    make_tree(tmp_path, [np.tile(np.array([0, 10, 11], np.uint8), (4, 2))])
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(11)) + "\n")
    ds = SegmentationDataset(tmp_path, "val", get_spec("generic"))
    with pytest.raises(ZsegError) as err:
        ds.read_label(ds.samples[0])
    assert str(err.value).endswith(
        "000.png: label id 11 but the vocabulary has 11 classes (ids 0-10); "
        "add the class to the class list, or mark unlabelled pixels 255"
    )


def test_malformed_datasets_name_the_file(tmp_path):
    make_tree(tmp_path, [np.full((4, 6), 30, np.uint8)])
    ds = SegmentationDataset(tmp_path, "val", get_spec("voc21"))
    with pytest.raises(ZsegError, match=r"000\.png: label values \[30\]"):
        ds.read_label(ds.samples[0])
    with pytest.raises(ZsegError, match="label is 6x4 but its image is 5x5"):
        ds.read_label(ds.samples[0], (5, 5))
    (tmp_path / "val" / "labels" / "000.png").unlink()
    with pytest.raises(ZsegError, match="000.png: missing label"):
        SegmentationDataset(tmp_path, "val", get_spec("voc21"))
    with pytest.raises(ZsegError, match="split list not found"):  # no generic split: official VOC layout tried
        SegmentationDataset(tmp_path, "train", get_spec("voc21"))
    with pytest.raises(ZsegError, match="unknown dataset"):
        get_spec("imagenet")


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _rgb(path, h=4, w=6):
    _save(path, np.zeros((h, w, 3), np.uint8))


def build_voc(root):
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000001\n2007_000002\n")
    for i in ("2007_000001", "2007_000002"):
        _rgb(root / "JPEGImages" / f"{i}.jpg")
        _save(root / "SegmentationClass" / f"{i}.png", np.full((4, 6), 15, np.uint8))
    return 15


def build_ade(root):
    _rgb(root / "images" / "validation" / "ADE_val_00000001.jpg")
    _save(root / "annotations" / "validation" / "ADE_val_00000001.png", np.full((4, 6), 3, np.uint8))
    return 2


def build_ade847(root):
    _rgb(root / "images_detectron2" / "val" / "a.jpg")
    _save(root / "annotations_detectron2" / "val" / "a.tif", np.full((4, 6), 300, np.uint16))
    (root / "classes.txt").write_text("\n".join(f"class{i}" for i in range(847)))
    return 300


def build_pc59(root):
    _rgb(root / "JPEGImages" / "2008_000002.jpg")
    _save(root / "annotations_detectron2" / "pc59_val" / "2008_000002.png", np.full((4, 6), 59, np.uint8))
    return 58


def build_coco(root):
    _rgb(root / "images" / "val2017" / "000000000139.jpg")
    _save(root / "stuffthingmaps_trainval2017" / "val2017" / "000000000139.png", np.full((4, 6), 181, np.uint8))
    return 170


def build_cityscapes(root):
    _rgb(root / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000019_leftImg8bit.png")
    _save(
        root / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_labelIds.png", np.full((4, 6), 26, np.uint8)
    )
    return 13  # labelId 26 = car = train id 13


def build_camvid(root):
    _rgb(root / "val" / "0016E5_07959.png")
    _save(root / "valannot" / "0016E5_07959.png", np.full((4, 6), 8, np.uint8))
    return 8


@pytest.mark.parametrize(
    "name, build",
    [
        ("voc21", build_voc),
        ("ade150", build_ade),
        ("ade847", build_ade847),
        ("pc59", build_pc59),
        ("coco_stuff171", build_coco),
        ("cityscapes", build_cityscapes),
        ("camvid", build_camvid),
    ],
)
def test_official_layouts(tmp_path, name, build):
    expected = build(tmp_path)
    ds = SegmentationDataset(tmp_path, "val", get_spec(name))
    assert ds.layout != "generic" and len(ds) >= 1
    s = ds.samples[0]
    assert (ds.read_label(s, (4, 6)) == expected).all()
    assert (
        len(ds.vocabulary)
        == {
            "voc21": 21,
            "ade150": 150,
            "ade847": 847,
            "pc59": 59,
            "coco_stuff171": 171,
            "cityscapes": 19,
            "camvid": 11,
        }[name]
    )


def test_pc459_needs_its_class_file(tmp_path):
    _rgb(tmp_path / "JPEGImages" / "x.jpg")
    _save(tmp_path / "annotations_detectron2" / "pc459_val" / "x.tif", np.full((4, 6), 65535, np.uint16))
    with pytest.raises(ZsegError, match="classes.txt: pc459 needs its class-name file"):
        SegmentationDataset(tmp_path, "val", get_spec("pc459"))
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(459)))
    ds = SegmentationDataset(tmp_path, "val", get_spec("pc459"))
    assert (ds.read_label(ds.samples[0]) == -1).all()


@pytest.mark.integration
@pytest.mark.parametrize(
    "folder, spec, count",
    [
        ("voc2012", "voc21", 112),
        ("camvid", "camvid", 101),
        ("ade20k", "ade150", 3),
        ("coco_stuff", "coco_stuff171", 10),
    ],
)
def test_real_shared_data(folder, spec, count):
    root = require_shared("data", folder)
    ds = SegmentationDataset(root, "val", get_spec(spec))
    assert len(ds) == count
    for s in ds.samples[:3]:
        with Image.open(s.image_path) as im:
            lab = ds.read_label(s, (im.size[1], im.size[0]))
        assert lab.dtype == np.int64 and ((lab == -1) | ((lab >= 0) & (lab < len(ds.vocabulary)))).all()
