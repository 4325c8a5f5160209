"""Learning CoOp prompts (``zsseg learn-prompts``): the context vectors of a ``PromptLearner``
trained on crops of ground-truth masks of seen classes, both encoders frozen.

Two recipes:
- ``quick``: every seen class's ground-truth region of every training image, embedded once with the
  segmenter's own crop style (no augmentation), then SGD on those embeddings (300 iterations).
- ``reference`` (zsseg.baseline's ``zero_shot_proposal_classification_learn_prompt`` configs): 32
  regions per class, each batch cropped afresh from a rescaled (short side 224 or 244), sometimes
  flipped image as a masked crop (the reference's crop), SGD with weight decay 5e-4, a constant
  warm-up (100 iterations at 0.005 of the learning rate) then a cosine schedule; 16k iterations
  in the reference, configurable here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..backends.base import Backend
from ..classification import CropConfig, RegionClassifier
from ..errors import ZsegError
from ..image_io import load_image, resize_short_side
from ..prompts import PromptLearner
from . import RECIPES, PromptRecipe

REFERENCE_SHORT_SIDES = (224, 244)  # the reference's MIN_SIZE_TRAIN, sampled by "choice"


@dataclass
class PromptTrainingResult:
    crops: int
    losses: list[float]
    train_accuracy: float


def _regions(dataset, seen_ids: list[int], limit: int | None) -> list[tuple[int, int]]:
    """(sample index, dataset class id) of every seen class present in each image."""
    out = []
    for i, sample in enumerate(tqdm(dataset.samples[:limit] if limit else dataset.samples, desc="regions", unit="img")):
        present = np.unique(dataset.read_label(sample))
        out += [(i, int(c)) for c in present if c in seen_ids]
    return out


def _embed_region(
    backend: Backend, clf: RegionClassifier, rgb: np.ndarray, gt: np.ndarray, cls: int
) -> torch.Tensor | None:
    """One region's embedding (None if the mask vanished at this size)."""
    mask = torch.from_numpy(gt == cls)[None].float()
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).to(backend.device)
    emb, valid, _ = clf.embed(image, mask.to(backend.device))
    return emb[0].cpu() if bool(valid[0]) else None


def _resized(rgb: np.ndarray, gt: np.ndarray, short_side: int) -> tuple[np.ndarray, np.ndarray]:
    work = resize_short_side(rgb, short_side)
    gt_small = (
        F.interpolate(torch.from_numpy(gt)[None, None].float(), size=work.shape[:2], mode="nearest")[0, 0]
        .long()
        .numpy()
    )
    return work, gt_small


def ground_truth_crops(
    backend: Backend, dataset, seen_ids: list[int], crop: CropConfig, short_side: int, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen image embeddings of every seen class's ground-truth region, and its class (index into seen_ids)."""
    clf = RegionClassifier(backend, crop)
    lut = {c: i for i, c in enumerate(seen_ids)}
    embs, labels = [], []
    for sample in tqdm(dataset.samples[:limit] if limit else dataset.samples, desc="crops", unit="img"):
        rgb = load_image(sample.image_path)
        work, gt = _resized(rgb, dataset.read_label(sample, rgb.shape[:2]), short_side)
        present = [c for c in np.unique(gt).tolist() if c in lut]
        if not present:
            continue
        # one pass per image: windows are shared
        masks = torch.stack([torch.from_numpy(gt == c).float() for c in present])
        image = torch.from_numpy(np.ascontiguousarray(work)).permute(2, 0, 1).to(backend.device)
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
    """The quick recipe on precomputed embeddings: SGD (momentum 0.9), cosine schedule."""
    gen = torch.Generator().manual_seed(seed)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(embs), (min(batch_size, len(embs)),), generator=gen)
        return embs[idx], labels[idx]

    losses = optimise(learner, names, batch, PromptRecipe(iterations=iterations, lr=lr, batch_size=batch_size))
    return PromptTrainingResult(len(embs), losses, accuracy(learner, names, embs, labels))


