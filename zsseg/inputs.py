"""What a command reads and where it writes: image lists from files, folders and globs; output paths."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

from .errors import ZsegError
from .image_io import IMAGE_SUFFIXES


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths."""
    paths: list[Path] = []
    for item in items:
        if any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ZsegError(f"{item}: pattern matches no file")
            paths += matches
        elif Path(item).is_dir():
            found = sorted(p for p in Path(item).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ZsegError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif Path(item).exists():
            paths.append(Path(item))
        else:
            raise ZsegError(f"{item}: no such file or folder")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems and stems[p.stem] != p:
            raise ZsegError(
                f"{stems[p.stem]} and {p} would write the same outputs "
                f"({p.stem}.png); segment them into different --out folders"
            )
        stems[p.stem] = p
    return list(dict.fromkeys(paths))


def prepare_out_dir(path: str | Path) -> Path:
    """An output folder, created and checked writable."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZsegError(f"{out}: cannot create output folder ({exc.strerror or exc}); choose another --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ZsegError(f"{out}: output folder is not writable; choose another --out")
    return out


def prepare_out_file(path: str | Path) -> Path:
    """An output file's path, its folder created and checked writable; a folder there is an error."""
    out = Path(path)
    if out.is_dir():
        raise ZsegError(f"{out}: is a folder; --out takes a file name here (e.g. {out / 'result.json'})")
    prepare_out_dir(out.parent)
    return out


def read_config(path: str | Path, dataclass_type: type, what: str = "config") -> dict:
    """A JSON object of ``dataclass_type``'s fields, with one-line errors for a missing file,
    invalid JSON, something other than an object, and unknown keys."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ZsegError(f"{path}: config file not found") from None
    except json.JSONDecodeError as exc:
        raise ZsegError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ZsegError(f"{path}: the config must be a JSON object of settings")
    check_keys(data, dataclass_type, path, what)
    return data


def check_keys(data: dict, dataclass_type: type, path: str | Path, where: str) -> None:
    """A one-line error naming the keys of ``data`` that are no field of ``dataclass_type``."""
    fields = set(dataclass_type.__dataclass_fields__)
    unknown = set(data) - fields
    if unknown:
        raise ZsegError(f"{path}: unknown {where} keys {sorted(unknown)}; valid: {sorted(fields)}")
