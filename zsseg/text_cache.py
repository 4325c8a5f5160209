"""The disk cache of text embeddings: each name is encoded once per backend and template set."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol

import torch


class TextEncoder(Protocol):
    """What the cache needs of a backend: a key naming its text weights, and the encoder."""

    @property
    def cache_key(self) -> str: ...

    def encode_texts(self, texts: list[str]) -> torch.Tensor: ...


def default_cache_dir() -> Path:
    """$ZSSEG_CACHE_DIR, else $XDG_CACHE_HOME/zsseg, else ~/.cache/zsseg."""
    if os.environ.get("ZSSEG_CACHE_DIR"):
        return Path(os.environ["ZSSEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zsseg"


class TextEmbeddingCache:
    """Class-name embeddings keyed by (backend, template set, name), in memory and on disk.

    One file per (backend, template set) holds every name encoded so far, so a vocabulary such as
    ADE-847 x 80 templates is encoded once per machine. ``directory=None`` keeps it in memory only.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(backend_key: str, templates: tuple[str, ...]) -> str:
        digest = hashlib.sha1("\x1f".join((backend_key,) + templates).encode()).hexdigest()[:16]
        return f"{_slug(backend_key)}-{digest}"

    def _file(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / "text" / f"{key}.pt"

    def _table(self, key: str) -> dict[str, torch.Tensor]:
        if key not in self._memory:
            table: dict[str, torch.Tensor] = {}
            path = self._file(key)
            if path is not None and path.exists():
                try:
                    saved = torch.load(path, map_location="cpu", weights_only=True)
                    table = dict(zip(saved["names"], saved["embeddings"]))
                except Exception:  # a corrupt cache file is rebuilt, never trusted
                    table = {}
            self._memory[key] = table
        return self._memory[key]

    def encode(self, backend: TextEncoder, names: list[str], templates: tuple[str, ...]) -> torch.Tensor:
        """Normalised mean-over-templates embeddings [len(names), D] (float32, CPU)."""
        encode = partial(encode_with_templates, backend, templates=templates)
        return self.lookup(backend.cache_key, templates, names, encode)

    def lookup(
        self, backend_key: str, tag: tuple[str, ...], keys: list[str], compute: Callable[[list[str]], torch.Tensor]
    ) -> torch.Tensor:
        """[len(keys), D]: one vector per key, ``compute`` called once for those not yet stored under
        (``backend_key``, ``tag``): text embeddings by template set, or anything else derived from
        names that is slow to make (the dictionary's concepts of a class: zsseg.text.with_concepts)."""
        key = self._key(backend_key, tag)
        table = self._table(key)
        missing = list(dict.fromkeys(k for k in keys if k not in table))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            table.update(zip(missing, compute(missing)))
            self._save(key, table)
        return torch.stack([table[k] for k in keys]) if keys else torch.zeros(0, 1)

    def _save(self, key: str, table: dict[str, torch.Tensor]) -> None:
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save({"names": list(table), "embeddings": torch.stack(list(table.values()))}, tmp)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs time


def encode_with_templates(
    backend: TextEncoder, names: list[str], templates: tuple[str, ...], batch_size: int = 256
) -> torch.Tensor:
    """Embed every name under every template and return the normalised per-name mean."""
    texts = [t.format(n) for n in names for t in templates]
    chunks = [backend.encode_texts(texts[i : i + batch_size]).float().cpu() for i in range(0, len(texts), batch_size)]
    emb = torch.cat(chunks).view(len(names), len(templates), -1)
    emb = torch.nn.functional.normalize(emb, dim=-1).mean(dim=1)
    return torch.nn.functional.normalize(emb, dim=-1)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[-60:]
