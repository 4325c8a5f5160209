"""Teaching a trained network new classes from a small labelled folder: ``zsseg finetune``.

The folder is the generic layout (``DATA/SPLIT/images``, ``DATA/SPLIT/labels``, ``DATA/classes.txt``:
label value = line, 255 ignored). Its classes that the network knows by name (any of a training
class's names, case-insensitive) are that class; the others are new and join the class list.
The network's class head scores text embeddings, so a new class needs no new weights: only
queries that learn to embed its regions near its name.

Fine-tuning on the folder alone would teach the new classes and forget the old ones: every query
no folder label claims would be pushed to "no object", and nothing would keep the network answering
"road" or "person". Its old data is not at hand, so the base network stands in for it (learning
without forgetting), twice:

- distillation: the base network runs beside the one being trained, on the same augmented batch,
  and every query no label claims keeps the base network's class distribution (its classes; the
  new ones at 0) and mask (``zsseg train`` with ``teacher``; ``zsseg.training.loss.distillation``);
- its labels: before training, every pixel the folder leaves unlabelled (255) takes the base
  network's class where its share of the pixel's score is at least ``teacher_confidence`` — but
  a catch-all (``zsseg.text.CATCH_ALL``, VOC's background) only in an image that lies inside its
  label space (``catch_alls_outside``).

The folder's classes count as labelled wherever they occur (``TrainConfig.complete``): a pixel it
leaves at 255 is none of them, so their masks learn from every pixel and a new class does not spread
over the regions nobody labelled.

The network is trained from the base weights on these labels (``zsseg train`` with ``init_from``:
same losses, progress bar, resumable, loss curve), and a model card is written beside ``model.pt``.

    OUT/data/             the labelled set it trains on (images linked, labels merged), its classes.txt
    OUT/model.pt          the network that knows old + new (``zsseg segment --proposals-model OUT/model.pt``)
    OUT/losses.csv, loss_curve.png, config.json, last.pt (resumable), model_card.md
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..datasets import SegmentationDataset, get_spec
from ..ensemble import semantic_map
from ..errors import ZsegError
from ..image_io import load_image, resize_short_side
from ..modeling import load_trained
from ..proposals import SHIPPED_NETWORK, MaskFormerProposals
from ..text import CATCH_ALL, catch_all_classes, label_space_of
from ..vocabulary import Vocabulary
from .data import write_pair
from .train import TrainConfig, train

GENERIC_IGNORE = 255


@dataclass
class FinetuneConfig:
    data: str  # the labelled folder (generic layout with classes.txt)
    out: str
    base: str = str(SHIPPED_NETWORK)  # the network to teach (a model.pt of zsseg train)
    split: str = "train"
    iterations: int = 300
    batch_size: int = 4
    lr: float = 1e-4
    # Unlabelled pixels take the base network's class where it wins at least this share of the pixel's score.
    teacher_confidence: float = 0.5
    short_side: int = 384  # the base network's working resolution for its labels (the shipped recipe's)
    # Subtracted from the new classes' logits at inference (temperature 100 x cosine): a class
    # learnt from a few images claims regions of old classes the folder never shows (horse -> sheep).
    # 1: in the dev miniature (folder classes labelled wherever they occur) with 50 images, old classes
    # lose 0.3 / 1.0 mIoU and new ones reach 70 % of full training; 2: 50 %, 0: VOC's old classes -3.8.
    new_class_bias: float = 1.0
    freeze: list[str] = field(default_factory=list)  # parts kept at the base weights (TrainConfig.freeze)
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class Plan:
    """What a folder teaches a base network."""

    dataset: SegmentationDataset
    base_classes: list[str]
    base_prompts: list[list[str]]
    folder_to_training: np.ndarray  # [folder classes] -> training class index
    new: list[str]  # the folder's classes the base network does not know
    known: dict[str, str]  # folder class -> base class it is
    text_model: str  # the base network's text encoder and templates: the taught network keeps them
    templates: str
    # the base network's label spaces and the folder's classes (none where the base records none)
    label_spaces: list[list[str]]

    @property
    def vocabulary(self) -> Vocabulary:
        """The training classes: the base network's, then the new ones (with the folder's prompt names)."""
        voc = self.dataset.vocabulary
        new_prompts = [tuple(voc.prompts[voc.index(n)]) for n in self.new]
        return Vocabulary(
            tuple(self.base_classes) + tuple(self.new),
            tuple(tuple(p) for p in self.base_prompts) + tuple(new_prompts),
            "zsseg finetune",
        )


def plan(data: str | Path, split: str, base: str | Path) -> Plan:
    """The folder read and checked (one-line errors), its classes mapped onto the base network's."""
    root = Path(data)
    if not root.is_dir():
        raise ZsegError(f"{root}: folder not found; pass a folder with {split}/images, {split}/labels and classes.txt")
    if not (root / "classes.txt").is_file():
        raise ZsegError(
            f"{root}: no classes.txt; write one class name per line, in label order (line 1 = label value 0)"
        )
    if not (root / split / "images").is_dir() or not (root / split / "labels").is_dir():
        raise ZsegError(f"{root}: expected {split}/images and {split}/labels in it (the generic layout)")
    dataset = SegmentationDataset(root, split, get_spec("generic"))
    check_labels(dataset)
    _, meta = load_trained(base)
    names = {n.lower(): k for k, cls in enumerate(zip(meta["classes"], meta["prompts"])) for n in (cls[0], *cls[1])}
    known = {c: meta["classes"][names[c.lower()]] for c in dataset.vocabulary.names if c.lower() in names}
    new = [c for c in dataset.vocabulary.names if c not in known]
    if not new:
        raise ZsegError(
            f"{root / 'classes.txt'}: every class ({', '.join(dataset.vocabulary.names)}) is one the network knows "
            "already; nothing to teach (name the new classes there, or train on known classes with `zsseg train`)"
        )
    index = {n: k for k, n in enumerate(meta["classes"])}
    lut = np.array(
        [index[known[c]] if c in known else len(meta["classes"]) + new.index(c) for c in dataset.vocabulary.names]
    )
    prompts = [list(p) for p in meta["prompts"]]
    spaces = meta.get("label_spaces", [])
    if spaces:
        spaces = [*spaces, [known.get(c, c) for c in dataset.vocabulary.names]]
    return Plan(dataset, list(meta["classes"]), prompts, lut, new, known, meta["text_model"], meta["templates"], spaces)


