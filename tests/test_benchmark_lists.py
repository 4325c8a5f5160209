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
