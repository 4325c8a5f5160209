"""How the shipped network reads every vocabulary we judge readings on: the robustness benchmark's
(both halves), the shipped vocabularies and a few first tries of a new user. A change to the
reading rules (zsseg.text.read_classes, zsseg.lexicon) is checked by the readings it changes:

    python benchmarks/readings.py --out results/readings/after
    python benchmarks/readings.py --against results/readings/before/results.json   # prints what changed

(``before``: the same command run on the code before the change.) No image is read: ~1 minute.

It also counts, per dataset, kind and list, how many renamed names are read as the network class
their dataset's own name is read as: the benchmark's tune and held-out halves, and the whole
vocabularies of ``open_vocabulary/fresh*.json``, written between 2026-12-04 and 2026-12-07 (fourteen) and
kept out of every choice since (a reading is only a proxy: ``open_vocabulary.py``
measures what it does to mIoU), names the vocabularies where the network's background, claimed
by no name, competes in its class softmax (``zsseg.text.unclaimed_catch_alls``), and counts how
often names of absent things are read as a network class beside a part of a dataset's own names
(``foreign_names_read``), and how often probe words are read as their class: one class renamed by
a more general word (``general_words_read``), whole random renamings (``whole_renamings_read``), and
one name beside every thing of VOC, read as its background or not (``the_rest_read``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

from open_vocabulary import DATASETS, HALVES, SHARED, UNMEASURED, name_lists, own_names, split_half, vocabularies
from report import save

from zsseg.config import SegmenterConfig, resolve_config
from zsseg.datasets import SegmentationDataset, get_spec
from zsseg.proposals.maskformer import SHIPPED_NETWORK, MaskFormerProposals
from zsseg.text import CATCH_ALL, SeenRule
from zsseg.vocabulary import Vocabulary, list_vocabularies, shipped_vocabulary

# What a new user types first (the issue tracker's reports; tests/test_open_vocabulary.py).
FIRST_TRIES = (
    "road, sky, building, tree, car, person, sidewalk, street",
    "road, sky, building, tree, automobile, person, sidewalk",
    "street, sky, house, tree, automobile, pedestrian, pavement",
    "person, flag, rocket, space suit, sky",
    "person, wall",
    "cup, saucer, spoon, table, coffee",
    "cat, sofa, window, potted plant",
    "person, dog, scenery",
)


# Words written on 2026-12-06 to probe steps 6 and 7 of the reading (they informed them): one class
# renamed by a more general word, and words per class for random whole renamings.
PROBES = json.loads((Path(__file__).parent / "open_vocabulary" / "probes.json").read_text())
# More, written later that day after the first had been worked on (they informed that later work).
PROBES2 = json.loads((Path(__file__).parent / "open_vocabulary" / "probes2.json").read_text())


def general_words_read(network: MaskFormerProposals, rule: SeenRule, shared: Path) -> str:
    """Per dataset, how many of the probes' general words are read as their class's network class beside the
    dataset's other names, with the reading rule and without steps 6 and 7 (``SeenRule.leftover``)."""
    out = ["| dataset, one general word | read as its class | without steps 6-7 |", "|---|---|---|"]
    for key, words in PROBES["general"].items():
        names = dataset_names(key, shared)
        canonical = read_as(network, rule, names)
        hits, n = [0, 0], 0
        for cls, general in words.items():
            c = names.index(cls)
            for word in general:
                renamed = [word if j == c else x for j, x in enumerate(names)]
                for i, read in enumerate(with_and_without(network, rule, renamed)):
                    hits[i] += read[c] == canonical[c]
                n += 1
        out.append(f"| {key} | {hits[0]} / {n} | {hits[1]} / {n} |")
    return "\n".join(out)


def whole_renamings_read(network: MaskFormerProposals, rule: SeenRule, shared: Path, draws: int = 150) -> str:
    """Per probe file and dataset, the share of names read as their class's network class in
    ``draws`` whole renamings (one of the probes' words per class, drawn at random; a draw that
    repeats a word is skipped), with the reading rule and without steps 6 and 7."""
    out = ["| dataset, whole renamings (probe words) | read as their class | without steps 6-7 |", "|---|---|---|"]
    for probes, salt, source in ((PROBES, "renaming", "probes"), (PROBES2, "renaming2", "probes2")):
        for key, words in probes["renamings"].items():
            names = dataset_names(key, shared)
            canonical = read_as(network, rule, names)
            hits, n = [0, 0], 0
            for k in range(draws):
                rng = random.Random(f"{key}|{salt}|{k}")
                renamed = [rng.choice(words[x]) if x in words else x for x in names]
                if len({r.lower() for r in renamed}) < len(renamed):
                    continue
                for i, read in enumerate(with_and_without(network, rule, renamed)):
                    hits[i] += sum(x == c for x, c in zip(read, canonical))
                n += len(names)
            out.append(f"| {key} ({source}) | {100 * hits[0] / n:.1f} % of {n} | {100 * hits[1] / n:.1f} % |")
    return "\n".join(out)


