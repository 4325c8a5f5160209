"""Stage 1: mask proposal generators by name (``build_proposals``)."""

from __future__ import annotations

from ..errors import ZsegError
from ..registry import Registry
from .base import ClassScores, MaskFilter, ProposalGenerator, Proposals, WholeImageProposal
from .mask2former import Mask2FormerProposals
from .maskformer import SHIPPED_NETWORK, MaskFormerProposals
from .sam import SamProposals
from .segments import GraphProposals, SlicProposals, label_map_proposals

PROPOSAL_GENERATORS: Registry[type[ProposalGenerator]] = Registry(
    "proposal generator",
    {
        "maskformer": MaskFormerProposals,  # a network trained by `zsseg train`; the shipped one by default
        "graph": GraphProposals,
        "slic": SlicProposals,
        "sam": SamProposals,
        "mask2former": Mask2FormerProposals,
        "whole": WholeImageProposal,
    },
)
TAKES_MODEL = ("maskformer", "sam", "mask2former")  # a checkpoint: --proposals-model


def list_proposals() -> list[str]:
    """The proposal generators' names."""
    return list(PROPOSAL_GENERATORS)


def build_proposals(
    name: str | ProposalGenerator, model: str | None = None, device: str = "cpu", **kwargs
) -> ProposalGenerator:
    """A generator by name; ``model`` (a model.pt, hub id or local folder) for the trained ones,
    each of which has a default (maskformer: the network shipped with zsseg)."""
    if isinstance(name, ProposalGenerator):
        return name
    cls = PROPOSAL_GENERATORS.lookup(name)
    name = PROPOSAL_GENERATORS.key(name)
    if name in TAKES_MODEL:
        if model is not None:
            kwargs["model"] = model
        kwargs["device"] = device
    elif model is not None:
        raise ZsegError(f"--proposals-model is only for {' / '.join(TAKES_MODEL)}, not {name}")
    return cls(**kwargs)


__all__ = [
    "PROPOSAL_GENERATORS",
    "SHIPPED_NETWORK",
    "TAKES_MODEL",
    "ClassScores",
    "GraphProposals",
    "Mask2FormerProposals",
    "MaskFilter",
    "MaskFormerProposals",
    "ProposalGenerator",
    "Proposals",
    "SamProposals",
    "SlicProposals",
    "WholeImageProposal",
    "build_proposals",
    "list_proposals",
    "label_map_proposals",
]
