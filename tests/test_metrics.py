import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from zsseg.evaluation.metrics import ConfusionMatrix


def test_matches_sklearn_on_random_maps():
    rng = np.random.default_rng(0)
    cm = ConfusionMatrix(6)
    all_gt, all_pred = [], []
    for _ in range(5):
        gt = rng.integers(0, 6, (17, 23))
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = rng.integers(0, 6, (17, 23))
        cm.update(pred, gt)
        keep = gt != 255
        all_gt.append(gt[keep])
        all_pred.append(pred[keep])
    ref = confusion_matrix(np.concatenate(all_gt), np.concatenate(all_pred), labels=range(6))
    assert np.array_equal(cm.matrix, ref)
    tp = np.diag(ref)
    iou = tp / (ref.sum(0) + ref.sum(1) - tp)
    assert cm.summary()["mIoU"] == pytest.approx(100 * iou.mean(), abs=1e-3)


def test_hand_case_and_zero_shot():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 2]])
    cm = ConfusionMatrix(3)
    cm.update(pred, gt)
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: TP 1, FN 1 -> 1/2
    s = cm.summary(["a", "b", "c"], unseen=["c"])
    assert s["per_class_IoU"] == pytest.approx({"a": 100 / 3, "b": 200 / 3, "c": 50.0}, abs=1e-3)
    assert s["pAcc"] == pytest.approx(400 / 6, abs=1e-3)
    assert s["mIoU_seen"] == pytest.approx(50.0, abs=1e-3)
    assert s["mIoU_unseen"] == pytest.approx(50.0, abs=1e-3)
    assert s["hIoU"] == pytest.approx(50.0, abs=1e-3)
    assert s["pixels"] == 6


def test_absent_classes_are_not_averaged():
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 1]), np.array([0, 1]))
    s = cm.summary()
    assert s["mIoU"] == 100.0 and s["per_class_IoU"]["3"] is None


def test_bad_predictions_rejected():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="outside"):
        cm.update(np.array([5]), np.array([0]))
    with pytest.raises(ValueError, match="differ"):
        cm.update(np.zeros(3), np.zeros(4))
