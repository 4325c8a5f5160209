"""The training loop: ``zsseg train --config FILE`` (also under torchrun with DDP)."""

from __future__ import annotations

import csv
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..config import SegmenterConfig, resolve_config
from ..datasets import SegmentationDataset, get_spec
from ..distributed import local_device, rank_and_world
from ..errors import ZsegError
from ..inputs import check_keys, read_config
from ..modeling import ModelConfig, build_model, load_trained
from ..text import ClassEmbedder
from ..vocabulary import Vocabulary, read_class_file
from .data import Augment, Source, TrainingSamples, build_sources
from .loss import LossWeights, criterion, per_pixel_loss, semantic_targets
from .names import NameAugment, TrainingNames


@dataclass(frozen=True)
class DataSource:
    """One labelled split in the training mix (any `zsseg eval` dataset and layout)."""

    dataset: str
    root: str
    split: str = "train"
    rename: dict[str, str] = field(default_factory=dict)  # dataset class -> training class (merges overlaps)


@dataclass
class TrainConfig:
    data: list[dict] = field(default_factory=list)  # DataSource fields, one entry per dataset split
    classes: str | list[str] | None = (
        None  # training classes: a class file or vocabulary lines; None = the datasets' union
    )
    unseen: list[str] = field(default_factory=list)  # never trained on: their pixels are ignored
    text_model: str = "conse"  # whose text encoder embeds the training class names
    templates: str | None = None
    model: dict = field(default_factory=dict)  # ModelConfig fields (architecture: maskformer | per_pixel)
    # a model.pt whose weights start the training (its model config wins), or the training config of
    # an earlier stage: its output's model.pt, trained (or finished) first; it keeps its own seed and
    # output and takes this stage's device. One config is then a whole recipe (configs/voc15_small.json)
    init_from: str | None = None
    iterations: int = 2000
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    backbone_lr_mult: float = 0.1
    poly_power: float = 0.9
    clip_grad: float = 0.01  # full-model gradient-norm clipping, as MaskFormer
    augment: dict = field(default_factory=dict)  # Augment fields
    loss: dict = field(default_factory=dict)  # LossWeights fields
    names: dict = field(default_factory=dict)  # NameAugment fields: class-name variants and absent-name negatives
    # a model.pt whose classes are the first of this training's: every query no label claims keeps
    # that network's class distribution and mask (learning without forgetting; `zsseg finetune`)
    teacher: str | None = None
    # which classes the network learned to tell apart, as lists of class names, recorded in model.pt
    # (zsseg.text.read_classes reads VOC's background by them); None: each dataset's classes
    label_spaces: list[list[str]] | None = None
    # an offset added to a class's logit at inference, by class name, recorded in model.pt:
    # `zsseg finetune` lowers its new classes' so that they do not claim old classes' regions
    class_bias: dict[str, float] = field(default_factory=dict)
    # classes labelled wherever they occur in the data: their masks' losses count every pixel, an
    # unlabelled one as "not this class" (`zsseg finetune`: the folder's classes)
    complete: list[str] = field(default_factory=list)
    # top-level modules kept at their initial weights (e.g. ["backbone"]): the fewer weights move,
    # the less a short fine-tune on a few images can forget (`zsseg finetune --freeze`)
    freeze: list[str] = field(default_factory=list)
    seed: int = 0
    # CPU threads of torch's intra-op parallelism: their count changes the order of floating-point
    # sums, and a training diverges from its first steps, so a CPU training is repeated byte for byte
    # only with the count it ran with (the zero-shot recipes': 2). None: torch's choice (the cores)
    threads: int | None = None
    log_every: int = 10
    checkpoint_every: int = 200
    output: str = "runs/train"
    device: str = "cpu"

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        data = read_config(path, cls)
        for key, sub in (("model", ModelConfig), ("augment", Augment), ("loss", LossWeights), ("names", NameAugment)):
            if not isinstance(data.get(key, {}), dict):
                raise ZsegError(f'{path}: "{key}" must be a JSON object')
            check_keys(data.get(key, {}), sub, path, f'"{key}"')
        sources = data.get("data")
        if not isinstance(sources, list) or not sources or not all(isinstance(d, dict) for d in sources):
            raise ZsegError(
                f'{path}: "data" must be a list of datasets, e.g. '
                f'[{{"dataset": "voc21", "root": "VOC2012", "split": "train"}}]'
            )
        threads = data.get("threads")
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ZsegError(
                f'{path}: "threads" must be a whole number of CPU threads >= 1, or null for torch\'s choice'
            )
        for d in sources:
            check_keys(d, DataSource, path, '"data" entry')
            missing = [k for k in ("dataset", "root") if k not in d]
            if missing:
                raise ZsegError(f'{path}: a "data" entry lacks {missing}')
        return cls(**data)

    def sources(self) -> list[DataSource]:
        return [DataSource(**d) for d in self.data]


