"""The whole two-stage pipeline on synthetic images with the exact colour backend."""

import re

import numpy as np
import pytest
import torch

from zsseg import Segmenter, SegmenterConfig, ZsegError
from zsseg.proposals import ClassScores, GraphProposals, ProposalGenerator, Proposals
from zsseg.text import SeenRule, read_classes
from zsseg.text_cache import TextEmbeddingCache
from zsseg.vocabulary import resolve_vocabulary


def make(backend, proposals=None, **cfg):
    return Segmenter(backend, proposals or GraphProposals(), SegmenterConfig(**cfg), TextEmbeddingCache(None))


@pytest.mark.parametrize("crop", ["masked", "context", "window"])
def test_two_colours(colour_backend, two_colour_image, crop):  # dense: see test_dense_mode
    seg = make(colour_backend, crop=crop)(two_colour_image, "blue, green, red")
    assert seg.labels.shape == (48, 64)
    if crop != "window":  # windows straddle the edge; masked/context crops do not
        assert (seg.labels[:, :30] == 2).all() and (seg.labels[:, 34:] == 0).all()
    else:
        assert (seg.labels[:, :16] == 2).mean() > 0.9 and (seg.labels[:, 48:] == 0).mean() > 0.9
    shares = seg.pixel_shares()
    assert set(shares) <= {"red", "blue", "green"} and abs(sum(shares.values()) - 1) < 1e-9
    assert seg.timings["total"] > 0 and seg.settings["crop"]["style"] == crop


def test_synonyms_score_max(colour_backend, two_colour_image):
    seg = make(colour_backend, synonyms="max")(two_colour_image, ["warm; red", "cold; blue"])
    assert (seg.labels[:, :30] == 0).all() and (seg.labels[:, 34:] == 1).all()


def test_working_resolution_and_original_size(colour_backend):
    img = np.zeros((300, 500, 3), np.uint8)
    img[:, :250] = (240, 10, 10)
    img[:, 250:] = (10, 240, 10)
    seg = make(colour_backend, short_side=40)(img, "red, green")
    assert seg.labels.shape == (300, 500)
    assert seg.masks.shape[1:] == (40, 67)
    assert (seg.labels[:, :240] == 0).all() and (seg.labels[:, 260:] == 1).all()


