"""Segmenting a collection (``zsseg segment`` over many images): sharded over processes and machines
under torchrun, resumable, with a run manifest and per-class statistics.

Every process takes every K-th image of the (sorted, deterministic) input list and writes each
image's outputs atomically: the label PNG, a JSON summary and, as asked, the overlay and the
COCO-style segments (``--coco``). A run that is started again skips the images whose outputs are
complete and were made with the same classes and settings, and redoes the others; a process killed
mid-way loses only the images in flight.

Images are decoded and resized ahead on loader workers (``workers``) and go through the model
``image_batch`` at a time (``Segmenter.encode_batch``), grouped by working size: each batch holds
images of one size, waiting for at most ``SIZE_BUFFER`` batches' worth of images, so grouping
changes no label.

Each process appends one line per image to its own log (``OUT/.manifest/``); when all are done,
rank 0 merges them into ``OUT/manifest.jsonl`` (one line per input: outputs, classes present,
seconds, or the one-line error) and ``OUT/class_stats.json`` (pixels and images per class).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .distributed import barrier, exit_with_parent, rank_and_world
from .errors import ZsegError
from .image_io import remove_stale_temporaries, write_atomically
from .render import save_label_png
from .segmenter import ImageState, PreparedImage, Segmenter, prepare_image, with_image_timings
from .vocabulary import Vocabulary

MANIFEST_DIR = ".manifest"
# Images per model pass on a GPU (on a CPU one: batching gains nothing there, docs/speed.md).
CUDA_IMAGE_BATCH = 8
# Images held back waiting for others of their size, in batches.
SIZE_BUFFER = 4


@dataclass
class CollectionResult:
    written: int = 0
    skipped: int = 0  # outputs already complete from an earlier run with the same classes and settings
    failed: int = 0
    images: int = 0  # this process's share of the inputs
    rank: int = 0  # this process, of
    world: int = 1  # processes


EXTRA_OUTPUTS = {"overlay": "_overlay.png", "coco": ".coco.json"}  # optional outputs: file name ends


def outputs_of(out: Path, image: Path, extras: Sequence[str] = ()) -> dict[str, Path]:
    """Each output of an image: the label PNG, the JSON summary and the ``extras`` (``EXTRA_OUTPUTS``)."""
    stem = image.stem
    files = {"labels": out / f"{stem}.png", "summary": out / f"{stem}.json"}
    return files | {kind: out / f"{stem}{EXTRA_OUTPUTS[kind]}" for kind in extras}


def fingerprint(segmenter: Segmenter, vocab: Vocabulary) -> str:
    """Identifies what decides the labels: the classes (with their prompt names) and the settings
    that change them (``Segmenter.identity``: not the device, batch sizes, pixel limit or where
    the weights lie)."""
    text = json.dumps([vocab.names, vocab.prompts, segmenter.identity()], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def complete(files: dict[str, Path], run: str) -> dict | None:
    """The summary of an image whose outputs are all there and made by the same run, else None."""
    if not all(p.is_file() for p in files.values()):
        return None
    try:
        summary = json.loads(files["summary"].read_text())
        with Image.open(files["labels"]) as im:  # reads the header only
            size = im.size
    except (OSError, ValueError):
        return None
    if summary.get("run") != run or [size[1], size[0]] != [summary["size"]["height"], summary["size"]["width"]]:
        return None
    return summary


def segment_collection(
    segmenter: Segmenter,
    inputs: list[Path],
    vocab: Vocabulary,
    out: Path,
    *,
    overlay: bool = True,
    coco: bool = False,
    resume: bool = True,
    workers: int | None = None,
    image_batch: int | None = None,
    manifest: bool = True,
    progress: bool = True,
) -> CollectionResult:
    """Segment this process's share of ``inputs`` into ``out`` (see the module docstring).
    ``workers`` None: ``default_workers``; ``image_batch`` None: ``CUDA_IMAGE_BATCH`` on a GPU, 1
    on a CPU. ``manifest=False`` (one image) writes the image's outputs alone. ``overlay`` / ``coco``:
    also the overlay PNG / the COCO-style segments (``Segmentation.to_coco``)."""
    if image_batch is None:
        image_batch = CUDA_IMAGE_BATCH if segmenter.backend.device.type == "cuda" else 1
    if image_batch < 1:
        raise ZsegError(f"image-batch must be >= 1, got {image_batch}")
    rank, world = rank_and_world()
    run = fingerprint(segmenter, vocab)
    extras = [kind for kind, wanted in (("overlay", overlay), ("coco", coco)) if wanted]
    shard = inputs[rank::world]
    log_dir = out / MANIFEST_DIR
    if manifest:
        log_dir.mkdir(parents=True, exist_ok=True)
    result = CollectionResult(images=len(shard), rank=rank, world=world)
    todo = []
    log = (log_dir / f"rank{rank:05d}-of-{world:05d}.jsonl").open("a", encoding="utf-8") if manifest else io.StringIO()
    with log:
        for path in shard:
            summary = complete(outputs_of(out, path, extras), run) if resume else None
            if summary is None:
                todo.append(path)
                continue
            result.skipped += 1
            _log(log, path, "skipped", outputs_of(out, path, extras), summary)
        bar = tqdm(
            total=len(todo), desc=f"segment (rank {rank})" if world > 1 else "segment", unit="img", disable=not progress
        )
        loader = _Prepare(todo, segmenter.config.short_side, segmenter.config.max_pixels, overlay)
        workers = default_workers(len(todo)) if workers is None else workers
        for batch in _batches(_prepared(loader, workers), image_batch):
            for item, state in zip(batch, _encoded(segmenter, batch)):
                _write_one(segmenter, item, state, vocab, outputs_of(out, item.path, extras), run, log, result)
                bar.update()
        bar.close()
    barrier()
    if rank == 0 and manifest:
        merge_manifest(out, inputs)
    return result


def _write_one(
    segmenter: Segmenter,
    item: _Item,
    state: ImageState | str,
    vocab: Vocabulary,
    files: dict[str, Path],
    run: str,
    log,
    result: CollectionResult,
) -> None:
    """One image's outputs and its log line; its one-line error if it has none (``state`` a string)."""
    try:
        if isinstance(state, str):
            raise ZsegError(state)
        summary = _write_outputs(segmenter, item, state, vocab, files, run)
        result.written += 1
        _log(log, item.path, "ok", files, summary)
    except ZsegError as exc:
        result.failed += 1
        _log(log, item.path, "error", {}, {"error": str(exc)})
        tqdm.write(f"zsseg: error: {exc}", file=sys.stderr)


