"""What a benchmark script leaves behind: its table (``table.md``) and its numbers with the command
that made them (``results.json``), so that every README row can name its source."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def save(out: Path, script: str, argv: list[str] | None, text: str, payload: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n")
    command = f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "results.json").write_text(json.dumps({"command": command, **payload}, indent=1))
