import pytest

from zsseg import Vocabulary, ZsegError, list_vocabularies, load_vocabulary
from zsseg.text import read_classes


def test_parse_names_and_synonyms():
    v = Vocabulary.from_names("cat, tv monitor; television; monitor ,  sofa")
    assert v.names == ("cat", "tv monitor", "sofa")
    assert v.prompts[1] == ("tv monitor", "television", "monitor")


def test_display_name_with_prompts():
    v = Vocabulary.from_lines(["# comment", "tvmonitor: tv monitor; television", "", "dog  # trailing comment"])
    assert v.names == ("tvmonitor", "dog")
    assert v.prompts == (("tv monitor", "television"), ("dog",))


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("", "empty class list"),
        ("  ,  ", "empty class list"),
        ("cat, , dog", "blank class name"),
        ("cat, dog, Cat", "duplicate class name 'Cat'"),
    ],
)
def test_bad_class_lists(bad, fragment):
    with pytest.raises(ZsegError, match=fragment):
        Vocabulary.from_names(bad)


def test_shipped_vocabularies_sizes():
    sizes = {n: len(load_vocabulary(n)) for n in list_vocabularies()}
    assert sizes == {
        "ade150": 150,
        "camvid11": 11,
        "cityscapes19": 19,
        "coco_stuff171": 171,
        "pc59": 59,
        "voc20": 20,
        "voc21": 21,
    }
    voc = load_vocabulary("voc21")
    assert voc.background_index == 0
    assert voc.names[voc.index("tvmonitor")] == "tvmonitor"
    assert "television" in voc.prompts[voc.index("tvmonitor")]
    assert load_vocabulary("voc20").names == load_vocabulary("voc21").names[1:]


def test_unknown_vocabulary():
    with pytest.raises(ZsegError, match="unknown vocabulary 'nope'"):
        load_vocabulary("nope")


