"""Segmenting a collection (``zsseg segment`` over many images): sharded over processes and machines
under torchrun, resumable, with a run manifest and per-class statistics.

Every process takes every K-th image of the (sorted, deterministic) input list and writes each
image's outputs atomically: the label PNG, the overlay (optional) and a JSON summary. A run that
is started again skips the images whose outputs are complete and were made with the same classes
and settings, and redoes the others; a process killed mid-way loses only the image it was on.
Each process appends one line per image to its own log (``OUT/.manifest/``); when all are done,
rank 0 merges them into ``OUT/manifest.jsonl`` (one line per input: outputs, classes present,
seconds, or the one-line error) and ``OUT/class_stats.json`` (pixels and images per class).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from .distributed import barrier, init_from_env
from .errors import ZsegError
from .image_io import load_image, remove_stale_temporaries, write_atomically
from .render import save_label_png
from .segmenter import Segmenter
from .vocabulary import Vocabulary

MANIFEST_DIR = ".manifest"
# Settings that change how fast, not what: left out of the run's fingerprint.
NOT_IN_FINGERPRINT = ("device", "batch_size", "max_pixels")


@dataclass
class CollectionResult:
    written: int = 0
    skipped: int = 0  # outputs already complete from an earlier run with the same classes and settings
    failed: int = 0
    images: int = 0  # this process's share of the inputs


def outputs_of(out: Path, image: Path, overlay: bool) -> dict[str, Path]:
    stem = image.stem
    files = {"labels": out / f"{stem}.png", "summary": out / f"{stem}.json"}
    if overlay:
        files["overlay"] = out / f"{stem}_overlay.png"
    return files


def fingerprint(segmenter: Segmenter, vocab: Vocabulary) -> str:
    """Identifies what decides the labels: the classes (with their prompt names) and the settings."""
    settings = {k: v for k, v in segmenter.settings().items() if k not in NOT_IN_FINGERPRINT}
    crop = {k: v for k, v in settings.get("crop", {}).items() if k not in NOT_IN_FINGERPRINT}
    text = json.dumps([vocab.names, vocab.prompts, {**settings, "crop": crop}], sort_keys=True, default=str)
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
    resume: bool = True,
    workers: int = 0,
    manifest: bool = True,
    progress: bool = True,
) -> CollectionResult:
    """Segment this process's share of ``inputs`` into ``out`` (see the module docstring).
    ``manifest=False`` (one image) writes the image's outputs alone."""
    rank, world = init_from_env()
    run = fingerprint(segmenter, vocab)
    shard = inputs[rank::world]
    log_dir = out / MANIFEST_DIR
    if manifest:
        log_dir.mkdir(parents=True, exist_ok=True)
    result = CollectionResult(images=len(shard))
    todo = []
    log = (log_dir / f"rank{rank:05d}-of-{world:05d}.jsonl").open("a", encoding="utf-8") if manifest else io.StringIO()
    with log:
        for path in shard:
            summary = complete(outputs_of(out, path, overlay), run) if resume else None
            if summary is None:
                todo.append(path)
                continue
            result.skipped += 1
            _log(log, path, "skipped", outputs_of(out, path, overlay), summary)
        bar = tqdm(
            total=len(todo), desc=f"segment (rank {rank})" if world > 1 else "segment", unit="img", disable=not progress
        )
        for path, rgb, error in _decoded(todo, segmenter.config.max_pixels, workers):
            files = outputs_of(out, path, overlay)
            try:
                if error is not None:
                    raise ZsegError(error)
                summary = _segment_one(segmenter, path, rgb, vocab, files, run)
                result.written += 1
                _log(log, path, "ok", files, summary)
            except ZsegError as exc:
                result.failed += 1
                _log(log, path, "error", {}, {"error": str(exc)})
                tqdm.write(f"zsseg: error: {exc}", file=sys.stderr)
            bar.update()
        bar.close()
    barrier()
    if rank == 0 and manifest:
        merge_manifest(out, inputs)
    return result


def _segment_one(segmenter: Segmenter, path: Path, rgb, vocab: Vocabulary, files: dict[str, Path], run: str) -> dict:
    seg = segmenter(rgb, vocab)
    summary = {"image": str(path), "run": run, **seg.summary()}
    writers = {
        files["labels"]: lambda p: save_label_png(seg.labels, p, len(vocab)),
        files["summary"]: lambda p: p.write_text(json.dumps(summary, indent=2)),
    }
    if "overlay" in files:
        over = seg.overlay(rgb)
        writers[files["overlay"]] = lambda p: over.save(p, format="PNG")
    for dest in writers:
        remove_stale_temporaries(dest)
    try:
        write_atomically(writers)
    except OSError as exc:
        raise ZsegError(
            f"{files['labels'].parent}: cannot write outputs for {path.name} ({exc.strerror or exc})"
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


class _Decode(torch.utils.data.Dataset):
    """Images decoded on loader workers: (path, RGB array or None, one-line error or None)."""

    def __init__(self, paths: list[Path], max_pixels: int) -> None:
        self.paths, self.max_pixels = paths, max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return self.paths[i], load_image(self.paths[i], self.max_pixels), None
        except ZsegError as exc:
            return self.paths[i], None, str(exc)


def _decoded(paths: list[Path], max_pixels: int, workers: int) -> Iterator[tuple[Path, object, str | None]]:
    """Decode ahead on ``workers`` processes (0: in this one), in input order."""
    if workers <= 0:
        yield from (_Decode(paths, max_pixels)[i] for i in range(len(paths)))
        return
    loader = torch.utils.data.DataLoader(
        _Decode(paths, max_pixels), batch_size=None, collate_fn=_as_is, num_workers=workers, prefetch_factor=2
    )
    yield from loader


def _as_is(item):
    return item  # the loader's default would turn the arrays into tensors
