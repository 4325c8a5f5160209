"""The stage-1 network trained by ``zsseg train`` (a ``model.pt``) as a proposal generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backends.base import Backend
from ..errors import ZsegError
from ..geometry import same_shape_groups
from ..modeling import load_trained
from ..modeling.common import network_input
from ..prompts import ClassEmbedder
from ..vocabulary import Vocabulary
from .base import ClassScores, MaskFilter, ProposalGenerator, Proposals

# The network shipped with zsseg (docs/model-card.md): trained on PASCAL VOC 2012 train + CamVid train.
SHIPPED_NETWORK = Path(__file__).resolve().parent.parent / "weights" / "scenes.pt"


class MaskFormerProposals(ProposalGenerator):
    """The stage-1 network trained by ``zsseg train`` (a ``model.pt``): its query masks, and its
    class probabilities for the user's vocabulary as p_q, computed against text embeddings from the
    same text encoder it was trained with. A class that names a training class (``Vocabulary.match``)
    is seen and embedded exactly as in training; the others are embedded from their prompt names."""

    name = "maskformer"

    def __init__(
        self, model: str | Path = SHIPPED_NETWORK, device: str = "cpu", filter: MaskFilter | None = None
    ) -> None:
        """``filter``: None keeps every query (the network's own no-object class weighs them)."""
        try:
            net, meta = load_trained(model)
        except ZsegError as exc:
            if Path(model) != SHIPPED_NETWORK:
                raise
            raise ZsegError(
                f"{exc}. This is the network shipped with zsseg: reinstall zsseg (`pip install .`), "
                "or segment without it (`--proposals graph`)"
            ) from None
        if net.config.architecture != "maskformer":
            raise ZsegError(
                f"{model}: a {net.config.architecture} network gives no mask "
                "proposals; evaluate it with `zsseg eval --per-pixel-model`"
            )
        self.model_name = str(model)
        self.device = device
        self.filter = filter
        self._net = net.to(device)
        self._trained = [[n, *p] for n, p in zip(meta["classes"], meta["prompts"])]  # each training class's names
        self._trained_prompts = [tuple(p) for p in meta["prompts"]]
        self.text_model, self.templates = meta["text_model"], meta["templates"]
        self._embedder: ClassEmbedder | None = None  # the text encoder is loaded on first use, or shared

    def share_text_backend(self, backend: Backend) -> None:
        """Use an already-loaded backend of the checkpoint's text model (the segmenter's own)."""
        self._embedder = ClassEmbedder(backend, self.templates, device=self.device)

    def __call__(self, image: np.ndarray) -> Proposals:
        return self.propose_batch([image])[0]

    @torch.no_grad()
    def propose_batch(self, images: list[np.ndarray]) -> list[Proposals]:
        """One network pass per group of images of one size (padding an image further than its own
        stride-32 padding would change what the decoder's queries attend to, so sizes are not mixed).
        The masks stay on the network's device."""
        out: list[Proposals | None] = [None] * len(images)
        for members in same_shape_groups([image.shape for image in images]):
            h, w = images[members[0]].shape[:2]
            x = torch.cat([network_input(images[i], self.device) for i in members])
            pred = self._net.decode(x, all_layers=False)[-1]
            masks = F.interpolate(pred["pred_masks"], size=x.shape[-2:], mode="bilinear", align_corners=False)
            masks = masks[:, :, :h, :w].sigmoid().float()
            for k, i in enumerate(members):
                m, emb = masks[k].contiguous(), pred["class_embeddings"][k].float()
                if self.filter is not None:
                    keep = self.filter(m)
                    m, emb = m[keep], emb[keep]
                out[i] = Proposals(m, state=emb)
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def score(self, proposals: Proposals, vocabulary: Vocabulary) -> ClassScores:
        if self._embedder is None:
            self._embedder = ClassEmbedder.from_name(self.text_model, self.templates, device=self.device)
        matched = vocabulary.match(self._trained)
        prompts = [vocabulary.prompts[c] if t is None else self._trained_prompts[t] for c, t in enumerate(matched)]
        logits = self._net.classify(proposals.state[None], self._embedder(prompts))[0]
        probs = logits.float().softmax(-1)[:, :-1]  # "no object" dropped after the softmax, as zsseg
        return ClassScores(probs, torch.tensor([t is not None for t in matched], device=probs.device))
