"""Evaluation: ``run(EvalConfig(...))`` is ``zsseg eval`` from Python; ``preset_config`` builds the
config of a benchmark protocol's reference settings; ``evaluate`` and ``evaluate_oracle`` are the loops."""

from .metrics import ConfusionMatrix
from .presets import list_presets, preset_config
from .runner import EvalConfig, evaluate, evaluate_oracle, run

__all__ = ["ConfusionMatrix", "EvalConfig", "evaluate", "evaluate_oracle", "list_presets", "preset_config", "run"]
