"""A small bounded load test on loopback (the real benchmark is benchmarks/load_test.py)."""

import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from load_test import load_test  # noqa: E402

from zsseg import Segmenter, SegmenterConfig  # noqa: E402
from zsseg.proposals import GraphProposals  # noqa: E402
from zsseg.server import ServerLimits, create_app  # noqa: E402
from zsseg.text_cache import TextEmbeddingCache  # noqa: E402

from .test_server import png_bytes  # noqa: E402


def test_sixty_requests_eight_at_a_time(colour_backend, two_colour_image):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seg = Segmenter(colour_backend, GraphProposals(), SegmenterConfig(model="colour-test"), TextEmbeddingCache(None))
    srv = uvicorn.Server(
        uvicorn.Config(create_app(seg, ServerLimits(max_queue=8)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        r = load_test(
            f"http://127.0.0.1:{port}", png_bytes(two_colour_image), "red, green, blue", 60, 8, os.getpid(), timeout=60
        )
    finally:
        srv.should_exit = True
        thread.join(10)
    assert r["status"] == {"200": 60}, r
    assert r["latency_s"]["p99"] < 30
    mem = r["server_rss_mb"]
    assert mem["last_quarter_max"] < mem["first_quarter_max"] + 100, mem  # no growth with requests
