"""A segmentation's settings as data: ``SegmenterConfig`` (every field's default, help and choices
in one place, which the command line's flags are generated from) and ``resolve_config``, the one
function that replaces ``None`` ("the backend's own") by a backend's measured default.

How a setting flows: the CLI's flags (or ``Segmenter.from_pretrained``'s keywords) make one
``SegmenterConfig``; ``Segmenter.from_config`` builds the backend and the proposal generator from
it and resolves it against them; every part reads the resolved config; every output records it.
Fields marked ``fingerprint=False`` change how fast a result comes, or where its weights live, not
the result: a resumed collection leaves them out of its fingerprint.
"""

from __future__ import annotations

import copy
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from .backends import BACKENDS, Backend, backend_class
from .classification import CROP_STYLES
from .ensemble import ENSEMBLES
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS
from .lexicon import LEXICONS
from .proposals import PROPOSAL_GENERATORS
from .text import SEEN_RULES, SYNONYM_RULES

# Crops per encoder call on a GPU, where bigger batches keep paying (the CPU default is each
# backend's measured best; see docs/speed.md).
GPU_BATCH_SIZE = 64
# Number formats of the image encoder; bf16 is autocast, for GPUs. The proposal network stays fp32:
# in bf16 it changed 0.2-0.9 % of the labels (worst image 18 %), the encoder < 0.02 % (docs/speed.md).
DTYPES = ("fp32", "bf16")


def setting(default: Any, help: str, choices: tuple | None = None, backend: str | None = None, **meta) -> Any:
    """A config field with its help text, its choices, the Backend attribute holding its default
    when it is None (``backend``), and ``fingerprint=False`` for fields that do not change a result."""
    return field(default=default, metadata={"help": help, "choices": choices, "backend": backend, **meta})


