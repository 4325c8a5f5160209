"""zsseg: open-vocabulary semantic segmentation (two-stage: mask proposals, then a vision-language
model classifies each masked crop; Xu et al. 2022, "A Simple Baseline for Open-Vocabulary
Semantic Segmentation with Pre-trained Vision-language Model")."""

from .backends import build_backend, list_backends
from .datasets import get_spec, list_datasets
from .errors import ZsegError
from .evaluation.presets import list_presets, load_preset
from .modeling import build_model, list_architectures
from .proposals import build_proposals, list_proposals
from .segmenter import Segmentation, Segmenter, SegmenterConfig
from .vocabulary import Vocabulary, list_vocabularies, load_vocabulary

# The registries, one shape each: list_x() names what build_x / load_x / get_spec accept.
__all__ = [
    "Segmenter",
    "SegmenterConfig",
    "Segmentation",
    "Vocabulary",
    "ZsegError",
    "build_backend",
    "build_model",
    "build_proposals",
    "get_spec",
    "list_architectures",
    "list_backends",
    "list_datasets",
    "list_presets",
    "list_proposals",
    "list_vocabularies",
    "load_preset",
    "load_vocabulary",
]
__version__ = "0.1.0"
