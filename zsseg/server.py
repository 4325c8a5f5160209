"""HTTP API and web page (``zsseg serve``): one model shared by all requests, bounded queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict
from importlib import resources

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .errors import ImageTooLargeError, ZsegError
from .image_io import load_image
from .limits import ServerLimits
from .render import palette, save_label_png
from .segmenter import ImageState, Segmenter, with_image_timings
from .vocabulary import Vocabulary, list_vocabularies, resolve_vocabulary, shipped_vocabulary


class ClassInfo(BaseModel):
    index: int
    name: str
    colour: str
    share: float
    scored_as: str  # how the class was scored: "network class road (similarity 0.86)", "vision-language model only"
    known_class: str | None  # the proposal network's class it answers for (None: the VLM's alone)


class SegmentResponse(BaseModel):
    image_id: str  # pass to /api/relabel to label the same image with other classes, without re-uploading it
    width: int
    height: int
    classes: list[ClassInfo]  # every class of the request, in request order
    present: list[str]  # classes that label at least one pixel, largest first
    timings_s: dict[str, float]
    label_png: str  # base64 palette PNG: pixel value = class index
    overlay_png: str  # base64 PNG: the image blended with class colours
    settings: dict


class ErrorResponse(BaseModel):
    error: str


class HealthResponse(BaseModel):
    status: str
    version: str
    model: str
    proposals: str
    queued: int
    limits: dict


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 422, 503, 504)}


class _ModelQueue:
    """Requests take turns on the model (the CPU is the bottleneck): at most ``max_queue`` past
    ``admitted``, the next ones get 503 instead of waiting; ``run`` runs the model in a worker thread."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits, self.admitted_now = limits, 0
        self.lock = asyncio.Lock()  # requests take turns ...
        self.inference = threading.Lock()  # ... and a worker thread runs the model only while it holds this

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        if self.admitted_now >= self.limits.max_queue:
            raise ApiError(
                503, "the server is busy; try again shortly", {"Retry-After": str(self.limits.retry_after_s)}
            )
        self.admitted_now += 1
        try:
            yield
        finally:
            self.admitted_now -= 1

    async def run(self, work, *args):
        """``work(*args)`` in a worker thread, one at a time. The worker holds ``inference`` until it
        is done, not until the request gives up: after a 504 the abandoned inference still holds the
        model, and the next request's worker waits for it instead of running beside it."""

        def exclusive():
            with self.inference:
                return work(*args)

        timeout = self.limits.request_timeout_s
        async with self.lock:
            try:
                return await asyncio.wait_for(run_in_threadpool(exclusive), timeout=timeout)
            except asyncio.TimeoutError:
                raise ApiError(
                    504, f"segmentation took longer than {timeout:.0f} s; try a smaller image or fewer classes"
                ) from None
            except ZsegError as exc:
                raise ApiError(400, str(exc)) from None


