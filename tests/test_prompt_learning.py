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


def siglip_like_tokenizer():
    """A tokenizer that, like SigLIP's, adds no start token (only an end token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", "X", "cat", "dog", "tv", "monitor", "."]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def test_siglip_context_vectors_sit_before_the_class_name():
    """SigLIP's tokenizer has no start token: the placeholders are tokens 0..n-1, and the class
    name after them must survive (slicing from position 1 overwrote its first token)."""
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(0)
    text = dict(
        vocab_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
    )
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    )
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()
    tok = siglip_like_tokenizer()
    backend = ClipBackend(model, tok, identifier="random-siglip", pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5))
    assert tok("X X cat.")["input_ids"] == [3, 3, 4, 8, 1]  # no start token
    x = backend.token_embedding.weight[3].detach()
    same = PromptLearner(backend, ctx=x.repeat(4, 1))  # context = the placeholder's own embedding
    assert torch.allclose(
        same(["cat", "tv monitor"]), backend.encode_texts(["X X X X cat.", "X X X X tv monitor."]), atol=1e-5
    )
    learned = PromptLearner(backend, n_ctx=4)
    assert not torch.allclose(learned(["cat"]), learned(["dog"]), atol=1e-4)  # the class name is still there


def test_reference_recipe_learns_from_fresh_augmented_crops(tiny_clip, tmp_path, monkeypatch):
    """The reference recipe's values (zsseg.baseline's learn-prompt config), and a short run of it:
    a few regions per class, masked crops made afresh per batch at 224 or 244 px, flipped or not."""
    from types import SimpleNamespace

    from zsseg import datasets
    from zsseg.training import coop
    from zsseg.training.coop import RECIPES, PromptRecipe, learn_prompts_on

    from .test_evaluation import make_dataset

    ref = RECIPES["reference"]
    assert (
        ref.lr,
        ref.weight_decay,
        ref.warmup_iters,
        ref.warmup_factor,
        ref.batch_size,
        ref.per_class,
        ref.iterations,
    ) == (0.02, 5e-4, 100, 0.005, 32, 32, 16000)
    spec = datasets.DatasetSpec("blocks", None, datasets.identity(3), datasets.generic_layout, "test")
    dataset = datasets.SegmentationDataset(make_dataset(tmp_path / "blocks"), "val", spec)
    sizes = []
    real = coop._resized
    monkeypatch.setattr(coop, "_resized", lambda rgb, gt, side: sizes.append(side) or real(rgb, gt, side))
    # the reference recipe makes its own crops
    segmenter = SimpleNamespace(backend=tiny_clip, crop=None, short_side=None)
    recipe = PromptRecipe(
        iterations=4, weight_decay=5e-4, warmup_iters=2, warmup_factor=0.005, batch_size=3, augment=True, per_class=2
    )
    learner, meta = learn_prompts_on(segmenter, dataset, ["blue"], n_ctx=4, recipe=recipe)
    assert meta["crops"] == 4 and meta["recipe"]["augment"] and meta["iterations"] == 4 and learner.n_ctx == 4
    assert set(sizes) <= {224, 244} and len(sizes) >= 4 * 3
