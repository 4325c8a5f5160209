"""The CLIP path with weights that mean something: the tiny CLIP trained on the toy world
(toyworld/tiny-clip, loaded as a user loads a downloaded checkpoint) must segment that world, and
deliberately broken variants of the pipeline must do clearly worse (so the check can fail)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toyworld.world import CLASSES, write_split
from zsseg import Segmenter, cli
from zsseg.evaluation import EvalConfig, run
from zsseg.segmenter import SegmenterConfig

TINY_CLIP = Path(__file__).resolve().parent.parent / "toyworld" / "tiny-clip"
# Measured with the shipped tiny CLIP on these 16 scenes (docs/tiny-clip.md): graph proposals and
# masked crops reach 59.1 mIoU; unnormalised pixels fall to 20.2, crops without the mean fill to 31.2.
MIN_MIOU = 50.0
SETTINGS = dict(model=str(TINY_CLIP), proposals="graph", short_side=96)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not (TINY_CLIP / "model.safetensors").is_file():
        pytest.skip(f"{TINY_CLIP} is absent: train it with `python -m toyworld.tiny_clip` (docs/tiny-clip.md)")
    return write_split(tmp_path_factory.mktemp("world"), "val", 16, seed=1)


@pytest.fixture(scope="module")
def segmenter(world):
    return Segmenter.from_pretrained(
        **{k: v for k, v in SETTINGS.items() if k in ("model", "proposals")}, short_side=96
    )


def miou(world, segmenter) -> float:
    from zsseg.datasets import SegmentationDataset, get_spec
    from zsseg.evaluation import evaluate

    return evaluate(SegmentationDataset(world, "val", get_spec("generic")), segmenter, progress=False)["mIoU"]


def test_eval_with_the_tiny_clip_reaches_a_high_miou(world, tmp_path):
    result = run(
        EvalConfig(
            dataset="generic",
            root=str(world),
            segmenter=SegmenterConfig(**SETTINGS),
            out=str(tmp_path / "r"),
            progress=False,
        )
    )
    assert result["mIoU"] >= MIN_MIOU, result["per_class_IoU"]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["settings"]["crop"]["style"] == "masked"


def test_segment_command_with_the_tiny_clip(world, tmp_path, capsys):
    image = sorted((world / "val" / "images").iterdir())[0]
    truth = np.array(Image.open(world / "val" / "labels" / image.name))
    present = sorted({CLASSES[i] for i in np.unique(truth)})
    code = cli.main(
        [
            "segment",
            str(image),
            "--classes",
            ", ".join(present),
            "--model",
            str(TINY_CLIP),
            "--proposals",
            "graph",
            "--short-side",
            "96",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 0
    labels = np.array(Image.open(tmp_path / "o" / image.name))
    names = [present[i] for i in labels.ravel()]
    assert np.mean([n == CLASSES[t] for n, t in zip(names, truth.ravel())]) > 0.7  # most pixels right


@pytest.mark.parametrize("broken", ["wrong normalisation", "no mask fill"])
def test_broken_variants_score_clearly_lower(world, segmenter, broken):
    """The same tiny CLIP through a pipeline with one mistake: pixels left unnormalised (0..1, a
    loader that ignores preprocessor_config.json's statistics), or crops that keep the pixels
    around the mask instead of filling them with the mean."""
    good = miou(world, segmenter)
    backend = segmenter.backend
    if broken == "wrong normalisation":
        saved = backend.pixel_mean, backend.pixel_std
        backend.pixel_mean, backend.pixel_std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        try:
            bad = miou(world, segmenter)
        finally:
            backend.pixel_mean, backend.pixel_std = saved
    else:
        saved = segmenter.crop
        segmenter.classifier.crop = dataclasses.replace(saved, style="context", context=0.0)
        try:
            bad = miou(world, segmenter)
        finally:
            segmenter.classifier.crop = saved
    assert good >= MIN_MIOU and bad < good - 15, (good, bad)


def test_masked_crops_copy_only_small_bookkeeping_to_the_host(world, segmenter, monkeypatch):
    """CLIP masked crops: the crops read at most 5 numbers per proposal to the host (its box, its
    grouping key for identical masks), predict only the label map, its confidence and the class
    scores. (The graph proposals used here are made on the host anyway.)"""
    from .conftest import count_host_copies

    image = sorted((world / "val" / "images").iterdir())[0]
    classes = ", ".join(CLASSES)
    segmenter(image, classes)  # text embeddings made once per vocabulary
    state = segmenter.encode_image(image)
    pixels = torch.from_numpy(np.array(segmenter.prepare(image).work)).permute(2, 0, 1)
    moved = count_host_copies(monkeypatch)
    segmenter.classifier.embed_batch([pixels], [state.proposals.masks])
    assert set(moved) <= {"tolist"} and moved.get("tolist", 0) <= 5 * len(state.proposals)
    moved.clear()
    seg = segmenter.predict(classes, image=state)
    assert moved == {"cpu": 2 * seg.labels.size + len(CLASSES), "numpy": 2 * seg.labels.size + len(CLASSES)}
