"""The clip backend against transformers' own CLIP, with randomly initialised weights
(no CLIP weights can be downloaded here) and the real CLIP tokenizer vocabulary."""

import numpy as np
import pytest
import torch
from transformers import CLIPConfig, CLIPModel

from zsseg import Segmenter, SegmenterConfig, ZsegError
from zsseg.backends import ClipBackend, build_clip_tokenizer
from zsseg.backends.clip import CLIP_MEAN, CLIP_STD
from zsseg.classification import build_crops
from zsseg.proposals import SlicProposals
from zsseg.text_cache import TextEmbeddingCache

from .conftest import CLIP_BPE, require_shared

TINY = dict(
    text_config=dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77
    ),
    vision_config=dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    ),
    projection_dim=16,
)
# The real ViT-B/16 architecture of openai/clip-vit-base-patch16.
VIT_B16 = dict(
    text_config=dict(
        hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77
    ),
    vision_config=dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
        patch_size=16,
    ),
    projection_dim=512,
)


@pytest.fixture(scope="module")
def tokenizer():
    require_shared("models", "clip_tokenizer", "bpe_simple_vocab_16e6.txt.gz")
    return build_clip_tokenizer(CLIP_BPE)


def make_clip(config: dict) -> CLIPModel:
    torch.manual_seed(0)
    return CLIPModel(CLIPConfig(**config)).eval()


def test_tokenizer_matches_openai_ids(tokenizer):
    assert len(tokenizer) == 49408
    # ids of OpenAI's tokenizer: <sot>=49406, "a"=320, "photo"=1125, "of"=539, "cat"=2368, "."=269, <eot>=49407
    assert tokenizer("a photo of a cat.")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 269, 49407]


@pytest.mark.parametrize("config", [TINY, VIT_B16], ids=["tiny", "vit-b16"])
def test_embeddings_equal_transformers(config, tokenizer):
    model = make_clip(config)
    backend = ClipBackend(model, tokenizer, identifier="random")
    size = model.config.vision_config.image_size
    pixels = torch.randn(3, 3, size, size)
    ours = backend.encode_images(pixels)
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=pixels)
    ref = ref if torch.is_tensor(ref) else ref.pooler_output
    assert torch.allclose(ours, torch.nn.functional.normalize(ref, dim=-1), atol=1e-5)

    texts = ["a photo of a cat.", "a photo of a tv monitor in the scene"]
    tok = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref_t = model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
    ref_t = ref_t if torch.is_tensor(ref_t) else ref_t.pooler_output
    assert torch.allclose(backend.encode_texts(texts), torch.nn.functional.normalize(ref_t, dim=-1), atol=1e-5)
    assert backend.logit_scale == pytest.approx(float(model.logit_scale.exp()))
    assert backend.input_size == size


def test_preprocessing_equals_clip_image_processor():
    from transformers import CLIPImageProcessor

    proc = CLIPImageProcessor()  # OpenAI's defaults: 224, bicubic, CLIP mean/std
    assert tuple(proc.image_mean) == pytest.approx(CLIP_MEAN) and tuple(proc.image_std) == pytest.approx(CLIP_STD)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    ref = torch.as_tensor(np.asarray(proc(images=img, return_tensors="np")["pixel_values"]))
    # a full-image mask at the input size: our crop is exactly the processor's output
    t = torch.from_numpy(img).permute(2, 0, 1)
    ours = build_crops(t, torch.ones(1, 224, 224, dtype=torch.bool), 224, CLIP_MEAN, CLIP_STD, style="masked")
    assert torch.allclose(ours, ref.float(), atol=1e-4)


def test_save_and_load_local_directory(tmp_path, tokenizer):
    model = make_clip(TINY)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    backend = ClipBackend.from_pretrained(str(tmp_path))
    assert backend.model_type == "clip" and backend.input_size == 32
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(backend.encode_images(x), ClipBackend(model, tokenizer, "m").encode_images(x), atol=1e-6)


