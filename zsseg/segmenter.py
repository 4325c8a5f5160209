"""The public entry point: ``Segmenter.from_pretrained(...)(image, classes) -> Segmentation``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .backends import Backend, build_backend
from .classification import CropConfig, RegionClassifier, clock
from .ensemble import class_probabilities, ensemble, fill_uncovered, semantic_map
from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, ImageInput, load_image
from .prompts import TextEmbeddingCache, default_cache_dir, get_templates
from .proposals import ProposalGenerator, Proposals, WholeImageProposal, build_proposals
from .render import overlay as render_overlay
from .vocabulary import Vocabulary, resolve_vocabulary

# Crops per encoder call on a GPU, where bigger batches keep paying (the CPU default is each
# backend's measured best; see the README's encoder table).
GPU_BATCH_SIZE = 64


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

    def pixel_shares(self) -> dict[str, float]:
        """Fraction of the image's pixels per class (classes present only, largest first)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        order = np.argsort(-counts, kind="stable")
        return {self.classes[i]: float(counts[i]) / self.labels.size for i in order if counts[i] > 0}

    def overlay(self, image: ImageInput, alpha: float = 0.55, legend: bool = True) -> Image.Image:
        """The image blended with class colours, plus a legend of the classes present."""
        rgb = load_image(image, max_pixels=max(DEFAULT_MAX_PIXELS, self.labels.size))
        if rgb.shape[:2] != self.labels.shape:
            raise ZsegError(f"overlay image is {rgb.shape[1]}x{rgb.shape[0]} but the segmentation is {self.labels.shape[1]}x{self.labels.shape[0]}")
        return render_overlay(rgb, self.labels, self.classes, alpha=alpha, legend=legend)

    def summary(self) -> dict:
        return {
            "classes": self.classes,
            "size": {"height": int(self.labels.shape[0]), "width": int(self.labels.shape[1])},
            "pixel_share": self.pixel_shares(),
            "class_scores": {n: float(s) for n, s in zip(self.classes, self.class_scores)},
            "num_proposals": int(self.masks.shape[0]),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "settings": self.settings,
        }


