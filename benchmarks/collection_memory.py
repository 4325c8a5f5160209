"""Memory of a long collection run: `zsseg segment` over N images (links to the shared VOC and CamVid
photos, repeated under new names), its resident memory sampled from /proc while it runs, and the
throughput. A flat RSS means memory does not grow with the collection's size.

    python benchmarks/collection_memory.py --images 2000 --out results/collection-memory.json -- \\
        --proposals slic --crop dense --short-side 128 --no-overlay
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCES = ("../shared/data/voc2012/val/images", "../shared/data/camvid/val/images")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--out", default=None)
    p.add_argument("segment_args", nargs="*", help="after --: options for zsseg segment")
    args = p.parse_args()
    photos = sorted(q for src in SOURCES for q in Path(src).glob("*") if q.suffix.lower() in (".jpg", ".png"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for i in range(args.images):
            src = photos[i % len(photos)].resolve()
            (folder / f"{i:06d}{src.suffix}").symlink_to(src)
        cmd = [
            sys.executable,
            "-m",
            "zsseg",
            "segment",
            str(folder),
            "--out",
            str(Path(tmp) / "out"),
            "--vocab",
            "voc21",
            "--quiet",
            *args.segment_args,
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd)
        samples = []  # (seconds, images written, RSS MB)
        while proc.poll() is None:
            time.sleep(2)
            done = len(list((Path(tmp) / "out").glob("*.json"))) if (Path(tmp) / "out").exists() else 0
            mb = rss_mb(proc.pid)
            if mb is not None:
                samples.append((round(time.perf_counter() - start, 1), done, round(mb, 1)))
        wall = time.perf_counter() - start
        written = len(list((Path(tmp) / "out").glob("*.json"))) - 1  # minus class_stats.json
    quarters = [s for s in samples if s[1] > 0]
    n = len(quarters)
    report = {
        "command": "zsseg segment FOLDER --vocab voc21 " + " ".join(args.segment_args),
        "images": args.images,
        "written": written,
        "images_per_s": round(written / wall, 3),
        "rss_mb_by_quarter": [
            max((s[2] for s in quarters[k * n // 4 : (k + 1) * n // 4]), default=None) for k in range(4)
        ],
        "rss_mb_max": max((s[2] for s in samples), default=None),
        "samples": samples[:: max(1, len(samples) // 40)],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
