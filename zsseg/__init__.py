"""zsseg: open-vocabulary semantic segmentation (two-stage: mask proposals, then a vision-language
model classifies each masked crop; Xu et al. 2022, "A Simple Baseline for Open-Vocabulary
Semantic Segmentation with Pre-trained Vision-language Model")."""

from .errors import ZsegError
from .segmenter import Segmentation, Segmenter, SegmenterConfig
from .vocabulary import Vocabulary, list_vocabularies, load_vocabulary

__all__ = [
    "Segmenter",
    "SegmenterConfig",
    "Segmentation",
    "Vocabulary",
    "ZsegError",
    "list_vocabularies",
    "load_vocabulary",
]
__version__ = "0.1.0"
