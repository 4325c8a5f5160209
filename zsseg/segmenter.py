"""The public entry point: ``Segmenter.from_pretrained(...)(image, classes) -> Segmentation``.

For an open vocabulary the work splits in two, as segment-anything's ``set_image`` / ``predict``:
``encode_image`` does everything that does not depend on the classes (proposals, crops, image
encoder) once per image; ``predict`` scores a vocabulary against that (text encoder, matrix
product, ensemble, semantic map), so a changed class list costs no image pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .backends import Backend, build_backend
from .classification import CROP_STYLES, CropConfig, RegionClassifier
from .ensemble import class_probabilities, combine, fill_uncovered, semantic_map
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image, resize_short_side
from .prompts import build_prompt_source, mean_over_names
from .proposals import ProposalGenerator, Proposals, WholeImageProposal, build_proposals
from .render import overlay as render_overlay
from .text_cache import TextEmbeddingCache, default_cache_dir
from .timing import Stopwatch
from .vocabulary import Vocabulary, resolve_vocabulary

# Crops per encoder call on a GPU, where bigger batches keep paying (the CPU default is each
# backend's measured best; see docs/speed.md).
GPU_BATCH_SIZE = 64
# Which classes the ensemble treats as seen: those the proposal generator was trained on (named
# like its training classes), or none (zsseg.baseline's cross-dataset evaluation).
SEEN_RULES = ("matched", "none")
# How a class with several prompt names ("tv monitor; television") is scored by the VLM.
SYNONYM_RULES = ("max", "mean")


@dataclass
class Segmentation:
    """The result for one image."""

    labels: np.ndarray  # [H, W] class indices at the input image's size
    vocabulary: Vocabulary
    class_scores: np.ndarray  # [C] area-weighted mean class probability over the proposals
    masks: torch.Tensor  # [Q, h, w] proposals used, at working resolution
    mask_probs: torch.Tensor  # [Q, C] class probabilities of each proposal
    confidence: np.ndarray | None = None  # [H, W] winning class's share of the pixel's total score
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    settings: dict = field(default_factory=dict)

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
    ensemble_weight: float | None = None  # lambda; None: the backend's (clip 0.8, the paper's; conse 1.0)
    seen: str = "matched"  # classes the generator knows are seen; "none": every class is unseen (cross-dataset)
    synonyms: str = "mean"  # a class with several prompt names: the mean of their embeddings, or "max": its best name
    short_side: int | None = None  # working resolution
    background_threshold: float = 0.0  # pixels less confident than this -> "background", if in the vocabulary
    batch_size: int | None = None  # crops per encoder call
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: str = "cpu"

    def __post_init__(self) -> None:
        checks = [
            ("mask_threshold", 0 <= self.mask_threshold < 1, "in [0, 1)"),
            ("expand_ratio", self.expand_ratio > 0, "> 0"),
            ("ensemble_weight", self.ensemble_weight is None or 0 <= self.ensemble_weight <= 1, "in [0, 1]"),
            ("short_side", self.short_side is None or self.short_side >= 8, ">= 8 pixels"),
            ("background_threshold", 0 <= self.background_threshold <= 1, "in [0, 1]"),
            ("batch_size", self.batch_size is None or self.batch_size >= 1, ">= 1"),
            ("max_pixels", self.max_pixels >= 1, ">= 1"),
            ("crop", self.crop is None or self.crop in CROP_STYLES, f"one of {', '.join(CROP_STYLES)}"),
            ("seen", self.seen in SEEN_RULES, f"one of {', '.join(SEEN_RULES)}"),
            ("synonyms", self.synonyms in SYNONYM_RULES, f"one of {', '.join(SYNONYM_RULES)}"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ZsegError(f"{name.replace('_', '-')} must be {rule}, got {getattr(self, name)!r}")


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
        self.ensemble_weight = backend.default_ensemble_weight if cfg.ensemble_weight is None else cfg.ensemble_weight
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

    def settings(self) -> dict:
        return {
            **asdict(self.config),
            "templates": self.prompts.name,
            "crop": self.crop.as_dict(),
            "short_side": self.short_side,
            "ensemble_weight": self.ensemble_weight,
            "proposal_generator": self.proposals.settings(),
            "backend": self.backend.cache_key,
        }

    def text_embeddings(self, vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
        """([S, D] text embeddings, [S] class index of each), on the backend's device: one per prompt
        name (synonyms "max": a class scores as its best name), or one per class (synonyms "mean":
        the normalised mean of its names' embeddings)."""
        names, groups = vocab.flat_prompts()
        emb, groups_t = self.prompts.embed(names), torch.tensor(groups, dtype=torch.long)
        if self.config.synonyms == "mean":
            emb, groups_t = mean_over_names(emb, groups_t, len(vocab)), torch.arange(len(vocab))
        return emb.to(self.backend.device), groups_t.to(self.backend.device)

    @torch.no_grad()
    def encode_image(self, image: ImageInput) -> ImageState:
        """Stages 1 and 2 for one image: proposals at working resolution and their region embeddings."""
        watch = Stopwatch(self.backend.device)
        with watch("decode"):
            rgb = load_image(image, self.config.max_pixels)
        with watch("proposals"):
            work, props = propose(self.proposals, rgb, self.short_side)
        image_t = torch.from_numpy(np.array(work)).permute(2, 0, 1).to(self.backend.device)
        emb, valid, n_crops = self.classifier.embed(image_t, props.masks.to(self.backend.device), watch)
        return ImageState(rgb.shape[:2], props, emb, valid, n_crops, watch.timings)

    def set_image(self, image: ImageInput) -> ImageState:
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
            text_emb, groups = self.text_embeddings(vocab)
        with watch("ensemble"):
            probs, masks = self._combine(state, text_emb, groups, vocab, unseen)
        with watch("semantic_map"):
            masks = fill_uncovered(masks.cpu().float())
            labels, confidence = semantic_map(probs, masks, state.size)
            bg = vocab.background_index
            if bg is not None and self.config.background_threshold > 0:
                labels[confidence < self.config.background_threshold] = bg
            area = masks.flatten(1).sum(1)
            class_scores = (probs * area[:, None]).sum(0) / area.sum().clamp(min=1e-9)
        settings = {**self.settings(), "num_crops": state.num_crops}
        return Segmentation(
            labels.numpy().astype(np.int32),
            vocab,
            class_scores.numpy(),
            masks,
            probs,
            confidence.numpy(),
            watch.total(),
            settings,
        )

    def _combine(
        self,
        state: ImageState,
        text_emb: torch.Tensor,
        groups: torch.Tensor,
        vocab: Vocabulary,
        unseen: Sequence[str] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(class probabilities [K, C] on the CPU, the masks they belong to [K, h, w])."""
        p_vlm = class_probabilities(self.backend, state.embeddings, text_emb, groups, len(vocab)).cpu()
        probs, keep = self.ensemble(p_vlm, state.valid.cpu(), state.proposals, vocab, unseen)
        return probs, state.proposals.masks[keep]

    def ensemble(
        self,
        p_vlm: torch.Tensor,
        valid: torch.Tensor,
        proposals: Proposals,
        vocab: Vocabulary,
        unseen: Sequence[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VLM's probabilities of the valid proposals combined with the generator's own class
        scores (if it has any) under this segmenter's seen rule and λ: ``ensemble.combine``'s result."""
        scores = self.proposals.score(proposals, vocab)
        if scores is None:
            return combine(p_vlm, valid)
        seen = scores.seen.clone() if self.config.seen == "matched" else torch.zeros_like(scores.seen)
        for name in unseen or []:
            seen[vocab.index(name)] = False
        return combine(p_vlm, valid, scores.probs, seen, self.ensemble_weight)

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


def propose(generator: ProposalGenerator, rgb: np.ndarray, short_side: int) -> tuple[np.ndarray, Proposals]:
    """Stage 1 at the working resolution: (resized image, proposals); a blank image that yields
    no proposal gets one whole-image mask."""
    work = resize_short_side(rgb, short_side)
    props = generator(work)
    if len(props) == 0:
        props = WholeImageProposal()(work)
    return work, props