def poly_lr(step: int, total: int, power: float) -> float:
    return (1 - step / max(1, total)) ** power


def train(cfg: TrainConfig, resume: bool = True, progress: bool = True) -> Path:
    """Train; returns the output folder (checkpoints, losses.csv, loss_curve.png, config.json).
    An ``init_from`` training config is trained first (``trained_model``), with its own ``threads``."""
    cfg = _after_earlier_stage(cfg, progress)
    before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, resume, progress)
    finally:
        torch.set_num_threads(before)


def _train(cfg: TrainConfig, resume: bool, progress: bool) -> Path:
    rank, _ = rank_and_world()
    device = local_device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    datasets = [(SegmentationDataset(s.root, s.split, get_spec(s.dataset)), s.rename) for s in cfg.sources()]
    vocab, sources = build_sources(datasets, _training_classes(cfg.classes), cfg.unseen)
    templates = resolve_config(SegmenterConfig(model=cfg.text_model, templates=cfg.templates)).templates
    embedder = ClassEmbedder.from_name(cfg.text_model, templates, device=device)
    text = embedder(list(vocab.prompts))
    names = TrainingNames(vocab, cfg.unseen, NameAugment(**cfg.names), embedder.embed_names, text)
    model, model_cfg = _network(cfg, text.shape[1])
    model = model.to(device)
    teacher = _teacher(cfg, vocab, model_cfg, text, device)
    complete = _complete(cfg.complete, vocab)
    complete = None if complete is None else complete.to(device)  # indexed by each batch's labels there
    _freeze(model, cfg.freeze)
    optimizer = _optimizer(cfg, model)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    start = _resume(out / "last.pt", model, optimizer) if resume else 0
    net = torch.nn.parallel.DistributedDataParallel(model) if dist.is_initialized() else model
    samples = TrainingSamples(sources, Augment(**cfg.augment), seed=cfg.seed * 1000 + rank + start)
    name_rng = np.random.default_rng([cfg.seed, rank, start])
    weights = LossWeights(**cfg.loss)
    log = LossLog(out / "losses.csv", start_step=start) if rank == 0 else None
    if rank == 0:
        config = {**asdict(cfg), "model": model_cfg.as_dict(), "templates": templates}
        (out / "config.json").write_text(json.dumps(config, indent=2))
    model.train()
    bar = tqdm(
        range(start, cfg.iterations),
        initial=start,
        total=cfg.iterations,
        desc="train",
        disable=not progress or rank != 0,
    )
    for step in bar:
        factor = poly_lr(step, cfg.iterations, cfg.poly_power)
        for g, base in zip(optimizer.param_groups, base_lrs):
            g["lr"] = base * factor
        images, labels, spaces = samples.batch(cfg.batch_size)
        spaces = torch.cat([spaces, spaces.new_ones(len(spaces), names.extra)], 1)  # negatives compete everywhere
        images = images.to(device)
        outputs = net(images, names.sample(name_rng))
        with torch.no_grad():
            kept = None if teacher is None else teacher(images)
        losses = _losses(model_cfg.architecture, outputs, labels.to(device), spaces.to(device), weights, kept, complete)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        if log is None:
            continue
        log.add(losses)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.iterations:
            log.write(step + 1, base_lrs[-1] * factor)
            bar.set_postfix(loss=f"{float(losses['total'].detach()):.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.iterations:
            save_checkpoint(out, model, optimizer, step + 1, model_cfg, vocab, sources, cfg, templates)
    if rank == 0:
        plot_losses(out / "losses.csv", out / "loss_curve.png")
    if dist.is_initialized():
        dist.barrier()
    return out


def trained_model(cfg: TrainConfig, progress: bool = True) -> Path:
    """``cfg``'s model.pt, trained first where it is missing, or finished where ``last.pt`` says the
    run was interrupted (model.pt is written at every checkpoint; a finished run resumes at its end)."""
    out = Path(cfg.output)
    if not (out / "model.pt").exists() or (out / "last.pt").exists():
        train(cfg, resume=True, progress=progress)
    return out / "model.pt"


def _after_earlier_stage(cfg: TrainConfig, progress: bool) -> TrainConfig:
    """``cfg`` starting from its earlier stage's model.pt, trained first, where ``init_from`` is a
    training config (run on ``cfg``'s device); ``cfg`` as it is otherwise."""
    if cfg.init_from is None or not cfg.init_from.endswith(".json"):
        return cfg
    stages, outputs, path = [], [Path(cfg.output).resolve()], cfg.init_from
    while path is not None and path.endswith(".json"):  # a chain back to an output would never end
        stages.append(TrainConfig.from_file(path))
        if Path(stages[-1].output).resolve() in outputs:
            raise ZsegError(f"{path}: its output {stages[-1].output} is also a later stage's: give each stage its own")
        outputs.append(Path(stages[-1].output).resolve())
        path = stages[-1].init_from
    return replace(cfg, init_from=str(trained_model(replace(stages[0], device=cfg.device), progress)))


def _losses(
    architecture: str,
    outputs,
    labels: torch.Tensor,
    spaces: torch.Tensor,
    weights: LossWeights,
    teacher=None,
    complete: torch.Tensor | None = None,
) -> dict:
    """The architecture's losses of one batch (``spaces`` [B, C]: the classes each image's labels know;
    ``teacher``: the teacher's outputs on the batch; ``complete`` [C]: ``TrainConfig.complete``)."""
    if architecture == "per_pixel":
        return per_pixel_loss(outputs, labels, label_space=spaces)
    targets = [semantic_targets(lab, label_space=sp, complete=complete) for lab, sp in zip(labels, spaces)]
    return criterion(outputs, targets, weights, teacher=teacher)


def _teacher(
    cfg: TrainConfig, vocab: Vocabulary, model_cfg: ModelConfig, text: torch.Tensor, device
) -> Callable[[torch.Tensor], list[dict]] | None:
    """images -> the outputs of ``cfg.teacher``'s frozen network on its own classes (checked against this training)."""
    if cfg.teacher is None:
        return None
    net, meta = load_trained(cfg.teacher)
    k = len(meta["classes"])
    if model_cfg.architecture == "per_pixel" or net.config.architecture == "per_pixel":
        raise ZsegError(f"{cfg.teacher}: a teacher is for the mask-classification network, not the per-pixel baseline")
    if list(vocab.names[:k]) != list(meta["classes"]):
        raise ZsegError(
            f"{cfg.teacher}: its classes ({', '.join(meta['classes'])}) must be the first of the training classes "
            f"({', '.join(vocab.names[:k])} ...)"
        )
    if net.config.num_queries != model_cfg.num_queries or net.config.dec_layers != model_cfg.dec_layers:
        raise ZsegError(f"{cfg.teacher}: the teacher's queries and decoder layers must be the network's (init_from it)")
    net = net.to(device).eval().requires_grad_(False)
    return lambda images: net(images, text[:k])


def _network(cfg: TrainConfig, text_dim: int) -> tuple[torch.nn.Module, ModelConfig]:
    """The network to train: new from the config, or the weights of ``init_from`` (same architecture)."""
    if cfg.init_from is None:
        model_cfg = ModelConfig(**{**cfg.model, "text_dim": text_dim})
        return build_model(model_cfg), model_cfg
    net, _ = load_trained(cfg.init_from)
    if net.config.text_dim != text_dim:
        raise ZsegError(
            f"{cfg.init_from}: trained with {net.config.text_dim}-d text embeddings, this text model gives {text_dim}"
        )
    return net, net.config


def _freeze(model: torch.nn.Module, parts: list[str]) -> None:
    """The named top-level modules of ``model`` kept at their weights (``TrainConfig.freeze``)."""
    modules = dict(model.named_children())
    unknown = [m for m in parts if m not in modules]
    if unknown:
        raise ZsegError(f"freeze: no module {', '.join(unknown)} in the network; choose from {', '.join(modules)}")
    for name in parts:
        modules[name].requires_grad_(False)


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW over the weights that train (``_freeze``); the backbone learns ``backbone_lr_mult`` times slower."""
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backbone = [p for n, p in trained if n.startswith("backbone.")]
    others = [p for n, p in trained if not n.startswith("backbone.")]
    groups = [{"params": backbone, "lr": cfg.lr * cfg.backbone_lr_mult}, {"params": others, "lr": cfg.lr}]
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _resume(last: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load ``last.pt`` if it exists; the step to continue from (0: a fresh start)."""
    if not last.exists():
        return 0
    state = torch.load(last, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])


