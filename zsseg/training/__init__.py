"""Training of the stage-1 network on seen classes (the zero-shot protocol)."""

# Pseudo-label rules of self-training (zsseg.training.self_training), here so that the CLI can offer
# them without importing the training code. quantile by default: measured better than
# zsseg.baseline's prior rule on VOC 15/5 (hIoU 45.1 vs 31.4) and CamVid 8/3 (6.1 vs 5.7); see
# docs/training.md. "prior" reproduces the reference.
RULES = ("quantile", "prior")
