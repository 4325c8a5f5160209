"""Named things of one kind - generators, backends, datasets, vocabularies, presets, architectures -
in one shape: a ``Registry`` (a dict: name -> entry) with its aliases, read by ``lookup``, listed by
``list(registry)``. Each kind's module exposes ``list_x()`` and ``build_x(name)`` (or ``load_x``) over it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from .errors import ZsegError

T = TypeVar("T")


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


class Registry(dict, Generic[T]):
    """name -> entry. Lookups ignore case, "-" vs "_" and a missing "_" ("voc_21", "VOC21",
    "coco-stuff171"), and know ``aliases`` (other name -> name); an unknown name is a one-line error
    that lists the choices."""

    def __init__(self, kind: str, entries: Mapping[str, T], aliases: Mapping[str, str] | None = None) -> None:
        super().__init__(entries)
        self.kind = kind
        self.aliases = {_norm(a): n for a, n in (aliases or {}).items()}

    def key(self, name: str) -> str | None:
        """The entry's own name for ``name``, or None."""
        wanted = _norm(name)
        wanted = _norm(self.aliases.get(wanted, wanted))
        for k in self:
            if _norm(k) == wanted:
                return k
        return next((k for k in self if _norm(k).replace("_", "") == wanted.replace("_", "")), None)

    def lookup(self, name: str) -> T:
        key = self.key(name)
        if key is None:
            raise ZsegError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self)}")
        return self[key]