class LossLog:
    """losses.csv: one row per ``log_every`` steps with the mean losses since the row before (one
    batch's loss is noise), the learning rate and the seconds since the start."""

    COLUMNS = ("total", "ce", "focal", "dice", "distil_class", "distil_mask")
    FIELDS = ("step", *COLUMNS, "lr", "seconds")

    def __init__(self, path: Path, start_step: int) -> None:
        """``start_step``: where training (re)starts; rows logged after it by an interrupted run
        are dropped, and the seconds continue from the last row kept."""
        self.path = path
        kept = [r for r in _read_rows(path) if int(r["step"]) <= start_step] if start_step > 0 else []
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        self.window: dict[str, float] = {}
        self.count = 0
        self.start = time.perf_counter() - (float(kept[-1]["seconds"]) if kept else 0.0)

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            self.window[k] = self.window.get(k, 0.0) + float(v.detach())
        self.count += 1

    def write(self, step: int, lr: float) -> None:
        means = [round(self.window[k] / self.count, 5) if k in self.window else "" for k in self.COLUMNS]
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([step, *means, f"{lr:.3g}", round(time.perf_counter() - self.start, 2)])
        self.window, self.count = {}, 0


def _complete(names: list[str], vocab: Vocabulary) -> torch.Tensor | None:
    """``TrainConfig.complete`` as a [C] bool over the training classes (None: empty)."""
    if not names:
        return None
    stray = sorted(set(names) - set(vocab.names))
    if stray:
        raise ZsegError(f'"complete" names classes that are not training classes: {", ".join(stray)}')
    return torch.tensor([n in names for n in vocab.names])


