import math

import torch

from zsseg.training.loss import (
    LossWeights,
    Target,
    criterion,
    dice_loss,
    layer_loss,
    match,
    semantic_targets,
    sigmoid_focal,
)


def test_focal_by_hand():
    x, t = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    p = 1 / (1 + math.exp(-2.0))
    expected0 = 0.25 * (-math.log(p)) * (1 - p) ** 2
    q = 1 / (1 + math.exp(1.0))
    expected1 = 0.25 * (-math.log(q)) * (1 - q) ** 2
    out = sigmoid_focal(x, t)
    assert torch.allclose(out, torch.tensor([expected0, expected1]), atol=1e-6)
    neg = sigmoid_focal(torch.tensor([2.0]), torch.tensor([0.0]))
    assert torch.allclose(neg, torch.tensor([0.75 * (-math.log(1 - p)) * p**2]), atol=1e-6)


def test_dice_by_hand():
    logits = torch.tensor([[10.0, 10.0, -10.0, -10.0]])  # prediction ~ [1, 1, 0, 0]
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    valid = torch.ones(4)
    assert torch.allclose(dice_loss(logits, target, valid), torch.tensor([1 - (2 * 1 + 1) / (2 + 1 + 1)]), atol=1e-4)
    valid = torch.tensor([1.0, 0.0, 1.0, 1.0])  # the second pixel is ignored: a perfect match
    assert torch.allclose(dice_loss(logits, target, valid), torch.zeros(1), atol=1e-4)


def two_targets():
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, :2] = True
    masks[1, 2:] = True
    return Target(torch.tensor([1, 0]), masks, torch.ones(4, 4, dtype=torch.bool))


def test_matcher_picks_the_obvious_assignment():
    t = two_targets()
    logits = torch.full((3, 3), -5.0)
    logits[2, 1] = 5.0  # query 2 says class 1
    logits[0, 0] = 5.0  # query 0 says class 0
    logits[1, 2] = 5.0  # query 1 says no object
    masks = torch.full((3, 4, 4), -8.0)
    masks[2, :2] = 8.0  # query 2's mask = target 0
    masks[0, 2:] = 8.0  # query 0's mask = target 1
    rows, cols = match(logits, masks, t)
    assert dict(zip(rows.tolist(), cols.tolist())) == {2: 0, 0: 1}


def test_cross_entropy_weights_no_object():
    t = two_targets()
    logits = torch.randn(1, 3, 3)
    masks = torch.randn(1, 3, 4, 4)
    parts = layer_loss(logits, masks, [t], LossWeights(), num_masks=2)
    rows, cols = match(logits[0], masks[0], t)
    target = torch.full((3,), 2)
    target[rows] = t.labels[cols]
    w = torch.tensor([1.0, 1.0, 0.1])
    logp = logits[0].log_softmax(-1)
    expected = -(w[target] * logp[torch.arange(3), target]).sum() / w[target].sum()
    assert torch.allclose(parts["ce"], expected, atol=1e-6)


def test_deep_supervision_sums_layers_and_ignored_pixels_do_not_count():
    t = two_targets()
    t.valid[:, 3] = False
    torch.manual_seed(0)
    outs = [{"pred_logits": torch.randn(1, 3, 3), "pred_masks": torch.randn(1, 3, 4, 4)} for _ in range(2)]
    total = criterion(outs, [t])["total"]
    per_layer = sum(
        1.0 * p["ce"] + 20.0 * p["focal"] + 1.0 * p["dice"]
        for p in (layer_loss(o["pred_logits"], o["pred_masks"], [t], LossWeights(), 2) for o in outs)
    )
    assert torch.allclose(total, per_layer)
    changed = [{"pred_logits": o["pred_logits"], "pred_masks": o["pred_masks"].clone()} for o in outs]
    for o in changed:
        o["pred_masks"][..., 3] = 100.0  # only ignored pixels change
    assert torch.allclose(criterion(changed, [t])["total"], total)


def test_a_complete_class_counts_unlabelled_pixels_as_not_itself():
    """A class labelled wherever it occurs (a finetune folder's): its mask spreading over unlabelled
    pixels costs focal and dice loss; another class's mask may spread there for free. The matcher's
    costs and the losses agree with the explicit formula."""
    label = torch.full((4, 4), -1)
    label[:2, :2] = 0  # class 0: a complete class
    label[2:, 2:] = 1  # class 1: labelled where someone was sure
    plain = semantic_targets(label)
    full = semantic_targets(label, complete=torch.tensor([True, False]))
    assert plain.complete is None and full.complete.tolist() == [True, False]
    masks = torch.full((1, 2, 4, 4), -8.0)
    masks[0, 0, :2] = 8.0  # query 0: class 0's pixels and the unlabelled ones to their right
    masks[0, 1, 2:] = 8.0  # query 1: class 1's pixels and the unlabelled ones to their left
    logits = torch.tensor([[[5.0, -5.0, -5.0], [-5.0, 5.0, -5.0]]])
    for t in (plain, full):
        assert dict(zip(*(x.tolist() for x in match(logits[0], masks[0], t)))) == {0: 0, 1: 1}
    p, f = (layer_loss(logits, masks, [t], LossWeights(), 2) for t in (plain, full))
    assert float(p["dice"]) < 1e-3  # unlabelled pixels ignored: both masks fit
    # complete: query 0's 4 unlabelled pixels of its 8 are false positives (dice 1 - 9/13); query 1 still fits
    assert abs(float(f["dice"]) - (1 - 9 / 13) / 2) < 1e-3
    assert float(f["focal"]) > float(p["focal"]) * 100


