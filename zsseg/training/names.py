"""Open-set training of the class head: many names per class, absent names as negatives.

A network trained against one fixed text embedding per class learns nothing about the rest of
the text space: a name it never saw ("baseball bat") can score higher on its dog queries than
"dog" itself, and a synonym ("automobile") lands wherever the untrained directions put it. Each
iteration here names every class by a random variant of one of its names with probability
``variants`` (plural, article, adjective, "X in the scene", "X next to the Y"), and appends
``negatives`` names of things absent from every training image to the class list: never a
target, always in the softmax, so they learn to lose (the open-set training of open-vocabulary
detectors). Names listed in ``exclude`` files (the robustness benchmark's) are never used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import ZsegError
from ..vocabulary import Vocabulary

ADJECTIVES = ("small", "large", "old", "white", "dark", "distant")
PLACES = ("in the scene", "in the picture", "outdoors", "in the background")


@dataclass(frozen=True)
class NameAugment:
    """How the class head is trained against names (``"names"`` in a training config)."""

    variants: float = 0.0  # probability that a class is named by a random variant in an iteration
    negatives: int = 0  # absent names appended to every iteration's classes (never a target)
    negative_pool: str | None = None  # a file, one name per line; None: the ImageNet lemmas shipped with zsseg
    max_similarity: float = 0.55  # pool names this close to a training or unseen class are not negatives
    exclude: list[str] = field(default_factory=list)  # files (.txt lines, .json strings) of names never used


def plural(name: str) -> str:
    """English plural of a name's last word (enough for class names: "bus" -> "buses")."""
    head, _, last = name.rpartition(" ")
    irregular = {"person": "people", "man": "men", "woman": "women", "child": "children", "sheep": "sheep"}
    if last in irregular:
        last = irregular[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()


def variants(name: str, others: list[str]) -> list[str]:
    """Other ways a user names the class ``name``; ``others`` are other classes it may be seen with."""
    out = {name, plural(name), f"the {name}", f"a {name}"}
    out |= {f"{adj} {name}" for adj in ADJECTIVES}
    out |= {f"{name} {place}" for place in PLACES}
    out |= {f"{name} next to the {o}" for o in others}
    return sorted(out)


def excluded_names(files: list[str]) -> set[str]:
    """Lower-cased names in ``files``: lines of a .txt ('#' comments), every string of a .json."""
    out: set[str] = set()
    for f in files:
        path = Path(f)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ZsegError(f'{path}: cannot read the "exclude" name file ({type(exc).__name__})') from None
        if path.suffix == ".json":
            stack = [json.loads(text)]
            while stack:
                x = stack.pop()
                if isinstance(x, dict):
                    stack.extend(x.values())
                elif isinstance(x, list):
                    stack.extend(x)
                elif isinstance(x, str):
                    out.add(x.strip().lower())
        else:
            out |= {line.split("#", 1)[0].strip().lower() for line in text.splitlines()} - {""}
    return out


def pool_names(path: str | None) -> list[str]:
    """Candidate absent names: a file's lines, or the first name of each of the 1000 ImageNet classes."""
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ZsegError(f"{path}: cannot read the negative name pool ({type(exc).__name__})") from None
        return sorted({line.split("#", 1)[0].strip() for line in lines} - {""})
    text = resources.files("zsseg.data").joinpath("imagenet1k_names.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t")[1] for line in text.splitlines() if line and not line.startswith("#")]
    return sorted({names.split(";")[0].strip() for names in rows} - {""})


class TrainingNames:
    """The text embeddings of one iteration: each class named canonically (the normalised mean of
    its prompt names, as at inference) or by a variant, then the sampled negatives."""

    def __init__(
        self, vocab: Vocabulary, unseen: list[str], augment: NameAugment, embed, canonical: torch.Tensor
    ) -> None:
        """``embed(names) -> [N, D]`` unit embeddings; ``canonical`` [C, D] the classes' own."""
        self.augment, self.canonical = augment, canonical
        never = excluded_names(augment.exclude)
        self.choices: list[list[int]] = []
        names: list[str] = []
        for c, prompts in enumerate(vocab.prompts):
            others = [vocab.prompts[o][0] for o in range(len(vocab)) if o != c]
            mine = [v for p in prompts for v in variants(p, others)] if augment.variants > 0 else []
            mine = [v for v in dict.fromkeys(mine) if v.lower() not in never]
            self.choices.append(list(range(len(names), len(names) + len(mine))))
            names += mine
        self.variant_emb = (
            embed(names) if augment.variants > 0 and names else canonical.new_zeros(0, canonical.shape[1])
        )
        self.negative_names: list[str] = []
        self.negative_emb = canonical.new_zeros(0, canonical.shape[1])
        if augment.negatives > 0:
            pool = [n for n in pool_names(augment.negative_pool) if n.lower() not in never]
            known = [p for prompts in vocab.prompts for p in prompts] + list(unseen)
            pool_emb, known_emb = embed(pool), embed(known)
            far = (pool_emb @ known_emb.t()).max(1).values < augment.max_similarity
            self.negative_names = [n for n, keep in zip(pool, far.tolist()) if keep]
            self.negative_emb = pool_emb[far]
            if len(self.negative_names) < augment.negatives:
                raise ZsegError(
                    f"only {len(self.negative_names)} pool names are farther than {augment.max_similarity} from "
                    f"every class, fewer than the {augment.negatives} negatives asked for; give a larger "
                    '"negative_pool" or raise "max_similarity"'
                )

    @property
    def extra(self) -> int:
        """Columns appended after the classes (negatives)."""
        return self.augment.negatives

    def sample(self, rng: np.random.Generator) -> torch.Tensor:
        """[C + negatives, D] for one iteration."""
        text = self.canonical.clone()
        if self.augment.variants > 0:
            for c, choices in enumerate(self.choices):
                if choices and rng.random() < self.augment.variants:
                    text[c] = self.variant_emb[choices[rng.integers(len(choices))]].to(text)
        if self.augment.negatives > 0:
            pick = rng.choice(len(self.negative_names), self.augment.negatives, replace=False)
            text = torch.cat([text, self.negative_emb[torch.from_numpy(pick)].to(text)])
        return text
