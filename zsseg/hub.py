"""Loading transformers checkpoints by Hugging Face hub id or local folder, with one-line errors."""

from __future__ import annotations

from pathlib import Path

from .errors import ZsegError


def load_config(name_or_path: str, what: str, flag: str, expected: tuple[str, ...], needs: str):
    """The transformers config of a checkpoint whose ``model_type`` is one of ``expected``.

    ``what`` names the model in messages ("model", "sam model"), ``flag`` is the option that takes
    a local folder instead ("--model"), ``needs`` says what fits ("the clip backend needs ...").
    """
    from transformers import AutoConfig

    where = "local directory" if Path(name_or_path).is_dir() else "not a local directory, tried the hub"
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except Exception as exc:  # transformers raises OSError, ValueError or HTTP errors here
        raise ZsegError(
            f"cannot load {what} {name_or_path!r} ({where}: {first_line(exc)}); on a machine with internet run "
            f"`huggingface-cli download {name_or_path} --local-dir DIR` and pass {flag} DIR"
        ) from None
    if config.model_type not in expected:
        raise ZsegError(f"{name_or_path!r} is a {config.model_type!r} checkpoint; {needs}")
    return config


def load_parts(name_or_path: str, what: str, *loaders):
    """``loader(name_or_path)`` for each loader (a model class's ``from_pretrained``, a tokenizer's,
    ...), with one one-line error for any that fails: a download that stopped half-way, say."""
    try:
        return tuple(load(name_or_path) for load in loaders)
    except Exception as exc:  # transformers raises many kinds here
        raise ZsegError(
            f"cannot load the {what} of {name_or_path!r} ({first_line(exc)}); the download may be incomplete or corrupt"
        ) from None


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, shortened."""
    text = " ".join(str(exc).split())
    return (text[:limit] + "...") if len(text) > limit else text or type(exc).__name__
