"""Training of the stage-1 network on seen classes (the zero-shot protocol).

The names the command line offers live here, so that it need not import the training code."""

from dataclasses import dataclass

# Pseudo-label rules of self-training (zsseg.training.self_training), here so that the CLI can offer
# them without importing the training code. quantile by default: measured better than
# zsseg.baseline's prior rule on VOC 15/5 (hIoU 45.1 vs 31.4) and CamVid 8/3 (6.1 vs 5.7); see
# docs/training.md. "prior" reproduces the reference.
RULES = ("quantile", "prior")


@dataclass(frozen=True)
class PromptRecipe:
    iterations: int
    lr: float = 0.02
    weight_decay: float = 0.0
    warmup_iters: int = 0
    warmup_factor: float = 1.0
    batch_size: int = 32
    augment: bool = False  # crops made afresh for every batch (rescale + flip) instead of embedded once
    per_class: int | None = None  # ground-truth regions sampled per class (None: all)


RECIPES = {
    "quick": PromptRecipe(iterations=300),
    "reference": PromptRecipe(
        iterations=16000, weight_decay=5e-4, warmup_iters=100, warmup_factor=0.005, augment=True, per_class=32
    ),
}
