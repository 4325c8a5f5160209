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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .backends import Backend, build_backend
from .classification import CropConfig, RegionClassifier
from .config import SegmenterConfig, resolve_config
from .ensemble import combine, fill_uncovered, semantic_map
from .errors import ZsegError
from .export import coco_segments, pipeline_records
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image, resize_short_side
from .lexicon import Lexicon
from .prompts import build_prompt_source
from .proposals import ClassScores, ProposalGenerator, Proposals, WholeImageProposal, build_proposals
from .render import overlay as render_overlay
from .text import ClassReading, ClassTexts, SeenRule, class_texts, with_concepts
from .text_cache import TextEmbeddingCache, default_cache_dir
from .timing import Stopwatch
from .vocabulary import Vocabulary, resolve_vocabulary


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

    def to_coco(self) -> dict:
        """One COCO-style record per connected segment (category, area, bbox, RLE mask, score) with
        the categories: ``zsseg.export.coco_segments``; ``pycocotools.mask.decode`` reads the masks."""
        return coco_segments(self.labels, self.classes, self.confidence)

    def to_pipeline(self) -> list[dict]:
        """``[{"score", "label", "mask"}]`` per class present, as transformers' image-segmentation
        pipeline returns (masks: PIL "L" images, 255 inside): ``zsseg.export.pipeline_records``."""
        return pipeline_records(self.labels, self.classes, self.confidence)

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
        """The parts and their settings; ``config`` is resolved against them (``resolve_config``)."""
        self.backend = backend
        self.proposals = proposals
        self.config = cfg = resolve_config(
            config or SegmenterConfig(),
            backend,
            proposals.name,
            getattr(proposals, "text_model", None),
            on_gpu=backend.device.type == "cuda",
        )
        self.text_cache = text_cache if text_cache is not None else TextEmbeddingCache(default_cache_dir())
        self.prompts = build_prompt_source(cfg.templates, backend, self.text_cache)
        self.crop = CropConfig(cfg.crop, cfg.mask_threshold, cfg.expand_ratio, batch_size=cfg.batch_size)
        self.classifier = RegionClassifier(backend, self.crop)
        self.image: ImageState | None = None  # set by set_image
        # WordNet, read on first use; one copy with the proposal network's (it reads names by it too)
        self.lexicon: Lexicon = getattr(proposals, "lexicon", None) or Lexicon()

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        proposals: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        **options,
    ) -> "Segmenter":
        """Build a segmenter by name.

        model: "conse" (offline default), "clip" (openai/clip-vit-base-patch16), or a Hugging Face
        id / local directory of a CLIP or SigLIP checkpoint. proposals: "graph", "slic",
        "maskformer" (``proposals_model=`` a model.pt of ``zsseg train``), or "sam" / "mask2former"
        (``proposals_model=`` a hub id or local directory). None: the ``SegmenterConfig`` default.
        options: any other ``SegmenterConfig`` field (device, templates, crop, ensemble_weight, ...).
        """
        valid = {f.name for f in fields(SegmenterConfig)} - {"model", "proposals"}
        unknown = set(options) - valid
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(valid)}")
        given = {"model": model, "proposals": proposals, **options}
        return cls.from_config(SegmenterConfig(**{k: v for k, v in given.items() if v is not None}), cache_dir)

    @classmethod
    def from_config(cls, config: SegmenterConfig, cache_dir: str | Path | None = None) -> "Segmenter":
        """The backend and the proposal generator ``config`` names, with ``config``'s settings."""
        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise ZsegError(f"device {config.device!r} requested but CUDA is not available; use --device cpu")
        cache = TextEmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir())
        backend = build_backend(config.model, device=config.device, text_cache=cache)
        generator = build_proposals(config.proposals, model=config.proposals_model, device=config.device)
        # a trained network whose text encoder is this backend's: one copy of it, not two
        if getattr(generator, "text_model", None) == config.model:
            generator.share_text_backend(backend)
        return cls(backend, generator, config, cache)

    def settings(self) -> dict:
        """The resolved settings, the crop's details, the generator's and the backend's: recorded
        with every result."""
        return {
            **self.config.as_dict(),
            "crop": self.crop.as_dict(),
            "proposal_generator": self.proposals.settings(),
            "backend": self.backend.cache_key,
        }

    def identity(self) -> dict:
        """``settings`` less what changes speed or where the weights lie, not the result (a
        collection's fingerprint): the generator's weights count by their digest, not their path."""
        return {
            **self.config.identity(),
            "crop": {k: v for k, v in self.crop.as_dict().items() if k != "batch_size"},
            "proposal_generator": self.proposals.identity(),
            "backend": self.backend.cache_key,
        }

    def texts(self, vocab: Vocabulary, fresh: bool = False) -> ClassTexts:
        """The vocabulary's text side for the VLM, under this segmenter's synonym rule and concept
        weight; ``fresh``: encoded anew, not from the cache (``zsseg bench``'s reference path)."""
        texts = class_texts(self.prompts, vocab.prompts, self.config.synonyms, self.backend.device, fresh)
        if self.config.lexicon == "none":
            return texts
        return with_concepts(
            texts, vocab.prompts, self.backend, self.lexicon, self.config.concept_weight, self.text_cache
        )

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Decode ``image`` and resize it to the working resolution."""
        return prepare_image(image, self.config.short_side, self.config.max_pixels)[0]

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
            masks = state.proposals.select(keep).masks
        with watch("semantic_map"):
            masks = fill_uncovered(masks.float())  # the result's masks and areas are the filled ones
            labels, confidence = semantic_map(probs, masks, state.size, filled=True)
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
        cfg = self.config
        rule = SeenRule(cfg.seen, cfg.match_threshold, tuple(unseen or ()), cfg.lexicon)
        return self.proposals.score(proposals, vocab, rule)

    def ensemble(
        self, p_vlm: torch.Tensor, valid: torch.Tensor, scores: ClassScores | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VLM's probabilities of the valid proposals combined with the generator's class scores
        under this segmenter's rule and weights: ``ensemble.combine``'s result."""
        cfg = self.config
        return combine(p_vlm, valid, scores, cfg.ensemble_weight, cfg.unseen_weight, cfg.ensemble)

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
