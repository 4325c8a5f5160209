"""Evaluation presets: the reference code's settings for each benchmark protocol, as data
(``zsseg/presets/*.json``; docs/evaluation.md lists them with the config file each comes from)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from importlib import resources

from ..errors import ZsegError
from ..registry import Registry
from ..segmenter import SegmenterConfig
from .runner import EvalConfig

PRESETS_PACKAGE = "zsseg.presets"
LEARNED = "learned"  # the reference used a learned (CoOp) prompt here: the user supplies one


PRESETS: Registry[str] = Registry(
    "preset",
    {
        p.name[:-5]: p.name
        for p in sorted(resources.files(PRESETS_PACKAGE).iterdir(), key=lambda p: p.name)
        if p.name.endswith(".json")
    },
)


def list_presets() -> list[str]:
    """The evaluation presets' names."""
    return list(PRESETS)


def load_preset(name: str) -> dict:
    """The preset's data: description, reference, dataset, unseen, segmenter (SegmenterConfig fields)."""
    file = PRESETS.lookup(name)
    return json.loads(resources.files(PRESETS_PACKAGE).joinpath(file).read_text(encoding="utf-8"))


def preset_config(name: str, root: str, segmenter: dict | None = None, **options) -> EvalConfig:
    """An EvalConfig from a preset; ``segmenter`` holds the SegmenterConfig fields given on top of
    the preset's (a user's own --proposals-model, say), ``options`` other EvalConfig fields."""
    preset = load_preset(name)
    seg = {**preset["segmenter"], **(segmenter or {})}
    if seg.get("templates") == LEARNED:
        raise ZsegError(
            f"preset {name} uses a learned prompt, as the reference does: train one with `zsseg learn-prompts` "
            "and pass --templates learned:FILE (or --templates vild for ViLD's templates instead)"
        )
    known = {f.name for f in fields(SegmenterConfig)}
    config = EvalConfig(
        dataset=preset["dataset"],
        root=root,
        unseen=list(preset["unseen"]),
        segmenter=SegmenterConfig(**{k: v for k, v in seg.items() if k in known}),
    )
    return replace(config, preset=name, **options)
