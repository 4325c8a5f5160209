"""Reading images robustly and writing output files atomically."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeError, ZsegError

DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP: a 4000x3000 photo is 12 MP
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
ImageInput = str | os.PathLike | np.ndarray | Image.Image | bytes


def load_image(image: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return an RGB uint8 array [H, W, 3] from a path, encoded bytes, a PIL image or an array.

    Grayscale, palette, RGBA (alpha dropped), 16-bit and float images are converted; EXIF
    orientation is applied. Raises ZsegError for anything that is not a readable image.
    """
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, "array", max_pixels)
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, "image", max_pixels)
    if isinstance(image, bytes):
        return _decode(io.BytesIO(image), "uploaded image", max_pixels)
    path = Path(image)
    if not path.exists():
        raise ZsegError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise ZsegError(f"{path}: is a folder, not an image")
    return _decode(path, str(path), max_pixels)


def _decode(source, name: str, max_pixels: int) -> np.ndarray:
    try:
        with Image.open(source) as pil:
            _check_size(pil.size, name, max_pixels)
            return _pil_to_rgb(pil, name, max_pixels)
    except UnidentifiedImageError:
        raise ZsegError(f"{name}: not an image file that Pillow can read (JPEG, PNG, TIFF, WebP, BMP, ...)") from None
    except Image.DecompressionBombError:
        raise ZsegError(f"{name}: image is too large to decode safely; downscale it first") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ZsegError(
            f"{name}: unreadable or truncated image ({_one_line(exc)}); re-export or re-download it"
        ) from None


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ZsegError(f"{name}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {w}x{h} = {w * h / 1e6:.1f} MP, over the limit of {max_pixels / 1e6:.0f} MP; "
            "downscale it or raise the limit (--max-pixels)"
        )


def _pil_to_rgb(pil: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    _check_size(pil.size, name, max_pixels)
    pil.load()  # decode now so truncation surfaces here
    pil = ImageOps.exif_transpose(pil)
    if pil.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _array_to_rgb(np.asarray(pil), name, max_pixels)
    if pil.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "L", "1", "LAB", "HSV"):
        pil = pil.convert("RGBA").convert("RGB") if pil.mode in ("P", "PA") else pil.convert("RGB")
    elif pil.mode != "RGB":
        pil = pil.convert("RGB")
    return np.asarray(pil, dtype=np.uint8).copy()


def _array_to_rgb(arr: np.ndarray, name: str, max_pixels: int) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ZsegError(
            f"{name}: expected an image array of shape [H, W], [H, W, 3] or [H, W, 4], got {list(arr.shape)}"
        )
    _check_size((arr.shape[1], arr.shape[0]), name, max_pixels)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        finite = arr[np.isfinite(arr)]
        top = 1.0 if finite.size == 0 or finite.max() <= 1.0 else 255.0
        return (np.clip(np.nan_to_num(arr), 0, top) / top * 255 + 0.5).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.max(initial=0) > 255 else 255
        if arr.max(initial=0) > 65535:
            top = int(arr.max())
        return (np.clip(arr, 0, top).astype(np.float64) / top * 255 + 0.5).astype(np.uint8)
    raise ZsegError(f"{name}: unsupported image dtype {arr.dtype}")


def resize_short_side(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """Resize so the shorter side is ``short_side`` (bicubic), keeping the aspect ratio."""
    h, w = rgb.shape[:2]
    scale = short_side / min(h, w)
    if abs(scale - 1) < 1e-6:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.array(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


TEMP_MARK = ".zsseg-tmp."  # in the names of files being written (a process killed mid-write leaves them)


def write_atomically(writers: dict[Path, Callable[[Path], None]]) -> None:
    """Write several files so that either all of them appear or none does.

    Each writer receives a temporary path in the destination folder; once every writer has
    succeeded the temporaries are renamed into place.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for dest, writer in writers.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}{TEMP_MARK}", suffix=dest.suffix, dir=dest.parent)
            os.close(fd)
            staged.append((Path(tmp), dest))
            writer(Path(tmp))
        for tmp, dest in staged:
            os.replace(tmp, dest)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def remove_stale_temporaries(dest: Path) -> None:
    """Delete what a killed ``write_atomically`` left of ``dest`` (never a finished file)."""
    for stale in dest.parent.glob(f".{dest.name}{TEMP_MARK}*"):
        stale.unlink(missing_ok=True)
