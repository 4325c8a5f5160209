"""Collections: resumable, sharded runs with a manifest and per-class statistics."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from zsseg import Segmenter, SegmenterConfig
from zsseg.collection import segment_collection
from zsseg.errors import ZsegError
from zsseg.proposals import GraphProposals
from zsseg.text_cache import TextEmbeddingCache
from zsseg.vocabulary import Vocabulary

from .conftest import require_shared, torchrun


@pytest.fixture
def images(tmp_path, two_colour_image):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for i in range(5):
        img = two_colour_image.copy()
        img[:, : 8 * i] = (20, 200, 20)  # a growing green stripe
        paths.append(folder / f"img{i}.png")
        Image.fromarray(img).save(paths[-1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return sorted(folder.iterdir())


@pytest.fixture
def segmenter(colour_backend):
    return Segmenter(colour_backend, GraphProposals(), SegmenterConfig(), TextEmbeddingCache(None))


def test_manifest_stats_and_resume(segmenter, images, tmp_path):
    vocab = Vocabulary.from_names("red, green, blue")
    out = tmp_path / "out"
    first = segment_collection(segmenter, images, vocab, out, progress=False)
    assert (first.written, first.skipped, first.failed, first.images) == (5, 0, 1, 6)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in images]
    broken = records[0]
    assert broken["status"] == "error" and "broken.png" in broken["error"] and "\n" not in broken["error"]
    ok = records[1]
    assert ok["status"] == "ok" and ok["outputs"] == {
        "labels": "img0.png",
        "summary": "img0.json",
        "overlay": "img0_overlay.png",
    }
    assert ok["classes_present"] == ["red", "blue"] and sum(ok["pixels"].values()) == 48 * 64 and ok["seconds"] > 0
    stats = json.loads((out / "class_stats.json").read_text())
    assert (stats["images"], stats["segmented"], stats["failed"], stats["pixels"]) == (6, 5, 1, 5 * 48 * 64)
    # img4's stripe covers the red half
    assert stats["classes"]["green"]["images"] == 4 and stats["classes"]["red"]["images"] == 4
    assert abs(sum(c["share"] for c in stats["classes"].values()) - 1) < 1e-5

    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".png"}
    (out / "img3.json").unlink()  # a partial image: it is redone
    again = segment_collection(segmenter, images, vocab, out, progress=False)
    assert (again.written, again.skipped, again.failed) == (1, 4, 1)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".png"} == before
    other = segment_collection(segmenter, images, Vocabulary.from_names("red, blue"), out, progress=False)
    assert other.written == 5 and other.skipped == 0  # other classes: nothing is reused


def test_no_overlay(segmenter, images, tmp_path):
    out = tmp_path / "out"
    segment_collection(segmenter, images[1:3], Vocabulary.from_names("red, blue"), out, overlay=False, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        ".manifest",
        "class_stats.json",
        "img0.json",
        "img0.png",
        "img1.json",
        "img1.png",
        "manifest.jsonl",
    ]


def voc_images(tmp_path, n):
    src = require_shared("data", "voc2012", "val", "images")
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted(src.iterdir())[:n]:  # small copies keep the real model fast
        Image.open(p).convert("RGB").resize((160, 120)).save(folder / p.name)
    return folder


CHEAP = ["--model", "conse", "--proposals", "slic", "--crop", "dense", "--short-side", "96", "--vocab", "voc21"]


def zsseg(*args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "zsseg", "segment", *map(str, args)], capture_output=True, text=True, env=env, **kwargs
    )


@pytest.mark.integration
def test_two_processes_write_what_one_writes(tmp_path):
    """torchrun with 2 CPU processes: each takes every other image; the label maps and overlays are
    byte-identical to one process's, the summaries equal but for their timings."""
    photos = voc_images(tmp_path, 5)
    one = zsseg(photos, "--out", tmp_path / "one", "--quiet", *CHEAP, "--cache-dir", tmp_path / "cache", timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = torchrun(
        2, "segment", photos, "--out", tmp_path / "two", "--quiet", *CHEAP, "--cache-dir", tmp_path / "cache"
    )
    assert two.returncode == 0, two.stderr[-2000:]
    logs = sorted(p.name for p in (tmp_path / "two" / ".manifest").iterdir())
    assert logs == ["rank00000-of-00002.jsonl", "rank00001-of-00002.jsonl"]
    for p in sorted((tmp_path / "one").glob("*.png")):
        assert (tmp_path / "two" / p.name).read_bytes() == p.read_bytes(), p.name
    for p in sorted((tmp_path / "one").glob("*.json")):
        a, b = json.loads(p.read_text()), json.loads((tmp_path / "two" / p.name).read_text())
        if p.name != "class_stats.json":
            a.pop("timings_s"), b.pop("timings_s")
        assert a == b, p.name
    assert len((tmp_path / "two" / "manifest.jsonl").read_text().splitlines()) == 5


@pytest.mark.integration
def test_killed_run_resumes(tmp_path):
    """kill -9 mid-way: every image whose outputs exist is complete, a re-run skips those and
    finishes the rest, and nothing half-written is left behind."""
    photos = voc_images(tmp_path, 12)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zsseg",
            "segment",
            str(photos),
            "--out",
            str(out),
            "--quiet",
            *CHEAP,
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = out / ".manifest" / "rank00000-of-00001.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(log.read_text().splitlines())
    assert 3 <= done < 12
    again = zsseg(photos, "--out", out, *CHEAP, "--cache-dir", tmp_path / "cache", timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    skipped = int(again.stderr.split("skipped ")[1].split()[0])
    assert skipped >= done and f"wrote {12 - skipped} of 12" in again.stderr
    assert len(list(out.glob("*_overlay.png"))) == 12 and not list(out.glob(".*zsseg-tmp*"))
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 12 and {r["status"] for r in records} == {"ok", "skipped"}


def _item(shape, name="x"):
    import numpy as np

    from zsseg.collection import _Item
    from zsseg.segmenter import PreparedImage

    return _Item(Path(name), PreparedImage(np.zeros(shape, np.uint8), shape[:2]))


def test_batches_group_sizes_and_bound_the_wait():
    """Every item exactly once; a batch holds one working size; unreadable items pass at once; no
    more than SIZE_BUFFER batches' worth of items wait."""
    from zsseg.collection import SIZE_BUFFER, _batches, _Item

    shapes = [(4, 6, 3), (6, 4, 3)] * 3 + [(5, 5, 3)] * 9 + [(4, 6, 3)]
    items = [_item(s, f"i{k}") for k, s in enumerate(shapes)]
    items.insert(3, _Item(Path("bad"), error="bad: unreadable"))
    out = []
    for batch in _batches(iter(items), 2):
        out.append(batch)
        assert len({b.prepared.work.shape for b in batch if b.prepared is not None}) <= 1 and len(batch) <= 2
    assert sorted(str(b.path) for batch in out for b in batch) == sorted(str(i.path) for i in items)
    assert [b.path.name for b in out[1]] == ["bad"] and len(out[1]) == 1
    assert [len(b) for b in _batches(iter(items), 1)] == [1] * len(items)
    # the wait is bounded: with every size different, at most SIZE_BUFFER batches' worth are held back
    distinct = [_item((4 + k, 4, 3), f"d{k}") for k in range(3 * SIZE_BUFFER * 2)]
    consumed = []

    def counted():
        for item in distinct:
            consumed.append(item)
            yield item

    done = 0
    for batch in _batches(counted(), 2):
        assert len(consumed) - done <= SIZE_BUFFER * 2
        done += len(batch)
    assert done == len(distinct)


def test_image_batches_write_what_one_at_a_time_writes(segmenter, tmp_path, two_colour_image):
    """Mixed sizes through image batches of 3 (encode_batch): the same labels as one image at a time."""
    import numpy as np

    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(7):
        img = two_colour_image.copy()
        img[: 6 * i, :20] = (20, 200, 20)
        if i % 2:
            img = np.ascontiguousarray(img.transpose(1, 0, 2))  # another working size
        Image.fromarray(img).save(folder / f"m{i}.png")
    (folder / "m9.png").write_bytes(b"not a png")
    paths = sorted(folder.iterdir())
    vocab = Vocabulary.from_names("red, green, blue")
    one = segment_collection(segmenter, paths, vocab, tmp_path / "one", progress=False)
    three = segment_collection(segmenter, paths, vocab, tmp_path / "three", image_batch=3, progress=False)
    assert (one.written, one.failed) == (three.written, three.failed) == (7, 1)
    for p in paths[:7]:
        a = np.array(Image.open(tmp_path / "one" / f"{p.stem}.png"))
        assert np.array_equal(a, np.array(Image.open(tmp_path / "three" / f"{p.stem}.png"))), p.name
    with pytest.raises(ZsegError, match="image-batch must be >= 1"):
        segment_collection(segmenter, paths, vocab, tmp_path / "zero", image_batch=0, progress=False)


@pytest.mark.integration
def test_default_model_image_batches_agree(default_segmenter, tmp_path):
    """The shipped default through image batches of 4 (one network pass per size group, shared
    encoder passes) labels real CamVid frames and VOC photos as the one-image path does."""
    import numpy as np

    camvid = sorted(require_shared("data", "camvid", "val", "images").iterdir())[:5]
    voc = sorted(require_shared("data", "voc2012", "val", "images").iterdir())[:3]
    paths = camvid + voc
    vocab = Vocabulary.from_names("road, sky, building, tree, car, person, bicycle, dog, cat, chair")
    kw = dict(overlay=False, progress=False)
    segment_collection(default_segmenter, paths, vocab, tmp_path / "one", **kw)
    segment_collection(default_segmenter, paths, vocab, tmp_path / "four", image_batch=4, workers=1, **kw)
    for p in paths:
        a = np.array(Image.open(tmp_path / "one" / f"{p.stem}.png"))
        b = np.array(Image.open(tmp_path / "four" / f"{p.stem}.png"))
        assert (a == b).mean() >= 0.999, p.name


def test_a_batch_that_does_not_fit_is_redone_image_by_image(segmenter, images, tmp_path, monkeypatch):
    import torch

    encode = segmenter.encode_batch

    def out_of_memory_for_batches(prepared):
        if len(prepared) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return encode(prepared)

    monkeypatch.setattr(segmenter, "encode_batch", out_of_memory_for_batches)
    result = segment_collection(
        segmenter, images, Vocabulary.from_names("red, green, blue"), tmp_path / "out", image_batch=4, progress=False
    )
    assert (result.written, result.failed) == (5, 1)


def test_default_workers():
    from zsseg.collection import default_workers

    assert default_workers(1) == default_workers(15) == 0
    assert 1 <= default_workers(16) <= 8 and default_workers(10**6) <= 8


@pytest.mark.integration
def test_resumed_elsewhere_skips_every_finished_image(tmp_path):
    """The fingerprint holds what decides the labels only: a collection resumed on another device,
    by another number of processes, with the weights file moved, finds every image finished."""
    import shutil

    from zsseg.proposals import SHIPPED_NETWORK

    if not SHIPPED_NETWORK.is_file():
        pytest.skip(f"{SHIPPED_NETWORK} is absent: the shipped network comes with the package")
    photos = voc_images(tmp_path, 4)
    (tmp_path / "a").mkdir()
    weights = shutil.copy(SHIPPED_NETWORK, tmp_path / "a" / "net.pt")
    common = ["--out", tmp_path / "out", "--vocab", "voc21", "--short-side", "96", "--cache-dir", tmp_path / "cache"]
    first = zsseg(photos, *common, "--proposals-model", weights, "--device", "cpu", "--quiet", timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    moved = shutil.move(weights, tmp_path / "moved.pt")
    again = torchrun(
        2, "segment", photos, *common, "--proposals-model", moved, "--device", "cpu:0", "--batch-size", "3", "--quiet"
    )
    assert again.returncode == 0, again.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["status"] for r in records} == {"skipped"}


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_run_leaves_no_loader_worker(tmp_path):
    """kill -9 of a collection run: its loader workers go with it within seconds."""
    photos = voc_images(tmp_path, 12)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zsseg", "segment", str(photos), "--out", str(tmp_path / "out"), "--quiet", *CHEAP]
        + ["--workers", "2", "--cache-dir", str(tmp_path / "cache")],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the run never started its loader workers"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"loader workers {left} outlived their killed parent"
