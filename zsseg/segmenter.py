"""The public entry point: ``Segmenter.from_pretrained(...)(image, classes) -> Segmentation``.

For an open vocabulary the work splits in two, as segment-anything's ``set_image`` / ``predict``:
``encode_image`` does everything that does not depend on the classes (proposals, crops, image
encoder) once per image; ``predict`` scores a vocabulary against that (text encoder, matrix
product, ensemble, semantic map), so a changed class list costs no image pass. ``encode_batch``
is ``encode_image`` for several images at once (one proposal-network pass per image shape, all
their crops in shared encoder batches): what a collection on a GPU runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .backends import Backend, build_backend
from .classification import CROP_STYLES, CropConfig, RegionClassifier
from .ensemble import ENSEMBLES, combine, fill_uncovered, semantic_map
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image, resize_short_side
from .prompts import build_prompt_source
from .proposals import ClassScores, ProposalGenerator, Proposals, WholeImageProposal, build_proposals
from .render import overlay as render_overlay
from .text import SEEN_RULES, SYNONYM_RULES, ClassReading, ClassTexts, SeenRule, class_texts
from .text_cache import TextEmbeddingCache, default_cache_dir
from .timing import Stopwatch
from .vocabulary import Vocabulary, resolve_vocabulary

# Crops per encoder call on a GPU, where bigger batches keep paying (the CPU default is each
# backend's measured best; see docs/speed.md).
GPU_BATCH_SIZE = 64
# Number formats of the image encoder; bf16 is autocast, for GPUs. The proposal network stays fp32:
# in bf16 it changed 0.2-0.9 % of the labels (worst image 18 %), the encoder < 0.02 % (docs/speed.md).
DTYPES = ("fp32", "bf16")


@dataclass
class Segmentation:
    """The result for one image."""

    labels: np.ndarray  # [H, W] class indices at the input image's size
    vocabulary: Vocabulary
    class_scores: np.ndarray  # [C] area-weighted mean class probability over the proposals
    # on the segmenter's device (a collection on a GPU never copies them back):
    masks: torch.Tensor  # [Q, h, w] proposals used, at working resolution
    mask_probs: torch.Tensor  # [Q, C] class probabilities of each proposal
    confidence: np.ndarray | None = None  # [H, W] winning class's share of the pixel's total score
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    settings: dict = field(default_factory=dict)
    readings: list[ClassReading] | None = None  # how each class was scored (None: no generator scores classes)

    @property
    def classes(self) -> list[str]:
        return list(self.vocabulary.names)

    def pixel_counts(self) -> dict[str, int]:
        """Pixels per class (classes present only, largest first)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        order = np.argsort(-counts, kind="stable")
        return {self.classes[i]: int(counts[i]) for i in order if counts[i] > 0}

    def pixel_shares(self) -> dict[str, float]:
        """Fraction of the image's pixels per class (classes present only, largest first)."""
        return {name: count / self.labels.size for name, count in self.pixel_counts().items()}

    def overlay(self, image: ImageInput, alpha: float = 0.55, legend: bool = True) -> Image.Image:
        """The image blended with class colours, plus a legend of the classes present."""
        rgb = load_image(image, max_pixels=max(DEFAULT_MAX_PIXELS, self.labels.size))
        if rgb.shape[:2] != self.labels.shape:
            raise ZsegError(
                f"overlay image is {rgb.shape[1]}x{rgb.shape[0]} but the "
                f"segmentation is {self.labels.shape[1]}x{self.labels.shape[0]}"
            )
        return render_overlay(rgb, self.labels, self.classes, alpha=alpha, legend=legend)

    def summary(self) -> dict:
        return {
            "classes": self.classes,
            "size": {"height": int(self.labels.shape[0]), "width": int(self.labels.shape[1])},
            "pixel_share": self.pixel_shares(),
            "pixels": self.pixel_counts(),
            "class_scores": {n: float(s) for n, s in zip(self.classes, self.class_scores)},
            "scored_as": {r.name: r.as_dict() for r in self.readings} if self.readings is not None else None,
            "num_proposals": int(self.masks.shape[0]),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "settings": self.settings,
        }