def test_class_file(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("cat\ndog: dog; puppy\n")
    assert load_vocabulary(str(f)).prompts == (("cat",), ("dog", "puppy"))


def test_read_by_display_name_then_prompt_names():
    known = [["background"], ["person", "pedestrian"], ["sidewalk", "pavement"], ["tree"]]
    vocab = Vocabulary.from_lines(
        [
            "background: sky; wall; tree",  # the display name wins over the stuff prompt names
            "pavement",  # a synonym of a known class
            "people: pedestrian; human",  # a prompt name
            "Tree",  # case is ignored
            "tree trunk",
            "woman: person",  # person is taken by "people" already
        ]
    )
    readings = read_classes(vocab, known)
    assert [r.known_index for r in readings] == [0, 2, 1, 3, None, None]
    assert [r.by for r in readings] == ["name"] * 4 + ["vlm"] * 2
    wall = read_classes(Vocabulary.from_names("wall-other"), [["wall"]], normalise=lambda n: n.replace("-other", ""))
    assert wall[0].known == "wall"


def test_read_by_similarity_near_only_and_duplicates():
    import torch

    from zsseg.text import SeenRule

    known = [["road"], ["sidewalk"], ["pole"], ["car"], ["background"]]
    vocab = Vocabulary.from_names("road, street, automobile, asphalt, pavement, giraffe, poster")
    similarity = torch.tensor(
        [
            [1.00, 0.80, 0.40, 0.60, 0.50],  # road: by name
            [0.84, 0.80, 0.67, 0.60, 0.50],  # street: nearest road is road's -> a duplicate; pole is far behind
            [0.67, 0.50, 0.40, 0.94, 0.50],  # automobile: car
            [0.71, 0.78, 0.30, 0.58, 0.50],  # asphalt: its nearest, sidewalk, is pavement's, not close enough to copy
            [0.83, 0.94, 0.30, 0.50, 0.50],  # pavement: sidewalk
            [0.40, 0.30, 0.35, 0.45, 0.50],  # giraffe: nothing near
            [0.40, 0.30, 0.35, 0.45, 0.75],  # poster: background answers only for a near-synonym (>= 0.8)
        ]
    )
    readings = read_classes(vocab, known, similarity, SeenRule("similar", 0.65))
    assert [r.by for r in readings] == ["name", "duplicate", "similarity", "vlm", "similarity", "vlm", "vlm"]
    assert [r.known for r in readings] == ["road", "road", "car", None, "sidewalk", None, None]
    assert readings[1].duplicate_of == "road" and not readings[1].seen and "named twice" in readings[1].describe()
    # a lower bar for duplicates makes asphalt pavement's
    low = read_classes(vocab, known, similarity, SeenRule("similar", 0.65, duplicate=0.7))
    assert (low[3].by, low[3].duplicate_of) == ("duplicate", "pavement")
    # without the margin rule street would take pole, its fourth-nearest class
    loose = read_classes(vocab, known, similarity, SeenRule("similar", 0.65, margin=1.0))
    assert loose[1].known == "pole" and loose[1].by == "similarity"


def test_catch_all_reads_by_similarity_only_inside_its_label_space():
    """VOC's background, unclaimed, answers for "surroundings" where every class read is one of
    VOC's (its training label space), not where the vocabulary names sky, which VOC's background
    covers; without label spaces (an older checkpoint) only for near-synonyms, as before."""
    import torch

    from zsseg.text import SeenRule

    known = [["background"], ["cat"], ["sofa"], ["sky"]]
    spaces = [frozenset({0, 1, 2}), frozenset({3})]
    sim = torch.tensor([[0.72, 0.40, 0.45, 0.66], [0.3, 1.0, 0.5, 0.2], [0.3, 0.5, 1.0, 0.2]])
    rule = SeenRule("similar", 0.65)
    voc_like = Vocabulary.from_names("surroundings, cat, sofa")
    assert read_classes(voc_like, known, sim, rule, spaces=spaces)[0].known == "background"
    assert read_classes(voc_like, known, sim, rule)[0].known != "background"  # no label spaces
    with_sky = Vocabulary.from_names("surroundings, cat, sky")
    sim_sky = torch.tensor([[0.72, 0.40, 0.45, 0.66], [0.3, 1.0, 0.5, 0.2], [0.3, 0.2, 0.2, 1.0]])
    assert read_classes(with_sky, known, sim_sky, rule, spaces=spaces)[0].known is None


def test_a_reading_moves_into_the_label_space_of_the_named_classes():
    """In a street vocabulary "vegetation" is the street's tree, though VOC's potted plant is a
    little nearer in text; beside VOC's cat it stays the potted plant."""
    import torch

    from zsseg.text import SeenRule

    known = [["pottedplant"], ["cat"], ["tree"], ["road"]]
    vegetation = [0.70, 0.3, 0.68, 0.4]  # potted plant a little nearer than the tree

    def read(names: str, second: list[float], first: list[float] = vegetation):
        sim = torch.tensor([first, second])
        spaces = [frozenset({0, 1}), frozenset({2, 3})]
        return read_classes(Vocabulary.from_names(names), known, sim, SeenRule("similar", 0.65), spaces=spaces)

    street = read("vegetation, road", [0.3, 0.2, 0.4, 1.0])
    assert [r.known for r in street] == ["tree", "road"] and street[0].similarity == pytest.approx(0.68)
    assert [r.known for r in read("vegetation, cat", [0.3, 1.0, 0.2, 0.2])] == ["pottedplant", "cat"]
    # not past the margin: a class much nearer outside the space keeps it
    assert read("vegetation, road", [0.3, 0.2, 0.4, 1.0], [0.85, 0.3, 0.70, 0.4])[0].known == "pottedplant"


def test_a_class_named_from_another_dataset_is_its_counterpart_in_the_space_of_the_rest():
    """In a street vocabulary "bicycle" (a name of VOC's bicycle) is CamVid's bicyclist, the same
    thing in the street's dataset (similarity past the duplicate bar), and no longer keeps the
    other readings out of the street's label space: "vegetation" is its tree. Beside "cat" it stays
    VOC's bicycle; a class named from another dataset with no counterpart there ("cat" beside a
    street) keeps every reading as it was, and so does a counterpart another class claims."""
    import torch

    from zsseg.text import SeenRule

    known = [["bicycle"], ["cat"], ["pottedplant"], ["bicyclist"], ["road"], ["tree"]]
    spaces = [frozenset({0, 1, 2}), frozenset({3, 4, 5})]
    rows = {
        "bicycle": [1.0, 0.3, 0.2, 0.88, 0.3, 0.2],
        "road": [0.3, 0.2, 0.2, 0.3, 1.0, 0.3],
        "vegetation": [0.2, 0.2, 0.70, 0.2, 0.3, 0.68],
        "cat": [0.3, 1.0, 0.3, 0.2, 0.2, 0.2],
        "cyclist": [0.83, 0.2, 0.2, 1.0, 0.3, 0.2],
    }

    def read(names: str) -> list:
        sim = torch.tensor([rows[n.strip()] for n in names.split(",")])
        return read_classes(Vocabulary.from_names(names), known, sim, SeenRule("similar", 0.65), spaces=spaces)

    street = read("bicycle, road, vegetation")
    assert [r.known for r in street] == ["bicyclist", "road", "tree"]
    assert street[0].by == "counterpart" and "the same thing in the training dataset" in street[0].describe()
    assert [r.known for r in read("bicycle, road")] == ["bicyclist", "road"]  # every class by name
    assert [r.known for r in read("bicycle, cat, vegetation")] == ["bicycle", "cat", "pottedplant"]
    assert [r.known for r in read("cat, road, vegetation")] == ["cat", "road", "pottedplant"]  # no one space
    assert [r.known for r in read("bicycle, cyclist, road")] == ["bicycle", "bicyclist", "road"]  # claimed


def test_a_renamed_dataset_reads_its_last_names_by_elimination():
    """A vocabulary of as many classes as one training dataset, every other class read inside its
    label space, pairs the names no rule read with the dataset's classes left unclaimed from the
    lower bar ``SeenRule.leftover`` ("tarmac" - road 0.51 beside "sky, pole"); names of other things,
    a part of the dataset, or a name nothing of the space is near leave every reading as it was."""
    import torch

    from zsseg.text import SeenRule

    known = [["background"], ["cat"], ["road"], ["sky"], ["pole"]]
    spaces = [frozenset({0, 1}), frozenset({2, 3, 4})]
    rule = SeenRule("similar", 0.65)
    sim = torch.tensor(
        [
            [0.10, 0.30, 0.51, 0.40, 0.45],  # tarmac: road below the threshold, but the space's only class left
            [0.10, 0.20, 0.40, 1.00, 0.30],  # sky
            [0.10, 0.20, 0.30, 0.30, 1.00],  # pole
        ]
    )

    def read(names: str, s: torch.Tensor = sim, r: SeenRule = rule) -> list:
        return [x.known for x in read_classes(Vocabulary.from_names(names), known, s, r, spaces=spaces)]

    assert read("tarmac, sky, pole") == ["road", "sky", "pole"]
    tarmac = read_classes(Vocabulary.from_names("tarmac, sky, pole"), known, sim, rule, spaces=spaces)[0]
    assert tarmac.by == "elimination" and "the one class of its training dataset" in tarmac.describe()
    assert read("tarmac, sky, pole", r=SeenRule("similar", 0.65, leftover=None)) == [None, "sky", "pole"]
    assert read("tarmac, sky, pole", r=SeenRule("similar", 0.65, unseen=("tarmac",)))[0] is None  # declared unseen
    # a class declared unseen names no class of the network: the others still rename the dataset
    with_unseen = torch.cat([sim, torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.3]])])
    unseen = SeenRule("similar", 0.65, unseen=("tree",))
    assert read("tarmac, sky, pole, tree", with_unseen, unseen) == ["road", "sky", "pole", None]
    assert read("tarmac, sky") == [None, "sky"]  # a part of the dataset: "tarmac" may be anything
    giraffe = torch.cat([sim, torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.3]])])
    assert read("tarmac, sky, pole, giraffe", giraffe) == [None, "sky", "pole", None]  # more names than classes
    far = sim.clone()
    far[0, 2] = 0.45
    assert read("tarmac, sky, pole", far) == [None, "sky", "pole"]  # below the bar
    # one word near nothing does not keep the others from their classes; two do
    hard = torch.cat([sim[:2], torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.3]])])
    assert read("tarmac, sky, kerb", hard) == ["road", "sky", None]
    four = [["road"], ["sky"], ["pole"], ["fence"]]
    near_nothing = [0.1, 0.2, 0.3, 0.2]
    rows = torch.tensor([[0.51, 0.40, 0.45, 0.3], [0.4, 1.0, 0.3, 0.3], near_nothing, near_nothing])
    got = read_classes(Vocabulary.from_names("tarmac, sky, walrus, kerb"), four, rows, rule, spaces=[range(4)])
    assert [x.known for x in got] == [None, "sky", None, None]
    # a duplicate of a claimed class is the class the dataset's count leaves
    dup = sim.clone()
    dup[0] = torch.tensor([0.10, 0.30, 0.60, 0.85, 0.45])  # nearest sky, which "sky" claims
    assert read("tarmac, sky, pole", dup) == ["road", "sky", "pole"]
    assert read("tarmac, sky, pole", dup, r=SeenRule("similar", 0.65, leftover=None))[0] == "sky"  # a duplicate


