"""The stage-1 network trained by ``zsseg train`` (a ``model.pt``) as a proposal generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backends import Backend
from ..errors import ZsegError
from ..geometry import same_shape_groups
from ..lexicon import Lexicon
from ..modeling import load_trained
from ..modeling.common import network_input
from ..text import (
    ClassEmbedder,
    ClassReading,
    SeenRule,
    general_kinds,
    read_classes,
    reading_similarity,
    thingless_classes,
    unclaimed_catch_alls,
    unplaced_classes,
)
from ..vocabulary import Vocabulary
from .base import ClassScores, MaskFilter, ProposalGenerator, Proposals

# The network shipped with zsseg (docs/model-card.md): trained on PASCAL VOC 2012 train + CamVid train.
SHIPPED_NETWORK = Path(__file__).resolve().parent.parent / "weights" / "scenes.pt"


READINGS_KEPT = 8  # vocabularies whose readings MaskFormerProposals.read keeps


class MaskFormerProposals(ProposalGenerator):
    """The stage-1 network trained by ``zsseg train`` (a ``model.pt``): its query masks, and its
    class probabilities for the user's vocabulary as p_q, computed against text embeddings from the
    same text encoder it was trained with. A class that answers for a training class (by name or
    text similarity, ``zsseg.text.read_classes``) is seen and embedded exactly as that class was in
    training; the others are embedded from their own prompt names."""

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
        index = {n: k for k, n in enumerate(meta["classes"])}  # each training dataset's classes (newer checkpoints)
        named = {n for space in meta.get("label_spaces", []) for n in space} | set(meta.get("class_bias", {}))
        if stray := sorted(named - set(index)):
            raise ZsegError(
                f"{model}: label_spaces or class_bias name classes it was not trained on ({', '.join(stray)}); "
                "pass the model.pt that `zsseg train` or `zsseg finetune` writes"
            )
        self._spaces = [frozenset(index[n] for n in space) for space in meta.get("label_spaces", [])]
        self._bias = torch.zeros(len(index))  # a logit offset per training class (`zsseg finetune`'s new classes)
        for name, value in meta.get("class_bias", {}).items():
            self._bias[index[name]] = value
        self._trained_emb: torch.Tensor | None = None
        self._plain_emb: torch.Tensor | None = None
        self.text_model, self.templates = meta["text_model"], meta["templates"]
        self._embedder: ClassEmbedder | None = None  # the text encoder is loaded on first use, or shared
        self._lexicon = Lexicon()  # WordNet, read the first time a class is not named like a training class
        self._readings: dict[tuple, tuple[list[ClassReading], torch.Tensor]] = {}  # read(): per vocabulary and rule

    @property
    def label_spaces(self) -> list[frozenset[int]]:
        """The classes each training dataset labelled, as indices of the training classes (none
        recorded: empty)."""
        return self._spaces

    @property
    def lexicon(self) -> Lexicon:
        """The dictionary the network's class names are read by (shared with the segmenter)."""
        return self._lexicon

    def share_text_backend(self, backend: Backend) -> None:
        """Use an already-loaded backend of the checkpoint's text model (the segmenter's own)."""
        self._embedder = ClassEmbedder(backend, self.templates, device=self.device)
        self._readings.clear()

    def _text(self) -> tuple[ClassEmbedder, torch.Tensor]:
        """The text encoder (loaded on first use unless shared) and the training classes' embeddings."""
        if self._embedder is None:
            self._embedder = ClassEmbedder.from_name(self.text_model, self.templates, device=self.device)
        if self._trained_emb is None:
            self._trained_emb = self._embedder(self._trained_prompts)
        return self._embedder, self._trained_emb

    def _plain_embeddings(self) -> torch.Tensor:
        """The training classes' embeddings over their plain names (``Lexicon.plain_names``), which a
        user's word is read against; computed on first use (it reads the dictionary)."""
        if self._plain_emb is None:
            embedder, _ = self._text()
            self._plain_emb = embedder(self._lexicon.plain_names(self._trained_prompts))
        return self._plain_emb

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
                props = Proposals(masks[k].contiguous(), state=pred["class_embeddings"][k].float())
                out[i] = props if self.filter is None else props.select(self.filter(props.masks))
        return out  # type: ignore[return-value]

    def read(self, vocabulary: Vocabulary, rule: SeenRule = SeenRule()) -> tuple[list[ClassReading], torch.Tensor]:
        """(each class's reading, the text embeddings [C + K, D] its class head scores against: the
        vocabulary's C classes, then the K unclaimed catch-all classes, which compete and vote for none).
        Kept for the last ``READINGS_KEPT`` vocabularies: a collection reads one for every image
        (~22 ms for ADE20K-150's)."""
        key = (vocabulary.names, vocabulary.prompts, rule)
        if key not in self._readings:
            if len(self._readings) >= READINGS_KEPT:
                del self._readings[next(iter(self._readings))]  # the oldest
            self._readings[key] = self._read(vocabulary, rule)
        readings, text = self._readings[key]
        return list(readings), text

    @torch.no_grad()
    def _read(self, vocabulary: Vocabulary, rule: SeenRule) -> tuple[list[ClassReading], torch.Tensor]:
        embedder, trained = self._text()
        own = embedder(vocabulary.prompts)

        lexicon = None if rule.lexicon == "none" else (self._lexicon, self._trained)

        def similarity() -> torch.Tensor:
            known = trained if lexicon is None else self._plain_embeddings()
            return reading_similarity(embedder.embed_names, vocabulary, own, known, lexicon)

        def kinds() -> torch.Tensor:
            return general_kinds(vocabulary, self._lexicon, self._trained)

        readings = read_classes(
            vocabulary,
            self._trained,
            similarity,
            rule,
            spaces=self._spaces,
            kinds=None if lexicon is None else kinds,
            unplaced=() if lexicon is None else lambda: unplaced_classes(vocabulary, self._lexicon),
            thingless=() if lexicon is None else lambda: thingless_classes(vocabulary, self._lexicon),
        )
        text = [own[c] if r.known is None else trained[r.known_index] for c, r in enumerate(readings)]
        text += [trained[k] for k in unclaimed_catch_alls(vocabulary, readings, self._trained, self._spaces)]
        return readings, torch.stack(text)

    @torch.no_grad()
    def score(self, proposals: Proposals, vocabulary: Vocabulary, rule: SeenRule = SeenRule()) -> ClassScores:
        readings, text = self.read(vocabulary, rule)
        logits = self._net.classify(proposals.state[None], text)[0].float()
        bias = [float(self._bias[r.known_index]) if r.known_index is not None else 0.0 for r in readings]
        if any(bias):
            logits[:, : len(bias)] += torch.tensor(bias, device=logits.device)
        p = logits.softmax(-1)
        # "no object" dropped after the softmax, as zsseg; an unclaimed catch-all's share with it
        return ClassScores(p[:, : len(readings)], 1 - p[:, -1], readings)
