"""Evaluation: ``run(EvalConfig(...))`` is ``zsseg eval`` from Python; ``preset_config`` builds the
config of a benchmark protocol's reference settings; ``evaluate`` is the loop itself."""

from .metrics import ConfusionMatrix
from .presets import list_presets, preset_config
from .runner import EvalConfig, evaluate, run

__all__ = ["ConfusionMatrix", "EvalConfig", "evaluate", "list_presets", "preset_config", "run"]
