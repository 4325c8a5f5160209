"""Bounded load test of `zsseg serve` on loopback: N requests, C at a time.

Starts the server (real offline model unless --url is given), posts a real image N times from C
threads, and prints latency percentiles, status codes and the server's memory over the run.

    python benchmarks/load_test.py --requests 200 --concurrency 8 \
        --image ../shared/data/voc2012/val/images/2007_000042.jpg
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_test(
    url: str, image: bytes, classes: str, requests: int, concurrency: int, pid: int, timeout: float = 300.0
) -> dict:
    """Fire ``requests`` POSTs, ``concurrency`` at a time; sample the server's RSS meanwhile."""
    latencies: list[float] = []
    codes: Counter = Counter()
    memory: list[float] = [rss_mb(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            memory.append(rss_mb(pid))

    def one(_: int) -> None:
        t = time.perf_counter()
        try:
            r = httpx.post(
                url + "/api/segment",
                files={"image": ("img.jpg", image, "image/jpeg")},
                data={"classes": classes},
                timeout=timeout,
            )
            codes[r.status_code] += 1
        except httpx.HTTPError as exc:
            codes[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - t)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    done.set()
    memory.append(rss_mb(pid))
    lat = np.array(latencies)
    q = len(memory) // 4 or 1
    return {
        "requests": requests,
        "concurrency": concurrency,
        "wall_s": round(wall, 1),
        "requests_per_s": round(requests / wall, 3),
        "status": {str(k): v for k, v in sorted(codes.items(), key=str)},
        "latency_s": {p: round(float(np.percentile(lat, int(p[1:]))), 3) for p in ("p50", "p90", "p99")}
        | {"max": round(float(lat.max()), 3)},
        "server_rss_mb": {
            "start": round(memory[0], 1),
            "first_quarter_max": round(max(memory[:q]), 1),
            "last_quarter_max": round(max(memory[-q:]), 1),
            "end": round(memory[-1], 1),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="../shared/data/voc2012/val/images/2007_000042.jpg")
    ap.add_argument("--classes", default="train, person, car, building, grass, sky")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--server-args", default="", help="extra arguments for zsseg serve")
    args = ap.parse_args()
    cmd = [
        sys.executable,
        "-m",
        "zsseg.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        *args.server_args.split(),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("server did not come up: " + (server.stderr.read() if server.poll() is not None else ""))
        image = Path(args.image).read_bytes()
        # warm-up
        httpx.post(
            url + "/api/segment",
            files={"image": ("img.jpg", image, "image/jpeg")},
            data={"classes": args.classes},
            timeout=300,
        )
        result = load_test(url, image, args.classes, args.requests, args.concurrency, server.pid)
        result["server"] = " ".join(cmd[3:])
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