def default_workers(images: int) -> int:
    """Loader processes when none are asked for: none for a handful of images (starting a process
    costs more than it saves), else half the CPU cores, at most 8. Measured on 2 cores: one
    worker is worth 3-14 % (docs/speed.md)."""
    if images < 16:
        return 0
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def _encoded(segmenter: Segmenter, batch: list[_Item]) -> list[ImageState | str]:
    """Each item's ImageState, or its one-line error; a batch that fails (or does not fit in GPU
    memory) is redone image by image, so one bad image costs only itself."""
    good = [i for i, item in enumerate(batch) if item.error is None]
    states: list[ImageState | str] = [item.error or "" for item in batch]
    try:
        for i, state in zip(good, segmenter.encode_batch([batch[i].prepared for i in good]) if good else []):
            states[i] = state
    except (ZsegError, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        for i in good:
            try:
                states[i] = segmenter.encode_image(batch[i].prepared)
            except ZsegError as exc:
                states[i] = str(exc)
    return states


def _write_outputs(
    segmenter: Segmenter, item: _Item, state: ImageState, vocab: Vocabulary, files: dict[str, Path], run: str
) -> dict:
    seg = with_image_timings(segmenter.predict(vocab, image=state), state)
    summary = {"image": str(item.path), "run": run, **seg.summary()}
    writers = {
        files["labels"]: lambda p: save_label_png(seg.labels, p, len(vocab)),
        files["summary"]: lambda p: p.write_text(json.dumps(summary, indent=2)),
    }
    if "overlay" in files:
        over = seg.overlay(item.rgb)
        writers[files["overlay"]] = lambda p: over.save(p, format="PNG")
    if "coco" in files:
        coco = {"image": item.path.name, "run": run, **seg.to_coco()}
        writers[files["coco"]] = lambda p: p.write_text(json.dumps(coco))
    for dest in writers:
        remove_stale_temporaries(dest)
    try:
        write_atomically(writers)
    except OSError as exc:
        raise ZsegError(
            f"{files['labels'].parent}: cannot write outputs for {item.path.name} ({exc.strerror or exc})"
        ) from None
    return summary


def _log(log, path: Path, status: str, files: dict[str, Path], summary: dict) -> None:
    record = {"image": str(path), "status": status, "time": round(time.time(), 3)}
    if "error" in summary:
        record["error"] = summary["error"]
    else:
        record.update(
            outputs={k: p.name for k, p in files.items()},
            classes_present=list(summary.get("pixel_share", {})),
            pixels=summary.get("pixels", {}),
            seconds=summary.get("timings_s", {}).get("total"),
        )
    log.write(json.dumps(record) + "\n")
    log.flush()  # a killed process loses at most the image it was on


def merge_manifest(out: Path, inputs: list[Path]) -> tuple[Path, Path]:
    """OUT/manifest.jsonl (the latest record of every input, in input order) and OUT/class_stats.json."""
    latest: dict[str, dict] = {}
    for log in sorted((out / MANIFEST_DIR).glob("*.jsonl")):
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed process
                continue
            if record["image"] not in latest or record["time"] >= latest[record["image"]]["time"]:
                latest[record["image"]] = record
    records = [latest[str(p)] for p in inputs if str(p) in latest]
    stats: dict[str, dict] = {}
    for r in records:
        for name, count in r.get("pixels", {}).items():
            entry = stats.setdefault(name, {"pixels": 0, "images": 0})
            entry["pixels"] += count
            entry["images"] += 1
    total = sum(e["pixels"] for e in stats.values())
    for e in stats.values():
        e["share"] = round(e["pixels"] / max(1, total), 6)
    ok = [r for r in records if r["status"] in ("ok", "skipped")]
    summary = {
        "images": len(inputs),
        "segmented": len(ok),
        "failed": sum(r["status"] == "error" for r in records),
        "missing": len(inputs) - len(records),
        "pixels": total,
        "classes": dict(sorted(stats.items(), key=lambda kv: -kv[1]["pixels"])),
    }
    manifest, class_stats = out / "manifest.jsonl", out / "class_stats.json"
    write_atomically(
        {
            manifest: lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in records)),
            class_stats: lambda p: p.write_text(json.dumps(summary, indent=2)),
        }
    )
    return manifest, class_stats