def test_a_word_no_dictionary_knows_takes_the_last_class_of_a_renamed_dataset():
    """One class left unread and one thing left unclaimed: a word the dictionary does not know
    ("moggy", a typo) takes it however far the text encoder puts them (``unplaced``); a dictionary
    word, two words left or two classes left keep every reading as it was."""
    import torch

    from zsseg.text import SeenRule

    known = [["road"], ["sky"], ["pole"]]
    rule = SeenRule("similar", 0.65)
    sim = torch.tensor([[0.30, 0.20, 0.35], [0.40, 1.00, 0.30], [0.30, 0.30, 1.00]])  # moggy, sky, pole

    def read(names: str, s: torch.Tensor = sim, unplaced=(0,), space=range(3)) -> list:
        got = read_classes(Vocabulary.from_names(names), known, s, rule, spaces=[space], unplaced=unplaced)
        return [(x.known, x.by) for x in got]

    assert read("moggy, sky, pole")[0] == ("road", "elimination")
    assert read("moggy, sky, pole", unplaced=lambda: [0])[0] == ("road", "elimination")
    assert read("moggy, sky, pole", unplaced=())[0] == (None, "vlm")  # a dictionary word: another thing
    two = torch.cat([sim[:2], torch.tensor([[0.30, 0.20, 0.30]])])
    assert read("moggy, sky, bycicle", two, unplaced=(0, 2)) == [(None, "vlm"), ("sky", "name"), (None, "vlm")]
    dup = torch.cat([sim[:2], torch.tensor([[0.30, 0.90, 0.30]])])  # "skies" duplicates the sky: road, pole left
    assert read("moggy, sky, skies", dup)[0] == (None, "vlm")  # two things left: which one it names is not known


