"""Stage 2's text side: the one home of "class names -> what scores each class".

- ``class_texts`` / ``ClassTexts``: a vocabulary's text embeddings for the vision-language model,
  and the synonym rule (a class with several prompt names scores as its best name, ``max``, or as
  the normalised mean of their embeddings, ``mean``), built in one function and applied in one method.
- ``ClassEmbedder``: class embeddings as a trained network's class head sees them (the mean rule,
  with the checkpoint's text model and templates), in training and at inference alike.
- ``read_classes``: which of a network's known classes each class of a user's vocabulary answers
  for, by name or by text-embedding similarity, or none (the vision-language model's alone): the
  seen / unseen decision of the ensemble, made here and nowhere else; ``unclaimed_catch_alls``:
  the network's background when no class of a VOC-like vocabulary answers for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rapidfuzz.distance import OSA
from scipy.optimize import linear_sum_assignment

from .backends import Backend, build_backend
from .lexicon import MAX_DEPTH, SENSES_VERSION, Lexicon, plural_of
from .prompts import PromptSource, TemplatePrompts
from .text_cache import TextEmbeddingCache, default_cache_dir
from .vocabulary import Vocabulary

SYNONYM_RULES = ("max", "mean")
# Which classes may be seen: those that answer for a known class of the proposal network by name or
# by text similarity ("similar"), by name only ("named": zsseg.baseline's), or none (every class
# unseen: zsseg.baseline's cross-dataset evaluation).
SEEN_RULES = ("similar", "named", "none")
NAME_SEP = "\x1f"  # joins a class's names into one cache key (no name holds it)
# A rarer dictionary sense lends a class its classifier concepts where the class's name is at least
# this near their mean in the text encoder (``with_concepts``): "tiger" - tiger 0.87, "banana" -
# banana 1.0, "engine" - the locomotives 0.55; not "hill" - baseball (the pitcher's mound) 0.33,
# "wood" - the woodwinds 0.41, "ground" - toilet tissue 0.21. Chosen by reading what it changes for
# the shipped vocabularies' names and those of renamed.json and absent.txt (both halves; the fresh
# files' later ones were not read), before any mIoU was measured (docs/evaluation.md).
SENSE_AGREEMENT = 0.5


# A name no dictionary knows is read as a known name misspelt (``misspelt_as``) within one edit of a
# name of up to MISSPELT_SHORT letters ("tre", "cra", "peson"), two of a longer one ("bycicle"); a
# transposition is one edit. Two for short names would read most three-letter strings as "cat".
MISSPELT_SHORT = 5


@dataclass(frozen=True)
class ClassTexts:
    """A vocabulary's text embeddings for the VLM: rows [S, D] and the class of each row [S]."""

    embeddings: torch.Tensor
    groups: torch.Tensor
    n_classes: int

    def probabilities(self, backend: Backend, image_emb: torch.Tensor) -> torch.Tensor:
        """[Q, C]: the softmax over classes of the backend's logits; a class's logit is the max over
        its rows (one row per class under the mean rule)."""
        if len(image_emb) == 0:
            return self.embeddings.new_zeros(0, self.n_classes)
        logits = backend.class_logits(image_emb.to(self.embeddings.device), self.embeddings)  # [Q, S]
        if len(self.groups) == self.n_classes:  # one row per class
            return logits.softmax(dim=-1)
        per_class = logits.new_full((logits.shape[0], self.n_classes), float("-inf"))
        per_class = per_class.scatter_reduce(1, self.groups.expand(logits.shape[0], -1), logits, reduce="amax")
        return per_class.softmax(dim=-1)


def class_texts(
    source: PromptSource,
    prompts: Sequence[Sequence[str]],
    synonyms: str = "mean",
    device: torch.device | str = "cpu",
    fresh: bool = False,
) -> ClassTexts:
    """The text side of classes given by their prompt names: one row per name (``max``) or per
    class (``mean``: the normalised mean of its names' embeddings). ``fresh``: encoded anew, not
    from the source's cache (the naive reference path of ``zsseg bench``)."""
    names = [n for p in prompts for n in p]
    groups = torch.tensor([i for i, p in enumerate(prompts) for _ in p], dtype=torch.long)
    emb = source.encode(names) if fresh else source.embed(names)
    if synonyms == "mean":
        emb, groups = mean_over_names(emb, groups, len(prompts)), torch.arange(len(prompts))
    return ClassTexts(emb.to(device), groups.to(device), len(prompts))


def with_concepts(
    texts: ClassTexts,
    prompts: Sequence[Sequence[str]],
    backend: Backend,
    lexicon: Lexicon,
    weight: float,
    cache: TextEmbeddingCache | None = None,
) -> ClassTexts:
    """``texts`` with each class's rows moved towards the mean embedding of the backend's classifier
    concepts that the class means or is a kind of (by the dictionary: ``Lexicon.concepts_under``),
    ``weight`` times that mean added before normalising. Why: ConSE embeds an image as a mix of its
    ImageNet classes' names, and a user's word can be far from the name its thing has there ("sheep"
    from ImageNet's "ram", 0.3 cosine in MiniLM): the dictionary knows a ram is a sheep. A phrase
    without a dictionary entry counts by its head noun; a class without a concept is unchanged.
    ``cache``: each class's concept mean is kept on disk, so the dictionary (~5 s to read) is read
    only for class lists not seen before."""
    found = backend.concepts
    if found is None or weight <= 0:
        return texts
    ids, concept_emb = found

    def concept_means(keys: list[str]) -> torch.Tensor:
        out = concept_emb.new_zeros(len(keys), concept_emb.shape[1]).float().cpu()
        for i, key in enumerate(keys):
            names = [n if lexicon.senses(n) else (head_noun(n, lexicon) or n) for n in key.split(NAME_SEP)]

            @functools.cache
            def word() -> torch.Tensor:  # the name's text embedding: encoded once, on the first rarer sense tried
                return F.normalize(backend.encode_texts([names[0]]).float().cpu()[0], dim=-1)

            def agrees(found: list[int]) -> bool:  # the text encoder's word for a rarer sense
                mean = F.normalize(concept_emb[found].float().mean(0).cpu(), dim=-1)
                return float(word() @ mean) >= SENSE_AGREEMENT

            under = lexicon.concepts_under(names, ids, agrees)
            if under:
                out[i] = F.normalize(concept_emb[under].float().mean(0), dim=-1).cpu()
        return out

    keys = [NAME_SEP.join(names) for names in prompts]
    tag = ("wordnet concepts", str(MAX_DEPTH), SENSES_VERSION)
    means = (cache or TextEmbeddingCache(None)).lookup(backend.cache_key, tag, keys, concept_means)
    rows = texts.embeddings.clone()
    for c in range(len(prompts)):
        if means[c].any():
            at = texts.groups == c
            rows[at] = F.normalize(rows[at] + weight * means[c].to(rows), dim=-1)
    return ClassTexts(rows, texts.groups, texts.n_classes)