def check_labels(dataset: SegmentationDataset) -> None:
    """Every label value is a line of classes.txt or 255; at least one labelled pixel."""
    n = len(dataset.vocabulary)
    labelled = 0
    for sample in dataset:
        with Image.open(sample.label_path) as im:
            raw = np.array(im)
        values = np.unique(raw)
        bad = values[(values >= n) & (values != GENERIC_IGNORE)]
        if len(bad):
            raise ZsegError(
                f"{sample.label_path}: label value {int(bad[0])} is not a class of classes.txt "
                f"({n} classes: values 0-{n - 1}, and {GENERIC_IGNORE} for unlabelled pixels)"
            )
        labelled += int((raw != GENERIC_IGNORE).sum())
    if labelled == 0:
        raise ZsegError(f"{dataset.root}: every label pixel is {GENERIC_IGNORE} (unlabelled); nothing to learn")


def teacher_labels(plan: Plan, cfg: FinetuneConfig, out: Path, progress: bool = True) -> Path:
    """OUT/data: each folder image linked, its label merged with the base network's own labels
    (training class indices, 255 ignored), and the training classes.txt. Images done before are kept."""
    root = out / "data"
    images, labels = root / cfg.split / "images", root / cfg.split / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    vocab = plan.vocabulary
    lines = "\n".join(f"{n}: {'; '.join(p)}" for n, p in zip(vocab.names, vocab.prompts)) + "\n"
    if (root / "classes.txt").is_file() and (root / "classes.txt").read_text() != lines:
        shutil.rmtree(labels)  # another folder or base network: its labels are stale
        labels.mkdir()
    (root / "classes.txt").write_text(lines)
    teacher = MaskFormerProposals(cfg.base, device=cfg.device)
    base_vocab = Vocabulary(tuple(plan.base_classes), tuple(tuple(p) for p in plan.base_prompts), "base network")
    catch_all = catch_all_classes([[c] for c in plan.base_classes])
    for sample in tqdm(plan.dataset, desc="base network labels", unit="img", disable=not progress):
        dest = labels / f"{sample.stem}.png"
        if dest.is_file():
            continue
        rgb = load_image(sample.image_path)
        own = plan.dataset.read_label(sample, rgb.shape[:2])  # folder class ids, -1 unlabelled
        merged = np.full(own.shape, GENERIC_IGNORE, np.uint8)
        merged[own >= 0] = plan.folder_to_training[own[own >= 0]]
        with torch.no_grad():
            props = teacher(resize_short_side(rgb, cfg.short_side))
            scores = teacher.score(props, base_vocab)
            guess, share = (t.cpu().numpy() for t in semantic_map(scores.probs, props.masks, own.shape))
        sure = (own < 0) & (share >= cfg.teacher_confidence)
        fill = sure & ~np.isin(guess, catch_alls_outside(guess, sure, catch_all, teacher.label_spaces))
        merged[fill] = guess[fill]
        write_pair(sample, merged, root / cfg.split)
    return root


# Sure labels of classes outside a catch-all's label space on this share of an image put the image
# outside it; a few stray pixels do not. In the dev miniature's three train folders of 50 it keeps
# VOC's background in 72 of the 75 VOC photos' labels and in 3 of the 75 street frames'.
FOREIGN_SHARE = 0.001


