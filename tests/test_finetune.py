"""zsseg finetune: a small labelled folder (generic layout) teaches the shipped network new classes;
the result is a model.pt that `zsseg segment` uses; bad folders give one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from .test_cli import run


def make_folder(root, classes="crack\ncat\n", n=3, label=None, skip_label=False):
    """ROOT/train/images|labels with n small photos; labels: a centre square of class 0, a corner of
    class 1, the rest 255 (unlabelled)."""
    from skimage import data

    photos = [data.chelsea(), data.coffee(), data.astronaut()]
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir(parents=True)
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    for i in range(n):
        rgb = np.array(Image.fromarray(photos[i % 3]).resize((160, 120)))
        Image.fromarray(rgb).save(root / "train" / "images" / f"p{i}.jpg")
        if skip_label and i == n - 1:
            continue
        lab = np.full((120, 160), 255, np.uint8) if label is None else np.full((120, 160), label, np.uint8)
        if label is None:
            lab[40:80, 60:100] = 0
            lab[:20, :20] = 1
        Image.fromarray(lab).save(root / "train" / "labels" / f"p{i}.png")
    return root


@pytest.mark.parametrize(
    "kind, message",
    [
        ("no classes", "no classes.txt"),
        ("value outside", "label value 7 is not a class of classes.txt"),
        ("image without label", "missing label for image p2.jpg"),
        ("no pairs", "no images found"),
        ("only known", "nothing to teach"),
        ("nothing labelled", "nothing to learn"),
        ("not a folder", "folder not found"),
    ],
)
def test_bad_folders_one_line_errors(tmp_path, capsys, kind, message):
    root = tmp_path / "data"
    if kind == "no classes":
        make_folder(root, classes=None)
    elif kind == "value outside":
        make_folder(root, label=7)
    elif kind == "image without label":
        make_folder(root, skip_label=True)
    elif kind == "no pairs":
        make_folder(root, n=0)
    elif kind == "only known":
        make_folder(root, classes="cat\ndog\n")
    elif kind == "nothing labelled":
        make_folder(root, label=255)
    code, err = run(capsys, "finetune", root, "--out", tmp_path / "out", "--quiet")
    assert code == 2 and err.startswith("zsseg: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "model.pt").exists()


def test_catch_all_labels_only_in_images_inside_its_label_space():
    from zsseg.training.finetune import catch_alls_outside

    spaces = [{0, 1, 2}, {1, 3, 4}]  # background, person, cat | person, road, sky
    photo = np.array([[0, 0, 2, 2], [0, 1, 1, 2]])
    sure = np.ones(photo.shape, bool)
    assert catch_alls_outside(photo, sure, [0], spaces) == []  # a VOC photo: background is its own
    street = photo.copy()
    street[0, 0] = 3  # a sure road: the image lies outside background's space
    assert catch_alls_outside(street, sure, [0], spaces) == [0]
    unsure = sure.copy()
    unsure[0, 0] = False  # a road the base network is not sure of does not count
    assert catch_alls_outside(street, unsure, [0], spaces) == []
    assert catch_alls_outside(photo, sure, [0], []) == [0]  # no label spaces recorded: never
    big = np.zeros((100, 100), int)
    big[0, :5] = 3  # 0.05 % of the image: stray pixels, under FOREIGN_SHARE
    assert catch_alls_outside(big, np.ones(big.shape, bool), [0], spaces) == []


@pytest.mark.integration
def test_finetune_then_segment(tmp_path, capsys):
    from zsseg.proposals import SHIPPED_NETWORK

    if not SHIPPED_NETWORK.is_file():
        pytest.skip(f"{SHIPPED_NETWORK} is absent: the shipped network comes with the package")
    root = make_folder(tmp_path / "data")
    out = tmp_path / "mine"
    args = [
        "finetune",
        root,
        "--out",
        out,
        "--iterations",
        "2",
        "--batch-size",
        "1",
        "--new-class-bias",
        "3",
        "--quiet",
    ]
    code, err = run(capsys, *args)
    assert code == 0, err
    import torch

    state = torch.load(out / "model.pt", map_location="cpu", weights_only=False)
    assert state["classes"][-1] == "crack" and "cat" in state["classes"][:-1] and len(state["classes"]) == 31
    assert state["step"] == 2
    # the base network's label spaces kept (VOC's, CamVid's), the folder's classes one of their own
    assert state["label_spaces"][:2] == torch.load(SHIPPED_NETWORK, weights_only=False)["label_spaces"]
    assert state["label_spaces"][2] == ["crack", "cat"]
    for name in ("losses.csv", "loss_curve.png", "model_card.md", "config.json", "last.pt"):
        assert (out / name).is_file(), name
    # the folder labels its classes wherever they occur: their masks learn from every pixel
    assert json.loads((out / "config.json").read_text())["complete"] == ["crack", "cat"]
    # the merged labels: the folder's own pixels kept (crack = 30, cat = the network's cat), the
    # unlabelled ones given the base network's classes where it was confident
    merged = np.array(Image.open(out / "data" / "train" / "labels" / "p0.png"))
    cat = state["classes"].index("cat")
    assert (merged[40:80, 60:100] == 30).all() and (merged[:20, :20] == cat).all()
    assert (merged[merged != 255] < 31).all() and (merged[20:, 100:] != 255).any()
    # its catch-all (VOC's background) only in an image with no sure label outside VOC's classes
    spaces = [{state["classes"].index(c) for c in s} for s in state["label_spaces"][:2]]
    voc = next(s for s in spaces if state["classes"].index("background") in s)
    for path in (out / "data" / "train" / "labels").glob("*.png"):
        labels = np.array(Image.open(path))
        if (labels == state["classes"].index("background")).any():
            foreign = (labels < 30) & ~np.isin(labels, list(voc))
            assert foreign.mean() < 0.001, path.name
    # resumed: nothing left to do, the checkpoint is not rewritten
    stamp = (out / "model.pt").stat().st_mtime_ns
    assert run(capsys, *args)[0] == 0 and (out / "model.pt").stat().st_mtime_ns == stamp
    seg = tmp_path / "seg"
    image = root / "train" / "images" / "p0.jpg"
    model = out / "model.pt"
    code, err = run(capsys, "segment", image, "--classes", "crack, cat, sky", "--proposals-model", model, "--out", seg)
    assert code == 0, err
    summary = json.loads((seg / "p0.json").read_text())
    assert summary["scored_as"]["crack"]["scored_as"] == "crack" and summary["scored_as"]["crack"]["by"] == "name"
    # the new class's logits are lowered by the bias at inference, nothing else changes
    from zsseg import Vocabulary
    from zsseg.image_io import load_image
    from zsseg.proposals.maskformer import MaskFormerProposals

    assert state["class_bias"] == {"crack": -3.0}
    network = MaskFormerProposals(model)
    proposals = network(load_image(image))
    vocab = Vocabulary.from_names("crack, cat, sky")
    biased = network.score(proposals, vocab).probs
    network._bias.zero_()
    plain = network.score(proposals, vocab).probs
    assert (biased[:, 0] < plain[:, 0]).all() and (biased[:, 1:] >= plain[:, 1:]).all()


def test_cli_options_left_out_take_the_recipes_defaults(monkeypatch, tmp_path):
    """`zsseg finetune` passes only the options given: FinetuneConfig owns every default."""
    from zsseg import cli
    from zsseg.training import finetune as module

    seen = []
    monkeypatch.setattr(module, "finetune", lambda cfg, resume, progress: seen.append(cfg) or tmp_path)
    assert cli.main(["finetune", str(tmp_path), "--out", str(tmp_path / "o"), "--lr", "0.001", "--quiet"]) == 0
    assert seen[0] == module.FinetuneConfig(str(tmp_path), str(tmp_path / "o"), lr=0.001)
    assert seen[0].new_class_bias == 1.0 and seen[0].teacher_confidence == 0.5 and seen[0].freeze == []
    out = str(tmp_path / "o")
    assert cli.main(["finetune", str(tmp_path), "--out", out, "--freeze", "backbone, pixel_decoder", "--quiet"]) == 0
    assert seen[1].freeze == ["backbone", "pixel_decoder"]
