"""Self-training: pseudo-labels for the unseen classes from a seen-class model, then training again."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zsseg import Segmenter, SegmenterConfig, ZsegError, cli, datasets
from zsseg.proposals import MaskFormerProposals
from zsseg.text_cache import TextEmbeddingCache
from zsseg.training.self_training import PseudoLabelConfig, SelfTrainConfig, pseudo_label, self_train

from .test_evaluation import make_dataset
from .test_training import TINY_MODEL

BLOCKS = datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test")


@pytest.fixture
def blocks(tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.DATASETS, "blocks", BLOCKS)
    root = make_dataset(tmp_path / "blocks")
    (root / "val").rename(root / "train")
    make_dataset(tmp_path / "val_copy")
    (tmp_path / "val_copy" / "val").rename(root / "val")
    return root


def seen_config(tmp_path, root, **extra):
    cfg = {
        "data": [{"dataset": "blocks", "root": str(root), "split": "train"}],
        "unseen": ["blue"],
        "model": {**TINY_MODEL, "pretrained_backbone": False},
        "iterations": 2,
        "batch_size": 2,
        "augment": {"crop": 32, "base_short_side": 40, "scale": [0.8, 1.2]},
        "log_every": 1,
        "output": str(tmp_path / "seen"),
        **extra,
    }
    path = tmp_path / "seen.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture
def seen_model(tmp_path, blocks):
    assert cli.main(["train", "--config", str(seen_config(tmp_path, blocks)), "--quiet"]) == 0
    return tmp_path / "seen" / "model.pt"


def colour_segmenter(colour_backend, model):
    return Segmenter(
        colour_backend, MaskFormerProposals(model), SegmenterConfig(short_side=40), TextEmbeddingCache(None)
    )


def test_prior_rule_labels_every_pixel_without_seen_ground_truth(tmp_path, blocks, seen_model, colour_backend):
    out = tmp_path / "pseudo"
    config = PseudoLabelConfig(
        dataset="blocks",
        root=str(blocks),
        unseen=["blue"],
        model=str(seen_model),
        out=str(out),
        rule="prior",
        progress=False,
    )
    report = pseudo_label(config, colour_segmenter(colour_backend, seen_model))
    ds = datasets.SegmentationDataset(out, "train", BLOCKS)  # zsseg's own reader takes the pseudo-labelled set
    real = datasets.SegmentationDataset(blocks, "train", BLOCKS)
    for sample, truth in zip(ds.samples, real.samples):
        label, gt = ds.read_label(sample), real.read_label(truth)
        seen = (gt == 0) | (gt == 1)  # red and green: their ground truth stays
        assert np.array_equal(label[seen], gt[seen])
        assert (label[gt == 2] == 2).all() and (
            label[gt == -1] == 2
        ).all()  # blue is the only unseen class: it takes the rest
    assert report["classes"]["blue"]["precision"] == 100.0 and report["classes"]["blue"]["recall"] == 100.0
    assert report["pseudo_pixels_on_void"] == 4  # one void pixel per image, labelled too (the reference's rule)
    assert json.loads((out / "pseudo_labels.json").read_text())["rule"] == "prior"


def test_quantile_rule_keeps_only_confident_unseen_pixels(tmp_path, blocks, seen_model, colour_backend):
    """Graph segments find the blocks exactly, so the pixels predicted blue are the blue block's; the
    quantile rule keeps its more confident half and ignores the rest."""
    from zsseg.proposals import GraphProposals

    config = PseudoLabelConfig(
        dataset="blocks",
        root=str(blocks),
        unseen=["blue"],
        model=str(seen_model),
        out=str(tmp_path / "q"),
        rule="quantile",
        quantile=0.5,
        progress=False,
    )
    exact = Segmenter(colour_backend, GraphProposals(), SegmenterConfig(short_side=40), TextEmbeddingCache(None))
    report = pseudo_label(config, exact)
    real = datasets.SegmentationDataset(blocks, "train", BLOCKS)
    blue = sum(int((real.read_label(s) == 2).sum()) for s in real.samples)
    kept = report["classes"]["blue"]
    assert 0.3 * blue < kept["pixels"] < blue and kept["precision"] == 100.0 and report["pseudo_pixels_on_void"] == 0
    labels = [datasets.SegmentationDataset(tmp_path / "q", "train", BLOCKS).read_label(s) for s in real.samples]
    assert all(((lab == 2) <= (real.read_label(s) == 2)).all() for lab, s in zip(labels, real.samples))


def test_bad_inputs(tmp_path, blocks, seen_model, colour_backend):
    seg = colour_segmenter(colour_backend, seen_model)
    base = dict(dataset="blocks", root=str(blocks), model=str(seen_model), out=str(tmp_path / "p"), progress=False)
    with pytest.raises(ZsegError, match="class 'purple' is not in the vocabulary"):
        pseudo_label(PseudoLabelConfig(unseen=["purple"], **base), seg)
    with pytest.raises(ZsegError, match="not on the 1 seen classes of blocks"):
        pseudo_label(PseudoLabelConfig(unseen=["blue", "green"], **base), seg)  # the model knows red and green
    empty = tmp_path / "empty"
    (empty / "train" / "images").mkdir(parents=True)
    (empty / "train" / "labels").mkdir()
    with pytest.raises(ZsegError, match="no images found"):
        pseudo_label(PseudoLabelConfig(unseen=["blue"], **{**base, "root": str(empty)}), seg)


def test_an_interrupted_run_leaves_no_half_written_label(tmp_path, blocks, seen_model, colour_backend, monkeypatch):
    calls = []
    real_save = Image.Image.save

    def failing_save(self, fp, *a, **k):
        calls.append(fp)
        if len(calls) == 2:
            real_save(self, fp, *a, **k)  # a partial file exists under its temporary name ...
            raise KeyboardInterrupt  # ... when the run is stopped
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    config = PseudoLabelConfig(
        dataset="blocks",
        root=str(blocks),
        unseen=["blue"],
        model=str(seen_model),
        out=str(tmp_path / "p"),
        progress=False,
    )
    with pytest.raises(KeyboardInterrupt):
        pseudo_label(config, colour_segmenter(colour_backend, seen_model))
    labels = sorted(p.name for p in (tmp_path / "p" / "train" / "labels").iterdir())
    assert labels == ["0.png"]  # the first image only; nothing of the second, not even a temporary file


@pytest.mark.integration
def test_the_whole_loop(tmp_path, blocks):
    """zsseg self-train: seen-only training, pseudo-labels, retraining from the seen-only weights, evaluation."""
    seen = seen_config(tmp_path, blocks)
    cfg = {
        "seen": str(seen),
        "output": str(tmp_path / "st"),
        "retrain": {"iterations": 2},
        "evaluate": {"root": str(blocks), "limit": 2},
        "segmenter": {"proposals": "maskformer", "short_side": 40},
    }
    path = tmp_path / "st.json"
    path.write_text(json.dumps(cfg))
    assert cli.main(["self-train", "--config", str(path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "st" / "summary.json").read_text())
    assert {"mIoU_seen", "mIoU_unseen", "hIoU"} <= set(summary["seen_only"]) and len(summary["rounds"]) == 1
    retrained = torch.load(tmp_path / "st" / "round1" / "train" / "model.pt", weights_only=False)
    assert retrained["classes"] == ["red", "green", "blue"] and retrained["unseen"] == []  # blue now has targets
    # the control: as many extra iterations from the same weights, on the seen labels alone
    control = torch.load(tmp_path / "st" / "round1" / "control" / "model.pt", weights_only=False)
    assert control["classes"] == ["red", "green"] and control["unseen"] == ["blue"] and control["step"] == 2
    assert {"mIoU_seen", "mIoU_unseen", "hIoU"} <= set(summary["rounds"][0]["control"])
    control_cfg = json.loads((tmp_path / "st" / "round1" / "control" / "config.json").read_text())
    assert control_cfg["init_from"] == str(tmp_path / "seen" / "model.pt") and control_cfg["iterations"] == 2
    # a seen-only run stopped at a checkpoint is finished first (its model.pt is not the network)
    cfg_seen = json.loads(seen.read_text())
    seen.write_text(json.dumps({**cfg_seen, "iterations": 3}))
    assert cli.main(["self-train", "--config", str(path), "--no-control", "--quiet"]) == 0
    assert torch.load(tmp_path / "seen" / "model.pt", weights_only=False)["step"] == 3
    seen.write_text(json.dumps(cfg_seen))
    # another seed: every training again, beside the first
    assert cli.main(["self-train", "--config", str(path), "--seed", "1", "--no-control", "--quiet"]) == 0
    seeded = json.loads((tmp_path / "st-seed1" / "summary.json").read_text())
    assert "control" not in seeded["rounds"][0] and (tmp_path / "seen-seed1" / "model.pt").is_file()
    assert json.loads((tmp_path / "seen-seed1" / "config.json").read_text())["seed"] == 1
    with pytest.raises(ZsegError, match="unknown self-training keys"):
        path.write_text(json.dumps({**cfg, "round": 2}))
        SelfTrainConfig.from_file(path)
    assert self_train  # the Python entry point of the same loop


def test_the_default_rule_is_the_measured_better_one():
    """quantile beat the reference's prior rule on both measured splits (docs/training.md)."""

    assert PseudoLabelConfig("voc20", "r", ["sofa"], "m.pt", "o").rule == "quantile"
    assert SelfTrainConfig(seen="s.json", output="o").rule == "quantile"
    assert (
        cli.build_parser()
        .parse_args(["pseudo-label", "--dataset", "voc20", "--root", "r", "--unseen", "a", "--out", "o"])
        .rule
        == "quantile"
    )


def test_file_values_of_the_generic_layout(tmp_path):
    """The generic layout's table maps every value 0-254 to itself; only the vocabulary's ids and
    'ignored' get a file value (a toy-world run failed here with 26 classes)."""
    from zsseg.training.self_training import _file_values

    ds = datasets.SegmentationDataset(make_dataset(tmp_path / "g"), "val", datasets.get_spec("generic"))
    assert _file_values(ds).tolist() == [255, 0, 1, 2]  # ignored -> 255, class k -> k