def catch_alls_outside(
    guess: np.ndarray, sure: np.ndarray, catch_all: Sequence[int], spaces: Sequence[Collection[int]]
) -> list[int]:
    """The catch-all classes (``catch_all``, the base network's indices) an image's labels leave out:
    those for which the base network's sure labels (``guess`` where ``sure``) of classes sharing no
    training label space (``spaces``) with it cover at least ``FOREIGN_SHARE`` of the image; all of
    them where the base network records no label spaces.

    A catch-all means "none of my label space's classes": VOC's background is what a VOC photo shows
    besides VOC's 20 things. Scored against every class at once, the base network also gives it
    most of a street frame (47-50 % of the dev miniature's CamVid pixels; road 1 %, sky 0 %), and a
    network taught from such labels calls streets background. Where the image lies outside the space
    (sure road, sky, building), the catch-all's pixels are left unlabelled: distillation alone keeps
    the catch-all there."""
    if not spaces:
        return list(catch_all)
    labels = guess[sure]
    return [
        k for k in catch_all if (~np.isin(labels, list(label_space_of(k, spaces)))).sum() >= FOREIGN_SHARE * guess.size
    ]


def finetune(cfg: FinetuneConfig, resume: bool = True, progress: bool = True) -> Path:
    """Teach ``cfg.base`` the folder's new classes; returns the output folder (see the module docstring)."""
    if cfg.iterations < 1:
        raise ZsegError(f"iterations must be >= 1, got {cfg.iterations}")
    if not 0 <= cfg.teacher_confidence <= 1:
        raise ZsegError(f"teacher-confidence must be in [0, 1], got {cfg.teacher_confidence}")
    out = Path(cfg.out)
    p = plan(cfg.data, cfg.split, cfg.base)
    start = time.perf_counter()
    data = teacher_labels(p, cfg, out, progress)
    train_cfg = TrainConfig(
        data=[{"dataset": "generic", "root": str(data), "split": cfg.split}],
        classes=str(data / "classes.txt"),
        text_model=p.text_model,
        templates=p.templates,
        init_from=cfg.base,
        teacher=cfg.base,
        label_spaces=p.label_spaces,
        class_bias={c: -cfg.new_class_bias for c in p.new},
        complete=[*p.new, *dict.fromkeys(p.known.values())],
        freeze=cfg.freeze,
        iterations=cfg.iterations,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        augment={"crop": 320, "base_short_side": cfg.short_side, "scale": [0.5, 1.5]},
        seed=cfg.seed,
        log_every=10,
        checkpoint_every=max(10, cfg.iterations // 5),
        output=str(out),
        device=cfg.device,
    )
    train(train_cfg, resume=resume, progress=progress)
    write_model_card(out, cfg, p, time.perf_counter() - start)
    return out


def write_model_card(out: Path, cfg: FinetuneConfig, p: Plan, seconds: float) -> None:
    known = ", ".join(f"{c} (as {k})" if c != k else c for c, k in p.known.items()) or "none"
    text = f"""# Model card: {out.name}

A proposal network taught new classes by `zsseg finetune` (zsseg.training.finetune).

- Base network: `{cfg.base}` ({len(p.base_classes)} classes: {", ".join(p.base_classes)})
- New classes: {", ".join(p.new)}
- Classes of the folder it already knew: {known}
- Data: `{cfg.data}` ({cfg.split}: {len(p.dataset)} images); unlabelled pixels took the base network's
  class where it won at least {cfg.teacher_confidence:.2f} of the pixel's score; its catch-alls
  ({", ".join(sorted(CATCH_ALL))}) only in images inside their label space (OUT/data)
- Training: {cfg.iterations} iterations, batch {cfg.batch_size}, lr {cfg.lr:g} (poly), from the base weights,
  every query no label claimed kept at the base network's classes and mask (distillation), the
  folder's classes' masks trained on every pixel (what the folder leaves at 255 is none of them);
  kept at the base weights: {", ".join(cfg.freeze) or "nothing"};
  {seconds / 60:.1f} min on {cfg.device} this run (loss curve: loss_curve.png, losses.csv)
- At inference the new classes' logits are lowered by {cfg.new_class_bias:g} (`--new-class-bias`)
- Use: `zsseg segment IMAGE --classes "..." --proposals-model {out / "model.pt"}`

Not measured here: how well it does on your images. Hold some labelled images out of the folder
and run `zsseg eval --dataset generic --root HELD_OUT --proposals-model {out / "model.pt"}`.
"""
    (out / "model_card.md").write_text(text)
    (out / "finetune.json").write_text(json.dumps({**asdict(cfg), "new": p.new, "known": p.known}, indent=2))