@dataclass
class SegmenterConfig:
    """Everything that decides a result; recorded in every output's settings. ``None`` means the
    backend's own default (its measured best), filled in by ``resolve_config``."""

    model: str = setting(
        "conse",
        "vision-language backend: conse (offline), clip (= openai/clip-vit-base-patch16), "
        "or a CLIP/SigLIP hub id (org/name) or local folder",
    )
    proposals: str = setting("maskformer", "mask proposal generator", tuple(PROPOSAL_GENERATORS))
    proposals_model: str | None = setting(
        None,
        "the model.pt of `zsseg train` for maskformer (default: the network shipped with zsseg), or a hub id / "
        "local folder for sam and mask2former",
        fingerprint=False,  # its weights' digest is in the generator's settings
    )
    templates: str | None = setting(
        None,
        "prompt template set: imagenet80, vild, single, none, or learned:FILE from `zsseg learn-prompts`",
        backend="default_templates",
    )
    crop: str | None = setting(
        None,
        "how proposals are cropped for classification; with the trained network (maskformer) conse uses "
        f"{BACKENDS['conse'].crop_for_proposals['maskformer']}",
        CROP_STYLES,
        backend="default_crop",
    )
    mask_threshold: float = setting(
        0.5, "mask binarisation threshold for crops", check=(lambda v: 0 <= v < 1, "in [0, 1)")
    )
    expand_ratio: float = setting(1.0, "box scale for masked crops", check=(lambda v: v > 0, "> 0"))
    ensemble: str | None = setting(
        None,
        "how the proposal network's class scores and the VLM's combine: reference (zsseg.baseline's) or "
        "arbitrated (the network names its classes, the VLM arbitrates between them and unseen ones)",
        ENSEMBLES,
        backend="default_ensemble",
    )
    ensemble_weight: float | None = setting(
        None,
        "lambda: the proposal network's exponent for seen classes",
        backend="default_ensemble_weight",
        check=(lambda v: 0 <= v <= 1, "in [0, 1]"),
    )
    unseen_weight: float | None = setting(
        None,
        "the proposal network's exponent for unseen classes (the backend's, else 1 - lambda: the paper's)",
        backend="default_unseen_weight",
        check=(lambda v: 0 <= v <= 1, "in [0, 1]"),
    )
    seen: str = setting(
        "similar",
        "which classes the ensemble treats as seen: similar (named like a class the proposal network "
        "was trained on, or close to one in text similarity), named (named like one: the reference's rule) or none "
        "(every class unseen, the reference's cross-dataset rule)",
        SEEN_RULES,
    )
    match_threshold: float | None = setting(
        None,
        "text similarity from which a class not named like a network class answers for it (default: the "
        "network's text model's; by name only where none was measured)",
        backend="default_match_threshold",
        check=(lambda v: -1 <= v <= 1, "in [-1, 1]"),
    )
    lexicon: str = setting(
        "wordnet",
        "with similar: a dictionary (WordNet) also reads a class as a network class it names a synonym or a kind "
        "of (mutt: dog, omnibus: bus), or none (text similarity alone)",
        LEXICONS,
    )
    concept_weight: float | None = setting(
        None,
        "with a dictionary: how far a class's text embedding moves towards the VLM's classifier concepts it "
        "names or is a kind of (conse: ImageNet's; sheep -> ram); 0: off",
        backend="default_concept_weight",
        check=(lambda v: v >= 0, ">= 0"),
    )
    synonyms: str = setting(
        "mean",
        "a class with several prompt names scores as the mean of their embeddings (mean) or as its best name (max)",
        SYNONYM_RULES,
    )
    short_side: int | None = setting(
        None,
        "working resolution: shorter image side in pixels",
        backend="default_short_side",
        check=(lambda v: v >= 8, ">= 8 pixels"),
    )
    background_threshold: float = setting(
        0.0,
        "pixels less confident than this become 'background' when that class is listed (0: off)",
        check=(lambda v: 0 <= v <= 1, "in [0, 1]"),
    )
    batch_size: int | None = setting(
        None,
        "crops per encoder call (the backend's measured best; 64 on a GPU)",
        backend="default_batch_size",
        check=(lambda v: v >= 1, ">= 1"),
        fingerprint=False,
    )
    max_pixels: int = setting(
        DEFAULT_MAX_PIXELS, "refuse larger images", check=(lambda v: v >= 1, ">= 1"), fingerprint=False
    )
    dtype: str = setting(
        "fp32",
        "bf16: autocast around the image encoder, for GPUs; on CPUs without native bf16 it is many times slower",
        DTYPES,
    )
    device: str = setting("cpu", "cpu, cuda, cuda:1, ...", fingerprint=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, choices = getattr(self, f.name), f.metadata["choices"]
            ok, rule = f.metadata.get("check", (lambda v: True, ""))
            if choices is not None:
                ok, rule = (lambda v: v in choices), f"one of {', '.join(choices)}"
            if value is not None and not ok(value):
                raise ZsegError(f"{f.name.replace('_', '-')} must be {rule}, got {value!r}")

    def identity(self) -> dict:
        """The fields that decide a result (a collection's fingerprint)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("fingerprint", True)}

    def as_dict(self) -> dict:
        return asdict(self)


def field_default(cls: type, name: str) -> Any:
    """A dataclass field's default (its dataclass is its only home)."""
    f = next(f for f in fields(cls) if f.name == name)
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


def resolve_config(
    config: SegmenterConfig,
    backend: Backend | type[Backend] | None = None,
    proposals: str | None = None,
    text_model: str | None = None,
    on_gpu: bool = False,
) -> SegmenterConfig:
    """``config`` with every ``None`` replaced by the measured default of ``backend`` (default:
    the class serving ``config.model``), for the generator ``proposals`` (its name; default
    ``config.proposals``) whose text model is ``text_model`` (a trained network's: it owns the
    match threshold). The one place where a default is chosen; resolving twice changes nothing."""
    b = backend or backend_class(config.model)
    text = backend_class(text_model) if text_model is not None else None
    weight = b.default_ensemble_weight if config.ensemble_weight is None else config.ensemble_weight
    unseen = config.unseen_weight if config.unseen_weight is not None else b.default_unseen_weight
    values = dict(
        templates=config.templates or b.default_templates,
        crop=config.crop or b.crop_for(proposals or config.proposals),
        ensemble=config.ensemble or b.default_ensemble,
        ensemble_weight=weight,
        unseen_weight=1 - weight if unseen is None else unseen,
        match_threshold=config.match_threshold
        if config.match_threshold is not None or text is None
        else text.default_match_threshold,
        concept_weight=b.default_concept_weight if config.concept_weight is None else config.concept_weight,
        short_side=config.short_side or b.default_short_side,
        batch_size=config.batch_size or (GPU_BATCH_SIZE if on_gpu else b.default_batch_size),
    )
    resolved = copy.copy(config)  # the user's config is built once; its resolution is a copy
    for name, value in values.items():
        setattr(resolved, name, value)
    return resolved
