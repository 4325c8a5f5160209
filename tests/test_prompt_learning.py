import pytest
import torch

from zsseg import Segmenter, SegmenterConfig, ZsegError
from zsseg.backends import ClipBackend, build_clip_tokenizer
from zsseg.prompts import PromptLearner
from zsseg.proposals import SlicProposals
from zsseg.text_cache import TextEmbeddingCache
from zsseg.training.coop import learn_prompts

from .conftest import CLIP_BPE, require_shared
from .test_clip_backend import TINY, make_clip


@pytest.fixture(scope="module")
def tiny_clip():
    require_shared("models", "clip_tokenizer", "bpe_simple_vocab_16e6.txt.gz")
    return ClipBackend(make_clip(TINY), build_clip_tokenizer(CLIP_BPE), identifier="random")


def test_context_hook_equals_the_placeholder_text(tiny_clip):
    x_id = tiny_clip.tokenizer("X")["input_ids"][1]
    ctx = tiny_clip.token_embedding.weight[x_id].detach().repeat(4, 1)  # context = the placeholder's own embedding
    learner = PromptLearner(tiny_clip, ctx=ctx)
    ours = learner(["cat", "tv monitor"])
    ref = tiny_clip.encode_texts(["X X X X cat.", "X X X X tv monitor."])
    assert torch.allclose(ours, ref, atol=1e-5)
    other = PromptLearner(tiny_clip, n_ctx=4)  # random context: a different embedding, differentiable
    out = other(["cat"])
    out.sum().backward()
    assert other.ctx.grad is not None and other.ctx.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in tiny_clip.parameters())


def test_learning_separates_classes(tiny_clip):
    torch.manual_seed(0)
    names = ["cat", "dog", "car"]
    centres = torch.nn.functional.normalize(torch.randn(3, 16), dim=-1)
    labels = torch.arange(3).repeat(20)
    embs = torch.nn.functional.normalize(centres[labels] + 0.1 * torch.randn(60, 16), dim=-1)
    learner = PromptLearner(tiny_clip, n_ctx=4)
    result = learn_prompts(learner, names, embs, labels, iterations=60, lr=0.05)
    assert result.losses[-1] < result.losses[0]
    assert result.crops == 60


def test_save_load_and_use_in_the_segmenter(tiny_clip, tmp_path, two_colour_image):
    learner = PromptLearner(tiny_clip, n_ctx=4)
    path = tmp_path / "prompt.pt"
    learner.save(path, {"classes": ["cat"]})
    loaded = PromptLearner.load(path, tiny_clip)
    assert torch.equal(loaded.ctx, learner.ctx)
    seg = Segmenter(
        tiny_clip,
        SlicProposals(),
        SegmenterConfig(templates=f"learned:{path}", short_side=48),
        TextEmbeddingCache(None),
    )
    out = seg(two_colour_image, "cat, dog")
    assert out.labels.shape == two_colour_image.shape[:2] and out.settings["templates"] == f"learned:{path}"
    other = ClipBackend(make_clip(TINY), tiny_clip.tokenizer, identifier="another")
    with pytest.raises(ZsegError, match="learned for backend"):
        PromptLearner.load(path, other)
    with pytest.raises(ZsegError, match="not found"):
        PromptLearner.load(tmp_path / "none.pt", tiny_clip)
