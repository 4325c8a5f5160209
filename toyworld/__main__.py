"""``python -m toyworld --out DIR``: the world's train and val scenes in the generic dataset layout."""

import argparse

from .world import write_split

p = argparse.ArgumentParser(description="Write the toy world's scenes (ROOT/SPLIT/images|labels, ROOT/classes.txt).")
p.add_argument("--out", required=True)
p.add_argument("--train", type=int, default=600, help="training scenes (default: 600)")
p.add_argument("--val", type=int, default=100, help="validation scenes (default: 100)")
p.add_argument("--seed", type=int, default=0, help="train uses SEED, val SEED + 1 (default: 0)")
args = p.parse_args()
write_split(args.out, "train", args.train, args.seed)
write_split(args.out, "val", args.val, args.seed + 1)
print(f"wrote {args.train} train and {args.val} val scenes to {args.out}")