def test_missing_and_corrupt_weights(tmp_path, tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of trying the network
    with pytest.raises(ZsegError, match="cannot load model .*huggingface-cli download"):
        ClipBackend.from_pretrained(str(tmp_path / "nowhere"))
    model = make_clip(TINY)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    for f in tmp_path.glob("*.safetensors"):
        f.write_bytes(b"not a safetensors file")
    with pytest.raises(ZsegError, match="corrupt"):
        ClipBackend.from_pretrained(str(tmp_path))


def test_full_pipeline_with_tiny_clip(tokenizer, two_colour_image):
    backend = ClipBackend(make_clip(TINY), tokenizer, identifier="random")
    seg = Segmenter(
        backend,
        SlicProposals(),
        SegmenterConfig(model="clip", templates="vild", short_side=48),
        TextEmbeddingCache(None),
    )
    out = seg(two_colour_image, "cat, sofa; couch, wall")
    assert out.labels.shape == two_colour_image.shape[:2]
    assert out.mask_probs.shape[1] == 3 and torch.allclose(out.mask_probs.sum(1), torch.ones(len(out.mask_probs)))
    assert out.settings["crop"]["style"] == "masked"  # zsseg's crop is the clip default


def test_siglip_through_the_same_backend(tokenizer):
    """SigLIP checkpoints load through the same backend (fixed-length text padding)."""
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(0)
    cfg = SiglipConfig(
        text_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            vocab_size=49408,
            max_position_embeddings=64,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
    )
    model = SiglipModel(cfg).eval()
    backend = ClipBackend(
        model, tokenizer, identifier="random-siglip", pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5)
    )
    assert backend.model_type == "siglip"
    texts = ["a photo of a cat.", "a dog"]
    tok = tokenizer(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    with torch.no_grad():
        ref = model.get_text_features(input_ids=tok["input_ids"])
    ref = ref if torch.is_tensor(ref) else ref.pooler_output
    assert torch.allclose(backend.encode_texts(texts), torch.nn.functional.normalize(ref, dim=-1), atol=1e-5)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref_i = model.get_image_features(pixel_values=x)
    ref_i = ref_i if torch.is_tensor(ref_i) else ref_i.pooler_output
    assert torch.allclose(backend.encode_images(x), torch.nn.functional.normalize(ref_i, dim=-1), atol=1e-5)


def test_wrong_model_type(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path)
    with pytest.raises(ZsegError, match="is a 'bert' checkpoint; the clip backend needs a CLIP or SigLIP one"):
        ClipBackend.from_pretrained(str(tmp_path))


def test_dense_mode_maskclip_grid(tokenizer):
    model = make_clip(TINY)
    backend = ClipBackend(model, tokenizer, identifier="random")
    grid = backend.encode_dense(torch.randn(2, 3, 48, 72))  # not the training size: positions interpolated
    assert grid.shape == (2, 6, 9, 16)
    assert torch.allclose(grid.norm(dim=-1), torch.ones(2, 6, 9), atol=1e-5)
    # the last block's value path applied by hand to the penultimate hidden states gives the same grid
    vision = model.vision_model
    with torch.no_grad():
        x = torch.randn(1, 3, 32, 32)
        hs = vision(pixel_values=x, output_hidden_states=True).hidden_states[-2][:, 1:]
        last = vision.encoder.layers[-1]
        ref = model.visual_projection(
            vision.post_layernorm(last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(hs))))
        )
    assert torch.allclose(
        backend.encode_dense(x)[0].flatten(0, 1), torch.nn.functional.normalize(ref[0], dim=-1), atol=1e-5
    )


def test_maskclip_matches_a_hand_written_maskclip_forward(tokenizer):
    """--crop maskclip is MaskCLIP's last block (value path + residual, then the block's MLP with its
    residual), post-norm and projection, written here from MaskCLIP's ViT code; --crop dense is the
    value path alone and differs from it."""
    model = make_clip(TINY)
    backend = ClipBackend(model, tokenizer, identifier="random")
    vision = model.vision_model
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        hs = vision(pixel_values=x, output_hidden_states=True, interpolate_pos_encoding=True).hidden_states[-2][0, 1:]
        last = vision.encoder.layers[-1]
        v = last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(hs))) + hs
        v = v + last.mlp.fc2(last.mlp.activation_fn(last.mlp.fc1(last.layer_norm2(v))))
        ref = torch.nn.functional.normalize(model.visual_projection(vision.post_layernorm(v)), dim=-1)
    maskclip = backend.encode_dense(x, "maskclip")[0]
    assert maskclip.shape == (6, 5, 16) and torch.allclose(maskclip.flatten(0, 1), ref, atol=1e-5)
    assert not torch.allclose(backend.encode_dense(x, "dense")[0].flatten(0, 1), ref, atol=1e-3)
    seg = Segmenter(backend, SlicProposals(), SegmenterConfig(crop="maskclip", short_side=48), TextEmbeddingCache(None))
    assert seg(np.zeros((48, 64, 3), np.uint8), "cat, dog").settings["crop"]["style"] == "maskclip"
