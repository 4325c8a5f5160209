"""Learning CoOp prompts (``zsseg learn-prompts``): the context vectors of a ``PromptLearner``
trained on crops of ground-truth masks of seen classes, both encoders frozen."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..backends.base import Backend
from ..classification import CropConfig, RegionClassifier
from ..errors import ZsegError
from ..image_io import load_image, resize_short_side
from ..prompts import PromptLearner


@dataclass
class PromptTrainingResult:
    crops: int
    losses: list[float]
    train_accuracy: float


def ground_truth_crops(
    backend: Backend, dataset, seen_ids: list[int], crop: CropConfig, short_side: int, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
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
    learner: PromptLearner,
    names: list[str],
    embs: torch.Tensor,
    labels: torch.Tensor,
    iterations: int = 200,
    lr: float = 0.02,
    batch_size: int = 32,
    seed: int = 0,
) -> PromptTrainingResult:
    """SGD (momentum 0.9) with a cosine schedule on cross-entropy over the seen classes."""
    backend = learner.backend
    opt = torch.optim.SGD([learner.ctx], lr=lr, momentum=0.9)
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
        acc = float(
            (backend.class_logits(embs.to(text.device), learner(names)).argmax(1).cpu() == labels).float().mean()
        )
    return PromptTrainingResult(len(embs), losses, acc)


def learn_prompts_on(
    segmenter,
    dataset,
    unseen: list[str],
    n_ctx: int = 16,
    iterations: int = 300,
    lr: float = 0.02,
    seed: int = 0,
    limit: int | None = None,
) -> tuple[PromptLearner, dict]:
    """CoOp on ``dataset``'s seen classes with ``segmenter``'s backend, crop style and working
    resolution: (the learned prompt, its metadata for ``PromptLearner.save``)."""
    vocab = dataset.vocabulary
    for u in unseen:
        vocab.index(u)  # a clear error for a misspelt class
    left_out = {u.lower() for u in unseen}
    seen_ids = [i for i, n in enumerate(vocab.names) if n.lower() not in left_out]
    names = [vocab.prompts[i][0] for i in seen_ids]
    embs, labels = ground_truth_crops(segmenter.backend, dataset, seen_ids, segmenter.crop, segmenter.short_side, limit)
    torch.manual_seed(seed)
    learner = PromptLearner(segmenter.backend, n_ctx=n_ctx)
    result = learn_prompts(learner, names, embs, labels, iterations=iterations, lr=lr, seed=seed)
    meta = {
        "classes": names,
        "dataset": f"{dataset.spec.name}:{dataset.split}",
        "unseen": sorted(left_out),
        "iterations": iterations,
        "crops": result.crops,
        "train_accuracy": result.train_accuracy,
        "final_loss": result.losses[-1],
    }
    return learner, meta
