"""Evaluation: ``run(EvalConfig(...))`` is ``zsseg eval`` from Python; ``evaluate`` the loop itself."""

from .metrics import ConfusionMatrix
from .runner import EvalConfig, evaluate, run

__all__ = ["ConfusionMatrix", "EvalConfig", "evaluate", "run"]