def test_a_name_of_no_thing_beside_every_thing_is_the_catch_all():
    """Every thing of a dataset with a catch-all claimed, one class left unread: a name that names no
    physical thing (``thingless``: "nothing", 0.44 from VOC's background, under the 0.5 bar) is the
    rest, the catch-all; a thing's name, a second class left or a thing left unclaimed keep every
    reading as it was."""
    import torch

    from zsseg.text import SeenRule

    known = [["background"], ["cat"], ["dog"]]
    rule = SeenRule("similar", 0.65)
    sim = torch.tensor([[0.44, 0.45, 0.46], [0.2, 1.0, 0.5], [0.2, 0.5, 1.0]])  # nothing, cat, dog

    def read(names: str, s: torch.Tensor = sim, thingless=(0,)) -> list:
        got = read_classes(Vocabulary.from_names(names), known, s, rule, spaces=[range(3)], thingless=thingless)
        return [(x.known, x.by) for x in got]

    assert read("nothing, cat, dog") == [("background", "elimination"), ("cat", "name"), ("dog", "name")]
    assert read("nothing, cat, dog", thingless=lambda: [0])[0] == ("background", "elimination")
    assert read("cupcake, cat, dog", thingless=())[0] == (None, "vlm")  # a thing's name: another thing
    assert read("nothing, cat") == [(None, "vlm"), ("cat", "name")]  # the dog left: not every thing named
    two = torch.cat([sim[:2], torch.tensor([[0.3, 0.5, 0.4]])])
    assert read("nothing, cat, mutt", two, thingless=(0,))[0] == (None, "vlm")  # two classes left


