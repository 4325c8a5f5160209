"""Training: model shapes, resume, the 2-process DDP step, overfitting a handful of images."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zsseg
from zsseg import ZsegError, cli
from zsseg.modeling import ModelConfig, PerPixelBaseline, ZeroShotMaskFormer
from zsseg.training.loss import criterion, per_pixel_loss, semantic_targets
from zsseg.training.train import TrainConfig
from zsseg.vocabulary import Vocabulary, shipped_vocabulary

from .conftest import torchrun
from .test_evaluation import make_dataset

TINY_MODEL = dict(num_queries=6, hidden_dim=32, num_heads=2, dec_layers=2, dim_feedforward=64, mask_dim=16, dropout=0.0)


def test_shapes_through_the_model():
    cfg = ModelConfig(**TINY_MODEL, text_dim=8, pretrained_backbone=False)
    outs = ZeroShotMaskFormer(cfg)(torch.rand(2, 3, 64, 96) * 255, torch.randn(5, 8))
    assert len(outs) == 2  # one per decoder layer (deep supervision)
    assert outs[-1]["pred_logits"].shape == (2, 6, 6)  # 5 classes + no object
    assert outs[-1]["pred_masks"].shape == (2, 6, 16, 24)  # stride 4
    per_pixel = PerPixelBaseline(
        ModelConfig(architecture="per_pixel", hidden_dim=32, mask_dim=16, text_dim=8, pretrained_backbone=False)
    )
    assert per_pixel(torch.rand(2, 3, 64, 96) * 255, torch.randn(5, 8)).shape == (2, 5, 16, 24)
    from zsseg import ZsegError

    with pytest.raises(ZsegError, match="unknown backbone 'resnet50'; choose one of efficientnet_lite0"):
        ZeroShotMaskFormer(ModelConfig(**TINY_MODEL, backbone="resnet50", pretrained_backbone=False))


def test_per_pixel_loss_by_hand():
    # 2 seen classes (dataset ids 3 and 1), labels at the logits' size: no resampling
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]], requires_grad=True)  # [B=1, C=2, h=1, w=2]
    labels = torch.tensor([[[3, 1]]])
    loss = per_pixel_loss(logits, labels, torch.tensor([3, 1]))
    p0 = torch.tensor([2.0, 0.0]).softmax(0)[0]  # pixel 0 is id 3 = target 0
    p1 = torch.tensor([0.0, 1.0]).softmax(0)[1]  # pixel 1 is id 1 = target 1
    assert torch.isclose(loss["total"], -(p0.log() + p1.log()) / 2)
    # an unseen class (id 2) and void (-1) count for nothing
    ignored = per_pixel_loss(logits, torch.tensor([[[3, 2]]]), torch.tensor([3, 1]))["total"]
    assert torch.isclose(ignored, -p0.log())
    nothing = per_pixel_loss(logits, torch.tensor([[[-1, 2]]]), torch.tensor([3, 1]))["total"]
    assert nothing == 0 and nothing.requires_grad


def write_config(tmp_path, root, **extra):
    cfg = {
        "data": [{"dataset": "voc21", "root": str(root), "split": "val"}],
        "unseen": [],
        "model": {**TINY_MODEL, "pretrained_backbone": False},
        "iterations": 4,
        "batch_size": 2,
        "augment": {"crop": 32, "base_short_side": 40, "scale": [0.8, 1.2]},
        "log_every": 1,
        "checkpoint_every": 2,
        "output": str(tmp_path / "run"),
        **extra,
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def blocks_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("blocks"))


def test_train_checkpoint_and_resume(tmp_path, blocks_root):
    config = write_config(tmp_path, blocks_root)
    assert cli.main(["train", "--config", str(config), "--iterations", "2", "--quiet"]) == 0
    run = tmp_path / "run"
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 2
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0  # resumes at step 2, runs to 4
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 4 and state["classes"][:3] == ["background", "aeroplane", "bicycle"]
    steps = [int(r["step"]) for r in csv.DictReader((run / "losses.csv").open())]
    assert steps == [1, 2, 3, 4]
    assert (run / "loss_curve.png").stat().st_size > 1000 and (run / "model.pt").exists()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["num_queries"] == 6


def test_seed_and_output_override_the_config(tmp_path, blocks_root):
    """`--seed` trains another network from the same config, into `--output`; the same seed twice
    gives the same weights (training on the CPU is deterministic)."""
    config = write_config(tmp_path, blocks_root, iterations=1)
    weights = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / name
        assert cli.main(["train", "--config", str(config), "--seed", str(seed), "--output", str(out), "--quiet"]) == 0
        assert json.loads((out / "config.json").read_text())["seed"] == seed
        weights[name] = torch.load(out / "model.pt", weights_only=False)["model"]
    assert not (tmp_path / "run").exists()
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not all(torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])


def test_a_config_as_init_from_trains_its_stage_first(tmp_path, blocks_root, capsys):
    """A recipe in stages: ``init_from`` names the first stage's config, which one command trains
    (as written: its own iterations and output) before the second starts from its model.pt; a finished
    first stage is reused as it is, and a chain that comes back to a stage's output is refused."""
    base = write_config(tmp_path, blocks_root, iterations=2, output=str(tmp_path / "base"))
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps({**json.loads(base.read_text()), "init_from": str(base), "output": str(tmp_path / "final")})
    )
    base_config = base.read_text()
    assert cli.main(["train", "--config", str(recipe), "--iterations", "1", "--quiet"]) == 0
    assert base.read_text() == base_config
    first = torch.load(tmp_path / "base" / "last.pt", weights_only=False)
    assert first["step"] == 2  # the first stage ran its own 2 iterations; --iterations is the last stage's
    final = torch.load(tmp_path / "final" / "last.pt", weights_only=False)
    assert final["step"] == 1
    assert json.loads((tmp_path / "final" / "config.json").read_text())["init_from"] == str(
        tmp_path / "base" / "model.pt"
    )
    weights = torch.load(tmp_path / "base" / "model.pt", weights_only=False)["model"]
    assert cli.main(["train", "--config", str(recipe), "--output", str(tmp_path / "again"), "--quiet"]) == 0
    assert all(  # the finished first stage was not trained again
        torch.equal(weights[k], v)
        for k, v in torch.load(tmp_path / "base" / "model.pt", weights_only=False)["model"].items()
    )
    loop = tmp_path / "loop.json"
    loop.write_text(
        json.dumps({**json.loads(base.read_text()), "init_from": str(recipe), "output": str(tmp_path / "final")})
    )
    capsys.readouterr()
    assert cli.main(["train", "--config", str(loop), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is also a later stage's: give each stage its own" in err and "\n" not in err


def test_threads_hold_for_the_training_only(tmp_path, blocks_root, capsys, monkeypatch):
    """``threads`` (or ``--threads``, 0 for torch's choice) sets torch's CPU threads while the training
    runs, and the count is restored after it; a count that is no positive whole number is refused in
    one line."""
    from zsseg.training import train as training

    seen = []
    real = training._train
    monkeypatch.setattr(training, "_train", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    before = torch.get_num_threads()
    config = write_config(tmp_path, blocks_root, iterations=1, threads=1)
    assert cli.main(["train", "--config", str(config), "--output", str(tmp_path / "a"), "--quiet"]) == 0
    assert (
        cli.main(["train", "--config", str(config), "--output", str(tmp_path / "b"), "--threads", "0", "--quiet"]) == 0
    )
    assert seen == [1, before] and torch.get_num_threads() == before
    assert json.loads((tmp_path / "a" / "config.json").read_text())["threads"] == 1
    for bad in ("two", 0, True):
        capsys.readouterr()
        assert cli.main(["train", "--config", str(write_config(tmp_path, blocks_root, threads=bad)), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert '"threads" must be a whole number of CPU threads >= 1' in err and "\n" not in err
    config = write_config(tmp_path, blocks_root, threads=1)
    assert cli.main(["train", "--config", str(config), "--threads", "-1", "--quiet"]) == 2
    assert "--threads must be >= 0" in capsys.readouterr().err


def test_complete_classes_must_be_training_classes(tmp_path, blocks_root, capsys):
    config = write_config(tmp_path, blocks_root, iterations=1, complete=["aeroplane", "zebra"])
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith('"complete" names classes that are not training classes: zebra') and "\n" not in err


def test_frozen_parts_keep_their_initial_weights(tmp_path, blocks_root, capsys):
    """``freeze`` keeps the named parts at the weights training started from; the rest moves."""
    config = write_config(tmp_path, blocks_root, iterations=1)
    assert cli.main(["train", "--config", str(config), "--output", str(tmp_path / "a"), "--quiet"]) == 0
    first = torch.load(tmp_path / "a" / "model.pt", weights_only=False)["model"]
    config = write_config(
        tmp_path, blocks_root, iterations=2, init_from=str(tmp_path / "a" / "model.pt"), freeze=["backbone"]
    )
    assert cli.main(["train", "--config", str(config), "--output", str(tmp_path / "b"), "--quiet"]) == 0
    second = torch.load(tmp_path / "b" / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(first[k], second[k]) for k in first if k.startswith("backbone."))
    assert not all(torch.equal(first[k], second[k]) for k in first if k.startswith("pixel_decoder."))
    config = write_config(tmp_path, blocks_root, iterations=1, freeze=["spine"])
    capsys.readouterr()
    assert cli.main(["train", "--config", str(config), "--output", str(tmp_path / "c"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zsseg: error: freeze: no module spine in the network; choose from backbone,")
    assert "\n" not in err


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path, blocks_root):
    """A run killed between checkpoints logged rows past last.pt's step: they are redone, not duplicated."""
    config = write_config(tmp_path, blocks_root, iterations=3)
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0  # checkpoint at 2 and 3
    run = tmp_path / "run"
    state = torch.load(run / "last.pt", weights_only=False)
    state["step"] = 2  # as if killed after logging step 3 but before its checkpoint
    torch.save(state, run / "last.pt")
    assert cli.main(["train", "--config", str(config), "--iterations", "4", "--quiet"]) == 0
    rows = list(csv.DictReader((run / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    seconds = [float(r["seconds"]) for r in rows]
    assert seconds == sorted(seconds)  # cumulative across the restart


def test_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"iterations": 3, "learning_rate": 1}')
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "unknown config keys ['learning_rate']" in capsys.readouterr().err
    bad.write_text('{"model": {"hiden_dim": 64}}')
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "unknown \"model\" keys ['hiden_dim']; valid: ['architecture', 'backbone'," in capsys.readouterr().err
    bad.write_text('{"augment": [256]}')
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert '"augment" must be a JSON object' in capsys.readouterr().err


def test_ddp_two_processes_on_cpu(tmp_path, blocks_root):
    config = write_config(tmp_path, blocks_root, iterations=2)
    done = torchrun(2, "train", "--config", config, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 2


def test_overfits_a_handful_of_images():
    """Two fixed images, one batch, 60 steps: the loss falls and the masks become right (in eval mode)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY_MODEL, text_dim=8, pretrained_backbone=True)
    model = ZeroShotMaskFormer(cfg)
    text = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    images = torch.zeros(2, 3, 64, 64)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    images[0, 0, :, :32] = 255  # red left, blue right
    images[0, 2, :, 32:] = 255
    labels[0, :, 32:] = 2
    images[1, 1, :32] = 255  # green top, red bottom
    images[1, 0, 32:] = 255
    labels[1, :32] = 1
    targets = [semantic_targets(lab) for lab in labels]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(60):
        loss = criterion(model(images, text), targets)["total"]
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1 * first
    model.eval()
    with torch.no_grad():
        out = model(images, text)[-1]
    probs = out["pred_logits"].softmax(-1)[..., :-1]  # semantic inference: sum_q p[q,c] * sigmoid(mask_q)
    sem = torch.einsum("bqc,bqhw->bchw", probs, out["pred_masks"].sigmoid()).argmax(1)
    small = torch.nn.functional.interpolate(labels[:, None].float(), size=sem.shape[-2:], mode="nearest")[:, 0].long()
    assert (sem == small).float().mean() > 0.95


def test_trained_network_fills_the_maskformer_slot(tmp_path, blocks_root, colour_backend):
    from zsseg import Segmenter, SegmenterConfig, ZsegError
    from zsseg.proposals import build_proposals
    from zsseg.text_cache import TextEmbeddingCache

    config = write_config(tmp_path, blocks_root, iterations=1, unseen=["sheep"])
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    gen = build_proposals("maskformer", model=str(tmp_path / "run" / "model.pt"))
    image = np.zeros((40, 60, 3), np.uint8)
    props = gen(image)
    scores = gen.score(props, Vocabulary.from_names("aeroplane, sheep, teapot"))
    assert props.masks.shape[1:] == (40, 60) and scores.probs.shape == (len(props), 3)
    assert scores.seen.tolist() == [True, False, False]  # trained on VOC minus the unseen "sheep"
    seg = Segmenter(colour_backend, gen, SegmenterConfig(short_side=40), TextEmbeddingCache(None))
    assert seg(image, "aeroplane, sheep, teapot").labels.shape == (40, 60)
    model = str(tmp_path / "run" / "model.pt")  # the oracle hands the generator the dataset's vocabulary
    assert (
        cli.main(
            [
                "eval",
                "--dataset",
                "voc21",
                "--root",
                str(blocks_root),
                "--oracle",
                "--proposals",
                "maskformer",
                "--proposals-model",
                model,
                "--unseen",
                "sheep",
                "--short-side",
                "64",
                "--quiet",
            ]
        )
        == 0
    )
    with pytest.raises(ZsegError, match="not found"):
        build_proposals("maskformer", model=str(tmp_path / "none.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "truncated.pt").write_bytes((tmp_path / "run" / "model.pt").read_bytes()[:5000])
    for bad in ("garbage.pt", "truncated.pt"):
        with pytest.raises(ZsegError, match="not a zsseg trained-network checkpoint, or a truncated one"):
            build_proposals("maskformer", model=str(tmp_path / bad))


def test_per_pixel_baseline_trains_and_evaluates(tmp_path, blocks_root, capsys):
    from zsseg import ZsegError
    from zsseg.baseline import PerPixelSegmenter
    from zsseg.proposals import build_proposals

    config = write_config(
        tmp_path,
        blocks_root,
        iterations=2,
        unseen=["sheep"],
        model={**TINY_MODEL, "architecture": "per_pixel", "pretrained_backbone": False},
    )
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "losses.csv").open()))
    assert rows[-1]["ce"] != "" and rows[-1]["focal"] == ""  # no mask losses in a per-pixel run
    seg = PerPixelSegmenter(str(run / "model.pt"), short_side=40)(
        np.zeros((30, 50, 3), np.uint8), "aeroplane, sheep, teapot"
    )
    assert seg.labels.shape == (30, 50) and seg.labels.max() < 3
    assert (
        cli.main(
            [
                "eval",
                "--dataset",
                "voc21",
                "--root",
                str(blocks_root),
                "--per-pixel-model",
                str(run / "model.pt"),
                "--unseen",
                "sheep",
                "--quiet",
            ]
        )
        == 0
    )
    with pytest.raises(ZsegError, match="gives no mask proposals"):
        build_proposals("maskformer", model=str(run / "model.pt"))


def test_training_and_inference_embed_a_class_alike(tmp_path, blocks_root, monkeypatch):
    """The network is trained on each class's mean over its prompt names; inference must feed the same
    (VOC's "pottedplant" is prompted as "potted plant" / "house plant", never as the display name)."""
    from zsseg.datasets import get_spec
    from zsseg.proposals import build_proposals
    from zsseg.text import ClassEmbedder
    from zsseg.vocabulary import shipped_vocabulary

    config = write_config(tmp_path, blocks_root, iterations=1)
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    gen = build_proposals("maskformer", model=str(tmp_path / "run" / "model.pt"))
    vocab = shipped_vocabulary(get_spec("voc21").vocabulary)
    calls, real = [], ClassEmbedder.__call__
    monkeypatch.setattr(
        ClassEmbedder, "__call__", lambda self, prompts: calls.append(list(prompts)) or real(self, prompts)
    )
    gen.score(gen(np.zeros((64, 64, 3), np.uint8)), vocab)
    trained = [tuple(p) for p in torch.load(tmp_path / "run" / "model.pt", weights_only=False)["prompts"]]
    assert calls == [list(vocab.prompts), trained] and ("potted plant", "house plant") in trained
    readings, text = gen.read(vocab)
    assert all(r.by == "name" for r in readings)  # every class is scored against its training embedding
    assert torch.allclose(text, real(gen._embedder, trained)[[r.known_index for r in readings]])


def test_two_datasets_merge_into_one_class_list(tmp_path, blocks_root):
    """Two datasets, overlapping classes merged by "rename": one training vocabulary, each image
    scored against its own dataset's classes; renames of missing classes are one-line errors."""
    from zsseg import datasets
    from zsseg.training.data import build_sources

    other = make_dataset(tmp_path / "other")  # classes red, green, blue: "red" is VOC's aeroplane here
    spec = datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test")
    voc = datasets.SegmentationDataset(blocks_root, "val", datasets.get_spec("voc21"))
    blocks = datasets.SegmentationDataset(other, "val", spec)
    vocab, sources = build_sources([(voc, {}), (blocks, {"red": "aeroplane"})], None, ["sheep"])
    assert (
        vocab.names[:2] == ("background", "aeroplane")
        and vocab.names[-2:] == ("green", "blue")
        and "sheep" not in vocab.names
    )
    assert len(vocab) == 20 + 2
    assert sources[1].lut.tolist() == [1, 20, 21]  # red -> aeroplane, green and blue appended
    assert sources[1].label_space.sum() == 3 and sources[0].label_space.sum() == 20  # VOC minus sheep
    label = np.array([[0, 1, -1, 2]])
    assert sources[1].training_label(label).tolist() == [[1, 20, -1, 21]]
    assert sources[0].training_label(np.array([[17, 1]])).tolist() == [[-1, 1]]  # sheep (17) is ignored
    with pytest.raises(ZsegError, match="class 'purple' is not in the vocabulary"):
        build_sources([(blocks, {"purple": "aeroplane"})], None, [])
    with pytest.raises(ZsegError, match="class 'green' of blocks is not a training class"):
        build_sources([(blocks, {})], Vocabulary.from_names("red, blue"), [])


def test_train_on_two_datasets_with_a_class_file(tmp_path, blocks_root, monkeypatch, capsys):
    from zsseg import datasets

    monkeypatch.setitem(
        datasets.DATASETS,
        "blocks",
        datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test"),
    )
    other = make_dataset(tmp_path / "other")
    classes = tmp_path / "classes.txt"
    classes.write_text("background\naeroplane: aeroplane; airplane\ngreen\nblue\n")
    config = write_config(
        tmp_path,
        blocks_root,
        iterations=2,
        classes=str(classes),
        data=[
            {"dataset": "voc21", "root": str(blocks_root), "split": "val"},
            {"dataset": "blocks", "root": str(other), "split": "val", "rename": {"red": "aeroplane"}},
        ],
    )
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 2
    assert "class 'bicycle' of voc21 is not a training class" in capsys.readouterr().err
    voc = [
        line
        for line in (Path(zsseg.__file__).parent / "vocabularies" / "voc21.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    classes.write_text("\n".join(["background"] + voc[1:] + ["green", "blue"]))
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    meta = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert meta["classes"][-2:] == ["green", "blue"] and meta["prompts"][1] == ["aeroplane", "airplane"]
    assert meta["dataset"] == "voc21:val+blocks:val"
    # each dataset's label space, by class name (the catch-all's reading depends on it: zsseg.text)
    voc_space, blocks_space = meta["label_spaces"]
    assert voc_space == meta["classes"][:21] and "green" not in voc_space
    assert "aeroplane" in blocks_space and "green" in blocks_space and "background" not in blocks_space


def test_classes_named_like_training_classes_are_seen_and_embedded_as_in_training(tmp_path, blocks_root, monkeypatch):
    """ "television" names the training class tvmonitor (one of its prompt names): it is seen, and the
    network scores it against tvmonitor's training embedding; "kettle" is unseen and embedded as given."""
    from zsseg.proposals import build_proposals
    from zsseg.text import ClassEmbedder

    config = write_config(tmp_path, blocks_root, iterations=1)
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    gen = build_proposals("maskformer", model=str(tmp_path / "run" / "model.pt"))
    calls, real = [], ClassEmbedder.__call__
    monkeypatch.setattr(
        ClassEmbedder, "__call__", lambda self, prompts: calls.append(list(prompts)) or real(self, prompts)
    )
    vocab = Vocabulary.from_lines(["kettle", "telly: television", "Background"])
    scores = gen.score(gen(np.zeros((64, 64, 3), np.uint8)), vocab)
    assert scores.seen.tolist() == [False, True, True]
    _, text = gen.read(vocab)
    expected = real(
        gen._embedder,
        [("kettle",), ("tv monitor", "television", "computer monitor"), tuple(shipped_vocabulary("voc21").prompts[0])],
    )
    assert torch.allclose(text, expected, atol=1e-6)


def test_an_unclaimed_background_competes_beside_its_own_label_space_only(tmp_path, blocks_root):
    """A VOC-like vocabulary whose background nobody answers for ("rest" reads as nothing): the
    network's background stays in the class softmax and what it takes votes for none of the user's
    classes (before, the objects shared it). Where a class is read outside background's label space,
    or background is named (even declared unseen), it stays out."""
    from zsseg.proposals import build_proposals
    from zsseg.text import SeenRule

    config = write_config(tmp_path, blocks_root, iterations=1)
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    gen = build_proposals("maskformer", model=str(tmp_path / "run" / "model.pt"))
    gen._spaces = [frozenset(range(21)), frozenset({1, 2})]  # VOC's, and a space without background
    props = gen(np.zeros((64, 64, 3), np.uint8))
    vocab = Vocabulary.from_lines(["rest", "aeroplane", "telly: television"])
    readings, text = gen.read(vocab)
    assert [r.known for r in readings][1:] == ["aeroplane", "tvmonitor"]
    assert len(text) == 4 and torch.allclose(text[3], gen._text()[1][0])  # + the training background
    scores = gen.score(props, vocab)
    p = gen._net.classify(props.state[None], text)[0].softmax(-1)
    assert scores.probs.shape[1] == 3
    assert torch.allclose(scores.probs, p[:, :3]) and torch.allclose(scores.objectness, 1 - p[:, -1])
    assert (scores.probs.sum(1) < scores.objectness).all()  # the background's share votes for none
    gen._spaces = [frozenset(range(1, 21)), frozenset({0})]  # aeroplane outside background's space
    gen._readings.clear()  # (readings are kept per vocabulary: other label spaces, another network)
    assert len(gen.read(vocab)[1]) == 3
    gen._spaces = [frozenset(range(21))]
    gen._readings.clear()
    for rule in (SeenRule(), SeenRule("none")):  # named: by name, or declared unseen (every class unseen)
        assert len(gen.read(Vocabulary.from_lines(["background", "aeroplane"]), rule)[1]) == 2
    assert len(gen.read(Vocabulary.from_lines(["kettle", "rest"]))[1]) == 2  # nothing read: nothing to go by


def test_name_variants_and_negatives(tmp_path, colour_backend):
    """Variants are other wordings of a class's names; negatives are pool names far from every class,
    never an excluded name; each iteration's text is the classes (canonical or a variant) + negatives."""
    from zsseg.text_cache import TextEmbeddingCache
    from zsseg.training.names import NameAugment, TrainingNames, plural, variants

    assert [plural(n) for n in ("bus", "person", "sky", "dining table", "car")] == [
        "buses",
        "people",
        "skies",
        "dining tables",
        "cars",
    ]
    assert {"cars", "the car", "car next to the road"} <= set(variants("car", ["road"]))
    vocab = Vocabulary.from_lines(["red: red; dark red", "blue"])
    pool = tmp_path / "pool.txt"
    pool.write_text("green\nyellow\nwhite\nred\nblack\n")  # red: a class, never a negative
    exclude = tmp_path / "bench.json"
    exclude.write_text(json.dumps({"x": ["black"]}))
    from zsseg.prompts import TemplatePrompts

    prompts = TemplatePrompts(colour_backend, "none", TextEmbeddingCache(None))
    canonical = torch.nn.functional.normalize(prompts.embed(["red", "blue"]), dim=-1)
    augment = NameAugment(
        variants=1.0, negatives=2, negative_pool=str(pool), max_similarity=0.9, exclude=[str(exclude)]
    )
    names = TrainingNames(vocab, [], augment, prompts.embed, canonical)
    assert sorted(names.negative_names) == ["green", "white", "yellow"]
    text = names.sample(np.random.default_rng(0))
    assert text.shape == (4, 3) and names.extra == 2
    for c in range(2):  # variants 1.0: each class is named by one of its own variants
        assert any(torch.equal(text[c], names.variant_emb[k]) for k in names.choices[c])
    assert not set(names.choices[0]) & set(names.choices[1])
    with pytest.raises(ZsegError, match="fewer than the 5 negatives"):
        TrainingNames(
            vocab, [], NameAugment(negatives=5, negative_pool=str(pool), max_similarity=0.9), prompts.embed, canonical
        )


def test_training_with_name_augmentation_runs(tmp_path, blocks_root):
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(f"thing{i}" for i in range(40)))
    config = write_config(
        tmp_path, blocks_root, iterations=2, names={"variants": 0.5, "negatives": 4, "negative_pool": str(pool)}
    )
    assert cli.main(["train", "--config", str(config), "--quiet"]) == 0
    assert (tmp_path / "run" / "model.pt").is_file()
    bad = write_config(tmp_path, blocks_root, names={"variant": 0.5})
    with pytest.raises(ZsegError, match=r'unknown "names" keys \['):
        TrainConfig.from_file(bad)


def test_teacher_distils_from_the_first_step_and_must_share_its_classes(tmp_path, blocks_root, capsys):
    """A student started from its teacher agrees with it at step 1 (distillation losses ~0: the same
    queries, classes and text); a teacher whose classes are not the first of the student's is refused."""
    (tmp_path / "t").mkdir()
    teacher_cfg = write_config(tmp_path / "t", blocks_root, iterations=2)
    assert cli.main(["train", "--config", str(teacher_cfg), "--quiet"]) == 0
    teacher = str(tmp_path / "t" / "run" / "model.pt")
    student = write_config(tmp_path, blocks_root, iterations=2, init_from=teacher, teacher=teacher)
    assert cli.main(["train", "--config", str(student), "--quiet"]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "losses.csv").open()))
    assert abs(float(rows[0]["distil_class"])) < 1e-3 and abs(float(rows[0]["distil_mask"])) < 1e-3, rows[0]
    reordered = torch.load(teacher, weights_only=False)["classes"][::-1]
    other = write_config(tmp_path, blocks_root, classes=reordered, init_from=teacher, teacher=teacher)
    capsys.readouterr()
    assert cli.main(["train", "--config", str(other), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("zsseg: error: ") and "must be the first of the training classes" in err, err


def test_every_shipped_config_reads_and_its_stages_exist():
    """The configs in configs/ are valid, and a recipe's earlier stage and a self-training's seen
    network name configs that exist (a rename cannot leave one pointing at nothing)."""
    from zsseg.training.self_training import SelfTrainConfig

    root = Path(__file__).resolve().parents[1]
    recipes = 0
    for path in sorted((root / "configs").glob("*.json")):
        data = json.loads(path.read_text())
        if "seen" in data:
            assert (root / SelfTrainConfig.from_file(path).seen).is_file(), path.name
        elif "data" in data:
            init = TrainConfig.from_file(path).init_from
            if init is not None and init.endswith(".json"):
                recipes += 1
                assert TrainConfig.from_file(root / init).output != data["output"], path.name
    assert recipes == 3  # scenes, voc15_small, camvid8_small