def _training_classes(classes: str | list[str] | None) -> Vocabulary | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        return read_class_file(classes)
    return Vocabulary.from_lines(classes, source='the config\'s "classes"')


def save_checkpoint(
    out: Path,
    model,
    optimizer,
    step: int,
    model_cfg: ModelConfig,
    vocab: Vocabulary,
    sources: list[Source],
    cfg: TrainConfig,
    templates: str,
) -> None:
    """``last.pt`` (resumable: model + optimizer + step) and ``model.pt`` (inference: weights,
    vocabulary, and each dataset's label space: which classes the network learned to tell apart)."""
    meta = {
        "config": model_cfg.as_dict(),
        "classes": list(vocab.names),
        "prompts": [list(p) for p in vocab.prompts],
        "label_spaces": cfg.label_spaces
        if cfg.label_spaces is not None
        else [[vocab.names[i] for i in np.flatnonzero(s.label_space)] for s in sources],
        "class_bias": dict(cfg.class_bias),
        "text_model": cfg.text_model,
        "templates": templates,
        "dataset": "+".join(f"{s.dataset}:{s.split}" for s in cfg.sources()),
        "unseen": cfg.unseen,
        "step": step,
    }
    for name, state in (
        ("last.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, **meta}),
        (
            "model.pt",
            {"model": {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, **meta},
        ),
    ):
        tmp = out / f".{name}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, out / name)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(csv_path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_rows(csv_path)
    if not rows:
        return
    steps = np.array([int(r["step"]) for r in rows])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for key in LossLog.COLUMNS:
        if rows[0].get(key, "") != "":  # the per-pixel baseline has no mask losses, only a teacher distils
            ax.plot(steps, [float(r[key]) for r in rows], label=key)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