def the_rest_read(network: MaskFormerProposals, rule: SeenRule, shared: Path) -> str:
    """Every thing of a dataset named and one name more (a dataset with a catch-all class: VOC-21):
    how many of the probes' names for the rest, and of the absent names (each half of the pool), are
    read as the catch-all (``zsseg.text.read_classes``, step 7), with the reading rule and without
    steps 6 and 7. The first is what the step is for, the second its cost."""
    _, absent = name_lists()
    out = ["| dataset, one name beside every thing | read as the catch-all | without steps 6-7 |", "|---|---|---|"]
    for key in (k for k in DATASETS if k != "voc20"):
        names = dataset_names(key, shared)
        canonical = read_as(network, rule, names)
        rest = [c for c, k in enumerate(canonical) if k in CATCH_ALL]
        if not rest:
            continue
        things = [x for c, x in enumerate(names) if c not in rest]
        words = {w for probes in (PROBES, PROBES2) for w in probes["renamings"][key].get(names[rest[0]], [])}
        pools = {"rest words (probes)": sorted(words), **dict(zip(HALVES, split_half(absent, "absent")))}
        for label, pool in pools.items():
            hits = [0, 0]
            for word in pool:
                for i, read in enumerate(with_and_without(network, rule, [word, *things])):
                    hits[i] += read[0] in CATCH_ALL
            out.append(f"| {key}, {label} | {hits[0]} / {len(pool)} | {hits[1]} / {len(pool)} |")
    return "\n".join(out)


def all_vocabularies(shared: Path) -> dict[str, Vocabulary]:
    """Label -> vocabulary: the benchmark's rows (both halves), the shipped lists, the first tries."""
    renamed, absent = name_lists()
    out: dict[str, Vocabulary] = {}
    for key, (spec, folder, names_key) in DATASETS.items():
        if key == "voc20":  # VOC-21's names less background
            continue
        names = own_names(SegmentationDataset(shared / folder, "val", get_spec(spec)), shared / folder)
        for row, vocabs in vocabularies(names_key, names, renamed[names_key], absent).items():
            for k, names_ in enumerate(vocabs):
                out[f"{key} {row} #{k}"] = Vocabulary.from_names(names_)
    out.update({name: shipped_vocabulary(name) for name in list_vocabularies()})
    out.update({f"first try #{k}": Vocabulary.from_names(v) for k, v in enumerate(FIRST_TRIES)})
    return out


def dataset_names(key: str, shared: Path) -> list[str]:
    """The own class names of one of the benchmark's datasets (``DATASETS``)."""
    spec, folder, _ = DATASETS[key]
    return own_names(SegmentationDataset(shared / folder, "val", get_spec(spec)), shared / folder)


def read_as(network: MaskFormerProposals, rule: SeenRule, names: list[str]) -> list[str | None]:
    """The network class each name is read as under ``rule`` (None: the VLM's)."""
    return [r.known for r in network.read(Vocabulary.from_names(names), rule)[0]]


def with_and_without(network: MaskFormerProposals, rule: SeenRule, names: list[str]) -> list[list[str | None]]:
    """The network class each name is read as, with ``rule`` and without steps 6 and 7 of the reading."""
    return [read_as(network, x, names) for x in (rule, replace(rule, leftover=None))]