def test_semantic_targets_ignore_unseen():
    label = torch.tensor([[0, 0, 3, 3], [5, 5, -1, 3]])
    t = semantic_targets(label, seen_ids=torch.tensor([3, 0]))  # training vocabulary: [class 3, class 0]
    assert sorted(t.labels.tolist()) == [0, 1]
    assert t.valid.tolist() == [[True, True, True, True], [False, False, False, True]]
    assert t.masks.shape == (2, 2, 4)


def test_label_space_restricts_the_softmax_to_the_images_dataset():
    """A class outside an image's label space (another dataset's class) gets no probability in the
    matcher or the cross-entropy: the loss equals the loss over the space's classes + no object."""
    t = two_targets()  # labels 1 and 0 of a 4-class vocabulary (+ no object = column 4)
    torch.manual_seed(1)
    logits = torch.randn(1, 3, 5)
    masks = torch.randn(1, 3, 4, 4)
    space = torch.tensor([True, True, False, False])
    restricted = layer_loss(logits, masks, [Target(t.labels, t.masks, t.valid, space)], LossWeights(), num_masks=2)
    # the same image scored by a network that only knows classes 0, 1 and no object
    reduced = layer_loss(logits[..., [0, 1, 4]], masks, [t], LossWeights(), num_masks=2)
    for key in ("ce", "focal", "dice"):
        assert torch.allclose(restricted[key], reduced[key], atol=1e-6)
    unrestricted = layer_loss(logits, masks, [t], LossWeights(), num_masks=2)
    assert not torch.allclose(restricted["ce"], unrestricted["ce"])


def test_distillation_keeps_free_queries_where_the_teacher_has_them():
    """With a teacher, an unclaimed query's loss is 0 where its classes (teacher's first, new ones
    at 0) and mask agree with the teacher's, positive otherwise; claimed queries keep their class
    target, and no query is pushed to "no object"."""
    t = two_targets()  # 2 claimed queries of 3; classes 0, 1 (+ no object)
    torch.manual_seed(0)
    masks = torch.randn(1, 3, 4, 4)
    t_logits = torch.randn(1, 3, 2)  # teacher: class 0 and no object
    logits = torch.cat([t_logits[..., :1], torch.full((1, 3, 1), -1e4), t_logits[..., 1:]], -1)  # new class 1 at 0
    teacher = {"pred_logits": t_logits, "pred_masks": masks.clone()}
    parts = layer_loss(logits, masks, [t], LossWeights(), 2, teacher)
    assert abs(float(parts["distil_class"])) < 1e-5 and abs(float(parts["distil_mask"])) < 1e-5
    rows, cols = match(logits[0], masks[0], t)
    free = sorted(set(range(3)) - set(rows.tolist()))
    expected = -logits[0, rows].log_softmax(-1)[torch.arange(len(rows)), t.labels[cols]].mean()
    assert torch.allclose(parts["ce"], expected, atol=1e-5)  # only claimed queries have a class target
    moved = logits.clone()
    moved[0, free, 1] = 5.0  # a free query calls its region the new class: the teacher never did
    assert float(layer_loss(moved, masks, [t], LossWeights(), 2, teacher)["distil_class"]) > 1
    grown = masks.clone()
    grown[0, free] += 3.0
    assert float(layer_loss(logits, grown, [t], LossWeights(), 2, teacher)["distil_mask"]) > 0.1
    total = criterion([{"pred_logits": logits, "pred_masks": masks}], [t], teacher=[teacher])["total"]
    plain = 1.0 * parts["ce"] + 20.0 * parts["focal"] + 1.0 * parts["dice"]
    assert torch.allclose(total, plain, atol=1e-4)


def test_distillation_without_targets_is_finite_under_a_label_space():
    """An image with nothing labelled leaves every query free: no class target, a cross-entropy of 0
    (not NaN, though classes outside its label space have -inf logits), the distillation alone."""
    t = Target(
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, 4, 4, dtype=torch.bool),
        torch.ones(4, 4, dtype=torch.bool),
        torch.tensor([True, False]),
    )
    torch.manual_seed(0)
    logits, masks = torch.randn(1, 3, 3), torch.randn(1, 3, 4, 4)
    teacher = {"pred_logits": torch.randn(1, 3, 2), "pred_masks": masks.clone()}
    parts = layer_loss(logits, masks, [t], LossWeights(), 1.0, teacher)
    assert float(parts["ce"]) == 0 and float(parts["distil_class"]) > 0
    assert all(torch.isfinite(v) for v in parts.values())