def optimise(
    learner: PromptLearner,
    names: list[str],
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    recipe: PromptRecipe,
) -> list[float]:
    """SGD (momentum 0.9) on the context vectors: warm-up, then cosine; the losses per step."""
    backend = learner.backend
    opt = torch.optim.SGD([learner.ctx], lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    losses = []
    for step in tqdm(range(recipe.iterations), desc="prompts"):
        factor = (
            recipe.warmup_factor
            if step < recipe.warmup_iters
            else 0.5 * (1 + math.cos(math.pi * step / recipe.iterations))
        )
        for g in opt.param_groups:
            g["lr"] = recipe.lr * factor
        embs, labels = batch(step)
        text = learner(names)
        loss = F.cross_entropy(backend.class_logits(embs.to(text.device), text), labels.to(text.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def accuracy(learner: PromptLearner, names: list[str], embs: torch.Tensor, labels: torch.Tensor) -> float:
    text = learner(names)
    return float((learner.backend.class_logits(embs.to(text.device), text).argmax(1).cpu() == labels).float().mean())


def learn_prompts_on(
    segmenter,
    dataset,
    unseen: list[str],
    n_ctx: int = 16,
    recipe: str | PromptRecipe = "quick",
    iterations: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> tuple[PromptLearner, dict]:
    """CoOp on ``dataset``'s seen classes with ``segmenter``'s backend (and, for the quick recipe,
    its crop style and working resolution): (the learned prompt, its metadata for ``save``)."""
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ZsegError(f"unknown prompt-learning recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
        recipe = RECIPES[recipe]
    recipe = replace(recipe, **{k: v for k, v in {"iterations": iterations, "lr": lr}.items() if v is not None})
    vocab = dataset.vocabulary
    for u in unseen:
        vocab.index(u)  # a clear error for a misspelt class
    left_out = {u.lower() for u in unseen}
    seen_ids = [i for i, n in enumerate(vocab.names) if n.lower() not in left_out]
    names = [vocab.prompts[i][0] for i in seen_ids]
    torch.manual_seed(seed)
    learner = PromptLearner(segmenter.backend, n_ctx=n_ctx)
    if recipe.augment:
        result = _learn_augmented(learner, names, segmenter.backend, dataset, seen_ids, recipe, seed, limit)
    else:
        embs, labels = ground_truth_crops(
            segmenter.backend, dataset, seen_ids, segmenter.crop, segmenter.config.short_side, limit
        )
        result = learn_prompts(
            learner,
            names,
            embs,
            labels,
            iterations=recipe.iterations,
            lr=recipe.lr,
            batch_size=recipe.batch_size,
            seed=seed,
        )
    meta = {
        "classes": names,
        "dataset": f"{dataset.spec.name}:{dataset.split}",
        "unseen": sorted(left_out),
        "recipe": asdict(recipe),
        "iterations": recipe.iterations,
        "crops": result.crops,
        "train_accuracy": result.train_accuracy,
        "final_loss": result.losses[-1],
    }
    return learner, meta


def _learn_augmented(
    learner: PromptLearner,
    names: list[str],
    backend: Backend,
    dataset,
    seen_ids: list[int],
    recipe: PromptRecipe,
    seed: int,
    limit: int | None,
) -> PromptTrainingResult:
    """The reference recipe: ``per_class`` regions per class, masked crops made afresh for every batch."""
    rng = np.random.default_rng(seed)
    lut = {c: i for i, c in enumerate(seen_ids)}
    regions = _regions(dataset, seen_ids, limit)
    chosen = []
    for c in seen_ids:
        mine = [r for r in regions if r[1] == c]
        take = rng.permutation(len(mine))[: recipe.per_class or len(mine)]
        chosen += [mine[k] for k in take]
    if not chosen:
        raise ZsegError("no ground-truth regions of seen classes found to learn prompts from")
    clf = RegionClassifier(backend, CropConfig(style="masked", batch_size=recipe.batch_size))
    images: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def region(i: int, cls: int, short_side: int, flip: bool) -> torch.Tensor | None:
        if i not in images:  # the sampled images fit in memory: decode each once
            rgb = load_image(dataset.samples[i].image_path)
            images[i] = (rgb, dataset.read_label(dataset.samples[i], rgb.shape[:2]))
        work, gt = _resized(*images[i], short_side)
        if flip:
            work, gt = work[:, ::-1], gt[:, ::-1]
        return _embed_region(backend, clf, work, gt, cls)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        embs, labels = [], []
        for k in rng.integers(0, len(chosen), recipe.batch_size):
            i, cls = chosen[k]
            emb = region(i, cls, int(rng.choice(REFERENCE_SHORT_SIDES)), bool(rng.random() < 0.5))
            if emb is not None:
                embs.append(emb)
                labels.append(lut[cls])
        return torch.stack(embs), torch.tensor(labels)

    losses = optimise(learner, names, batch, recipe)
    plain = [(region(i, c, REFERENCE_SHORT_SIDES[0], False), lut[c]) for i, c in chosen]
    plain = [(e, c) for e, c in plain if e is not None]
    acc = accuracy(learner, names, torch.stack([e for e, _ in plain]), torch.tensor([c for _, c in plain]))
    return PromptTrainingResult(len(chosen), losses, acc)
