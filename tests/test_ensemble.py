import pytest
import torch

from zsseg.ensemble import combine, fill_uncovered, semantic_map
from zsseg.proposals import ClassScores
from zsseg.text import ClassReading, ClassTexts


def scores(p_q, objectness, seen):
    readings = [ClassReading(f"c{i}", "k" if s else None, 0 if s else None) for i, s in enumerate(seen)]
    return ClassScores(torch.tensor(p_q), torch.tensor(objectness), readings)


def test_geometric_ensemble_by_hand():
    p_clip = torch.tensor([[0.6, 0.3, 0.1]])
    valid = torch.tensor([True])
    p_q = [[0.2, 0.5, 0.3]]
    lam = 0.8
    out, keep = combine(p_clip, valid, scores(p_q, [1.0], [True, False, True]), lam)
    expected = [0.2**0.8 * 0.6**0.2, 0.5**0.2 * 0.3**0.8, 0.3**0.8 * 0.1**0.2]
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6) and keep.all()
    assert torch.equal(combine(p_clip, valid)[0], p_clip)
    # every class unseen (cross-dataset setting)
    out, _ = combine(p_clip, valid, scores(p_q, [1.0], [False] * 3), lam)
    assert torch.allclose(out[0, 0], torch.tensor(0.2**0.2 * 0.6**0.8))
    # the unseen classes' own weight
    out, _ = combine(p_clip, valid, scores(p_q, [1.0], [False] * 3), lam, unseen_weight=0.1)
    assert torch.allclose(out[0, 0], torch.tensor(0.2**0.1 * 0.6**0.9))


def test_arbitrated_ensemble_by_hand():
    """Seen: o * p^l * P_vlm(seen)^(1-l); unseen: o * p^u * p_vlm^(1-u); p = p_q / o."""
    p_clip = torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    p_q = [[0.2, 0.5, 0.3], [0.002, 0.005, 0.003]]  # the second query: 99 % "no object"
    s = scores(p_q, [1.0, 0.01], [True, False, True])
    out, _ = combine(p_clip, torch.tensor([True, True]), s, 0.4, 0.1, "arbitrated")
    expected = [0.2**0.4 * 0.7**0.6, 0.5**0.1 * 0.3**0.9, 0.3**0.4 * 0.7**0.6]
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(out[1], 0.01 * torch.tensor(expected), atol=1e-6)  # a no-object query weighs nothing
    # under the reference rule the unseen class keeps 0.005^0.1 of the no-object query: 59 % of its full weight
    ref, _ = combine(p_clip, torch.tensor([True, True]), s, 0.8, 0.1, "reference")
    assert ref[1, 1] / ref[0, 1] > 0.5
    # the VLM does not reorder seen classes: their ratio is the network's
    assert torch.allclose(out[0, 0] / out[0, 2], torch.tensor((0.2 / 0.3) ** 0.4))
    # every class seen: the network alone
    all_seen, _ = combine(
        p_clip, torch.tensor([True, True]), scores(p_q, [1.0, 0.01], [True] * 3), 0.4, 0.1, "arbitrated"
    )
    assert torch.allclose(all_seen[0], torch.tensor(p_q[0]) ** 0.4)
    # a proposal without a crop: the VLM has no opinion (uniform)
    out, _ = combine(p_clip[:1], torch.tensor([True, False]), s, 0.4, 0.1, "arbitrated")
    third = torch.tensor(1 / 3)
    neutral = [0.2**0.4 * (2 * third) ** 0.6, 0.5**0.1 * third**0.9, 0.3**0.4 * (2 * third) ** 0.6]
    assert torch.allclose(out[1], 0.01 * torch.tensor(neutral), atol=1e-6)


def test_class_probabilities_max_over_synonyms(colour_backend):
    img = torch.nn.functional.normalize(torch.tensor([[1.0, -1.0, -1.0]]), dim=-1)  # red
    text = colour_backend.encode_texts(["blue", "green", "red"])
    groups = torch.tensor([0, 1, 1])  # class 0 = blue; class 1 = green or red
    p = ClassTexts(text, groups, 2).probabilities(colour_backend, img)
    assert p.shape == (1, 2) and p[0, 1] > 0.99
    assert torch.allclose(p.sum(1), torch.ones(1))


