"""The robustness benchmark's hand-written vocabularies are well formed: a list with a missing or
repeated name would shift every later name onto the wrong class and still run."""

import json
import sys
from pathlib import Path

import pytest

from zsseg.vocabulary import shipped_vocabulary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from open_vocabulary import FRESH, HERE  # noqa: E402

CLASSES = {"voc21": len(shipped_vocabulary("voc21")), "camvid": len(shipped_vocabulary("camvid11"))}


def test_every_fresh_file_is_a_benchmark_list():
    assert sorted(p.name for p in HERE.glob("fresh*.json")) == sorted(FRESH.values())


@pytest.mark.parametrize("half", list(FRESH))
def test_fresh_vocabularies_name_every_class_once(half):
    lists = json.loads((HERE / FRESH[half]).read_text())
    assert set(lists) - {"_about"} == set(CLASSES)
    for key, n in CLASSES.items():
        assert set(lists[key]) == {"words", "phrases"}
        for kind, vocabs in lists[key].items():
            assert len(vocabs) == 3, (half, key, kind)
            for names in vocabs:
                assert len(names) == n, (half, key, kind, names)
                assert all(isinstance(x, str) and x.strip() for x in names)
                assert len({x.strip().lower() for x in names}) == n, (half, key, kind, names)


def test_lists_not_yet_measured_stay_out_of_the_reading_tables():
    """``benchmarks/readings.py`` prints no row, reading or vocabulary of a list in ``UNMEASURED``:
    seen before it is measured, a list is no longer an honest estimate."""
    from open_vocabulary import UNMEASURED
    from readings import accuracy, changed_readings

    assert UNMEASURED and all(name in FRESH for name in UNMEASURED)
    hidden = f"voc21 words ({UNMEASURED[0]}) #0"
    readings = {
        "voc21 canonical #0": {"cat": "cat"},
        "voc21 words (fresh) #0": {"kitty": "cat"},
        hidden: {"moggy": None},
    }
    table = accuracy(readings)
    assert "(fresh)" in table and UNMEASURED[0] not in table
    before = {label: {n: "dog" for n in read} for label, read in readings.items()}
    lines = "\n".join(changed_readings(readings, before))
    assert "kitty" in lines and "moggy" not in lines and "1 vocabularies of lists not yet measured" in lines
