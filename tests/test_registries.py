"""Every registry has one shape (a ``Registry``: list_x() names what build_x / load_x accepts, any
spelling, one-line errors), and every entry of each is tested here by construction."""

import numpy as np
import pytest
import torch

import zsseg
from zsseg.backends import BACKENDS, backend_class
from zsseg.config import SegmenterConfig
from zsseg.datasets import DATASETS
from zsseg.errors import ZsegError
from zsseg.evaluation.presets import LEARNED, PRESETS
from zsseg.modeling import ARCHITECTURES
from zsseg.modeling.common import ModelConfig
from zsseg.proposals import PROPOSAL_GENERATORS, SHIPPED_NETWORK, TAKES_MODEL
from zsseg.registry import Registry
from zsseg.vocabulary import VOCABULARIES

REGISTRIES = {
    "proposals": (PROPOSAL_GENERATORS, zsseg.list_proposals),
    "backends": (BACKENDS, zsseg.list_backends),
    "datasets": (DATASETS, zsseg.list_datasets),
    "vocabularies": (VOCABULARIES, zsseg.list_vocabularies),
    "presets": (PRESETS, zsseg.list_presets),
    "architectures": (ARCHITECTURES, zsseg.list_architectures),
}


@pytest.mark.parametrize("kind", REGISTRIES)
def test_one_shape(kind):
    registry, list_x = REGISTRIES[kind]
    assert isinstance(registry, Registry) and list_x() == list(registry) and len(registry) >= 2
    for name in registry:
        for spelling in (name.upper(), name.replace("_", "-"), f" {name} "):
            assert registry.lookup(spelling) is registry[name]
    with pytest.raises(ZsegError) as err:
        registry.lookup("no-such-thing")
    message = str(err.value)
    assert "\n" not in message and "no-such-thing" in message and all(n in message for n in registry)


def test_aliases():
    assert DATASETS.key("VOC") == "voc21" and DATASETS.key("cocostuff") == "coco_stuff171"
    assert VOCABULARIES.key("camvid") == "camvid11" and VOCABULARIES.key("voc_21") == "voc21"


def test_an_unknown_backend_is_an_error_unless_it_looks_like_a_checkpoint(tmp_path):
    with pytest.raises(ZsegError, match="unknown backend 'clipp'; choose one of conse, clip"):
        backend_class("clipp")
    assert backend_class("openai/clip-vit-base-patch16").__name__ == "ClipBackend"
    assert backend_class(str(tmp_path)).__name__ == "ClipBackend"  # a local folder
    with pytest.raises(ZsegError, match="unknown backend"):
        zsseg.build_backend("clipp")


@pytest.mark.parametrize("name", list(PROPOSAL_GENERATORS))
def test_every_generator_proposes(name, two_colour_image):
    if name in TAKES_MODEL and name != "maskformer":
        pytest.skip(f"{name} needs weights from the hub or a local folder (tests/test_pretrained_proposals.py)")
    if name == "maskformer" and not SHIPPED_NETWORK.is_file():
        pytest.skip(f"{SHIPPED_NETWORK} is absent")
    proposals = zsseg.build_proposals(name)(two_colour_image)
    h, w = two_colour_image.shape[:2]
    assert proposals.masks.shape[1:] == (h, w) and len(proposals) >= 1
    assert float(proposals.masks.min()) >= 0 and float(proposals.masks.max()) <= 1


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_class_has_its_defaults(name):
    cls = backend_class(name)
    resolved = SegmenterConfig(model=name)
    assert resolved.model == name and cls.default_short_side > 0 and cls.default_templates and cls.default_crop


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_spec(name, tmp_path):
    spec = zsseg.get_spec(name)
    assert spec.name == name and spec.description and callable(spec.layout)
    if spec.vocabulary is not None:
        vocab = spec.load_vocabulary()
        lut = spec.lut[:256]
        ids = set(int(v) for v in np.unique(lut) if v >= 0)
        assert ids <= set(range(len(vocab))), "the label mapping points past the vocabulary"
    else:
        with pytest.raises(ZsegError, match="classes.txt"):
            spec.load_vocabulary(tmp_path)


@pytest.mark.parametrize("name", list(VOCABULARIES))
def test_every_vocabulary(name):
    vocab = zsseg.load_vocabulary(name)
    assert len(vocab) >= 10 and len(set(vocab.names)) == len(vocab) and all(p for p in vocab.prompts)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset(name):
    preset = zsseg.load_preset(name)
    assert DATASETS.key(preset["dataset"]) is not None and preset["description"]
    fields = {k: v for k, v in preset["segmenter"].items() if not (k == "templates" and v == LEARNED)}
    SegmenterConfig(**fields)  # every field a valid setting
    vocab = zsseg.get_spec(preset["dataset"])
    assert vocab.name == DATASETS.key(preset["dataset"])


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_runs_tiny(name):
    tiny = dict(num_queries=4, hidden_dim=32, num_heads=2, dec_layers=1, dim_feedforward=32, mask_dim=16)
    net = zsseg.build_model(ModelConfig(architecture=name, text_dim=8, pretrained_backbone=False, **tiny)).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64) * 255, torch.nn.functional.normalize(torch.randn(3, 8), dim=-1))
    assert out is not None
