import pytest
import torch

from zsseg import ZsegError
from zsseg.backends.conse import MiniLMTextEncoder
from zsseg.modeling.efficientnet_lite import load_classifier


def test_missing_classifier_weights(tmp_path):
    with pytest.raises(ZsegError, match="classifier weights not found"):
        load_classifier(tmp_path / "none.pth")


def test_corrupt_classifier_weights(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(ZsegError, match="corrupt classifier weights"):
        load_classifier(bad)


def test_wrong_state_dict(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"layer.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ZsegError, match="not an EfficientNet-Lite0 state dict"):
        load_classifier(wrong)


def test_missing_text_encoder(tmp_path):
    with pytest.raises(ZsegError, match="cannot load the sentence encoder"):
        MiniLMTextEncoder(tmp_path)