def foreign_names_read(network: MaskFormerProposals, rule: SeenRule, shared: Path, draws: int = 200) -> str:
    """How often a name of a thing absent from the dataset is read as a network class, in vocabularies
    of half to all but one of the dataset's own names plus 1-3 absent names (``draws`` per dataset and
    half of the absent pool), with the reading rule and without steps 6 and 7 (a general name, by
    elimination: ``SeenRule.leftover``)."""
    _, absent = name_lists()
    pools = dict(zip(HALVES, split_half(absent, "absent")))
    out = ["| dataset, absent names | read as a network class | without steps 6-7 |", "|---|---|---|"]
    for key in (k for k in DATASETS if k != "voc20"):
        names = dataset_names(key, shared)
        for half, pool in pools.items():
            counts = [0, 0, 0]
            for k in range(draws):
                rng = random.Random(f"{key}|{half}|{k}")
                own = rng.sample(names, rng.randint((len(names) + 1) // 2, len(names) - 1))
                foreign = rng.sample(pool, rng.randint(1, 3))
                for i, read in enumerate(with_and_without(network, rule, own + foreign)):
                    counts[i] += sum(x is not None for x in read[len(own) :])
                counts[2] += len(foreign)
            a, b, n = counts
            out.append(f"| {key} ({half}) | {a} / {n} ({100 * a / n:.1f} %) | {b} / {n} ({100 * b / n:.1f} %) |")
    return "\n".join(out)


def accuracy(readings: dict[str, dict[str, str | None]]) -> str:
    """A table: per dataset and renamed row, the names read as their own name's network class (no
    row of a list not yet measured: ``unmeasured``)."""
    hits: dict[str, list[int]] = {}
    for label, read in readings.items():
        key, _, row = label.partition(" ")
        if key not in DATASETS or not row.startswith(("words", "phrases")) or unmeasured(label):
            continue
        canonical = list(readings[f"{key} canonical #0"].values())
        got = list(read.values())[: len(canonical)]
        count = hits.setdefault(f"{key} {row.rsplit(' #', 1)[0]}", [0, 0])
        count[0] += sum(a == b and b is not None for a, b in zip(got, canonical))
        count[1] += len(canonical)
    out = ["| dataset, names | read as their own class |", "|---|---|"]
    out += [f"| {row} | {a} / {n} ({100 * a / n:.0f} %) |" for row, (a, n) in hits.items()]
    return "\n".join(out)


def unmeasured(label: str) -> bool:
    """Whether a vocabulary's label is of a list not yet measured (``UNMEASURED``): what the
    network makes of it stays out of print, or the list would no longer be an honest estimate."""
    return any(f"({name})" in label for name in UNMEASURED)


def changed_readings(readings: dict, before: dict) -> list[str]:
    """The vocabularies ``readings`` reads otherwise than ``before`` (a results.json's), each with
    its changed names; those of lists not yet measured (``UNMEASURED``) only counted, and those the
    baseline lacks only named: their readings are kept out of print."""
    lines, differ, hidden = [], 0, 0
    new = [label for label in readings if label not in before]
    for label, now in readings.items():
        if label in new:
            continue
        old = before[label]
        changed = [f"{n}: {old.get(n)} -> {k}" for n, k in now.items() if old.get(n) != k]
        if not changed:
            continue
        differ += 1
        if unmeasured(label):
            hidden += 1
        else:
            lines.append(f"- {label}: " + "; ".join(changed))
    if hidden:
        lines.append(f"- {hidden} vocabularies of lists not yet measured ({', '.join(UNMEASURED)}): not printed")
    lines.append(f"{differ} of {len(readings) - len(new)} vocabularies read differently")
    if new:
        lines.append(f"{len(new)} not in the baseline, not compared: {', '.join(new)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proposals-model", default=str(SHIPPED_NETWORK))
    p.add_argument("--shared", default=str(SHARED), help="the shared data folder (default: ../shared/data)")
    p.add_argument("--against", default=None, help="a results.json of this script: print the readings that differ")
    p.add_argument("--out", default=None, help="folder for results.json and table.md")
    args = p.parse_args(argv)
    network = MaskFormerProposals(args.proposals_model)
    cfg = resolve_config(SegmenterConfig(), text_model=network.text_model)  # the segmenter's own reading rule
    rule = SeenRule(cfg.seen, cfg.match_threshold, lexicon=cfg.lexicon)
    readings, competing = {}, []
    for label, vocab in all_vocabularies(Path(args.shared)).items():
        read, text = network.read(vocab, rule)
        readings[label] = {r.name: r.known for r in read}
        if len(text) > len(vocab) and not unmeasured(label):  # zsseg.text.unclaimed_catch_alls
            competing.append(label)
    shared = Path(args.shared)
    lines = [accuracy(readings), "", foreign_names_read(network, rule, shared), ""]
    lines += [general_words_read(network, rule, shared), "", whole_renamings_read(network, rule, shared), ""]
    lines += [the_rest_read(network, rule, shared), ""]
    lines.append(f"unclaimed background competing in the class softmax: {', '.join(competing) or 'none'}")
    lines.append("")
    if args.against:
        lines += changed_readings(readings, json.loads(Path(args.against).read_text())["readings"])
    text = "\n".join(lines) if lines else f"{len(readings)} vocabularies read"
    print(text)
    if args.out:
        save(Path(args.out), "readings.py", argv, text, {"readings": readings, "competing": competing})
    return 0


if __name__ == "__main__":
    sys.exit(main())