@dataclass
class SegmenterConfig:
    """Everything that decides a result; recorded in every output's settings."""

    model: str = "conse"
    proposals: str = "graph"
    proposals_model: str | None = None  # hub id / folder for the sam and mask2former generators
    templates: str | None = None  # None: the backend's default template set
    crop: str | None = None  # None: the backend's default crop style
    mask_threshold: float = 0.5
    expand_ratio: float = 1.0
    ensemble_weight: float = 0.8  # lambda
    short_side: int | None = None  # working resolution; None: the backend's default
    background_threshold: float = 0.0  # pixels less confident than this -> "background", if in the vocabulary
    batch_size: int | None = None  # crops per encoder call; None: the backend's measured best
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: str = "cpu"


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
        self.templates_name = cfg.templates or backend.default_templates
        self.prompt_learner = None
        if self.templates_name.startswith("learned:"):  # CoOp context vectors instead of templates
            from .prompt_learning import PromptLearner

            self.prompt_learner = PromptLearner.load(self.templates_name[len("learned:"):], backend)
            self.templates: tuple[str, ...] = ()
            self._learned: dict[str, torch.Tensor] = {}
        else:
            self.templates = get_templates(self.templates_name)
        self.crop = CropConfig(
            style=cfg.crop or backend.default_crop,
            mask_threshold=cfg.mask_threshold,
            expand_ratio=cfg.expand_ratio,
            batch_size=cfg.batch_size or (GPU_BATCH_SIZE if backend.device.type == "cuda" else backend.default_batch_size),
        )
        self.classifier = RegionClassifier(backend, self.crop)
        self.short_side = cfg.short_side or backend.default_short_side
        self.text_cache = text_cache if text_cache is not None else TextEmbeddingCache(default_cache_dir())

    @classmethod
    def from_pretrained(
        cls,
        model: str = "conse",
        proposals: str | ProposalGenerator = "graph",
        *,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        **options,
    ) -> "Segmenter":
        """Build a segmenter by name.

        model: "conse" (offline default), "clip" (openai/clip-vit-base-patch16), or a Hugging Face
        id / local directory of a CLIP or SigLIP checkpoint. proposals: "graph", "slic", or "sam" /
        "mask2former" with ``proposals_model=`` a hub id or local directory.
        options: any ``SegmenterConfig`` field (templates, crop, ensemble_weight, short_side, ...).
        """
        unknown = set(options) - set(SegmenterConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(SegmenterConfig.__dataclass_fields__)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ZsegError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        config = SegmenterConfig(model=model, proposals=getattr(proposals, "name", proposals), device=device, **options)
        cache = TextEmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir())
        backend = build_backend(model, device=device, text_cache=cache)
        generator = build_proposals(proposals, model=config.proposals_model, device=device)
        return cls(backend, generator, config, cache)

    def settings(self) -> dict:
        return {
            **asdict(self.config),
            "templates": self.templates_name,
            "crop": self.crop.as_dict(),
            "short_side": self.short_side,
            "proposal_generator": self.proposals.settings() if hasattr(self.proposals, "settings") else str(self.proposals),
            "backend": getattr(self.backend, "cache_key", self.backend.name),
        }

    def text_embeddings(self, vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
        """([S, D] embeddings of every prompt name, [S] class index of each)."""
        names = [p for prompts in vocab.prompts for p in prompts]
        groups = torch.tensor([i for i, prompts in enumerate(vocab.prompts) for _ in prompts], dtype=torch.long)
        if self.prompt_learner is not None:
            missing = [n for n in dict.fromkeys(names) if n not in self._learned]
            if missing:
                with torch.no_grad():
                    self._learned.update(zip(missing, self.prompt_learner(missing).cpu()))
            emb = torch.stack([self._learned[n] for n in names])
        else:
            emb = self.text_cache.encode(self.backend, names, self.templates)
        return emb.to(self.backend.device), groups.to(self.backend.device)

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        classes: str | Sequence[str] | Vocabulary,
        unseen: Sequence[str] | None = None,
    ) -> Segmentation:
        """Segment one image into ``classes`` ("a, b", a list, a Vocabulary or "vocab:NAME").

        ``unseen`` names the classes the proposal network never saw in training; it only matters
        for generators that give class probabilities (the ensemble's seen/unseen weights).
        """
        timings: dict[str, float] = {}
        dev = self.backend.device
        t = clock(dev)
        vocab = resolve_vocabulary(classes)
        rgb = load_image(image, self.config.max_pixels)
        timings["decode"] = clock(dev) - t

        t = clock(dev)
        work, props = propose(self.proposals, rgb, self.short_side, vocab)
        timings["proposals"] = clock(dev) - t

        t = clock(dev)
        text_emb, groups = self.text_embeddings(vocab)
        timings["text"] = clock(dev) - t

        image_t = torch.from_numpy(np.array(work)).permute(2, 0, 1).to(self.backend.device)
        masks = props.masks.to(self.backend.device)
        emb, valid, n_crops = self.classifier.embed(image_t, masks, timings)

        t = clock(dev)
        probs, masks = self._combine(props, emb, valid, text_emb, groups, vocab, unseen)
        timings["ensemble"] = clock(dev) - t

        t = clock(dev)
        masks = fill_uncovered(masks.cpu())
        labels, confidence = semantic_map(probs.cpu(), masks, rgb.shape[:2])
        bg = vocab.background_index
        if bg is not None and self.config.background_threshold > 0:
            labels[confidence < self.config.background_threshold] = bg
        area = masks.flatten(1).sum(1)
        class_scores = (probs.cpu() * area[:, None]).sum(0) / area.sum().clamp(min=1e-9)
        timings["semantic_map"] = clock(dev) - t
        timings["total"] = sum(timings.values())
        settings = {**self.settings(), "num_crops": n_crops}
        return Segmentation(labels.numpy().astype(np.int32), vocab, class_scores.numpy(), masks, probs.cpu(), confidence.numpy(), timings, settings)

    def _combine(self, props: Proposals, emb, valid, text_emb, groups, vocab: Vocabulary, unseen) -> tuple[torch.Tensor, torch.Tensor]:
        n_classes = len(vocab)
        p_clip = class_probabilities(self.backend, emb.to(text_emb.device), text_emb, groups, n_classes) if len(emb) else text_emb.new_zeros(0, n_classes)
        if props.class_probs is None:
            return p_clip, props.masks[valid.cpu()]
        # Like zsseg.baseline: a mask with no pixel above threshold keeps its own probabilities.
        full = torch.ones(len(props), n_classes, device=p_clip.device)
        full[valid] = p_clip
        seen = props.seen.clone().bool() if props.seen is not None else torch.ones(n_classes, dtype=torch.bool)
        for name in unseen or []:
            seen[vocab.index(name)] = False
        return ensemble(full, props.class_probs.to(full.device), seen, self.config.ensemble_weight), props.masks


def propose(generator: ProposalGenerator, rgb: np.ndarray, short_side: int, vocabulary: Vocabulary | None = None) -> tuple[np.ndarray, Proposals]:
    """Stage 1 at the working resolution: (resized image, proposals); a blank image that yields
    no proposal gets one whole-image mask."""
    work = resize_short_side(rgb, short_side)
    props = generator(work, vocabulary)
    if len(props) == 0:
        props = WholeImageProposal()(work)
    return work, props


def resize_short_side(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """Resize so the shorter side is ``short_side`` (bicubic), keeping the aspect ratio."""
    h, w = rgb.shape[:2]
    scale = short_side / min(h, w)
    if abs(scale - 1) < 1e-6:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.array(Image.fromarray(rgb).resize(size, Image.BICUBIC))
