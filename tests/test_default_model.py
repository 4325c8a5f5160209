"""The shipped default: the proposal network trained on VOC + CamVid train (docs/model-card.md)
with the offline ConSE backend. Real weights, real photos."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from zsseg import SegmenterConfig, cli
from zsseg.errors import ZsegError
from zsseg.modeling import ModelConfig, build_model
from zsseg.proposals import SHIPPED_NETWORK, MaskFormerProposals, build_proposals

from .conftest import count_host_copies, require_shared

pytestmark = pytest.mark.integration


def test_the_default_is_the_shipped_network(default_segmenter):
    assert SegmenterConfig().proposals == "maskformer"
    assert isinstance(default_segmenter.proposals, MaskFormerProposals)
    assert default_segmenter.proposals.model_name == str(SHIPPED_NETWORK)
    assert build_proposals("maskformer").model_name == str(SHIPPED_NETWORK)
    assert SHIPPED_NETWORK.stat().st_size < 20e6
    state = torch.load(SHIPPED_NETWORK, map_location="cpu", weights_only=False)
    assert {"person", "car", "road", "sky", "building", "background"} <= set(state["classes"])
    assert state["unseen"] == []  # every training class is seen


def share_of(seg, name: str) -> float:
    return seg.pixel_shares().get(name, 0.0)


def test_open_vocabulary_classes_absent_from_training(default_segmenter):
    """None of kitten / blanket / curtain is a training class (nor a name of one): the VLM finds them."""
    seg = default_segmenter(skimage.data.chelsea(), "kitten, blanket, curtain")
    assert share_of(seg, "kitten") > 0.6
    seg = default_segmenter(skimage.data.chelsea(), "cat, sofa, window")
    assert share_of(seg, "cat") > 0.6


def test_street_frame_gets_several_classes(default_segmenter):
    folder = require_shared("data", "camvid", "val", "images")
    frame = np.array(Image.open(sorted(folder.iterdir())[0]).convert("RGB"))
    seg = default_segmenter(frame, "vocab:camvid11")
    shares = seg.pixel_shares()
    assert sum(v >= 0.03 for v in shares.values()) >= 4, shares
    assert max(shares.values()) < 0.6, shares
    for stuff in ("road", "sky", "building"):
        assert shares.get(stuff, 0) > 0.03, shares


def test_bad_checkpoints_give_one_line_errors(tmp_path, capsys):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(ZsegError, match="nowhere.pt: trained network not found"):
        MaskFormerProposals(missing)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(SHIPPED_NETWORK.read_bytes()[:100_000] if SHIPPED_NETWORK.is_file() else b"PK\x03\x04")
    with pytest.raises(ZsegError, match="truncated.pt: not a zsseg trained-network checkpoint, or a truncated one"):
        MaskFormerProposals(truncated)
    per_pixel = tmp_path / "per_pixel.pt"
    cfg = ModelConfig(architecture="per_pixel", hidden_dim=32, mask_dim=16, text_dim=8, pretrained_backbone=False)
    meta = {"classes": ["a"], "prompts": [["a"]], "text_model": "minilm", "templates": "single"}
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.as_dict(), **meta}, per_pixel)
    with pytest.raises(ZsegError, match="per_pixel.pt: a per_pixel network gives no mask proposals"):
        MaskFormerProposals(per_pixel)
    stray = tmp_path / "stray.pt"
    cfg = ModelConfig(hidden_dim=32, mask_dim=16, text_dim=8, num_queries=4, dec_layers=1, pretrained_backbone=False)
    bias = {**meta, "class_bias": {"zebra": -2.0}}
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.as_dict(), **bias}, stray)
    with pytest.raises(ZsegError, match="stray.pt: label_spaces or class_bias name classes it was not trained on"):
        MaskFormerProposals(stray)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    code = cli.main(
        ["segment", str(image), "--classes", "a, b", "--proposals-model", str(truncated), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "truncated.pt" in err, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_the_shipped_network_missing_says_what_to_do(monkeypatch, tmp_path):
    import zsseg.proposals.maskformer as maskformer

    monkeypatch.setattr(maskformer, "SHIPPED_NETWORK", tmp_path / "scenes.pt")
    with pytest.raises(ZsegError, match=r"scenes.pt: trained network not found.*reinstall zsseg.*--proposals graph"):
        maskformer.MaskFormerProposals(tmp_path / "scenes.pt")


def test_crop_style_follows_the_generator(default_segmenter, conse_segmenter):
    """Measured per generator (results/default-selection): dense pooling in the network's masks,
    windows in graph segments; `--proposals graph` is exactly the old default."""
    assert default_segmenter.crop.style == "dense"
    assert conse_segmenter.proposals.name == "graph" and conse_segmenter.crop.style == "window"


def test_what_goes_back_to_the_host(default_segmenter, monkeypatch):
    """The per-image hot path copies to the host only the label map, its confidence and the class
    scores: on a GPU the masks, crops and per-pixel scores stay on the device."""
    frame = sorted(require_shared("data", "camvid", "val", "images").iterdir())[0]
    prepared = default_segmenter.prepare(frame)
    classes = "road, sky, building, tree, car"
    default_segmenter(frame, classes)  # the text embeddings are made (and cached) once per vocabulary
    moved = count_host_copies(monkeypatch)
    state = default_segmenter.encode_batch([prepared])[0]
    assert moved == {}
    seg = default_segmenter.predict(classes, image=state)
    pixels = seg.labels.size
    assert moved == {"cpu": 2 * pixels + 5, "numpy": 2 * pixels + 5}


def test_a_vocabulary_is_read_once(default_segmenter, monkeypatch):
    """``MaskFormerProposals.read`` keeps a vocabulary's readings (per reading rule): a collection
    reads the same vocabulary for every image. Callers get their own list."""
    from zsseg import Vocabulary
    from zsseg.proposals import maskformer
    from zsseg.text import SeenRule

    calls = []
    real = maskformer.read_classes
    monkeypatch.setattr(maskformer, "read_classes", lambda *a, **k: calls.append(1) or real(*a, **k))
    network, rule = default_segmenter.proposals, SeenRule("similar", 0.65)
    vocab = Vocabulary.from_names("street, sky, house, automobile, wombat")
    first, text = network.read(vocab, rule)
    again, text_again = network.read(vocab, rule)
    assert len(calls) == 1 and first == again and first is not again and text is text_again
    assert [r.known for r in first][:2] == ["road", "sky"]
    named = network.read(vocab, SeenRule("named"))[0]
    assert len(calls) == 2 and named[0].known is None
    for k in range(maskformer.READINGS_KEPT):
        network.read(Vocabulary.from_names(f"cat, thing {k}"), rule)
    network.read(vocab, rule)
    assert len(calls) == 3 + maskformer.READINGS_KEPT  # the oldest was let go