def test_a_renamed_dataset_is_paired_again_where_that_reads_every_class():
    """Step 7 pairs again the classes not read by name, where that reads every one of them inside
    the space ("footpath" took the road, 0.72, and left "tarmac" unread, 0.49 from the sidewalk:
    paired again, footpath is the sidewalk, 0.69, and tarmac the road, 0.51); a class read moves
    only within ``margin`` of its reading, and where some class would stay unread the readings stay
    as they were."""
    import torch

    from zsseg.text import SeenRule

    known = [["road"], ["sidewalk"], ["sky"]]
    rule = SeenRule("similar", 0.65)
    sim = torch.tensor([[0.51, 0.49, 0.3], [0.72, 0.69, 0.3], [0.3, 0.3, 1.0]])  # tarmac, footpath, sky

    def read(s: torch.Tensor = sim, names: str = "tarmac, footpath, sky") -> list:
        got = read_classes(Vocabulary.from_names(names), known, s, rule, spaces=[range(3)])
        return [(x.known, x.by) for x in got]

    assert read() == [("road", "elimination"), ("sidewalk", "elimination"), ("sky", "name")]
    far = sim.clone()
    far[1, 1] = 0.6  # 0.12 under its road: too far to move
    assert read(far)[:2] == [(None, "vlm"), ("road", "similarity")]
    low = sim.clone()
    low[0, 0] = 0.45  # tarmac near nothing: pairing again reads no more
    assert read(low)[:2] == [(None, "vlm"), ("road", "similarity")]


def test_the_catch_all_opens_on_readings_moved_into_one_space():
    """A phrase nearest a class of another training dataset ("scooter on a street": CamVid's road)
    that step 5 moves into the space of the others (VOC's motorbike) does not keep VOC's
    background from the name of the rest ("the rest of the image", 0.76)."""
    import torch

    from zsseg.text import SeenRule

    known = [["background"], ["cat"], ["motorbike"], ["road"]]
    spaces = [frozenset({0, 1, 2}), frozenset({3})]
    sim = torch.tensor(
        [
            [0.76, 0.60, 0.50, 0.40],  # the rest of the image
            [0.20, 1.00, 0.30, 0.20],  # cat
            [0.30, 0.30, 0.67, 0.70],  # scooter on a street
        ]
    )
    got = read_classes(
        Vocabulary.from_names("the rest of the image, cat, scooter on a street"),
        known,
        sim,
        SeenRule("similar", 0.65),
        spaces=spaces,
    )
    assert [x.known for x in got] == ["background", "cat", "motorbike"]


def test_a_misspelt_name_no_dictionary_knows_is_the_known_name():
    """A name of no dictionary (``unplaced``) one edit from a known name of up to five letters, two
    from a longer one, a transposition counting one, is that name misspelt; not a word made from a
    known name ("biker"), nor one as near two known names, nor a name the dictionary knows."""
    import torch

    from zsseg.text import SeenRule, misspelt_as

    known = [["building"], ["person", "people"], ["bike", "bicycle"], ["cat"], ["car"], ["street lamp"]]
    assert misspelt_as("buidling", known) == 0 and misspelt_as("Peson", known) == 1
    assert misspelt_as("bycicle", known) == 2 and misspelt_as("streetlamp", known) == 5
    assert misspelt_as("cta", known) == 3 and misspelt_as("cra", known) == 4
    assert misspelt_as("biker", known) is None  # "bike" with more after it: a word of its own
    assert misspelt_as("cas", known) is None  # as near the cat as the car
    assert misspelt_as("bilding", known) == 0 and misspelt_as("bldng", known) is None  # two edits: too many
    assert misspelt_as("ct", known) is None  # under three letters
    sim = torch.full((2, len(known)), 0.2)
    vocab = Vocabulary.from_names("peson, cat")

    def read(unplaced) -> list:
        got = read_classes(vocab, known, sim, SeenRule("similar", 0.65), unplaced=unplaced)
        return [(r.known, r.by) for r in got]

    assert read([0]) == [("person", "spelling"), ("cat", "name")]
    assert read(()) == [(None, "vlm"), ("cat", "name")]  # a word the dictionary knows names its own thing
    spelt = read_classes(vocab, known, sim, SeenRule("similar", 0.65), unplaced=[0])[0]
    assert spelt.describe() == "network class person (the name misspelt)" and spelt.as_dict()["by"] == "spelling"