def mean_over_names(name_emb: torch.Tensor, groups: torch.Tensor, n_classes: int) -> torch.Tensor:
    """One unit embedding per class [C, D]: the normalised mean of its names' embeddings [S, D]
    (``groups`` [S]: each name's class)."""
    total = name_emb.new_zeros(n_classes, name_emb.shape[1]).index_add_(
        0, groups.to(name_emb.device), F.normalize(name_emb, dim=-1)
    )
    return F.normalize(total, dim=-1)


class ClassEmbedder:
    """Unit class embeddings as the trained networks see a vocabulary: per class the normalised
    mean over its prompt names (each averaged over the templates). Training and inference both go
    through this, so they embed a class the same way."""

    def __init__(
        self,
        backend: Backend,
        templates: str,
        cache: TextEmbeddingCache | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.prompts = TemplatePrompts(
            backend, templates, cache if cache is not None else TextEmbeddingCache(default_cache_dir())
        )
        self.templates = self.prompts.name
        self.device = device

    @classmethod
    def from_name(
        cls,
        text_model: str,
        templates: str,
        cache: TextEmbeddingCache | None = None,
        device: str | torch.device = "cpu",
    ) -> "ClassEmbedder":
        """Loads the text model by name ("conse", "clip", a CLIP hub id or folder) on the CPU."""
        cache = cache if cache is not None else TextEmbeddingCache(default_cache_dir())
        return cls(build_backend(text_model, device="cpu", text_cache=cache), templates, cache, device)

    def embed_names(self, names: list[str]) -> torch.Tensor:
        """Unit embeddings [N, D] of single names (each averaged over the templates)."""
        return self.prompts.embed(names).to(self.device)

    def __call__(self, prompts: Sequence[Sequence[str]]) -> torch.Tensor:
        return class_texts(self.prompts, prompts, "mean", self.device).embeddings


# Words that end the head of an English noun phrase: "car on the road" is a car, "bottle of wine" a bottle.
PREPOSITIONS = frozenset(
    "on in at with by near of under over above below behind beside next along across from for inside "
    "outside against among around between through into onto toward towards beneath atop".split()
)


def head_noun(name: str, lexicon: Lexicon | None = None) -> str | None:
    """The noun a short phrase names, where it is not the phrase itself: the last word before the
    first preposition ("person on a bike" -> "person"), or the noun of an adjective + noun pair
    ("smiling woman" -> "woman"), or, with a dictionary, of a noun + participle pair, where the
    "-ing" word is no thing and the first word is one ("child playing" -> "child"; "office
    building" stays the building: ``Lexicon.is_thing``); None for one word and for longer phrases
    without a preposition ("person riding a bicycle" names a cyclist, not a bicycle)."""
    words = name.lower().split()
    cut = next((i for i, w in enumerate(words) if i > 0 and w in PREPOSITIONS), None)
    if cut is not None:
        return words[cut - 1]
    if len(words) != 2:
        return None
    first, last = words
    participle = lexicon is not None and last.endswith("ing") and not lexicon.is_thing(last)
    return first if participle and lexicon.is_thing(first) else last


def reading_similarity(
    embed: Callable[[list[str]], torch.Tensor],
    vocab: Vocabulary,
    class_emb: torch.Tensor,
    known_emb: torch.Tensor,
    lexicon: tuple[Lexicon, Sequence[Sequence[str]]] | None = None,
) -> torch.Tensor:
    """[C, K] how near each class is to each known class: the larger of its own embedding's text
    cosine (``class_emb`` [C, D]) and that of the head noun of any of its names (``embed``), raised
    halfway towards a dictionary's relation where one of its names or head nouns is a synonym or a
    kind of the known class (``lexicon``: the ``zsseg.lexicon.Lexicon`` and the known classes' names;
    a phrase the dictionary knows as no kind of its last word, "hot dog", has no head noun). A phrase
    the dictionary knows is near its head noun's known classes only where the dictionary relates it
    to them: "palm tree" is a tree, but "guard rail", a safety rail, is no train however near "rail"
    and "train" are in the text encoder. Halfway: the dictionary
    knows every sense of a word ("coach" is a trainer before it is a bus), the text encoder the
    common one, and a reading needs both to agree past the match threshold. A catch-all class
    (``CATCH_ALL``) takes a dictionary synonym in full: it answers only for near-synonyms, and
    "backdrop" is one that a text encoder places far from "background". With a dictionary the
    known classes' embeddings ``known_emb`` are those of their plain names (``Lexicon.plain_names``),
    and a name or head noun that is one of a known class's names, or its plural, is 1.0 from it:
    "pavement by the road" is the class one of whose names is "pavement", plain or not."""
    sim = class_emb @ known_emb.t()
    heads = _head_nouns(vocab, lexicon[0] if lexicon is not None else None)
    lex = None
    if lexicon is not None:
        catch_all = catch_all_classes(lexicon[1])
        names = _dictionary_names(vocab, [(c, h) for c, h, _ in heads])
        lex = lexicon[0].relations(names, lexicon[1], catch_all).to(sim)
        own = [[vocab.names[c], *vocab.prompts[c]] for c in range(len(vocab))]
        sim = sim.masked_fill(_named_like(own, lexicon[1]), 1.0)
    if heads:
        head_sim = (embed([h for _, h, _ in heads]).to(known_emb) @ known_emb.t()).to(sim)
        if lexicon is not None:
            head_sim = head_sim.masked_fill(_named_like([[h] for _, h, _ in heads], lexicon[1]), 1.0)
        if lex is not None:  # a dictionary entry's head only towards what the dictionary relates it to
            entry = torch.tensor([e for _, _, e in heads])[:, None]
            head_sim = head_sim.masked_fill(entry & (lex[[c for c, _, _ in heads]] <= 0), -1.0)
        sim = _rows_max(sim, [c for c, _, _ in heads], head_sim)
    if lex is not None:
        raised = torch.maximum(sim, (sim + lex) / 2)
        raised[:, catch_all] = torch.maximum(sim[:, catch_all], lex[:, catch_all])  # a dictionary synonym in full
        sim = torch.where(lex > 0, raised, sim)
    return sim


def _named_like(names: Sequence[Sequence[str]], known: Sequence[Sequence[str]]) -> torch.Tensor:
    """[N, K] bool: one of the names of row n is a name of known class k or its plural (case and
    spacing ignored, as ``read_classes`` step 1)."""
    keys = [{x for n in k for x in _spellings(n)} for k in known]
    return torch.tensor([[any(_key(n) in ks for n in row) for ks in keys] for row in names], dtype=torch.bool)


def _spellings(name: str, normalise: Callable[[str], str] | None = None) -> tuple[str, str]:
    """What a known class's name matches, after ``normalise`` (default: case and spacing ignored):
    itself, then its plural ("pavements": the sidewalk's "pavement")."""
    normalise = normalise or _key
    return normalise(name), normalise(plural_of(name))


def general_kinds(vocab: Vocabulary, lexicon: Lexicon, known: Sequence[Sequence[str]]) -> torch.Tensor:
    """[C, K] bool: the known classes that are kinds of what each class names ("animal": bird, cat,
    ...; "farm animal", through its head noun, too), for ``read_classes``' step 6."""
    heads = [(c, h) for c, h, _ in _head_nouns(vocab, lexicon)]
    return lexicon.kinds(_dictionary_names(vocab, heads), known, catch_all_classes(known))


def _head_nouns(vocab: Vocabulary, lexicon: Lexicon | None) -> list[tuple[int, str, bool]]:
    """(class, head noun, whether ``lexicon`` knows the phrase) of each of its names that has a head
    noun (``head_noun``) and, to ``lexicon``, is not a thing of its own ("hot dog")."""
    out = []
    for c, prompts in enumerate(vocab.prompts):
        for n in prompts:
            if not (h := head_noun(n, lexicon)) or (lexicon is not None and lexicon.names_own_thing(n, h)):
                continue
            out.append((c, h, lexicon is not None and bool(lexicon.senses(n, physical=False))))
    return out


def _dictionary_names(vocab: Vocabulary, heads: list[tuple[int, str]]) -> list[list[str]]:
    """Per class, the names a dictionary looks up: its name, its prompt names and their head nouns."""
    return [[name, *vocab.prompts[c], *(h for k, h in heads if k == c)] for c, name in enumerate(vocab.names)]


def _rows_max(out: torch.Tensor, rows: list[int], values: torch.Tensor) -> torch.Tensor:
    """``out`` [C, K] with row ``rows[i]`` raised to ``values[i]`` where larger."""
    index = torch.tensor(rows, device=out.device)[:, None].expand(-1, out.shape[1])
    return out.scatter_reduce(0, index, values, "amax")


@dataclass(frozen=True)
class ClassReading:
    """How one class of a vocabulary is scored: as which known class of the proposal network, if any."""

    name: str
    known: str | None = None  # the network's class it answers for (or duplicates); None: the VLM's alone
    known_index: int | None = None  # its index among the network's classes
    similarity: float | None = None  # reading similarity to that class: text and dictionary (1.0: named like it)
    # "name", "similarity", "vlm" (no known class close enough), "unseen" (declared unseen),
    # "duplicate" (its nearest known class answers for ``duplicate_of`` too: they share its score),
    # "general" (a general name: the one kind of it the vocabulary leaves; read_classes step 6),
    # "counterpart" (named like a class of another training dataset than the rest's: that dataset's
    # class for the same thing; step 5), "elimination" (the class of its training dataset no other
    # name claims; step 7), "spelling" (a misspelling of its name; step 1)
    by: str = "vlm"
    duplicate_of: str | None = None

    @property
    def seen(self) -> bool:
        return self.known is not None and not self.duplicate

    @property
    def duplicate(self) -> bool:
        return self.by == "duplicate"

    def describe(self) -> str:
        """For people: "network class road (similarity 0.86)", "vision-language model only"."""
        if self.known is None:
            return "vision-language model only" + (" (declared unseen)" if self.by == "unseen" else "")
        if self.by == "name":
            return f"network class {self.known} (same name)"
        if self.by == "spelling":
            return f"network class {self.known} (the name misspelt)"
        if self.duplicate:
            return (
                f"{self.duplicate_of!r} named twice: network class {self.known} (similarity "
                f"{self.similarity:.2f}) answers for both, the vision-language model picks between them"
            )
        why = {
            "counterpart": ", the same thing in the training dataset of the other classes",
            "general": ", the one kind of it the other classes leave",
            "elimination": ", the one class of its training dataset the other classes leave",
        }.get(self.by, "")
        return f"network class {self.known} (similarity {self.similarity:.2f}{why})"

    def as_dict(self) -> dict:
        return {
            "class": self.name,
            "scored_as": self.known,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "by": self.by,
            **({"duplicate_of": self.duplicate_of} if self.duplicate else {}),
            "describe": self.describe(),
        }


@dataclass(frozen=True)
class SeenRule:
    """The settings of ``read_classes``: which classes may be seen, from which text similarity on
    (None: by name only; each text model's measured threshold is its backend's
    ``default_match_threshold``), and which are declared unseen (zero-shot evaluation)."""

    seen: str = "similar"
    threshold: float | None = None
    unseen: tuple[str, ...] = ()
    lexicon: str = "wordnet"  # a dictionary's synonyms and kinds besides text similarity (zsseg.lexicon), or "none"
    # A class may answer only for a network class nearly as close to it as its nearest one: of
    # "road, street", street's nearest (road) is road's, and its fourth (pole, 0.67) must not be taken
    # in its stead. 0.1 changes no reading of the tune halves' renamed or absent names (2 CPU minutes).
    margin: float = 0.1
    # A class is a duplicate of the class its nearest network class answers for only this close to it
    # ("street" - road 0.84, "armchair" - chair 0.86); less close, it is a name of its own, the VLM's
    # ("wall" - building 0.71, "earth" - sky 0.70 on ADE20K).
    duplicate: float = 0.8
    # Inside a vocabulary that renames one training dataset's classes (``_leftovers_in_space``), the
    # classes no rule read pair with that dataset's classes nobody claimed from this similarity on,
    # its catch-all included ("void" 0.52 from VOC's background; so are 10 of the 155 absent names
    # put alone beside every thing of VOC, "drum kit" and "blender" 0.56, and there they take VOC's
    # background: benchmarks/readings.py, the_rest_read).
    leftover: float | None = 0.5


# Network classes that mean "none of the others" (VOC's background covers sky, walls, floors): what
# they mean depends on the rest of the vocabulary. Where it names a class from outside the catch-all's
# training label space (sky, road, building: VOC's background covers them), the catch-all answers only
# for a near-synonym of its name (``SeenRule.duplicate``: "backgrounds"; "poster" and "curtain" read as
# background took most of an ADE20K scene, "shop front" a CamVid street); where every class it reads
# lies inside that space, a VOC-like vocabulary, the vocabulary's rest is the catch-all by the usual
# threshold ("surroundings", "other stuff").
CATCH_ALL = frozenset({"background"})


def _key(name: str) -> str:
    return " ".join(str(name).lower().split())


def catch_all_classes(known: Sequence[Sequence[str]]) -> list[int]:
    """The known classes (each given by its names, the first its display name) in ``CATCH_ALL``."""
    return [k for k, names in enumerate(known) if _key(names[0]) in CATCH_ALL]


def read_classes(
    vocab: Vocabulary,
    known: Sequence[Sequence[str]],
    similarity: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    rule: SeenRule = SeenRule(),
    normalise: Callable[[str], str] = _key,
    spaces: Sequence[Collection[int]] = (),
    kinds: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    unplaced: Collection[int] | Callable[[], Collection[int]] = (),
    thingless: Collection[int] | Callable[[], Collection[int]] = (),
) -> list[ClassReading]:
    """For each class of ``vocab``, the class of ``known`` (each given by its names, the first its
    display name) it answers for: the seen / unseen decision.

    1. By name: its display name, or else one of its prompt names, is a name of a known class
       or its plural (compared after ``normalise``: case and spacing ignored); or, for a class
       ``unplaced`` (none of its words in the dictionary: ``unplaced_classes``), a misspelling of
       one (``misspelt_as``: "buidling", "peson").
    2. By similarity: the classes left and the known classes no name claimed are paired one to one
       (the assignment of largest total ``similarity`` [C, K], ``reading_similarity``; a callable is
       called only when some class is not read by name), where the
       pair's similarity is at least ``threshold`` and within ``margin`` of the class's nearest
       known class, claimed or not.
    3. A duplicate: its nearest known class answers for another class and is within
       ``rule.duplicate`` (of "road, street", the network's road is road's): it is that class named
       twice, and the two share the network's score as the VLM prefers them (``ensemble.combine``).
    4. Otherwise none: the vision-language model alone scores it.
    5. Inside one training label space (``spaces``: the known classes each training dataset
       labelled, as indices), where the classes read by name allow one (``_into_one_space``).
    6. A general name: a class not read, read as a duplicate or outside the label space of step 5,
       whose name is a general name of known classes (``kinds`` [C, K], ``general_kinds``) of which
       exactly one is unclaimed in that space, reads as it from ``rule.leftover`` on ("animal"
       beside "cat, dog, horse, sheep, cow" is VOC's bird; ``_general_names``).
    7. By elimination: in a vocabulary that renames one training dataset's classes, the classes
       left pair with its unclaimed classes, its catch-all included, from ``rule.leftover`` on
       (``_leftovers_in_space``), or every class not read by name is paired again where that reads
       them all (``_with_most_pairs``: "footpath" the sidewalk, "tarmac" the road); the one class
       left of those ``unplaced`` (none of its words in the dictionary: ``unplaced_classes``) takes
       the one thing left however far it is, and the one class left that names no thing
       (``thingless_classes``: "nothing", "none") beside every thing claimed takes the catch-all
       left.
       Classes declared unseen are never read by steps 6 and 7, nor counted by step 7: they name
       no class of the network, and the others may still rename its training dataset's.

    Known classes in ``CATCH_ALL`` (background) answer by similarity like any other only while every
    class read lies in a training label space of theirs; otherwise, and without ``spaces``, only for
    a name or a near-synonym (``rule.duplicate``). ``rule.unseen`` names classes declared unseen (zero-shot evaluation);
    ``rule.seen == "none"`` makes every class unseen (zsseg.baseline's cross-dataset rule). Classes
    are read by name only without ``similarity`` (no text encoder), without a threshold, and under
    ``rule.seen == "named"`` (zsseg.baseline's rule).
    """
    forced = {_key(u) for u in rule.unseen}
    none = rule.seen == "none"
    out = [ClassReading(n, by="unseen" if none or _key(n) in forced else "vlm") for n in vocab.names]
    if none:
        return out
    _read_by_name(out, vocab, known, normalise)
    if similarity is None or rule.threshold is None or rule.seen == "named" or _named_in_one_space(out, spaces):
        return out  # (every class read by name, no counterpart to look for: no similarity is computed)
    sim = (similarity() if callable(similarity) else similarity).float().cpu()
    unplaced = unplaced() if callable(unplaced) else unplaced
    _read_misspelt(out, vocab, known, sim, unplaced)
    catch_all = catch_all_classes(known)
    shut = _near_synonyms_only(sim, catch_all, rule)
    read, space = _read_into_one_space(out, known, shut, rule, spaces)
    claimed = {r.known_index for r in out if r.seen}
    open_ = [k for k in catch_all if k not in claimed and any(k in space for space in spaces)]
    if open_:  # the catch-all like any class, if the reading then stays inside its label spaces
        opened = _near_synonyms_only(sim, catch_all, rule, open_)
        candidate, candidate_space = _read_into_one_space(out, known, opened, rule, spaces)
        if all(_inside_label_spaces(candidate, k, spaces) for k in open_):
            read, space, shut = candidate, candidate_space, opened
    if space is None:
        return read
    if rule.leftover is None:
        return read
    if kinds is not None:
        read = _general_names(read, known, shut, kinds() if callable(kinds) else kinds, rule, space)
    thingless = thingless() if callable(thingless) else thingless
    return _leftovers_in_space(read, known, shut, rule, space, unplaced, thingless)


def unplaced_classes(vocab: Vocabulary, lexicon: Lexicon) -> list[int]:
    """The classes of ``vocab`` none of whose names (or their words) the dictionary knows
    (``Lexicon.knows``): slang, typos, words too rare for it, for ``read_classes``' step 7."""
    return [c for c, name in enumerate(vocab.names) if not any(map(lexicon.knows, (name, *vocab.prompts[c])))]


def thingless_classes(vocab: Vocabulary, lexicon: Lexicon) -> list[int]:
    """The classes none of whose names the dictionary knows as a physical thing: every noun sense of
    the name (or else of its head noun, ``head_noun``, or its last word) is an abstraction
    ("nothing", "none"), or it has no noun ("misc", "everything else"), for ``read_classes``'
    step 7. Unplaced classes (``unplaced_classes``) are among them."""

    def thing(name: str) -> bool:
        physical = lexicon.is_physical(name)
        if physical is None and len(words := name.split()) > 1:  # "ice cream cone": a cone
            physical = lexicon.is_physical(head_noun(name, lexicon) or words[-1])
        return bool(physical)

    return [c for c, name in enumerate(vocab.names) if not any(map(thing, (name, *vocab.prompts[c])))]


def unclaimed_catch_alls(
    vocab: Vocabulary,
    readings: Sequence[ClassReading],
    known: Sequence[Sequence[str]],
    spaces: Sequence[Collection[int]],
) -> list[int]:
    """The known catch-all classes (``CATCH_ALL``) that stay in the network's class softmax
    (``MaskFormerProposals.score``) and vote for none of the user's classes: those no class answers
    for or is named like, in a vocabulary whose classes read as known classes all lie in one of their
    training label spaces (VOC's background beside VOC's classes). Left out, a VOC-like vocabulary
    whose background is named by a word read as nothing ("rest", "everything else") hands VOC's
    background to the objects: the network's share for background flows to the nearest of them in
    the class head. Outside such a space they stay out: on ADE20K the network's background covers
    the sky and the buildings the vocabulary names, and its share, flowing to them, labels them
    (kept in everywhere, ADE20K-150 dev fell 10.4 -> 7.7; docs/evaluation.md)."""
    named = {_key(n) for name, prompts in zip(vocab.names, vocab.prompts) for n in (name, *prompts)}
    got = {r.known_index for r in readings if r.known_index is not None}
    out = []
    for k in catch_all_classes(known):
        if k in got or named & {_key(n) for n in known[k]}:
            continue
        if got and got <= label_space_of(k, spaces):
            out.append(k)
    return out


def _into_one_space(
    read: list[ClassReading],
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    rule: SeenRule,
    space: Collection[int],
) -> list[ClassReading]:
    """Step 5 of ``read_classes``: the readings ``read`` kept inside the training label space that
    holds the most readings and every class read by name but those with a counterpart in it
    (``_one_space``). A class read by similarity as a known class outside it moves to the nearest
    unclaimed known class inside it that step 2 would accept (``rule.threshold``, ``rule.margin``),
    unless a duplicate shares its reading: in a street vocabulary "vegetation" is the street's tree
    (0.68), not VOC's potted plant (0.70). A class read by name outside it moves to its
    counterpart (``_counterpart``): in a street vocabulary "bike" and "bicycle" are CamVid's
    bicyclist (0.85, 0.88), the bicycle with its rider that the network learned to tell from a
    street's road and sidewalk; VOC's bicycle it learned only against VOC's classes."""
    out = list(read)
    taken = {r.known_index for r in out if r.seen}
    shared = {r.duplicate_of for r in out if r.duplicate}
    for c, r in enumerate(out):
        if r.by not in ("name", "similarity") or r.known_index in space or r.name in shared:
            continue
        if r.by == "name":
            k, by = _counterpart(c, sim, rule, space, taken), "counterpart"
        else:
            bar = max(rule.threshold, float(sim[c].max()) - rule.margin)
            k, by = _nearest_unclaimed(c, sim, space, taken, bar), "similarity"
        if k is not None:
            taken = (taken - {r.known_index}) | {k}
            out[c] = ClassReading(r.name, known[k][0], k, float(sim[c, k]), by)
    return out


def _named_in_one_space(read: list[ClassReading], spaces: Sequence[Collection[int]]) -> bool:
    """Whether every class is read by name and, where any are, one training label space holds them:
    then no step after the first can change a reading."""
    if any(r.by == "vlm" for r in read):
        return False
    named = {r.known_index for r in read if r.known_index is not None}
    return not spaces or any(named <= set(space) for space in spaces)


def _counterpart(
    c: int, sim: torch.Tensor, rule: SeenRule, space: Collection[int], taken: Collection[int]
) -> int | None:
    """The known class inside ``space``, claimed by no class, that class ``c`` (read by name as a
    known class outside it) names as a duplicate would (``rule.duplicate``): two training datasets'
    classes for one thing ("bicycle": VOC's bicycle, CamVid's bicyclist 0.88; of the shipped
    network's classes no other pair of two datasets is as near). None where there is none."""
    return _nearest_unclaimed(c, sim, space, taken, rule.duplicate)


def _nearest_unclaimed(
    c: int, sim: torch.Tensor, space: Collection[int], taken: Collection[int], bar: float
) -> int | None:
    """The known class inside ``space``, claimed by no class (``taken``), nearest to class ``c`` from
    similarity ``bar`` on; None where there is none."""
    inside = [k for k in space if k not in taken and float(sim[c, k]) >= bar]
    return max(inside, key=lambda k: float(sim[c, k])) if inside else None


def _one_space(
    named: list[ClassReading],
    read: list[ClassReading],
    spaces: Sequence[Collection[int]],
    sim: torch.Tensor,
    rule: SeenRule,
) -> Collection[int] | None:
    """The training label space that holds every class read by name (``named``) but those with a
    counterpart in it that no reading (``read``) claims (``_counterpart``) and, of those, the most
    readings; None where no space holds them or two tie."""
    taken = {r.known_index for r in read if r.seen}

    def holds(space: Collection[int]) -> bool:
        return all(
            r.known_index in space or _counterpart(c, sim, rule, space, taken) is not None
            for c, r in enumerate(named)
            if r.known_index is not None
        )

    got = [r.known_index for r in read if r.known_index is not None]
    fits = sorted(((sum(k in s for k in got), i) for i, s in enumerate(spaces) if holds(s)), reverse=True)
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        return None
    return spaces[fits[0][1]]


def _general_names(
    read: list[ClassReading],
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    kinds: torch.Tensor,
    rule: SeenRule,
    space: Collection[int],
) -> list[ClassReading]:
    """Step 6 of ``read_classes``: a general name beside specific ones means the kinds they leave.
    A class no step read, read as a duplicate ("animal" nearest the dog another class claims) or
    outside the label space of the other readings ("plant" as VOC's potted plant in a street), whose
    name is a general name (``kinds``) of known classes of which exactly one is unclaimed inside
    ``space`` (``_one_space``), reads as that one if ``sim`` to it is at least ``rule.leftover``:
    "animal" beside "cat, dog, horse, sheep, cow" is the bird, "seat" beside "chair" the sofa,
    "plant" in a street the tree. Of two or more unclaimed kinds ("animal" beside "cat") it reads
    as none of them: the user means them all, and no one network class answers. Where no one space
    holds the readings the step does not run: too many kinds of too many datasets (COCO-Stuff's
    "solid-other", through "solid", was read as the one unclaimed bicyclist)."""
    inside = set(space)
    out = list(read)
    for c, r in enumerate(read):
        outside = r.by == "similarity" and r.known_index not in inside
        if not (r.by in ("vlm", "duplicate") or outside):
            continue
        taken = {x.known_index for i, x in enumerate(out) if x.seen and i != c}
        free = [k for k in sorted(inside) if bool(kinds[c, k]) and k not in taken]
        if len(free) == 1 and float(sim[c, free[0]]) >= rule.leftover:
            out[c] = ClassReading(r.name, known[free[0]][0], free[0], float(sim[c, free[0]]), "general")
    return out


def _leftovers_in_space(
    read: list[ClassReading],
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    rule: SeenRule,
    space: Collection[int],
    unplaced: Collection[int] = (),
    thingless: Collection[int] = (),
) -> list[ClassReading]:
    """Step 7 of ``read_classes``: a vocabulary of as many classes as one training dataset (with or
    without its catch-all), the others read inside its label space (``_one_space``), renames that
    dataset's classes, and the names no rule read are its classes nobody claimed: the two are paired
    one to one (the assignment of largest total ``sim``) from ``rule.leftover`` on, below the match
    threshold ("colt" - horse 0.64, "tarmac" - road 0.51, "placard" - traffic sign 0.54 in a street
    vocabulary). A class read outside the space joins them, as near as ``_into_one_space`` allows,
    and so does a duplicate: in a whole dataset's count two names for one class leave one class
    unnamed ("ovine", nearest the cow "cow" claims, is the sheep). The catch-all, where it is open
    (``read_classes``: a VOC-like vocabulary), is one of the classes to pair: the name of the rest
    ("everything else" 0.64, "void" 0.52; "room", read as CamVid's building at 0.71, is 0.61 from
    VOC's background, which holds rooms).
    Only where every class then reads inside the space but for one word nothing was near enough
    ("kerb" need not keep "heaven" from the sky; one more may stay unread where the catch-all is
    unclaimed: it names the rest); otherwise the vocabulary names other things too, and nothing
    is read by elimination ("cat, sofa, …, walrus, castle": walrus stays the VLM's however near
    the unclaimed dog is).
    Where one class is then left unread and one thing unclaimed, a class ``unplaced`` (none of its
    words in the dictionary) takes it however far the text encoder puts them: neither knows the
    word ("moggy" - cat 0.40, nearer the claimed dog; a typo), so nothing says it names another
    thing, while a dictionary word does ("anvil", 0.34 from the cat, stays the VLM's beside VOC's
    other 20 classes). Where every thing is claimed and the catch-all is left, a class ``thingless``
    (its name names no physical thing: "nothing", "none", 0.44 and 0.42 from VOC's background)
    takes it: the name of the rest, where a thing's name ("cupcake", 0.43) stays the VLM's. Before
    those two, the classes not read by name are paired again where that reads every one of them
    (``_with_most_pairs``)."""
    catch_all = set(catch_all_classes(known))  # no thing: left unclaimed, it competes (unclaimed_catch_alls)
    things = [k for k in space if k not in catch_all]
    named = sum(r.by != "unseen" for r in read)  # a class declared unseen names no class of the network
    if not len(things) <= named <= len(space):
        return read  # not a renaming of the space's classes: a part of them, or more names
    # the classes no rule read, and those read by similarity as a class outside the space
    rows = [
        c
        for c, r in enumerate(read)
        if r.by in ("vlm", "duplicate") or (r.by == "similarity" and r.known_index not in space)
    ]
    taken = {r.known_index for c, r in enumerate(read) if r.known_index is not None and c not in rows}
    cols = [k for k in space if k not in taken]  # the catch-all too (unreachable in ``sim`` unless open)
    if not rows or not cols:
        return read
    out = list(read)
    pairs = sim[rows][:, cols].clone()
    for i, c in enumerate(rows):  # a class read outside moves only as near as ``_into_one_space`` allows
        if read[c].by == "similarity":
            pairs[i] = pairs[i].masked_fill(pairs[i] < read[c].similarity - rule.margin, -1.0)
    for i, j in zip(*linear_sum_assignment(-pairs.numpy())):
        c, k, value = rows[i], cols[j], float(pairs[i, j])
        if value >= rule.leftover:
            out[c] = ClassReading(out[c].name, known[k][0], k, value, "elimination")
    out = _with_most_pairs(out, read, known, sim, rule, space)
    rows = [c for c, r in enumerate(read) if r.by not in FIXED]  # (the classes it may have moved)
    cols = [k for k in space if all(r.known_index != k for r in read if r.by in FIXED)]
    unread = [c for c in rows if out[c].known_index is None]
    if len(unread) == 1:
        c = unread[0]
        if (k := _last_pair(c, out, rows, cols, sim, catch_all, unplaced, thingless)) is not None:
            out[c] = ClassReading(out[c].name, known[k][0], k, float(sim[c, k]), "elimination")
    # every class then read inside the space, but for one hard word and one naming an unclaimed catch-all
    slack = 1 + named - len(things) - sum(r.known_index in catch_all for r in out)
    unread = [c for c in rows if out[c].known_index is None]  # (again: the unplaced class may be read)
    if len(unread) > slack or any(out[c].known_index not in space for c in rows if c not in unread):
        return read  # names of other things too: no renaming, and no class is read by elimination
    return out


FIXED = ("name", "spelling", "counterpart", "unseen")  # readings step 7 never moves: the name decides


def _with_most_pairs(
    out: list[ClassReading],
    read: list[ClassReading],
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    rule: SeenRule,
    space: Collection[int],
) -> list[ClassReading]:
    """Step 7's readings ``out`` paired again where that reads every class not read by name
    (``FIXED``) inside ``space`` and more of them than ``out`` does: those classes and the known
    classes of the space no name claims, one to one from ``rule.leftover`` on, the most pairs
    first and then the largest total ``sim``, a class read before moving no further than
    ``rule.margin`` below its reading. In a renaming of one dataset's classes the count decides
    what similarity alone cannot: "Footpath" (the road 0.72, the sidewalk 0.69) beside "Tarmac"
    (the road 0.51, the sidewalk 0.45) is the sidewalk, and "Tarmac" the road. "Hedge" (CamVid's
    tree; WordNet's hedge is a fence, 0.77, the tree 0.54) is too far from the tree to move, and
    where some class would stay unread ``out`` stays as it is: pairing for more classes alone sent
    VOC renamings round one class each (docs/design.md, "pairing again")."""
    movable = [c for c, r in enumerate(read) if r.by not in FIXED]
    claimed = {r.known_index for c, r in enumerate(read) if c not in movable}
    cols = [k for k in space if k not in claimed]
    if not movable or not cols:
        return out
    pairs = sim[movable][:, cols].clone()
    valid = pairs >= rule.leftover
    for i, c in enumerate(movable):  # a class read moves only as near as step 2 would have taken it
        if out[c].known_index is not None:
            valid[i] &= pairs[i] >= float(sim[c, out[c].known_index]) - rule.margin
    weight = torch.where(valid, pairs + len(movable) + 1, torch.zeros_like(pairs))  # one more pair outweighs any sum
    found = [(movable[i], cols[j]) for i, j in zip(*linear_sum_assignment(-weight.numpy())) if valid[i, j]]
    now = sum(out[c].known_index in space and not out[c].duplicate for c in movable)
    if len(found) <= now or len(found) < len(movable):
        return out
    again = list(out)
    for c in movable:
        again[c] = ClassReading(out[c].name)
    for c, k in found:
        same = out[c].known_index == k and not out[c].duplicate
        again[c] = out[c] if same else ClassReading(out[c].name, known[k][0], k, float(sim[c, k]), "elimination")
    return again


def _last_pair(
    c: int,
    read: list[ClassReading],
    rows: Sequence[int],
    cols: Sequence[int],
    sim: torch.Tensor,
    catch_all: Collection[int],
    unplaced: Collection[int],
    thingless: Collection[int],
) -> int | None:
    """The known class that class ``c``, the one class step 7 left unread, takes however far: the one
    thing of ``cols`` no class of ``rows`` took, where ``c`` is ``unplaced``; the one catch-all left
    where every thing is taken and ``c`` is ``thingless`` (and the catch-all open: -1 in ``sim`` is
    shut, ``_near_synonyms_only``); otherwise None."""
    left = [k for k in cols if all(read[r].known_index != k for r in rows)]
    free, rest = [k for k in left if k not in catch_all], [k for k in left if k in catch_all]
    if c in unplaced and len(free) == 1:
        return free[0]
    if c in thingless and not free and len(rest) == 1 and float(sim[c, rest[0]]) > -1.0:
        return rest[0]
    return None


def _near_synonyms_only(
    sim: torch.Tensor, catch_all: list[int], rule: SeenRule, open_: Collection[int] = ()
) -> torch.Tensor:
    """``sim`` with the catch-all classes (but those ``open_``) unreachable below ``rule.duplicate``."""
    shut = [k for k in catch_all if k not in open_]
    out = sim.clone()
    out[:, shut] = out[:, shut].masked_fill(out[:, shut] < rule.duplicate, -1.0)
    return out


def _read_by_similarity_and_duplicates(
    named: list[ClassReading], known: Sequence[Sequence[str]], sim: torch.Tensor, rule: SeenRule
) -> list[ClassReading]:
    """Steps 2 and 3 of ``read_classes`` on a copy of the readings by name."""
    out = list(named)
    _read_by_similarity(out, known, sim, rule)
    _read_duplicates(out, known, sim, rule.duplicate)
    return out


def _read_into_one_space(
    named: list[ClassReading],
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    rule: SeenRule,
    spaces: Sequence[Collection[int]],
) -> tuple[list[ClassReading], Collection[int] | None]:
    """Steps 2, 3 and 5 of ``read_classes`` on a copy of the readings by name: the readings and the
    one training label space steps 5-7 keep them in (``_one_space``; None where there is none, and
    then no reading moves). Whether the catch-all opens is judged on readings moved into that space:
    "Scooter on a street", nearest CamVid's road at first, is VOC's motorbike beside VOC's classes,
    and the rest of such a vocabulary is VOC's background ("The rest of the image", 0.76)."""
    read = _read_by_similarity_and_duplicates(named, known, sim, rule)
    space = _one_space(named, read, spaces, sim, rule)  # steps 5-7 keep it theirs: they only add readings inside it
    return (read, None) if space is None else (_into_one_space(read, known, sim, rule, space), space)


def _inside_label_spaces(readings: list[ClassReading], k: int, spaces: Sequence[Collection[int]]) -> bool:
    """Whether known class ``k`` answers for no class by similarity, or every class read as a known
    class lies in a training label space of ``k``'s (VOC's background with only VOC's classes)."""
    if not any(r.known_index == k and r.by in ("similarity", "duplicate") for r in readings):
        return True
    inside = label_space_of(k, spaces)
    return all(r.known_index in inside for r in readings if r.known_index is not None)


def label_space_of(k: int, spaces: Sequence[Collection[int]]) -> set[int]:
    """The known classes that share a training label space with known class ``k`` (itself included)."""
    return set().union(*(space for space in spaces if k in space))


def _read_by_name(
    out: list[ClassReading], vocab: Vocabulary, known: Sequence[Sequence[str]], normalise: Callable[[str], str]
) -> None:
    """Step 1 of ``read_classes``, in place: each known class to the first class named like it."""
    lookup: dict[str, int] = {}
    for form in range(2):  # every known name before any plural (``_spellings``)
        for k, names in enumerate(known):
            for n in names:
                lookup.setdefault(_spellings(n, normalise)[form], k)
    taken: set[int] = set()
    for c, (name, prompts) in enumerate(zip(vocab.names, vocab.prompts)):
        if out[c].by == "unseen":
            continue
        hit = lookup.get(normalise(name))
        if hit is None:
            hit = next((lookup[normalise(p)] for p in prompts if normalise(p) in lookup), None)
        if hit is not None and hit not in taken:
            taken.add(hit)
            out[c] = ClassReading(name, known[hit][0], hit, 1.0, "name")


def misspelt_as(name: str, known: Sequence[Sequence[str]]) -> int | None:
    """The known class (each given by its names) one of whose names, or its plural, ``name`` is a
    few edits from (``MISSPELT_SHORT``; a transposition is one edit): "buidling" the building,
    "peson" the person, "bycicle" the bicycle, "streetlamp" the pole (its "street lamp"). None where
    there is none, two are as near, ``name`` is under three letters, or it is a known name with more
    after it: "biker" is no misspelt "bike" (nor "bikes"), but a word of its own."""
    word = _key(name)
    if len(word) < 3:
        return None
    found: dict[int, int] = {}
    for k, names in enumerate(known):
        for n in names:
            base = _key(n)
            if word.startswith(base) and word != base:
                continue
            edits = min(OSA.distance(word, form) for form in _spellings(n))
            if edits <= (1 if len(base) <= MISSPELT_SHORT else 2):
                found[k] = min(found.get(k, edits), edits)
    if not found:
        return None
    best = [k for k, edits in found.items() if edits == min(found.values())]
    return best[0] if len(best) == 1 else None


def _read_misspelt(
    out: list[ClassReading],
    vocab: Vocabulary,
    known: Sequence[Sequence[str]],
    sim: torch.Tensor,
    unplaced: Collection[int],
) -> None:
    """Step 1 of ``read_classes`` for misspellings, in place: each class left that is ``unplaced``
    to the known class its name is a misspelling of (``misspelt_as``), where no class claims it."""
    taken = {r.known_index for r in out if r.seen}
    for c in unplaced:
        if out[c].by != "vlm" or (k := misspelt_as(vocab.names[c], known)) is None or k in taken:
            continue
        taken.add(k)
        out[c] = ClassReading(vocab.names[c], known[k][0], k, float(sim[c, k]), "spelling")


def _read_by_similarity(
    out: list[ClassReading], known: Sequence[Sequence[str]], sim: torch.Tensor, rule: SeenRule
) -> None:
    """Step 2 of ``read_classes``, in place: the one-to-one assignment of the classes left to the known
    classes left, each pair near enough (``rule.threshold``, ``rule.margin``)."""
    taken = {r.known_index for r in out if r.seen}
    rows = [c for c, r in enumerate(out) if r.by == "vlm"]
    cols = [k for k in range(len(known)) if k not in taken]
    if not rows or not cols:
        return
    best = sim.max(1).values
    pairs = sim[rows][:, cols]
    for i, j in zip(*linear_sum_assignment(-pairs.numpy())):
        c, k, value = rows[i], cols[j], float(pairs[i, j])
        if value >= max(rule.threshold, float(best[c]) - rule.margin):
            out[c] = ClassReading(out[c].name, known[k][0], k, value, "similarity")


def _read_duplicates(
    out: list[ClassReading], known: Sequence[Sequence[str]], sim: torch.Tensor, threshold: float
) -> None:
    """Step 3 of ``read_classes``, in place: a class left whose nearest known class answers for another."""
    answers = {r.known_index: r.name for r in out if r.seen}
    best, nearest = sim.max(1)
    for c, r in enumerate(out):
        k = int(nearest[c])
        if r.by == "vlm" and float(best[c]) >= threshold and k in answers:
            out[c] = ClassReading(r.name, known[k][0], k, float(best[c]), "duplicate", answers[k])
