"""Oracle analysis, the eval command and its torchrun scale-out, on a synthetic dataset."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zsseg import cli
from zsseg.datasets import SegmentationDataset
from zsseg.evaluation.oracle import oracle_probs, segment_recall
from zsseg.evaluation.runner import evaluate_oracle
from zsseg.proposals import GraphProposals, WholeImageProposal

from .conftest import torchrun


def test_oracle_probs_majority_class():
    gt = np.array([[0, 0, 1, 1], [0, 2, 1, -1]])
    masks = torch.zeros(3, 2, 4)
    masks[0, :, :2] = 1  # classes 0, 0, 0, 2 -> 0
    masks[1, :, 2:] = 1  # 1, 1, 1, ignore -> 1
    masks[2, 1, 3] = 1  # only an ignored pixel -> dropped
    probs, keep = oracle_probs(masks, gt, 3)
    assert keep.tolist() == [True, True, False]
    assert probs.tolist() == [[1, 0, 0], [0, 1, 0]]


def test_segment_recall_iou_half():
    gt = np.array([[0, 0, 0, 0], [1, 1, 1, 1]])
    masks = torch.zeros(1, 2, 4)
    masks[0, 0, :3] = 1  # IoU 3/4 with class 0, 0 with class 1
    total, matched = segment_recall(masks, gt, 2)
    assert total.tolist() == [1, 1] and matched.tolist() == [1, 0]


def make_dataset(root, n=4):
    """Images of coloured blocks whose labels are the blocks: graph proposals find them exactly."""
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
    for split_dir in ("images", "labels"):
        (root / "val" / split_dir).mkdir(parents=True)
    for i in range(n):
        lab = np.zeros((40, 60), np.uint8)
        lab[:, 20 + i :] = 1
        lab[25:, : 30 - i] = 2
        lab[0, 0] = 255
        Image.fromarray(colours[np.minimum(lab, 2)]).save(root / "val" / "images" / f"{i}.png")
        Image.fromarray(lab).save(root / "val" / "labels" / f"{i}.png")
    (root / "classes.txt").write_text("red\ngreen\nblue\n")
    return root


@pytest.fixture
def blocks(tmp_path):
    return make_dataset(tmp_path / "blocks")


def test_oracle_on_blocks_is_perfect(blocks, monkeypatch):
    from zsseg import datasets

    spec = datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test")
    ds = SegmentationDataset(blocks, "val", spec)
    r = evaluate_oracle(ds, GraphProposals(), 40, progress=False)
    assert r["mIoU"] > 99 and r["recall@0.5"] == 100.0 and r["images"] == 4
    # one whole-image mask per image: it matches no segment of the split-off class
    split = evaluate_oracle(ds, WholeImageProposal(), 40, progress=False, unseen=[ds.vocabulary.names[2]])
    assert split["per_class_recall@0.5"] == {"red": 0.0, "green": 100.0, "blue": 0.0}  # green covers most of each image
    # seen: no red segment, every green one
    assert (split["recall@0.5_seen"], split["recall@0.5_unseen"]) == (50.0, 0.0)


def test_eval_cli_writes_report(blocks, tmp_path, capsys, monkeypatch):
    from zsseg import datasets

    monkeypatch.setitem(
        datasets.DATASETS,
        "blocks",
        datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test"),
    )
    out = tmp_path / "report"
    code = cli.main(
        [
            "eval",
            "--dataset",
            "blocks",
            "--root",
            str(blocks),
            "--oracle",
            "--proposals",
            "graph",
            "--short-side",
            "40",
            "--out",
            str(out),
            "--save-predictions",
            "--quiet",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["mIoU"] > 99
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "per_class_iou.png", "predictions", "report.md"]
    assert len(list((out / "predictions").iterdir())) == 4
    assert "| red |" in (out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["oracle"] is True


def test_eval_cli_unknown_unseen_class(blocks, tmp_path, capsys, monkeypatch):
    from zsseg import datasets

    monkeypatch.setitem(
        datasets.DATASETS,
        "blocks",
        datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test"),
    )
    code = cli.main(["eval", "--dataset", "blocks", "--root", str(blocks), "--oracle", "--unseen", "purple"])
    assert code == 2 and "purple" in capsys.readouterr().err


def test_torchrun_two_processes_equal_one(blocks, tmp_path):
    """The same oracle evaluation under torchrun with 2 CPU processes (gloo) gives the same matrix."""

    def run(nproc, out):
        done = torchrun(
            nproc,
            "eval",
            "--dataset",
            "voc21",
            "--root",
            blocks,
            "--oracle",
            "--short-side",
            "40",
            "--out",
            out,
            "--quiet",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((out / "metrics.json").read_text())

    one, two = run(1, tmp_path / "one"), run(2, tmp_path / "two")
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["images"] == one["images"] == 4
    assert two["confusion_matrix"] == one["confusion_matrix"]
    assert two["mIoU"] == one["mIoU"]


def test_absent_names_count_as_their_share_not_in_the_mean():
    """``own``: the first classes are the labels'; a name after them takes pixels (its share is
    reported) and lowers the IoU of the classes it takes them from, but has no IoU of its own."""
    from zsseg.evaluation.metrics import ConfusionMatrix

    cm = ConfusionMatrix(3)
    gt = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cm.update(np.array([0, 0, 0, 2, 1, 1, 2, 2]), gt)  # class 2 is in no label: it takes 3 of 8 pixels
    out = cm.summary(["road", "sky", "giraffe"], own=2)
    assert out["per_class_IoU"] == {"road": 75.0, "sky": 50.0}
    assert out["mIoU"] == 62.5 and out["absent_share"] == 37.5 and out["pixels"] == 8
    assert "absent_share" not in cm.summary(["road", "sky", "giraffe"])  # every class the labels'


def test_eval_with_the_users_names_for_the_classes(blocks, tmp_path, capsys, monkeypatch, colour_backend):
    """`zsseg eval --classes`: the dataset's classes under other names, plus a name of nothing in it;
    the mean stays over the dataset's classes, under the names given, and the absent name's share is
    reported. Too few names, or names with --oracle, are one-line errors."""
    from zsseg import Segmenter, datasets
    from zsseg.text_cache import TextEmbeddingCache

    monkeypatch.setitem(
        datasets.DATASETS,
        "blocks",
        datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test"),
    )
    monkeypatch.setattr(
        Segmenter,
        "from_config",
        classmethod(lambda cls, c, cache_dir=None: cls(colour_backend, GraphProposals(), c, TextEmbeddingCache(None))),
    )
    base = ["eval", "--dataset", "blocks", "--root", str(blocks), "--proposals", "graph", "--short-side", "40"]
    assert cli.main([*base, "--quiet"]) == 0
    own = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli.main([*base, "--classes", "dark red, light green, navy blue", "--quiet"]) == 0
    renamed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert renamed["mIoU"] == own["mIoU"] == 100 and "absent_share" not in renamed
    out = tmp_path / "renamed"
    names = "dark red, light green, navy blue, yellow"
    assert cli.main([*base, "--classes", names, "--out", str(out), "--quiet"]) == 0
    absent = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 90 < absent["mIoU"] < 100 and 0 <= absent["absent_share"] < 1  # yellow shifts block edges
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["per_class_IoU"]) == ["dark red", "light green", "navy blue"]
    assert metrics["classes_given"][-1] == ["yellow"] and "yellow" in metrics["predicted_share"]
    assert "| absent_share |" in (out / "report.md").read_text()
    for argv, message in (
        ([*base, "--classes", "red, green"], "--classes gives 2 names, blocks has 3 classes (red, green, blue, ...)"),
        ([*base, "--oracle", "--classes", names], "--oracle labels the proposals with the ground truth"),
    ):
        assert cli.main([*argv, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