class FixedProposals(ProposalGenerator):
    """Two masks with given class probabilities, as a trained proposal network would give."""

    name = "fixed"

    def __init__(self, p_q):
        self.p_q = p_q

    def __call__(self, image):
        m = torch.zeros(2, *image.shape[:2])
        m[0, :, : image.shape[1] // 2] = 1
        m[1, :, image.shape[1] // 2 :] = 1
        return Proposals(m)

    def score(self, proposals, vocabulary, rule=SeenRule()):
        readings = read_classes(vocabulary, [[n] for n in vocabulary.names], rule=rule)  # knows every class
        return ClassScores(self.p_q, torch.ones(len(self.p_q)), readings)


def test_ensemble_with_proposal_class_probs(colour_backend, two_colour_image):
    # The proposal network says "blue" everywhere; the VLM says red on the left (p_blue ~ 2.6e-12).
    # Seen (w=0.8): blue 0.9999^0.8 * (2.6e-12)^0.2 = 4.8e-3 > red 0.0001^0.8 = 6.3e-4.
    # Unseen: blue 0.9999^0.2 * (2.6e-12)^0.8 ~ 1e-9 < red 0.0001^0.2 = 0.16.
    p_q = torch.tensor([[0.9999, 0.0001], [0.9999, 0.0001]])
    seen_all = make(colour_backend, FixedProposals(p_q), ensemble_weight=0.8)
    seg = seen_all(two_colour_image, "blue, red")
    assert (seg.labels[:, :30] == 0).all()  # seen classes trust p_q (weight 0.8)
    seg = seen_all(two_colour_image, "blue, red", unseen=["blue", "red"])
    assert (seg.labels[:, :30] == 1).all()  # unseen classes trust the VLM (weight 0.8)
    with pytest.raises(ZsegError, match="not in the vocabulary"):
        seen_all(two_colour_image, "blue, red", unseen=["purple"])


def test_background_threshold(colour_backend):
    img = np.full((32, 32, 3), 128, np.uint8)  # grey: equally (un)like every colour
    img[:, :16] = (250, 5, 5)
    seg = make(colour_backend, background_threshold=0.9)(img, ["background", "red", "green"])
    assert (seg.labels[:, :14] == 1).all()
    assert (seg.labels[:, 18:] == 0).all()


def test_overlay_has_legend(colour_backend, two_colour_image):
    seg = make(colour_backend)(two_colour_image, "red, blue")
    over = seg.overlay(two_colour_image)
    assert over.size[1] >= 48 and over.size[0] > 64  # legend panel to the right
    with pytest.raises(ZsegError, match="overlay image is"):
        seg.overlay(np.zeros((10, 10, 3), np.uint8))


def test_bad_inputs(colour_backend, two_colour_image, tmp_path):
    s = make(colour_backend)
    with pytest.raises(ZsegError, match="empty class list"):
        s(two_colour_image, "")
    with pytest.raises(ZsegError, match="duplicate"):
        s(two_colour_image, ["red", "red"])
    with pytest.raises(ZsegError, match="no such file"):
        s(tmp_path / "missing.jpg", "red")
    with pytest.raises(ZsegError, match="unknown vocabulary"):
        s(two_colour_image, "vocab:nope")


def test_many_classes_stream(colour_backend, two_colour_image):
    names = ["red", "blue"] + [f"thing{i}" for i in range(900)]
    seg = make(colour_backend)(two_colour_image, names)
    assert seg.labels.max() < len(names) and (seg.labels[:, :30] == 0).all()


def test_dense_mode_pools_grid_cells(colour_backend, two_colour_image):
    colour_backend.encode_dense = _dense_colour
    seg = make(colour_backend, crop="dense", short_side=48)(two_colour_image, "blue, green, red")
    assert (seg.labels[:, :28] == 2).all() and (seg.labels[:, 36:] == 0).all()
    assert seg.settings["num_crops"] == 1


def test_dense_mode_unsupported_backend_message(colour_backend, two_colour_image):
    with pytest.raises(ZsegError, match="no dense mode"):
        make(colour_backend, crop="dense")(two_colour_image, "red, blue")


def test_set_image_then_predict_equals_a_fresh_call(colour_backend, two_colour_image):
    """The image is encoded once; each class list then costs only the class-dependent stages, and
    gives the labels a one-call segmentation gives."""
    seg = make(colour_backend, crop="window")
    state = seg.set_image(two_colour_image)
    for classes in ("red, blue", "blue, green, red", ["warm; red", "cold; blue", "grass; green"]):
        relabelled = seg.predict(classes)
        fresh = seg(two_colour_image, classes)
        assert np.array_equal(relabelled.labels, fresh.labels) and torch.allclose(
            relabelled.mask_probs, fresh.mask_probs
        )
        assert "proposals" not in relabelled.timings and "proposals" in fresh.timings
    assert seg.image is state and seg.predict("red", image=state).labels.shape == (48, 64)
    with pytest.raises(ZsegError, match="call set_image"):
        make(colour_backend).predict("red")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("short_side", -5, "short-side must be >= 8 pixels, got -5"),
        ("mask_threshold", 1.5, "mask-threshold must be in [0, 1)"),
        ("ensemble_weight", 2.0, "ensemble-weight must be in [0, 1]"),
        ("batch_size", 0, "batch-size must be >= 1"),
        ("crop", "squashed", "crop must be one of masked, context, window, dense"),
    ],
)
def test_bad_settings_are_one_line_errors(option, value, message):
    with pytest.raises(ZsegError, match=re.escape(message)):
        SegmenterConfig(**{option: value})


def test_synonyms_mean_scores_one_embedding_per_class(colour_backend, two_colour_image):
    """synonyms="mean": a class is the normalised mean of its names' embeddings (one row per class,
    as the trained network sees it); "max": one row per name, the best one scores."""
    vocab = ["red; warm", "blue; cold; sky"]
    mean = make(colour_backend, synonyms="mean")
    texts = mean.texts(resolve_vocabulary(vocab))
    names = mean.prompts.embed(["red", "warm"])
    assert texts.groups.tolist() == [0, 1] and torch.allclose(
        texts.embeddings[0], torch.nn.functional.normalize(names.mean(0), dim=0), atol=1e-6
    )
    assert make(colour_backend, synonyms="max").texts(resolve_vocabulary(vocab)).groups.tolist() == [
        0,
        0,
        1,
        1,
        1,
    ]
    seg = mean(two_colour_image, vocab)
    assert seg.settings["synonyms"] == "mean" and seg.labels.shape == (48, 64)


