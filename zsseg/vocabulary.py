"""Class vocabularies: display names, prompt names (synonyms) and the shipped presets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ZsegError
from .registry import Registry

PRESETS_PACKAGE = "zsseg.vocabularies"


@dataclass(frozen=True)
class Vocabulary:
    """An ordered list of classes; class i has display name ``names[i]`` and prompt names ``prompts[i]``
    ("tv monitor; television"). How several prompt names score one class, and which class a
    trained network knows each one as: ``zsseg.text``."""

    names: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    source: str = "custom"

    def __len__(self) -> int:
        return len(self.names)

    @property
    def background_index(self) -> int | None:
        """Index of a class literally named "background", if any."""
        for i, name in enumerate(self.names):
            if name.lower() == "background":
                return i
        return None

    def index(self, name: str) -> int:
        try:
            return [n.lower() for n in self.names].index(name.strip().lower())
        except ValueError:
            raise ZsegError(f"class {name!r} is not in the vocabulary ({', '.join(self.names[:8])}, ...)") from None

    def flat_prompts(self) -> tuple[list[str], list[int]]:
        """Every prompt name of every class, and the class index of each."""
        return [p for prompts in self.prompts for p in prompts], [
            i for i, prompts in enumerate(self.prompts) for _ in prompts
        ]

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = "custom") -> "Vocabulary":
        """Parse "display" or "display: prompt; synonym; ..." lines; '#' starts a comment."""
        names: list[str] = []
        prompts: list[tuple[str, ...]] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if ":" in line:
                display, rest = line.split(":", 1)
                syns = [s.strip() for s in rest.split(";") if s.strip()]
            else:
                parts = [s.strip() for s in line.split(";") if s.strip()]
                display, syns = parts[0], parts
            display = " ".join(display.split())
            if not display or not syns:
                raise ZsegError(f"blank class name in {source}: {raw.strip()!r}")
            names.append(display)
            prompts.append(tuple(" ".join(s.split()) for s in syns))
        return cls._validated(names, prompts, source)

    @classmethod
    def from_names(cls, classes: str | Sequence[str], source: str = "--classes") -> "Vocabulary":
        """From "a, b, c" or a list; an item may carry synonyms: "tv; television"."""
        if isinstance(classes, str):
            items = classes.split(",")
        else:
            items = list(classes)
        if not items or all(not str(c).strip() for c in items):
            raise ZsegError(f'empty class list from {source}; give at least one class name, e.g. --classes "cat, sofa"')
        for c in items:
            if not str(c).strip() or not str(c).strip(" ;:"):
                raise ZsegError(f"blank class name in {source} ({classes!r}); remove the stray comma")
        return cls.from_lines([str(c) for c in items], source)

    @classmethod
    def _validated(cls, names: list[str], prompts: list[tuple[str, ...]], source: str) -> "Vocabulary":
        if not names:
            raise ZsegError(f"empty class list from {source}; give at least one class name")
        seen: dict[str, int] = {}
        for i, n in enumerate(names):
            key = n.lower()
            if key in seen:
                raise ZsegError(
                    f"duplicate class name {n!r} in {source} (positions "
                    f"{seen[key] + 1} and {i + 1}); each class must be listed once"
                )
            seen[key] = i
        return cls(tuple(names), tuple(prompts), source)


# The shipped vocabularies (zsseg/vocabularies/NAME.txt) and their other names.
VOCABULARIES: Registry[str] = Registry(
    "vocabulary",
    {
        p.name[:-4]: p.name
        for p in sorted(resources.files(PRESETS_PACKAGE).iterdir(), key=lambda p: p.name)
        if p.name.endswith(".txt")
    },
    aliases={
        "voc": "voc21",
        "ade": "ade150",
        "coco_stuff": "coco_stuff171",
        "cocostuff": "coco_stuff171",
        "camvid": "camvid11",
        "cityscapes": "cityscapes19",
    },
)


def list_vocabularies() -> list[str]:
    """Names of the shipped vocabularies (e.g. "voc21", "ade150")."""
    return list(VOCABULARIES)


def shipped_vocabulary(name: str) -> Vocabulary:
    """A vocabulary shipped with zsseg, by name ("voc21", "ADE-150", "camvid"), never a path."""
    file = VOCABULARIES.lookup(name)
    text = resources.files(PRESETS_PACKAGE).joinpath(file).read_text(encoding="utf-8")
    return Vocabulary.from_lines(text.splitlines(), source=file.removesuffix(".txt"))


def load_vocabulary(name_or_path: str) -> Vocabulary:
    """A shipped vocabulary by name, or a class file (one class per line) by path."""
    if Path(name_or_path).is_file():
        return read_class_file(name_or_path)
    return shipped_vocabulary(name_or_path)


def read_class_file(path: str | Path) -> Vocabulary:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZsegError(f"{path}: class file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZsegError(
            f"{path}: cannot read class file ({exc.__class__.__name__}); it must be UTF-8 text, one class per line"
        ) from None
    return Vocabulary.from_lines(text.splitlines(), source=str(path))


def resolve_vocabulary(
    classes: "str | Sequence[str] | Vocabulary | None" = None,
    *,
    file: str | Path | None = None,
    vocab: str | None = None,
) -> Vocabulary:
    """The one class-list resolver (command line, server, ``Segmenter``): exactly one of
    ``classes`` (a Vocabulary, a list of names, "a, b, c", or "vocab:NAME"), ``file`` (a class
    file, one class per line) or ``vocab`` (a shipped vocabulary's name). Blank counts as not given."""
    given = {
        k: v
        for k, v in (("classes", classes), ("file", file), ("vocab", vocab))
        if v is not None and not (isinstance(v, str) and not v.strip())
    }
    if len(given) != 1:
        blank = any(isinstance(v, str) and not v.strip() for v in (classes, file, vocab))
        what = "both " + " and ".join(given) if given else "empty class list: no classes" if blank else "no classes"
        raise ZsegError(
            f'{what}: give exactly one of a class list ("cat, sofa, floor"), a class file or a shipped vocabulary'
        )
    if file is not None:
        return read_class_file(file)
    if vocab is not None:
        return shipped_vocabulary(vocab)
    if isinstance(classes, Vocabulary):
        return classes
    if isinstance(classes, str) and classes.startswith("vocab:"):
        return shipped_vocabulary(classes[len("vocab:") :])
    return Vocabulary.from_names(classes)
