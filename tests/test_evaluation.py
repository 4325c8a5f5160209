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
