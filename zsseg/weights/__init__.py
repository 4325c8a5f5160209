"""Network weights shipped with zsseg (docs/model-card.md)."""
