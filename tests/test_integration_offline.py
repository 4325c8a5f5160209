"""The real offline default: EfficientNet-Lite0 and MiniLM weights from pip, real photos."""

import json

import numpy as np
import pytest
import skimage.data
import torch

from zsseg import cli
from zsseg.backends.conse import imagenet_classes
from zsseg.modeling.efficientnet_lite import load_classifier

from .conftest import require_shared

pytestmark = pytest.mark.integration


def test_efficientnet_loads_strict_and_recognises_photos():
    net = load_classifier().eval()
    names = [lems[0] for _, lems in imagenet_classes()]
    from PIL import Image

    for photo, expected in [(skimage.data.chelsea(), "cat"), (skimage.data.coffee(), "espresso")]:
        x = (
            torch.from_numpy(np.array(Image.fromarray(photo).resize((224, 224), Image.BICUBIC)))
            .permute(2, 0, 1)
            .float()[None]
        )
        with torch.no_grad():
            top = names[int(net((x - 127) / 128).argmax())]
        assert expected in top.lower()
    fused = load_classifier().fuse_batchnorm().eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(fused(x), net(x), atol=1e-3)


def test_chelsea_cat_covers_the_centre(conse_segmenter):
    img = skimage.data.chelsea()
    seg = conse_segmenter(img, "cat, floor, wall")
    h, w = seg.labels.shape
    centre = seg.labels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    assert (centre == 0).mean() > 0.6, seg.pixel_shares()


def test_coffee_cup(conse_segmenter):
    img = skimage.data.coffee()
    seg = conse_segmenter(img, "cup, dog, car, bicycle")
    h, w = seg.labels.shape
    assert seg.pixel_shares().get("cup", 0) > 0.5, seg.pixel_shares()


def test_real_voc_image_runs(conse_segmenter):
    root = require_shared("data", "voc2012", "val", "images")
    path = sorted(root.iterdir())[0]
    seg = conse_segmenter(path, "vocab:voc21")
    assert seg.labels.shape[0] > 100 and seg.labels.max() < 21
    assert len(seg.masks) <= 100 and seg.timings["total"] > 0


def test_cli_end_to_end_offline(tmp_path, capsys):
    from PIL import Image

    img = tmp_path / "chelsea.jpg"
    Image.fromarray(skimage.data.chelsea()).save(img)
    code = cli.main(
        [
            "segment",
            str(img),
            "--classes",
            "cat, floor, wall",
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "out" / "chelsea.json").read_text())
    assert max(summary["pixel_share"], key=summary["pixel_share"].get) == "cat"
    assert summary["settings"]["model"] == "conse"


def test_dense_mode_offline(conse_segmenter):
    from zsseg import Segmenter, SegmenterConfig

    dense = Segmenter(
        conse_segmenter.backend, conse_segmenter.proposals, SegmenterConfig(crop="dense"), conse_segmenter.text_cache
    )
    seg = dense(skimage.data.chelsea(), "cat, car, bicycle, airplane")
    assert seg.pixel_shares().get("cat", 0) > 0.5, seg.pixel_shares()
    assert seg.settings["num_crops"] == 1


def test_learned_prompt_hook_on_the_offline_text_encoder(conse_segmenter):
    from zsseg.prompts import PromptLearner

    backend = conse_segmenter.backend
    x_id = backend.text_encoder.tokenizer("X")["input_ids"][1]
    ctx = backend.token_embedding.weight[x_id].detach().repeat(3, 1)
    ours = PromptLearner(backend, ctx=ctx)(["potted plant"])
    assert torch.allclose(ours, backend.encode_texts(["X X X potted plant."]), atol=1e-5)