def test_semantic_map_sums_masks_times_probs_and_resizes():
    masks = torch.zeros(2, 4, 4)
    masks[0, :, :2] = 1
    masks[1, :, 1:] = 1  # overlaps mask 0 in column 1
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    labels, conf = semantic_map(probs, masks, (8, 8))
    assert labels.shape == (8, 8)
    # column 1: scores (1.2, 0.8) -> class 0; column 3: (0.3, 0.7) -> class 1
    small, _ = semantic_map(probs, masks, (4, 4))
    assert small[:, 0].tolist() == [0] * 4 and small[:, 1].tolist() == [0] * 4 and small[:, 3].tolist() == [1] * 4
    assert torch.allclose(conf[0, 0], torch.tensor(0.9))


def test_semantic_map_chunking_is_exact():
    torch.manual_seed(0)
    masks = torch.rand(7, 9, 11)
    probs = torch.rand(7, 50).softmax(1)
    a, ca = semantic_map(probs, masks, (20, 30))
    b, cb = semantic_map(probs, masks, (20, 30), max_chunk_bytes=1)  # one class at a time
    assert torch.equal(a, b) and torch.allclose(ca, cb)


def test_fill_uncovered_takes_nearest_mask():
    masks = torch.zeros(2, 1, 6)
    masks[0, 0, 0] = 1
    masks[1, 0, 5] = 1
    out = fill_uncovered(masks)
    assert out[0, 0].tolist() == [1, 1, 1, 0, 0, 0] or out[0, 0].tolist() == [1, 1, 0, 0, 0, 0]
    assert (out.sum(0) > 0).all()


def reference_semantic_map(probs, masks, out_size):
    scores = torch.einsum("qc,qhw->chw", probs, masks)
    scores = torch.nn.functional.interpolate(scores[None], size=out_size, mode="bilinear", align_corners=False)[0]
    return scores.argmax(0), scores.max(0).values / scores.sum(0)


@pytest.mark.parametrize(
    "work, out",
    [((9, 11), (20, 30)), ((16, 12), (7, 5)), ((10, 10), (10, 10)), ((5, 40), (123, 77)), ((32, 48), (300, 400))],
)
def test_semantic_map_equals_direct_bilinear_argmax(work, out):
    torch.manual_seed(sum(work) + sum(out))
    masks = fill_uncovered((torch.rand(12, *work) > 0.6).float() * torch.rand(12, *work))  # as semantic_map sees them
    probs = torch.rand(12, 37).softmax(1)
    labels, conf = semantic_map(probs, masks, out, max_chunk_bytes=4 * work[0] * work[1] * 5)  # 5 classes a chunk
    ref_labels, ref_conf = reference_semantic_map(probs, masks, out)
    assert (labels == ref_labels).float().mean() > 0.9999  # equal up to float ties
    assert torch.allclose(conf, ref_conf, atol=1e-5)


@pytest.mark.parametrize("max_chunk_bytes", [1, 4096, 256 << 20])
def test_semantic_map_boundary_scoring_in_chunks_with_many_near_ties(max_chunk_bytes):
    torch.manual_seed(3)
    masks = fill_uncovered((torch.rand(6, 9, 13) > 0.5).float())  # as semantic_map sees them
    # nearly uniform: many classes can win a mixture
    probs = (torch.ones(6, 200) + 1e-3 * torch.rand(6, 200)).softmax(1)
    labels, conf = semantic_map(probs, masks, (31, 40), max_chunk_bytes=max_chunk_bytes)
    scores = torch.einsum("qc,qhw->chw", probs, masks)
    scores = torch.nn.functional.interpolate(scores[None], size=(31, 40), mode="bilinear", align_corners=False)[0]
    # where the labels differ from resizing every map, it is a float32 tie: the scores agree to a few ulps
    assert (scores.max(0).values - scores.gather(0, labels[None])[0]).max() < 1e-6 * scores.max()
    assert (labels == scores.argmax(0)).float().mean() > 0.99
    assert torch.allclose(conf, scores.max(0).values / scores.sum(0), atol=1e-5)


def test_semantic_map_on_noise_like_maps_equals_resizing_every_map():
    torch.manual_seed(5)
    masks = fill_uncovered((torch.rand(8, 12, 16) > 0.5).float())  # every working pixel differs from its neighbours
    probs = torch.rand(8, 30).softmax(1)
    labels, conf = semantic_map(probs, masks, (40, 50))
    ref_labels, ref_conf = reference_semantic_map(probs, masks, (40, 50))
    assert (labels == ref_labels).float().mean() > 0.9999 and torch.allclose(conf, ref_conf, atol=1e-5)
