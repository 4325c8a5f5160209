"""CLIP (and SigLIP) from transformers: the backend of the paper (ViT-B/16)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import ZsegError
from ..hub import load_config, load_parts
from .base import Backend

DEFAULT_CLIP = "openai/clip-vit-base-patch16"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipBackend(Backend):
    """Wraps a transformers ``CLIPModel`` (or ``SiglipModel``) and its tokenizer."""

    name = "clip"
    default_templates = "imagenet80"
    default_crop = "masked"  # zsseg.baseline's masked, mean-filled crop
    default_short_side = 512
    default_batch_size = 4  # ViT-B/16 on 2 cores: 3.33 crops/s at batch 4 vs 2.56 at 32

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        identifier: str,
        input_size: int | None = None,
        pixel_mean: tuple[float, float, float] = CLIP_MEAN,
        pixel_std: tuple[float, float, float] = CLIP_STD,
    ) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.identifier = identifier
        self.input_size = int(input_size or model.config.vision_config.image_size)
        self.pixel_mean = tuple(float(v) for v in pixel_mean)
        self.pixel_std = tuple(float(v) for v in pixel_std)
        self.model_type = model.config.model_type  # "clip" or "siglip"
        self.text_max_length = int(getattr(model.config.text_config, "max_position_embeddings", 77))

    @property
    def cache_key(self) -> str:
        return f"{self.model_type}:{self.identifier}"

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())

    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.model.get_image_features(pixel_values=pixels.to(self.device))
        return nn.functional.normalize(_pooled(out).float(), dim=-1)

    @torch.no_grad()
    def encode_dense(self, pixels: torch.Tensor, variant: str = "dense") -> torch.Tensor:
        """One pass over the whole image, a unit embedding per patch. The last block's attention is
        replaced by each patch token's value path (position embeddings interpolated to the size):

        - ``dense``: value only: out_proj(v_proj(ln1 x)), no residual and no MLP, then the post-norm
          and the projection (close to ClearCLIP's finding that the residual hurts dense tokens);
        - ``maskclip``: MaskCLIP's forward (Zhou et al. 2022): v = out_proj(v_proj(ln1 x)) + x,
          v = v + MLP(ln2 v), then the post-norm and the projection.
        """
        if self.model_type != "clip":
            raise ZsegError("dense modes are implemented for CLIP ViT checkpoints only; use --crop masked")
        vision = self.model.vision_model
        patch = self.model.config.vision_config.patch_size
        h, w = pixels.shape[-2] // patch, pixels.shape[-1] // patch
        pixels = pixels[..., : h * patch, : w * patch].to(self.device)
        out = vision(pixel_values=pixels, output_hidden_states=True, interpolate_pos_encoding=True)
        last = vision.encoder.layers[-1]
        x = out.hidden_states[-2][:, 1:, :]  # input of the last block, patch tokens
        v = last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(x)))
        if variant == "maskclip":
            v = v + x
            v = v + last.mlp(last.layer_norm2(v))
        v = self.model.visual_projection(vision.post_layernorm(v))
        return nn.functional.normalize(v.float(), dim=-1).view(v.shape[0], h, w, -1)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.text_features(texts)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.model.text_model.embeddings.token_embedding

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """encode_texts with autograd (for prompt learning)."""
        if self.model_type == "siglip":  # trained with fixed-length padding and no attention mask
            tok = self.tokenizer(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
            keys: tuple[str, ...] = ("input_ids",)
        else:
            tok = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.text_max_length, return_tensors="pt"
            )
            keys = ("input_ids", "attention_mask")
        tok = {k: v.to(self.device) for k, v in tok.items() if k in keys}
        out = self.model.get_text_features(**tok)
        return nn.functional.normalize(_pooled(out).float(), dim=-1)

    @classmethod
    def from_pretrained(cls, name_or_path: str = DEFAULT_CLIP, device: str | torch.device = "cpu") -> "ClipBackend":
        """Load a CLIP/SigLIP checkpoint by Hugging Face hub id or local directory."""
        from transformers import AutoModel, AutoTokenizer

        load_config(name_or_path, "model", "--model", ("clip", "siglip"), "the clip backend needs a CLIP or SigLIP one")
        model, tokenizer = load_parts(
            name_or_path, "weights or tokenizer", AutoModel.from_pretrained, AutoTokenizer.from_pretrained
        )
        mean, std, size = CLIP_MEAN, CLIP_STD, None
        try:
            from transformers import AutoImageProcessor

            proc = AutoImageProcessor.from_pretrained(name_or_path)
            mean, std = tuple(proc.image_mean), tuple(proc.image_std)
            crop = getattr(proc, "crop_size", None) or getattr(proc, "size", None) or {}
            size = crop.get("height") or crop.get("shortest_edge") if isinstance(crop, dict) else None
        except Exception:
            pass  # no preprocessor_config.json: use the model's image size and CLIP's statistics
        return cls(
            model, tokenizer, identifier=_identifier(name_or_path), input_size=size, pixel_mean=mean, pixel_std=std
        ).to(device)


def build_clip_tokenizer(bpe_path: str | os.PathLike):
    """A transformers CLIP tokenizer built from OpenAI's ``bpe_simple_vocab_16e6.txt.gz``.

    The vocabulary is the 256 byte symbols, the same with the end-of-word marker, one token per
    merge (49152 - 256 - 2 merges), then the two special tokens, exactly as OpenAI's tokenizer.
    """
    from transformers import CLIPTokenizer

    lines = gzip.open(bpe_path, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    symbols = list(_byte_symbols().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in merges])


def _byte_symbols() -> dict[int, str]:
    """Map each byte to a printable unicode symbol, as GPT-2/CLIP byte-level BPE does."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table: dict[int, str] = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return dict(
        sorted(
            table.items(),
            key=lambda kv: (kv[0] not in printable, printable.index(kv[0]) if kv[0] in printable else kv[0]),
        )
    )


def _pooled(out) -> torch.Tensor:
    return out if torch.is_tensor(out) else out.pooler_output


def _identifier(name_or_path: str) -> str:
    path = Path(name_or_path)
    if path.is_dir():
        cfg = path / "config.json"
        stamp = json.loads(cfg.read_text()).get("_name_or_path", "") if cfg.exists() else ""
        weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
        sig = ",".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
        return f"{path.resolve()}|{stamp}|{sig}"
    return name_or_path
