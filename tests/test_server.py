"""HTTP API with the ASGI test client and the exact colour backend."""

import base64
import io
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from zsseg import Segmenter, SegmenterConfig
from zsseg.proposals import GraphProposals
from zsseg.server import ServerLimits, create_app
from zsseg.text_cache import TextEmbeddingCache


def png_bytes(arr, fmt="PNG"):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def segmenter(colour_backend):
    return Segmenter(colour_backend, GraphProposals(), SegmenterConfig(model="colour-test"), TextEmbeddingCache(None))


@pytest.fixture
def client(segmenter):
    return TestClient(create_app(segmenter, ServerLimits(max_upload_bytes=200_000, max_pixels=100_000, max_classes=5)))


def post(client, data, *, classes="red, green, blue", vocab=None, ctype="image/png", name="x.png"):
    form = {}
    if classes is not None:
        form["classes"] = classes
    if vocab is not None:
        form["vocab"] = vocab
    return client.post("/api/segment", files={"image": (name, data, ctype)}, data=form)


def test_segment_round_trip(client, two_colour_image):
    r = post(client, png_bytes(two_colour_image))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (64, 48)
    assert [c["name"] for c in body["classes"]] == ["red", "green", "blue"]
    assert set(body["present"]) == {"red", "blue"}
    assert abs(sum(c["share"] for c in body["classes"]) - 1) < 1e-6
    labels = np.array(Image.open(io.BytesIO(base64.b64decode(body["label_png"]))))
    assert (labels[:, :30] == 0).all() and (labels[:, 34:] == 2).all()
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert overlay.size == (64, 48)
    assert body["timings_s"]["total"] > 0
    # class-agnostic proposals: every class is the VLM's
    assert {c["scored_as"] for c in body["classes"]} == {"vision-language model only"}
    assert all(c["known_class"] is None for c in body["classes"])


def test_jpeg_and_vocabulary(client, two_colour_image):
    r = post(client, png_bytes(two_colour_image, "JPEG"), classes=None, vocab="voc21", ctype="image/jpeg")
    assert r.status_code == 400 and "too many classes: 21" in r.json()["error"]
    r = post(client, png_bytes(two_colour_image, "JPEG"), classes="red; crimson, blue", ctype="image/jpeg")
    assert r.status_code == 200


def test_page_health_vocabularies_openapi(client):
    page = client.get("/")
    assert (
        page.status_code == 200
        and "<form" in page.text
        and "http" not in page.text.split("<script>")[0].replace("http-equiv", "")
    )
    assert client.get("/api/health").json()["status"] == "ok"
    assert "voc21" in client.get("/api/vocabularies").json()
    spec = client.get("/openapi.json").json()
    assert "/api/segment" in spec["paths"]


@pytest.mark.parametrize(
    "case, status, fragment",
    [
        ("not an image", 400, "not an image"),
        ("truncated", 400, "truncated"),
        ("empty file", 400, "empty"),
        ("empty classes", 400, "no classes"),
        ("blank class", 400, "blank class name"),
        ("duplicate classes", 400, "duplicate"),
        ("too many classes", 400, "too many classes"),
        ("oversized image", 413, "over the limit"),
        ("upload too big", 413, "upload is over"),
        ("wrong content type", 415, "unsupported content type"),
        ("unknown vocabulary", 400, "unknown vocabulary"),
        ("vocabulary path", 400, "unknown vocabulary"),
    ],
)
def test_bad_inputs(client, two_colour_image, case, status, fragment):
    good = png_bytes(two_colour_image)
    rng = np.random.default_rng(0)
    kwargs = {}
    data = good
    if case == "not an image":
        data = b"hello, I am text"
    elif case == "truncated":
        data = png_bytes(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), "JPEG")[:1500]
    elif case == "empty file":
        data = b""
    elif case == "empty classes":
        kwargs["classes"] = " "
    elif case == "blank class":
        kwargs["classes"] = "red, , blue"
    elif case == "duplicate classes":
        kwargs["classes"] = "red, blue, Red"
    elif case == "too many classes":
        kwargs["classes"] = "a, b, c, d, e, f"
    elif case == "oversized image":
        data = png_bytes(np.zeros((400, 400, 3), np.uint8))
    elif case == "upload too big":
        data = png_bytes(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8))
    elif case == "wrong content type":
        kwargs["ctype"] = "text/plain"
    elif case == "unknown vocabulary":
        kwargs.update(classes=None, vocab="nope")
    elif case == "vocabulary path":
        kwargs.update(classes=None, vocab="/etc/passwd")
    r = post(client, data, **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]


