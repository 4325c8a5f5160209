"""zsseg bench in its quick mode: it runs and reports (timings are not asserted)."""

import json

import pytest
import skimage.data
from PIL import Image

from zsseg import Segmenter, SegmenterConfig, cli
from zsseg.bench import benchmark, naive_segment
from zsseg.proposals import GraphProposals
from zsseg.text_cache import TextEmbeddingCache
from zsseg.vocabulary import Vocabulary

from .conftest import require_shared


@pytest.mark.parametrize("crop", ["masked", "window"])
def test_naive_path_agrees_with_default(colour_backend, two_colour_image, tmp_path, crop):
    seg = Segmenter(colour_backend, GraphProposals(), SegmenterConfig(crop=crop), TextEmbeddingCache(None))
    vocab = Vocabulary.from_names("red, green, blue")
    labels, timings = naive_segment(seg, two_colour_image, vocab)
    assert (labels == seg(two_colour_image, vocab).labels).mean() > 0.99
    path = tmp_path / "x.png"
    Image.fromarray(two_colour_image).save(path)
    r = benchmark(seg, [path, path], vocab, naive=True)
    assert r["pixel_agreement_vs_naive"] > 0.99 and r["speedup_vs_naive"] > 0
    assert {"proposals", "crops", "encoder", "ensemble", "semantic_map"} <= set(r["seconds_per_image"])
    assert r["text_encoder_s"]["prompts"] == 3 and r["peak_rss_mb"] > 0


def test_naive_path_hands_generators_the_vocabulary(colour_backend, two_colour_image):
    seen = []

    class Recording(GraphProposals):  # generators with class scores (maskformer) need the Vocabulary
        def score(self, proposals, vocabulary, rule):
            seen.append(vocabulary)
            return super().score(proposals, vocabulary, rule)

    seg = Segmenter(colour_backend, Recording(), SegmenterConfig(), TextEmbeddingCache(None))
    vocab = Vocabulary.from_names("red, green")
    naive_segment(seg, two_colour_image, vocab)
    seg(two_colour_image, vocab)
    assert seen == [vocab, vocab]


@pytest.mark.integration
def test_bench_cli_quick_mode_clip_architecture(tmp_path, capsys):
    bpe = require_shared("models", "clip_tokenizer", "bpe_simple_vocab_16e6.txt.gz")
    img = tmp_path / "coffee.jpg"
    Image.fromarray(skimage.data.coffee()).save(img)
    out = tmp_path / "bench.json"
    code = cli.main(
        [
            "bench",
            str(img),
            "--classes",
            "cup, table",
            "--model",
            "clip-vit-b16",
            "--bpe",
            str(bpe),
            "--limit",
            "1",
            "--short-side",
            "96",
            "--proposals",
            "whole",
            "--naive",
            "--templates",
            "single",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    r = json.loads(out.read_text())
    assert r["settings"]["model"] == "clip-vit-b16" and r["settings"]["crop"] == "masked"
    assert r["pixel_agreement_vs_naive"] > 0.99
