from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zsseg.backends.base import Backend

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared").resolve()
CLIP_BPE = SHARED / "models" / "clip_tokenizer" / "bpe_simple_vocab_16e6.txt.gz"


def require_shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the real data/models of ../shared are needed for this test")
    return path


COLOURS = {
    "red": (1.0, -1.0, -1.0),
    "green": (-1.0, 1.0, -1.0),
    "blue": (-1.0, -1.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "black": (-1.0, -1.0, -1.0),
    "yellow": (1.0, 1.0, -1.0),
}


class ColourBackend(Backend):
    """A tiny, exact backend for logic tests: an image embeds as its mean normalised colour,
    a text as the colour its last word names. So a red region is classified "red"."""

    name = "colour"
    input_size = 16
    pixel_mean = (0.5, 0.5, 0.5)
    pixel_std = (0.5, 0.5, 0.5)
    default_templates = "none"
    default_crop = "masked"
    default_short_side = 64

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.texts_encoded: list[str] = []

    @property
    def cache_key(self) -> str:
        return "colour-test"

    @property
    def logit_scale(self) -> float:
        return 20.0

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.nn.functional.normalize(pixels.mean(dim=(2, 3)), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        self.texts_encoded += texts
        vecs = []
        for t in texts:
            word = t.strip(" .").split()[-1]
            vecs.append(torch.tensor(COLOURS.get(word, (0.0, 0.0, 0.0))) + 1e-3)
        return torch.nn.functional.normalize(torch.stack(vecs), dim=-1)


@pytest.fixture
def colour_backend() -> ColourBackend:
    return ColourBackend()


@pytest.fixture
def two_colour_image():
    import numpy as np

    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (230, 20, 20)  # red left half
    img[:, 32:] = (20, 20, 230)  # blue right half
    return img


@pytest.fixture(scope="session")
def conse_segmenter(tmp_path_factory):
    """The real offline default (EfficientNet-Lite0 + MiniLM weights from pip)."""
    from zsseg import Segmenter

    return Segmenter.from_pretrained("conse", "graph", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def default_segmenter(tmp_path_factory):
    """The shipped default: the network of zsseg/weights/scenes.pt + the offline ConSE backend."""
    from zsseg import Segmenter
    from zsseg.proposals import SHIPPED_NETWORK

    if not SHIPPED_NETWORK.is_file():
        pytest.skip(f"{SHIPPED_NETWORK} is absent: the shipped network comes with the package (docs/model-card.md)")
    return Segmenter.from_pretrained(cache_dir=tmp_path_factory.mktemp("cache"))


def count_host_copies(monkeypatch) -> dict[str, int]:
    """From now on, the elements read to the host through Tensor.cpu/.numpy/.tolist/.item, by method
    (on the CPU these cost nothing, but each is a copy from a GPU)."""
    moved: dict[str, int] = {}
    for name in ("cpu", "numpy", "tolist", "item"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **k):
            moved[_name] = moved.get(_name, 0) + self.numel()
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return moved


def torchrun(nproc: int, *args, timeout: int = 600):
    """``python -m torch.distributed.run --nproc_per_node N -m zsseg ARGS`` on CPU (gloo), one thread
    per process, on a port of its own; returns the completed process."""
    import os
    import subprocess
    import sys

    port = str(29500 + 10 * nproc + os.getpid() % 1000 + hash(args[0]) % 7)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", port]
    cmd += ["-m", "zsseg", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def fake_model(monkeypatch, colour_backend):
    """The CLI with the exact colour backend instead of loading real weights."""
    from zsseg import Segmenter, SegmenterConfig, cli
    from zsseg.proposals import GraphProposals
    from zsseg.text_cache import TextEmbeddingCache

    monkeypatch.setattr(
        cli,
        "_build_segmenter",
        lambda config, cache_dir: Segmenter(
            colour_backend, GraphProposals(), SegmenterConfig(max_pixels=config.max_pixels), TextEmbeddingCache(None)
        ),
    )


@pytest.fixture
def image_file(tmp_path, two_colour_image):
    """The two-colour image as a PNG file."""
    from PIL import Image

    p = tmp_path / "in" / "halves.png"
    p.parent.mkdir()
    Image.fromarray(two_colour_image).save(p)
    return p
