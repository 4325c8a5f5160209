"""CoOp prompt learning (Zhou et al. 2022): learnable context vectors in front of class names.

The prompt is "X X ... X {name}." with one placeholder token per context vector; a forward hook on
the text encoder's token-embedding layer swaps the placeholders' embeddings for the learned
vectors, so each backend's own text path runs unchanged (and frozen). Trained on crops of
ground-truth masks of seen classes, with the image encoder frozen (their embeddings are computed once).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .backends.base import Backend
from .classification import CropConfig, RegionClassifier
from .errors import ZsegError
from .image_io import load_image
from .segmenter import resize_short_side

PLACEHOLDER = "X"


class PromptLearner(nn.Module):
    def __init__(self, backend: Backend, n_ctx: int = 16, init_std: float = 0.02, ctx: torch.Tensor | None = None) -> None:
        super().__init__()
        self._backend = [backend]  # not a submodule: the backend is frozen and never saved with the prompt
        dim = backend.token_embedding.embedding_dim
        self.ctx = nn.Parameter(ctx.clone().float() if ctx is not None else torch.randn(n_ctx, dim) * init_std)

    @property
    def n_ctx(self) -> int:
        return int(self.ctx.shape[0])

    def prompts(self, names: list[str]) -> list[str]:
        return [" ".join([PLACEHOLDER] * self.n_ctx) + f" {name}." for name in names]

    def forward(self, names: list[str]) -> torch.Tensor:
        """Unit text embeddings [len(names), D] with the learned context (differentiable in ctx)."""
        backend = self._backend[0]
        layer = backend.token_embedding
        ctx = self.ctx.to(layer.weight.device, layer.weight.dtype)

        def swap(module, inputs, output):
            # tokens 1..n_ctx (after the start token) are the placeholders
            out = output.clone()
            out[:, 1 : 1 + self.n_ctx] = ctx
            return out

        handle = layer.register_forward_hook(swap)
        try:
            return F.normalize(backend.text_features(self.prompts(names)).float(), dim=-1)
        finally:
            handle.remove()

    def save(self, path: str | Path, meta: dict) -> None:
        torch.save({"ctx": self.ctx.detach().cpu(), "backend": self._backend[0].cache_key, **meta}, path)

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
        return cls(backend, ctx=ctx)

    @staticmethod
    def key(path: str | Path) -> str:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


@dataclass
class PromptTrainingResult:
    crops: int
    losses: list[float]
    train_accuracy: float


def ground_truth_crops(backend: Backend, dataset, seen_ids: list[int], crop: CropConfig, short_side: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen image embeddings of every seen class's ground-truth region, and its class (index into seen_ids)."""
    clf = RegionClassifier(backend, crop)
    lut = {c: i for i, c in enumerate(seen_ids)}
    embs, labels = [], []
    for sample in tqdm(dataset.samples[:limit] if limit else dataset.samples, desc="crops", unit="img"):
        rgb = load_image(sample.image_path)
        gt = dataset.read_label(sample, rgb.shape[:2])
        work = resize_short_side(rgb, short_side)
        gt_t = torch.from_numpy(gt)[None, None].float()
        gt_small = F.interpolate(gt_t, size=work.shape[:2], mode="nearest")[0, 0].long()
        present = [c for c in torch.unique(gt_small).tolist() if c in lut]
        if not present:
            continue
        masks = torch.stack([(gt_small == c).float() for c in present])
        image = torch.from_numpy(np.array(work)).permute(2, 0, 1).to(backend.device)
        emb, valid, _ = clf.embed(image, masks.to(backend.device))
        embs.append(emb.cpu())
        labels += [lut[c] for c, v in zip(present, valid.tolist()) if v]
    if not embs:
        raise ZsegError("no ground-truth regions of seen classes found to learn prompts from")
    return torch.cat(embs), torch.tensor(labels)


def learn_prompts(
    learner: PromptLearner, names: list[str], embs: torch.Tensor, labels: torch.Tensor,
    iterations: int = 200, lr: float = 0.02, batch_size: int = 32, seed: int = 0,
) -> PromptTrainingResult:
    """SGD (momentum 0.9) with a cosine schedule on cross-entropy over the seen classes."""
    backend = learner._backend[0]
    opt = torch.optim.SGD(learner.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in tqdm(range(iterations), desc="prompts"):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / iterations))
        idx = torch.randint(0, len(embs), (min(batch_size, len(embs)),), generator=gen)
        text = learner(names)
        logits = backend.class_logits(embs[idx].to(text.device), text)
        loss = F.cross_entropy(logits, labels[idx].to(text.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        acc = float((backend.class_logits(embs.to(text.device), learner(names)).argmax(1).cpu() == labels).float().mean())
    return PromptTrainingResult(len(embs), losses, acc)
