import json

import numpy as np
import pytest
from PIL import Image

from zsseg import Segmenter, cli
from zsseg.proposals import GraphProposals
from zsseg.text_cache import TextEmbeddingCache


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def test_segment_writes_label_overlay_json(fake_model, image_file, tmp_path, capsys):
    out = tmp_path / "out"
    code, _ = run(capsys, "segment", image_file, "--classes", "red, green, blue", "--out", out, "--quiet")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["halves.json", "halves.png", "halves_overlay.png"]
    label = Image.open(out / "halves.png")
    assert label.mode == "P" and label.size == (64, 48)
    arr = np.array(label)
    assert (arr[:, :30] == 0).all() and (arr[:, 34:] == 2).all()
    summary = json.loads((out / "halves.json").read_text())
    assert summary["classes"] == ["red", "green", "blue"]
    assert set(summary["pixel_share"]) == {"red", "blue"}
    assert {"proposals", "crops", "encoder", "ensemble", "semantic_map", "total"} <= set(summary["timings_s"])
    assert summary["settings"]["crop"]["style"] == "masked"
    assert Image.open(out / "halves_overlay.png").size[0] > 64


def test_folder_and_glob_inputs(fake_model, image_file, tmp_path, capsys):
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(image_file.parent / "grey.jpg")
    code, _ = run(capsys, "segment", image_file.parent, "--classes", "red, blue", "--out", tmp_path / "o1", "--quiet")
    # + manifest.jsonl, class_stats.json, .manifest/
    assert code == 0 and len(list((tmp_path / "o1").iterdir())) == 6 + 3
    code, _ = run(
        capsys, "segment", str(image_file.parent / "*.png"), "--vocab", "voc21", "--out", tmp_path / "o2", "--quiet"
    )
    assert code == 0 and len(list((tmp_path / "o2").iterdir())) == 3  # one image: no manifest


@pytest.mark.parametrize(
    "args, message",
    [
        (["--classes", ""], "empty class list"),
        (["--classes", "cat, , dog"], "blank class name"),
        (["--classes", "cat, dog, cat"], "duplicate class name"),
        (["--vocab", "nope"], "unknown vocabulary"),
        (["--classes-file", "/nonexistent/classes.txt"], "class file not found"),
        ([], "give exactly one of"),
    ],
)
def test_bad_classes(fake_model, image_file, tmp_path, capsys, args, message):
    code, err = run(capsys, "segment", image_file, *args, "--out", tmp_path / "out")
    assert code == 2
    assert err.startswith("zsseg: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_bad_images_leave_no_output(fake_model, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp_path / "out"
    code, err = run(capsys, "segment", bad, "--classes", "cat", "--out", out)
    assert code == 2 and "bad.jpg" in err and err.count("\n") == 1
    assert list(out.iterdir()) == []
    code, err = run(capsys, "segment", tmp_path / "missing.png", "--classes", "cat", "--out", out)
    assert code == 2 and "no such file" in err


def test_one_bad_image_among_many(fake_model, image_file, tmp_path, capsys):
    (image_file.parent / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    code, err = run(capsys, "segment", image_file.parent, "--classes", "red, blue", "--out", out, "--quiet")
    assert code == 1 and "broken.png" in err
    bookkeeping = [".manifest", "class_stats.json", "manifest.jsonl"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        bookkeeping + ["halves.json", "halves.png", "halves_overlay.png"]
    )


def test_huge_image_refused(fake_model, image_file, tmp_path, capsys):
    code, err = run(capsys, "segment", image_file, "--classes", "red", "--out", tmp_path / "o", "--max-pixels", "1000")
    assert code == 2 and "over the limit" in err


def test_unwritable_output(fake_model, image_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run(capsys, "segment", image_file, "--classes", "red", "--out", blocker / "sub")
    assert code == 2 and "cannot create output folder" in err


def test_same_stem_twice(fake_model, image_file, tmp_path, capsys, two_colour_image):
    other = tmp_path / "halves.jpg"
    Image.fromarray(two_colour_image).save(other)
    code, err = run(capsys, "segment", image_file, other, "--classes", "red", "--out", tmp_path / "o")
    assert code == 2 and "same outputs" in err


def test_vocabularies_command(capsys):
    assert cli.main(["vocabularies"]) == 0
    assert "ade150" in capsys.readouterr().out


def test_negative_short_side_is_refused(fake_model, image_file, tmp_path, capsys):
    code, err = run(capsys, "segment", image_file, "--classes", "red", "--out", tmp_path / "o", "--short-side", "-5")
    assert code == 2 and "short-side must be >= 8 pixels, got -5" in err and err.count("\n") == 1


def test_bad_image_batch_and_dtype_are_refused(fake_model, image_file, tmp_path, capsys):
    code, err = run(capsys, "segment", image_file, "--classes", "red", "--out", tmp_path / "o", "--image-batch", "0")
    assert code == 2 and "--image-batch must be >= 1, got 0" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):  # argparse: not one of fp32, bf16
        cli.main(["segment", str(image_file), "--classes", "red", "--dtype", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_bench_out_folder_is_refused_before_running(fake_model, image_file, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    code, err = run(capsys, "bench", image_file, "--classes", "red", "--out", folder)
    assert code == 2 and "is a folder; --out takes a file name" in err and err.count("\n") == 1
    # nothing written beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "results"] and list(folder.iterdir()) == []


@pytest.mark.parametrize("command", ["segment", "eval"])
def test_one_config_per_run(monkeypatch, colour_backend, image_file, tmp_path, command):
    """A command builds its SegmenterConfig once: the flags go into it, everything after resolves a copy."""
    import zsseg.config

    built = []
    original = zsseg.config.SegmenterConfig.__post_init__
    monkeypatch.setattr(
        zsseg.config.SegmenterConfig, "__post_init__", lambda self: (built.append(self), original(self))[1]
    )
    monkeypatch.setattr(
        Segmenter,
        "from_config",
        classmethod(
            lambda cls, config, cache_dir=None: cls(colour_backend, GraphProposals(), config, TextEmbeddingCache(None))
        ),
    )
    if command == "segment":
        argv = ["segment", str(image_file), "--out", str(tmp_path / "out"), "--classes", "red, green", "--quiet"]
    else:
        from .test_evaluation import make_dataset

        root = make_dataset(tmp_path / "data")
        argv = ["eval", "--dataset", "generic", "--root", str(root), "--out", str(tmp_path / "eval"), "--quiet"]
    assert cli.main(argv + ["--ensemble-weight", "0.5"]) == 0
    assert len(built) == 1 and built[0].ensemble_weight == 0.5


def test_help_does_not_import_the_web_stack():
    import subprocess
    import sys

    code = "import sys; from zsseg import cli; cli.build_parser().format_help(); print('fastapi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
