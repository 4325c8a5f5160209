"""A procedural world of coloured shapes on textured backgrounds, with per-pixel ground truth, and a
tiny CLIP trained on it from image-level captions (independent of zsseg: it only writes data and a
transformers checkpoint that zsseg then reads as a user's would)."""
