"""Where the text embeddings of names come from: prompt templates or learned (CoOp) context vectors,
behind one interface (``PromptSource``). How names become class scores: ``zsseg.text``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .backends import Backend
from .errors import ZsegError
from .text_cache import TextEmbeddingCache, encode_with_templates

# The 80 prompt templates CLIP used for ImageNet zero-shot classification (Radford et al. 2021).
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)
# The 14 templates of ViLD (Gu et al. 2022), as used by zsseg.baseline.
VILD_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)
SINGLE_TEMPLATE: tuple[str, ...] = ("a photo of a {}.",)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "imagenet80": IMAGENET_TEMPLATES,
    "vild": VILD_TEMPLATES,
    "single": SINGLE_TEMPLATE,
    "none": ("{}",),
}


LEARNED_PREFIX = "learned:"  # --templates learned:FILE: CoOp context vectors from `zsseg learn-prompts`
PLACEHOLDER = "X"  # one placeholder token per context vector in the prompt text


def get_templates(name: str) -> tuple[str, ...]:
    if name not in TEMPLATE_SETS:
        raise ZsegError(
            f"unknown template set {name!r}; choose one of {', '.join(TEMPLATE_SETS)} or {LEARNED_PREFIX}FILE"
        )
    return TEMPLATE_SETS[name]


class PromptSource(ABC):
    """Turns names into unit text embeddings of one backend."""

    backend: Backend
    name: str  # recorded in every result's settings

    @abstractmethod
    def embed(self, names: list[str]) -> torch.Tensor:
        """Unit embeddings [len(names), D] (float32, CPU), from a cache where the source keeps one."""

    @abstractmethod
    def encode(self, names: list[str]) -> torch.Tensor:
        """The same embeddings, encoded afresh (the naive reference path of ``zsseg bench``)."""


class TemplatePrompts(PromptSource):
    """Each name under every template, the normalised mean (CLIP's prompt ensembling), cached on disk."""

    def __init__(self, backend: Backend, templates: str, cache: TextEmbeddingCache | None = None) -> None:
        self.backend, self.name = backend, templates
        self.templates = get_templates(templates)
        self.cache = cache if cache is not None else TextEmbeddingCache(None)

    def embed(self, names: list[str]) -> torch.Tensor:
        return self.cache.encode(self.backend, names, self.templates)

    def encode(self, names: list[str]) -> torch.Tensor:
        return encode_with_templates(self.backend, names, self.templates)


class PromptLearner(PromptSource):
    """CoOp (Zhou et al. 2022): learnable context vectors in front of the class name.

    The prompt text is "X X ... X {name}." with one placeholder token per context vector; a forward
    hook on the text encoder's token-embedding layer puts the learned vectors where the
    placeholders' embeddings are (found by token id, so tokenizers with or without a start token
    agree), and the backend's own text path runs unchanged and frozen.
    """

    def __init__(
        self,
        backend: Backend,
        n_ctx: int = 16,
        init_std: float = 0.02,
        ctx: torch.Tensor | None = None,
        name: str = "learned",
    ) -> None:
        self.backend, self.name = backend, name
        dim = backend.token_embedding.embedding_dim
        self.ctx = nn.Parameter(ctx.clone().float() if ctx is not None else torch.randn(n_ctx, dim) * init_std)
        self._embedded: dict[str, torch.Tensor] = {}
        ids = backend.tokenizer(PLACEHOLDER, add_special_tokens=False)["input_ids"]
        self._placeholder_id = int(ids[0])

    @property
    def n_ctx(self) -> int:
        return int(self.ctx.shape[0])

    def prompts(self, names: list[str]) -> list[str]:
        return [" ".join([PLACEHOLDER] * self.n_ctx) + f" {name}." for name in names]

    def __call__(self, names: list[str]) -> torch.Tensor:
        """Unit text embeddings [len(names), D] with the learned context (differentiable in ctx)."""
        layer = self.backend.token_embedding
        ctx = self.ctx.to(layer.weight.device, layer.weight.dtype)

        def swap(module, inputs, output):
            slots = inputs[0] == self._placeholder_id
            slots &= slots.cumsum(1) <= self.n_ctx  # the first n_ctx placeholders of each prompt
            if not bool((slots.sum(1) == self.n_ctx).all()):
                raise ZsegError(
                    "the tokenizer split the prompt's placeholders; learned prompts do not work with this text encoder"
                )
            out = output.clone()
            out[slots] = ctx.repeat(output.shape[0], 1)
            return out

        handle = layer.register_forward_hook(swap)
        try:
            return F.normalize(self.backend.text_features(self.prompts(names)).float(), dim=-1)
        finally:
            handle.remove()

    def embed(self, names: list[str]) -> torch.Tensor:
        missing = [n for n in dict.fromkeys(names) if n not in self._embedded]
        if missing:
            self._embedded.update(zip(missing, self.encode(missing)))
        return torch.stack([self._embedded[n] for n in names])

    def encode(self, names: list[str]) -> torch.Tensor:
        with torch.no_grad():
            return self(names).cpu()

    def save(self, path: str | Path, meta: dict) -> None:
        torch.save({"ctx": self.ctx.detach().cpu(), "backend": self.backend.cache_key, **meta}, path)

    @classmethod
    def load(cls, path: str | Path, backend: Backend) -> "PromptLearner":
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            ctx = state["ctx"]
        except FileNotFoundError:
            raise ZsegError(f"{path}: learned prompt file not found") from None
        except Exception as exc:
            raise ZsegError(f"{path}: not a learned prompt file ({type(exc).__name__})") from None
        if state.get("backend") != backend.cache_key:
            raise ZsegError(f"{path}: learned for backend {state.get('backend')!r}, not {backend.cache_key!r}")
        return cls(backend, ctx=ctx, name=f"{LEARNED_PREFIX}{path}")


def build_prompt_source(templates: str, backend: Backend, cache: TextEmbeddingCache | None = None) -> PromptSource:
    """A template set by name or ``learned:FILE``."""
    if templates.startswith(LEARNED_PREFIX):
        return PromptLearner.load(templates[len(LEARNED_PREFIX) :], backend)
    return TemplatePrompts(backend, templates, cache)