class _EncodedImages:
    """The last ``capacity`` uploads, decoded and encoded: image_id -> (pixels, ImageState)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[str, tuple[np.ndarray, ImageState]] = OrderedDict()

    def get(self, image_id: str) -> tuple[np.ndarray, ImageState] | None:
        return self.items.get(image_id)

    def remember(self, image_id: str, rgb: np.ndarray, encoded: ImageState) -> None:
        self.items[image_id] = (rgb, encoded)
        self.items.move_to_end(image_id)
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": one line}`` with its status."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, status_code=422)


async def _read_upload(image: UploadFile, limits: ServerLimits) -> bytes:
    """The uploaded bytes, or the reason they are refused (type, size, empty)."""
    ctype = (image.content_type or "").split(";")[0].strip().lower()
    if ctype and not (ctype.startswith("image/") or ctype == "application/octet-stream"):
        raise ApiError(415, f"unsupported content type {ctype!r}: upload an image file (image/jpeg, image/png, ...)")
    data = await image.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise ApiError(413, f"upload is over {limits.max_upload_bytes // (1024 * 1024)} MB; send a smaller image")
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data


CLASSES_FORM = 'comma-separated class names, synonyms with ";"'


def create_app(segmenter: Segmenter, limits: ServerLimits | None = None) -> FastAPI:
    """The ASGI app. ``segmenter`` is loaded once by the caller and shared by all requests."""
    limits = limits or ServerLimits()
    app = FastAPI(title="zsseg", version=__version__, description="Open-vocabulary semantic segmentation.")
    _install_error_handlers(app)
    queue, images = _ModelQueue(limits), _EncodedImages(limits.cached_images)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return resources.files("zsseg.web").joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/api/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        cfg = segmenter.config
        return HealthResponse(
            status="ok",
            version=__version__,
            model=cfg.model,
            proposals=cfg.proposals,
            queued=queue.admitted_now,
            limits=asdict(limits),
        )

    @app.get("/api/vocabularies", response_model=dict[str, list[str]])
    async def vocabularies() -> dict[str, list[str]]:
        return {name: list(shipped_vocabulary(name).names) for name in list_vocabularies()}

    @app.post("/api/segment", response_model=SegmentResponse, responses=ERRORS)
    async def segment(
        image: UploadFile = File(..., description="the image file (JPEG, PNG, WebP, TIFF, BMP, ...)"),
        classes: str | None = Form(None, description=CLASSES_FORM),
        vocab: str | None = Form(None, description="a shipped vocabulary name instead of classes"),
        alpha: float = Form(0.55, ge=0.0, le=1.0, description="overlay opacity"),
    ) -> SegmentResponse:
        vocabulary = _vocabulary(classes, vocab, limits)
        data = await _read_upload(image, limits)
        with queue.admitted():
            image_id = hashlib.sha256(data).hexdigest()[:24]
            cached = images.get(image_id)  # the same upload again: its encoding is reused
            if cached is None:
                rgb = _decode(data, limits)
                encoded = await queue.run(segmenter.encode_image, rgb)
            else:
                rgb, encoded = cached
            images.remember(image_id, rgb, encoded)
            seg = await queue.run(segmenter.predict, vocabulary, None, encoded)
            return _response(image_id, seg if cached else with_image_timings(seg, encoded), rgb, alpha)

    @app.post("/api/relabel", response_model=SegmentResponse, responses=ERRORS)
    async def relabel(
        image_id: str = Form(..., description="the image_id of an earlier /api/segment answer"),
        classes: str | None = Form(None, description=CLASSES_FORM),
        vocab: str | None = Form(None, description="a shipped vocabulary name instead of classes"),
        alpha: float = Form(0.55, ge=0.0, le=1.0, description="overlay opacity"),
    ) -> SegmentResponse:
        """The image of an earlier request with another class list: only the classes are scored anew."""
        vocabulary = _vocabulary(classes, vocab, limits)
        cached = images.get(image_id)
        if cached is None:
            raise ApiError(
                404,
                f"image {image_id!r} is no longer held by the server (it keeps the "
                f"last {limits.cached_images}); upload it again with /api/segment",
            )
        with queue.admitted():
            rgb, encoded = cached
            images.remember(image_id, rgb, encoded)
            seg = await queue.run(segmenter.predict, vocabulary, None, encoded)
            return _response(image_id, seg, rgb, alpha)

    return app


def _vocabulary(classes: str | None, vocab: str | None, limits: ServerLimits) -> Vocabulary:
    try:  # a typed list or a shipped vocabulary's name: never a file on the server
        v = resolve_vocabulary(classes, vocab=vocab)
    except ZsegError as exc:
        raise ApiError(400, str(exc)) from None
    if len(v) > limits.max_classes:
        raise ApiError(400, f"too many classes: {len(v)} (at most {limits.max_classes})")
    return v


def _decode(data: bytes, limits: ServerLimits):
    try:
        return load_image(data, max_pixels=limits.max_pixels)
    except ZsegError as exc:
        raise ApiError(413 if isinstance(exc, ImageTooLargeError) else 400, str(exc)) from None


def _png_base64(write) -> str:
    buf = io.BytesIO()
    write(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _response(image_id: str, seg, rgb, alpha: float) -> SegmentResponse:
    names = seg.classes
    colours = palette(len(names))
    shares = seg.pixel_shares()
    readings = seg.readings or [None] * len(names)
    over = seg.overlay(rgb, alpha=alpha, legend=False)
    return SegmentResponse(
        image_id=image_id,
        width=int(seg.labels.shape[1]),
        height=int(seg.labels.shape[0]),
        classes=[
            ClassInfo(
                index=i,
                name=n,
                colour="#%02x%02x%02x" % tuple(int(c) for c in colours[i]),
                share=round(shares.get(n, 0.0), 6),
                scored_as=r.describe() if r is not None else "vision-language model only",
                known_class=r.known if r is not None else None,
            )
            for i, (n, r) in enumerate(zip(names, readings))
        ],
        present=list(shares),
        timings_s={k: round(v, 4) for k, v in seg.timings.items()},
        label_png=_png_base64(lambda f: save_label_png(seg.labels, f, len(names))),
        overlay_png=_png_base64(lambda f: over.save(f, format="PNG")),
        settings=seg.settings,
    )
