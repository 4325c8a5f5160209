import torch

from zsseg.prompts import IMAGENET_TEMPLATES, TEMPLATE_SETS, VILD_TEMPLATES
from zsseg.text_cache import TextEmbeddingCache, encode_with_templates


def test_template_sets():
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert len(VILD_TEMPLATES) == 14
    assert TEMPLATE_SETS["single"] == ("a photo of a {}.",)
    assert all("{}" in t for ts in TEMPLATE_SETS.values() for t in ts)


def test_class_embedding_is_normalised_mean_over_templates(colour_backend):
    # "... red" and "... blue" templates: the class embedding is the normalised mean of both.
    emb = encode_with_templates(colour_backend, ["x"], ("red {}", "{} blue"))
    # "red x" -> last word "x" -> zero colour; use names instead to get distinct vectors
    emb = encode_with_templates(colour_backend, ["red", "blue"], ("a {}", "the {}"))
    red = colour_backend.encode_texts(["red"])[0]
    assert torch.allclose(emb[0], red, atol=1e-6)
    mixed = encode_with_templates(colour_backend, ["ignored"], ("{} red", "{} blue"))
    expected = torch.nn.functional.normalize(
        colour_backend.encode_texts(["red"])[0] + colour_backend.encode_texts(["blue"])[0], dim=0
    )
    assert torch.allclose(mixed[0], expected, atol=1e-6)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2))


def test_cache_hits_misses_and_disk(tmp_path, colour_backend):
    cache = TextEmbeddingCache(tmp_path)
    a = cache.encode(colour_backend, ["red", "blue"], ("a {}",))
    assert (cache.hits, cache.misses) == (0, 2)
    b = cache.encode(colour_backend, ["blue", "green", "red"], ("a {}",))
    assert (cache.hits, cache.misses) == (2, 3)
    assert torch.equal(b[0], a[1])
    n_encoded = len(colour_backend.texts_encoded)
    # a new process (new cache object) reads the file instead of encoding again
    cache2 = TextEmbeddingCache(tmp_path)
    c = cache2.encode(colour_backend, ["green", "red"], ("a {}",))
    assert len(colour_backend.texts_encoded) == n_encoded and cache2.misses == 0
    assert torch.equal(c[1], a[0])
    # another template set is another key
    cache2.encode(colour_backend, ["red"], ("the {}",))
    assert cache2.misses == 1


def test_corrupt_cache_file_is_rebuilt(tmp_path, colour_backend):
    cache = TextEmbeddingCache(tmp_path)
    cache.encode(colour_backend, ["red"], ("a {}",))
    (f,) = (tmp_path / "text").glob("*.pt")
    f.write_bytes(b"garbage")
    fresh = TextEmbeddingCache(tmp_path)
    out = fresh.encode(colour_backend, ["red"], ("a {}",))
    assert fresh.misses == 1 and out.shape == (1, 3)
