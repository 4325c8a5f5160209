"""Evaluation presets hold the reference's settings: each file is checked against docs/evaluation.md's table."""

from pathlib import Path

import pytest

from zsseg import ZsegError
from zsseg.evaluation.presets import list_presets, load_preset, preset_config

DOCS = Path(__file__).resolve().parent.parent / "docs" / "evaluation.md"


def preset_table() -> dict[str, dict]:
    text = DOCS.read_text().split("## Presets", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| `zsseg-")]
    table = {}
    for row in rows:
        cells = [c.strip().strip("`") for c in row.strip("|").split("|")]
        name, dataset, weight, threshold, templates, short, seen, unseen, reference = cells
        table[name] = dict(
            dataset=dataset,
            ensemble_weight=float(weight),
            mask_threshold=float(threshold),
            templates=templates,
            short_side=int(short),
            seen=seen,
            unseen=[] if unseen == "–" else [u.strip() for u in unseen.split(",")],
            reference=reference,
        )
    return table


def test_every_preset_matches_the_documented_reference_settings():
    table = preset_table()
    assert sorted(table) == list_presets() and len(table) == 7
    for name, row in table.items():
        preset = load_preset(name)
        seg = preset["segmenter"]
        assert preset["dataset"] == row["dataset"] and preset["unseen"] == row["unseen"], name
        assert preset["reference"].endswith(":" + row["reference"]), name
        for key in ("ensemble_weight", "mask_threshold", "templates", "short_side", "seen"):
            assert seg[key] == row[key], (name, key)
        assert (seg["model"], seg["proposals"], seg["crop"], seg["expand_ratio"], seg["synonyms"]) == (
            "clip",
            "maskformer",
            "masked",
            1.0,
            "mean",  # one embedding per class, as the reference's single name
        ), name


def test_preset_config_and_overrides():
    config = preset_config("zsseg-cross-ade150", "ADE", {"model": "conse", "proposals_model": "mine.pt"}, limit=3)
    assert (config.dataset, config.root, config.limit, config.preset) == ("ade150", "ADE", 3, "zsseg-cross-ade150")
    s = config.segmenter
    assert (s.ensemble_weight, s.mask_threshold, s.templates, s.short_side, s.seen) == (0.5, 0.4, "vild", 512, "none")
    assert (s.model, s.proposals_model) == ("conse", "mine.pt")  # flags given win over the preset
    voc = preset_config("zsseg-zs-voc15", "VOC", {"templates": "vild"})
    assert voc.unseen == ["pottedplant", "sheep", "sofa", "train", "tvmonitor"] and voc.segmenter.seen == "named"
    with pytest.raises(ZsegError, match="uses a learned prompt, as the reference does"):
        preset_config("zsseg-zs-voc15", "VOC")
    with pytest.raises(ZsegError, match="unknown preset 'nope'; choose one of zsseg-cross-ade150"):
        load_preset("nope")


def test_seen_rule_none_treats_every_class_as_unseen(colour_backend, two_colour_image):
    import torch

    from tests.test_pipeline import FixedProposals, make

    p_q = torch.tensor([[0.9999, 0.0001], [0.9999, 0.0001]])  # the generator says "blue" everywhere
    assert (make(colour_backend, FixedProposals(p_q))(two_colour_image, "blue, red").labels[:, :30] == 0).all()
    cross = make(colour_backend, FixedProposals(p_q), seen="none")  # as with unseen=[every class]
    assert (cross(two_colour_image, "blue, red").labels[:, :30] == 1).all()