@dataclass
class _Item:
    path: Path
    prepared: PreparedImage | None = None  # decoded and resized to the working resolution
    rgb: np.ndarray | None = None  # the decoded image at its own size, for the overlay
    error: str | None = None  # why it could not be read


class _Prepare(torch.utils.data.Dataset):
    """Images decoded and resized on loader workers."""

    def __init__(self, paths: list[Path], short_side: int, max_pixels: int, keep_rgb: bool) -> None:
        self.paths, self.short_side, self.max_pixels, self.keep_rgb = paths, short_side, max_pixels, keep_rgb

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> _Item:
        try:
            prepared, rgb = prepare_image(self.paths[i], self.short_side, self.max_pixels)
        except ZsegError as exc:
            return _Item(self.paths[i], error=str(exc))
        return _Item(self.paths[i], prepared, rgb if self.keep_rgb else None)


def _prepared(dataset: _Prepare, workers: int) -> Iterator[_Item]:
    """Prepare ahead on ``workers`` processes (0: in this one), in input order."""
    if workers <= 0:
        yield from (dataset[i] for i in range(len(dataset)))
        return
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        collate_fn=_as_is,
        num_workers=workers,
        prefetch_factor=2,
        worker_init_fn=exit_with_parent,
    )
    yield from loader


def _as_is(item):
    return item  # the loader's default would turn the arrays into tensors


def _batches(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    """Batches of up to ``size`` items of one working size; an item waits while fewer than
    ``SIZE_BUFFER`` batches' worth are held back, then the fullest size group goes as it is.
    Unreadable items pass at once, alone."""
    waiting: dict[tuple[int, ...], list[_Item]] = {}
    for item in items:
        if item.prepared is None or size == 1:
            yield [item]
            continue
        key = item.prepared.work.shape
        waiting.setdefault(key, []).append(item)
        if len(waiting[key]) == size:
            yield waiting.pop(key)
        elif sum(map(len, waiting.values())) >= SIZE_BUFFER * size:
            yield waiting.pop(max(waiting, key=lambda k: len(waiting[k])))
    yield from waiting.values()