def test_missing_image_field(client):
    r = client.post("/api/segment", data={"classes": "red"})
    assert r.status_code == 422 and "image" in r.json()["error"]


def test_busy_server_answers_503_with_retry_after(segmenter, two_colour_image):
    """With the queue full, a request is refused at once instead of piling up in memory."""
    release = threading.Event()
    entered = threading.Event()

    class Slow:
        config = segmenter.config
        predict = segmenter.predict

        def encode_image(self, *a, **k):
            entered.set()
            release.wait(10)
            return segmenter.encode_image(*a, **k)

    app = create_app(Slow(), ServerLimits(max_queue=1))
    client = TestClient(app)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("first", post(client, png_bytes(two_colour_image))))
    t.start()
    assert entered.wait(10)
    r = post(client, png_bytes(two_colour_image))
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and "busy" in r.json()["error"]
    release.set()
    t.join(10)
    assert result["first"].status_code == 200


def test_timeout_answers_504(segmenter, two_colour_image):
    class Stuck:
        config = segmenter.config
        predict = segmenter.predict

        def encode_image(self, *a, **k):
            import time

            time.sleep(1.0)
            return segmenter.encode_image(*a, **k)

    client = TestClient(create_app(Stuck(), ServerLimits(request_timeout_s=0.2)))
    r = post(client, png_bytes(two_colour_image))
    assert r.status_code == 504 and "longer than" in r.json()["error"]


def test_relabel_scores_new_classes_without_the_image(segmenter, two_colour_image, monkeypatch):
    """The page edits the classes after a first result: /api/relabel labels the same image with no
    upload and no image pass, and gives the labels a fresh /api/segment gives."""
    client = TestClient(create_app(segmenter, ServerLimits(cached_images=1)))
    first = post(client, png_bytes(two_colour_image), classes="red, blue").json()
    calls = []
    original = segmenter.encode_image
    monkeypatch.setattr(segmenter, "encode_image", lambda *a: calls.append(1) or original(*a))
    r = client.post("/api/relabel", data={"image_id": first["image_id"], "classes": "blue, green, red"})
    assert r.status_code == 200, r.text
    relabelled = r.json()
    assert (
        calls == []
        and relabelled["image_id"] == first["image_id"]
        and set(relabelled["timings_s"]) >= {"text", "semantic_map", "total"}
    )
    fresh = (
        TestClient(create_app(segmenter))
        .post(
            "/api/segment",
            files={"image": ("x.png", png_bytes(two_colour_image), "image/png")},
            data={"classes": "blue, green, red"},
        )
        .json()
    )
    assert relabelled["label_png"] == fresh["label_png"] and calls == [1]
    # another image: the one cached before is dropped (cached_images=1)
    post(client, png_bytes(two_colour_image[:, ::-1].copy()))
    r = client.post("/api/relabel", data={"image_id": first["image_id"], "classes": "red"})
    assert r.status_code == 404 and "upload it again" in r.json()["error"]


def test_after_a_timeout_the_next_request_waits_for_the_abandoned_one(segmenter, two_colour_image):
    """One inference at a time, also after a 504: the worker of the request that timed out still
    holds the model until it finishes, so a second request never runs beside it."""
    import time

    running, most = [0], [0]
    lock = threading.Lock()

    class Counting:
        config = segmenter.config
        predict = segmenter.predict

        def encode_image(self, *a, **k):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.6)
            with lock:
                running[0] -= 1
            return segmenter.encode_image(*a, **k)

    client = TestClient(create_app(Counting(), ServerLimits(request_timeout_s=0.2)))
    first = post(client, png_bytes(two_colour_image))
    assert first.status_code == 504
    other = two_colour_image.copy()
    other[0, 0] = 0  # another upload, so that it is encoded too
    second = client.post(
        "/api/segment", files={"image": ("y.png", png_bytes(other), "image/png")}, data={"classes": "red"}
    )
    assert second.status_code == 504 and most[0] == 1