@dataclass
class SegmenterConfig:
    """Everything that decides a result; recorded in every output's settings. ``None`` means the
    backend's own default (its measured best), resolved when the segmenter is built."""

    model: str = "conse"
    proposals: str = "maskformer"  # the shipped network (zsseg/weights/scenes.pt) unless proposals_model says otherwise
    proposals_model: str | None = None  # model.pt / hub id / folder for maskformer, sam and mask2former
    templates: str | None = None  # a template set, or learned:FILE
    crop: str | None = None
    mask_threshold: float = 0.5
    expand_ratio: float = 1.0
    ensemble: str | None = None  # "reference" (zsseg.baseline's) or "arbitrated"; None: the backend's
    ensemble_weight: float | None = None  # lambda: p_q's exponent for seen classes; None: the backend's
    unseen_weight: float | None = None  # p_q's exponent for unseen classes; None: the backend's (1 - lambda if none)
    seen: str = "similar"  # similar | named | none: which classes may answer for a class the generator knows (seen)
    match_threshold: float | None = None  # text similarity from which they do; None: the network's text model's
    synonyms: str = "mean"  # a class with several prompt names: the mean of their embeddings, or "max": its best name
    short_side: int | None = None  # working resolution
    background_threshold: float = 0.0  # pixels less confident than this -> "background", if in the vocabulary
    batch_size: int | None = None  # crops per encoder call
    max_pixels: int = DEFAULT_MAX_PIXELS
    dtype: str = "fp32"  # or "bf16": autocast around the image encoder (GPUs)
    device: str = "cpu"

    def __post_init__(self) -> None:
        checks = [
            ("mask_threshold", 0 <= self.mask_threshold < 1, "in [0, 1)"),
            ("expand_ratio", self.expand_ratio > 0, "> 0"),
            ("ensemble", self.ensemble is None or self.ensemble in ENSEMBLES, f"one of {', '.join(ENSEMBLES)}"),
            ("ensemble_weight", self.ensemble_weight is None or 0 <= self.ensemble_weight <= 1, "in [0, 1]"),
            ("unseen_weight", self.unseen_weight is None or 0 <= self.unseen_weight <= 1, "in [0, 1]"),
            ("match_threshold", self.match_threshold is None or -1 <= self.match_threshold <= 1, "in [-1, 1]"),
            ("short_side", self.short_side is None or self.short_side >= 8, ">= 8 pixels"),
            ("background_threshold", 0 <= self.background_threshold <= 1, "in [0, 1]"),
            ("batch_size", self.batch_size is None or self.batch_size >= 1, ">= 1"),
            ("max_pixels", self.max_pixels >= 1, ">= 1"),
            ("crop", self.crop is None or self.crop in CROP_STYLES, f"one of {', '.join(CROP_STYLES)}"),
            ("seen", self.seen in SEEN_RULES, f"one of {', '.join(SEEN_RULES)}"),
            ("synonyms", self.synonyms in SYNONYM_RULES, f"one of {', '.join(SYNONYM_RULES)}"),
            ("dtype", self.dtype in DTYPES, f"one of {', '.join(DTYPES)}"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ZsegError(f"{name.replace('_', '-')} must be {rule}, got {getattr(self, name)!r}")


@dataclass
class PreparedImage:
    """An image decoded and resized to the working resolution (``Segmenter.prepare``): plain arrays,
    so a collection's loader workers make them while the model works."""

    work: np.ndarray  # [h, w, 3] uint8 at working resolution
    size: tuple[int, int]  # the input image's height and width
    seconds: float = 0.0  # spent decoding and resizing


@dataclass
class ImageState:
    """Everything about one image that does not depend on the class list (``Segmenter.encode_image``)."""

    size: tuple[int, int]  # the input image's height and width
    proposals: Proposals  # at working resolution
    embeddings: torch.Tensor  # [Q', D] region embeddings of the valid proposals, on the backend's device
    valid: torch.Tensor  # [Q] bool: proposals with pixels above the mask threshold
    num_crops: int  # encoder inputs
    timings: dict[str, float] = field(default_factory=dict)


class Segmenter:
    """Open-vocabulary semantic segmentation: proposals, then masked-crop classification, then ensemble."""

    def __init__(
        self,
        backend: Backend,
        proposals: ProposalGenerator,
        config: SegmenterConfig | None = None,
        text_cache: TextEmbeddingCache | None = None,
    ) -> None:
        self.backend = backend
        self.proposals = proposals
        self.config = config or SegmenterConfig()
        cfg = self.config
        self.text_cache = text_cache if text_cache is not None else TextEmbeddingCache(default_cache_dir())
        self.prompts = build_prompt_source(cfg.templates, backend, self.text_cache)
        self.crop = CropConfig(
            style=cfg.crop or backend.crop_for(proposals.name),
            mask_threshold=cfg.mask_threshold,
            expand_ratio=cfg.expand_ratio,
            batch_size=cfg.batch_size
            or (GPU_BATCH_SIZE if backend.device.type == "cuda" else backend.default_batch_size),
        )
        self.classifier = RegionClassifier(backend, self.crop)
        self.short_side = cfg.short_side or backend.default_short_side
        self.ensemble_rule = cfg.ensemble or backend.default_ensemble
        self.ensemble_weight = backend.default_ensemble_weight if cfg.ensemble_weight is None else cfg.ensemble_weight
        self.unseen_weight = backend.default_unseen_weight if cfg.unseen_weight is None else cfg.unseen_weight
        self.image: ImageState | None = None  # set by set_image

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        proposals: str | ProposalGenerator | None = None,
        *,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        **options,
    ) -> "Segmenter":
        """Build a segmenter by name.

        model: "conse" (offline default), "clip" (openai/clip-vit-base-patch16), or a Hugging Face
        id / local directory of a CLIP or SigLIP checkpoint. proposals: "graph", "slic",
        "maskformer" (``proposals_model=`` a model.pt of ``zsseg train``), or "sam" / "mask2former"
        (``proposals_model=`` a hub id or local directory). None: the ``SegmenterConfig`` default.
        options: any other ``SegmenterConfig`` field (templates, crop, ensemble_weight, short_side, ...).
        """
        valid = {f.name for f in fields(SegmenterConfig)} - {"model", "proposals", "device"}
        unknown = set(options) - valid
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(valid)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ZsegError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        given = {"model": model, "proposals": getattr(proposals, "name", proposals)}
        config = SegmenterConfig(**{k: v for k, v in given.items() if v is not None}, device=device, **options)
        cache = TextEmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir())
        backend = build_backend(config.model, device=device, text_cache=cache)
        generator = build_proposals(
            proposals if isinstance(proposals, ProposalGenerator) else config.proposals,
            model=config.proposals_model,
            device=device,
        )
        # a trained network whose text encoder is this backend's: one copy of it, not two
        if getattr(generator, "text_model", None) == config.model:
            generator.share_text_backend(backend)
        return cls(backend, generator, config, cache)

    @classmethod
    def from_config(cls, config: SegmenterConfig, cache_dir: str | Path | None = None) -> "Segmenter":
        """``from_pretrained`` with every setting taken from ``config``."""
        options = {f.name: getattr(config, f.name) for f in fields(config)}
        model, proposals, device = options.pop("model"), options.pop("proposals"), options.pop("device")
        return cls.from_pretrained(model, proposals, device=device, cache_dir=cache_dir, **options)

    def settings(self) -> dict:
        return {
            **asdict(self.config),
            "templates": self.prompts.name,
            "crop": self.crop.as_dict(),
            "short_side": self.short_side,
            "ensemble": self.ensemble_rule,
            "ensemble_weight": self.ensemble_weight,
            "unseen_weight": self.unseen_weight,
            "proposal_generator": self.proposals.settings(),
            "backend": self.backend.cache_key,
        }

    def texts(self, vocab: Vocabulary) -> ClassTexts:
        """The vocabulary's text side for the VLM, under this segmenter's synonym rule."""
        return class_texts(self.prompts, vocab.prompts, self.config.synonyms, self.backend.device)

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Decode ``image`` and resize it to the working resolution."""
        return prepare_image(image, self.short_side, self.config.max_pixels)[0]

    def encode_image(self, image: ImageInput | PreparedImage) -> ImageState:
        """Stages 1 and 2 for one image: proposals at working resolution and their region embeddings."""
        return self.encode_batch([image])[0]

    @torch.no_grad()
    def encode_batch(self, images: Sequence[ImageInput | PreparedImage]) -> list[ImageState]:
        """``encode_image`` for several images: the proposal network runs once per group of images
        of one working size, and all their crops share encoder batches. Everything stays on the
        segmenter's device. Each image's timings are the batch's divided among its images."""
        prepared = [im if isinstance(im, PreparedImage) else self.prepare(im) for im in images]
        device = self.backend.device
        watch = Stopwatch(device)
        with watch("proposals"):
            props = [
                replace(p, masks=p.masks.to(device)) for p in proposals_of(self.proposals, [im.work for im in prepared])
            ]
        pixels = [torch.from_numpy(np.array(im.work)).permute(2, 0, 1).to(device) for im in prepared]
        with self._autocast():
            embedded = self.classifier.embed_batch(pixels, [p.masks for p in props], watch)
        share = {k: v / len(prepared) for k, v in watch.timings.items()}
        return [
            ImageState(im.size, p, emb, valid, n, {"decode": im.seconds, **share})
            for im, p, (emb, valid, n) in zip(prepared, props, embedded)
        ]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.backend.device.type, dtype=torch.bfloat16)

    def set_image(self, image: ImageInput | PreparedImage) -> ImageState:
        """Encode ``image`` and keep it: later ``predict`` calls label it for any class list."""
        self.image = self.encode_image(image)
        return self.image

    @torch.no_grad()
    def predict(
        self,
        classes: str | Sequence[str] | Vocabulary,
        unseen: Sequence[str] | None = None,
        image: ImageState | None = None,
    ) -> Segmentation:
        """Label the image of ``set_image`` (or ``image``) with ``classes`` ("a, b", a list, a
        Vocabulary or "vocab:NAME"). ``unseen`` names classes to treat as never trained on, for
        generators that score classes themselves (the ensemble's seen/unseen weights)."""
        state = image if image is not None else self.image
        if state is None:
            raise ZsegError("no image: call set_image(image) before predict(classes), or segmenter(image, classes)")
        vocab = resolve_vocabulary(classes)
        watch = Stopwatch(self.backend.device)
        with watch("text"):
            texts = self.texts(vocab)
        with watch("ensemble"):
            p_vlm = texts.probabilities(self.backend, state.embeddings)
            scores = self.class_scores(state.proposals, vocab, unseen)
            probs, keep = self.ensemble(p_vlm, state.valid, scores)
            masks = state.proposals.masks[keep]
        with watch("semantic_map"):
            masks = fill_uncovered(masks.float())
            labels, confidence = semantic_map(probs, masks, state.size)
            bg = vocab.background_index
            if bg is not None and self.config.background_threshold > 0:
                labels[confidence < self.config.background_threshold] = bg
            area = masks.flatten(1).sum(1)
            class_scores = (probs * area[:, None]).sum(0) / area.sum().clamp(min=1e-9)
            # the only copies back to the host: the label map, its confidence and C scores
            labels, confidence, class_scores = (t.cpu().numpy() for t in (labels, confidence, class_scores))
        settings = {**self.settings(), "num_crops": state.num_crops}
        readings = scores.readings if scores is not None else None
        return Segmentation(
            labels.astype(np.int32), vocab, class_scores, masks, probs, confidence, watch.total(), settings, readings
        )

    def class_scores(
        self, proposals: Proposals, vocab: Vocabulary, unseen: Sequence[str] | None = None
    ) -> ClassScores | None:
        """The generator's own class scores (if it has any), each class read under this segmenter's
        seen rule; ``unseen`` names classes declared unseen."""
        for name in unseen or []:
            vocab.index(name)  # a clear error for a misspelt class
        rule = SeenRule(self.config.seen, self.config.match_threshold, tuple(unseen or ()))
        return self.proposals.score(proposals, vocab, rule)

    def ensemble(
        self, p_vlm: torch.Tensor, valid: torch.Tensor, scores: ClassScores | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VLM's probabilities of the valid proposals combined with the generator's class scores
        under this segmenter's rule and weights: ``ensemble.combine``'s result."""
        return combine(p_vlm, valid, scores, self.ensemble_weight, self.unseen_weight, self.ensemble_rule)

    @torch.no_grad()
    def __call__(
        self, image: ImageInput, classes: str | Sequence[str] | Vocabulary, unseen: Sequence[str] | None = None
    ) -> Segmentation:
        """Segment one image into ``classes``: ``encode_image`` then ``predict`` (the state is not kept)."""
        vocab = resolve_vocabulary(classes)  # a bad class list fails before the image is encoded
        state = self.encode_image(image)
        return with_image_timings(self.predict(vocab, unseen, image=state), state)


def with_image_timings(seg: Segmentation, state: ImageState) -> Segmentation:
    """``seg`` with the stages that encoded its image added to its timings (and to the total)."""
    seg.timings = Stopwatch(timings={**state.timings, **seg.timings}).total()
    return seg


def prepare_image(image: ImageInput, short_side: int, max_pixels: int) -> tuple[PreparedImage, np.ndarray]:
    """(the image decoded and resized to ``short_side``, the decoded RGB array at its own size)."""
    start = time.perf_counter()
    rgb = load_image(image, max_pixels)
    work = resize_short_side(rgb, short_side)
    return PreparedImage(work, rgb.shape[:2], time.perf_counter() - start), rgb


def proposals_of(generator: ProposalGenerator, works: list[np.ndarray]) -> list[Proposals]:
    """Stage 1 for images at working resolution; an image that yields no proposal (a blank one)
    gets one whole-image mask."""
    return [p if len(p) else WholeImageProposal()(w) for p, w in zip(generator.propose_batch(works), works)]


def propose(generator: ProposalGenerator, rgb: np.ndarray, short_side: int) -> tuple[np.ndarray, Proposals]:
    """Stage 1 at the working resolution: (resized image, its proposals)."""
    work = resize_short_side(rgb, short_side)
    return work, proposals_of(generator, [work])[0]
