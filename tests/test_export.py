"""Exports other tools read: COCO-style segments with RLE masks (checked with pycocotools) and
transformers' image-segmentation records."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from scipy import ndimage

from zsseg.export import coco_segments, pipeline_records

from .test_cli import run


@pytest.fixture
def label_map():
    """3 classes of 4 in a 37 x 53 map: class 1 in two pieces (one touching the other only by a
    corner, so the same segment), class 2 in two separate pieces, a one-pixel piece of class 3."""
    rng = np.random.default_rng(0)
    labels = np.zeros((37, 53), dtype=np.int32)
    labels[2:10, 3:20] = 1
    labels[10:15, 20:30] = 1  # diagonal neighbour of (9, 19)
    labels[20:30, 5:15] = 2
    labels[20:36, 40:52] = 2
    labels[0, 52] = 3
    confidence = rng.uniform(0.2, 1.0, labels.shape).astype(np.float32)
    return labels, confidence


def paint(coco: dict) -> np.ndarray:
    out = np.full((coco["height"], coco["width"]), -1)
    for a in coco["annotations"]:
        m = mask_utils.decode(a["segmentation"] | {"counts": a["segmentation"]["counts"].encode()}).astype(bool)
        assert (out[m] == -1).all(), "segments overlap"
        out[m] = a["category_id"] - 1
    return out


def test_coco_segments_decode_to_the_exact_pixels(label_map):
    labels, confidence = label_map
    coco = coco_segments(labels, ["sky", "car", "road", "pole"], confidence)
    assert (paint(coco) == labels).all()
    assert [c["name"] for c in coco["categories"]] == ["sky", "car", "road", "pole"]
    per_class = {c: ndimage.label(labels == c, structure=np.ones((3, 3)))[1] for c in range(4)}
    assert per_class == {0: 1, 1: 1, 2: 2, 3: 1}
    assert [a["category_id"] - 1 for a in coco["annotations"]] == [0, 1, 2, 2, 3]
    for a in coco["annotations"]:
        rle = a["segmentation"] | {"counts": a["segmentation"]["counts"].encode()}
        m = mask_utils.decode(rle).astype(bool)
        assert a["area"] == int(mask_utils.area(rle)) == int(m.sum())
        assert a["bbox"] == [int(v) for v in mask_utils.toBbox(rle)]
        assert a["score"] == pytest.approx(float(confidence[m].mean()), abs=1e-4)
        assert a["category"] == coco["categories"][a["category_id"] - 1]["name"]
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])


def test_pipeline_records(label_map):
    labels, confidence = label_map
    records = pipeline_records(labels, ["sky", "car", "road", "pole"], confidence)
    assert [r["label"] for r in records] == ["sky", "car", "road", "pole"]
    for c, r in enumerate(records):
        assert set(r) == {"score", "label", "mask"} and r["mask"].mode == "L" and r["mask"].size == (53, 37)
        m = np.array(r["mask"])
        assert set(np.unique(m)) <= {0, 255} and ((m == 255) == (labels == c)).all()
        assert r["score"] == pytest.approx(float(confidence[labels == c].mean()), abs=1e-4)
    assert pipeline_records(labels, ["sky", "car", "road", "pole"])[0]["score"] is None


def test_segment_coco_file_matches_the_label_png(fake_model, image_file, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "out"
    code, _ = run(capsys, "segment", image_file, "--classes", "red, green, blue", "--out", out, "--coco", "--quiet")
    assert code == 0
    coco = json.loads((out / "halves.coco.json").read_text())
    assert coco["image"] == "halves.png" and [c["name"] for c in coco["categories"]] == ["red", "green", "blue"]
    assert (paint(coco) == np.array(Image.open(out / "halves.png"))).all()
    summary = json.loads((out / "halves.json").read_text())
    assert coco["run"] == summary["run"]


@pytest.mark.integration
def test_segmentation_methods(default_segmenter):
    from skimage import data

    seg = default_segmenter(data.astronaut(), "person, sky, rocket")
    coco, records = seg.to_coco(), seg.to_pipeline()
    assert (paint(coco) == seg.labels).all()
    assert {r["label"] for r in records} == set(seg.pixel_counts())
    assert all(0 < r["score"] <= 1 for r in records)