def test_a_general_name_is_the_one_kind_its_vocabulary_leaves():
    """ "animal" (nearest the dog another class claims) beside "cat, dog" in VOC's label space is the
    one animal they leave, the bird; beside "cat" alone two are left and it stays a duplicate of the
    dog's; with the label spaces unknown, or below the bar, nothing changes."""
    import torch

    from zsseg.text import SeenRule

    known = [["cat"], ["dog"], ["bird"], ["horse"], ["road"]]
    spaces = [frozenset({0, 1, 2, 3}), frozenset({4})]
    animal = [0.80, 0.89, 0.75, 0.70, 0.2]
    kinds = torch.tensor([[True, True, True, True, False], *[[False] * 5] * 3])

    def read(names: str, rows: list, r: SeenRule = SeenRule("similar", 0.65), s=spaces) -> list:
        sim = torch.tensor(rows)
        return [x.known for x in read_classes(Vocabulary.from_names(names), known, sim, r, spaces=s, kinds=kinds)]

    others = [[1.0, 0.7, 0.5, 0.5, 0.1], [0.7, 1.0, 0.5, 0.5, 0.1], [0.5, 0.5, 0.5, 1.0, 0.1]]
    assert read("animal, cat, dog, horse", [animal, *others]) == ["bird", "cat", "dog", "horse"]
    general = read_classes(
        Vocabulary.from_names("animal, cat, dog, horse"),
        known,
        torch.tensor([animal, *others]),
        SeenRule("similar", 0.65),
        spaces=spaces,
        kinds=kinds,
    )[0]
    assert general.by == "general" and general.seen and "the one kind of it" in general.describe()
    assert read("animal, cat, dog", [animal, *others[:2]]) == ["dog", "cat", "dog"]  # bird and horse left
    assert read("animal, cat, dog, horse", [animal, *others], s=()) == ["dog", "cat", "dog", "horse"]
    low = [0.80, 0.89, 0.45, 0.70, 0.2]
    assert read("animal, cat, dog, horse", [low, *others]) == ["dog", "cat", "dog", "horse"]


def test_the_one_name_left_beside_every_thing_named_is_the_background():
    """VOC-like: every thing of the dataset read, one name left ("everything else" 0.64 from
    background, "void" 0.52: under the match threshold) is the catch-all's from ``SeenRule.leftover``
    (0.5) on: elimination pairs the catch-all like every unclaimed class; a name farther from it
    stays the VLM's, and the unclaimed background competes."""
    import torch

    from zsseg.text import SeenRule, unclaimed_catch_alls

    known = [["background"], ["cat"], ["dog"]]
    spaces = [frozenset({0, 1, 2})]

    def read(names: str, to_background: float) -> list:
        sim = torch.tensor([[to_background, 0.5, 0.5], [0.3, 1.0, 0.7], [0.3, 0.7, 1.0]])
        vocab = Vocabulary.from_names(names)
        return read_classes(vocab, known, sim, SeenRule("similar", 0.65), spaces=spaces)

    for name, value in (("everything else", 0.64), ("void", 0.52)):
        rest = read(f"{name}, cat, dog", value)
        assert [r.known for r in rest] == ["background", "cat", "dog"] and rest[0].by == "elimination"
    other = read("giraffe, cat, dog", 0.45)
    assert other[0].known is None
    # the one name left may be read as a thing of another dataset: "room", CamVid's building (0.71)
    room = read_classes(
        Vocabulary.from_names("room, cat, dog"),
        [*known, ["building"]],
        torch.tensor([[0.61, 0.5, 0.5, 0.71], [0.3, 1.0, 0.7, 0.2], [0.3, 0.7, 1.0, 0.2]]),
        SeenRule("similar", 0.65),
        spaces=[*spaces, frozenset({3})],
    )
    assert [(r.known, r.by) for r in room] == [("background", "elimination"), ("cat", "name"), ("dog", "name")]
    # with a thing unnamed, the catch-all is paired like it: the nearer one from 0.5, or neither
    for near, expected in (((0.52, 0.55), "dog"), ((0.55, 0.52), "background"), ((0.45, 0.45), None)):
        pup = read_classes(
            Vocabulary.from_names("cat, pup"),
            known,
            torch.tensor([[0.3, 1.0, 0.7], [near[0], 0.4, near[1]]]),
            SeenRule("similar", 0.65),
            spaces=spaces,
        )
        assert pup[1].known == expected
    assert unclaimed_catch_alls(Vocabulary.from_names("giraffe, cat, dog"), other, known, spaces) == [0]