def _dense_colour(pixels, variant):  # the colour backend's dense grid: per-pixel normalised colour, 4x4 cells
    return torch.nn.functional.normalize(torch.nn.functional.avg_pool2d(pixels, 4).permute(0, 2, 3, 1), dim=-1)


@pytest.mark.parametrize("crop", ["masked", "window", "dense"])
def test_encode_batch_equals_one_image_at_a_time(colour_backend, two_colour_image, crop):
    """Images of two sizes, a blank one among them: encode_batch gives each image what encode_image gives it."""
    colour_backend.encode_dense = _dense_colour
    seg = make(colour_backend, crop=crop, short_side=48)
    tall = np.ascontiguousarray(two_colour_image.transpose(1, 0, 2))
    images = [two_colour_image, tall, np.zeros_like(two_colour_image), two_colour_image[:, ::-1].copy()]
    batch = seg.encode_batch(images)
    for image, state in zip(images, batch):
        alone = seg.encode_image(image)
        assert state.size == alone.size and state.num_crops == alone.num_crops
        assert torch.equal(state.valid, alone.valid) and torch.equal(state.proposals.masks, alone.proposals.masks)
        assert torch.allclose(state.embeddings, alone.embeddings, atol=1e-6)
        assert np.array_equal(seg.predict("red, blue", image=state).labels, seg(image, "red, blue").labels)
    assert {"decode", "proposals", "crops", "encoder"} <= set(batch[0].timings)


def test_bf16_is_a_config_choice(colour_backend, two_colour_image):
    with pytest.raises(ZsegError, match="dtype must be one of fp32, bf16"):
        SegmenterConfig(dtype="fp16")
    colour_backend.encode_dense = _dense_colour
    for crop in ("masked", "window", "dense"):  # pooled under autocast, scored in fp32
        seg = make(colour_backend, dtype="bf16", crop=crop)(two_colour_image, "blue, green, red")
        assert seg.settings["dtype"] == "bf16" and (seg.labels[:, :28] == 2).all()


def test_duplicates_share_their_class_score_as_the_vlm_prefers_them():
    from zsseg.ensemble import combine
    from zsseg.proposals.base import ClassScores
    from zsseg.text import ClassReading

    readings = [
        ClassReading("road", "road", 0, 1.0, "name"),
        ClassReading("street", "road", 0, 0.84, "duplicate", "road"),
        ClassReading("car", "car", 1, 1.0, "name"),
    ]
    p_vlm = torch.tensor([[0.2, 0.6, 0.2], [0.5, 0.1, 0.4]])
    p_q = torch.tensor([[0.4, 0.4, 0.1], [0.05, 0.05, 0.8]])  # the duplicate's column copies road's embedding
    scores = ClassScores(p_q, torch.tensor([0.9, 0.9]), readings)
    valid = torch.ones(2, dtype=torch.bool)
    for rule in ("reference", "arbitrated"):
        probs, _ = combine(p_vlm, valid, scores, 0.35, 0.05, rule)
        # the road group's total is what road alone (with the group's mass) would score; the VLM splits it 1:3 and 5:1
        assert torch.allclose(probs[0, 1] / probs[0, 0], torch.tensor(3.0)) and torch.allclose(
            probs[1, 0] / probs[1, 1], torch.tensor(5.0)
        )
        alone = ClassScores(
            torch.tensor([[0.8, 0.1], [0.1, 0.8]]), torch.tensor([0.9, 0.9]), [readings[0], readings[2]]
        )
        single, _ = combine(torch.tensor([[0.8, 0.2], [0.6, 0.4]]), valid, alone, 0.35, 0.05, rule)
        assert torch.allclose(probs[:, :2].sum(1), single[:, 0]) and torch.allclose(probs[:, 2], single[:, 1])
