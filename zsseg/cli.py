"""Command line: ``zsseg segment``, ``zsseg vocabularies``."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path

from .errors import ZsegError
from .image_io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, write_atomically


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="conse", help="conse (offline default), clip (= openai/clip-vit-base-patch16), or a CLIP/SigLIP hub id or local directory; zsseg bench also takes clip-vit-b16 / clip-vit-l14 (random weights)")
    g.add_argument("--proposals", default="graph", help="mask proposal generator: graph, slic, sam, mask2former, maskformer (default: graph)")
    g.add_argument("--proposals-model", default=None, help="hub id or local folder of the sam / mask2former checkpoint (e.g. facebook/sam-vit-base), or the model.pt of `zsseg train` for maskformer")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    g.add_argument("--templates", default=None, help="prompt template set: imagenet80, vild, single, none, or learned:FILE from `zsseg learn-prompts` (default: the backend's)")
    g.add_argument("--crop", default=None, choices=["masked", "context", "window", "dense"], help="how proposals are cropped for classification (default: the backend's)")
    g.add_argument("--mask-threshold", type=float, default=0.5, help="mask binarisation threshold for crops (default: 0.5)")
    g.add_argument("--expand-ratio", type=float, default=1.0, help="box scale for masked crops (default: 1.0)")
    g.add_argument("--ensemble-weight", type=float, default=0.8, help="lambda of the seen/unseen geometric ensemble (default: 0.8)")
    g.add_argument("--short-side", type=int, default=None, help="working resolution: shorter image side in pixels (default: the backend's)")
    g.add_argument("--background-threshold", type=float, default=0.0, help="pixels less confident than this become 'background' when that class is listed (default: off)")
    g.add_argument("--batch-size", type=int, default=None, help="crops per encoder call (default: the backend's measured best: 2 ConSE, 4 CLIP)")
    g.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=f"refuse larger images (default: {DEFAULT_MAX_PIXELS})")
    g.add_argument("--cache-dir", default=None, help="text-embedding cache folder (default: $ZSSEG_CACHE_DIR or ~/.cache/zsseg)")


def _segmenter_options(args: argparse.Namespace) -> dict:
    return dict(
        proposals_model=args.proposals_model, templates=args.templates, crop=args.crop, mask_threshold=args.mask_threshold, expand_ratio=args.expand_ratio,
        ensemble_weight=args.ensemble_weight, short_side=args.short_side, background_threshold=args.background_threshold,
        batch_size=args.batch_size, max_pixels=args.max_pixels,
    )


def _build_segmenter(args: argparse.Namespace):
    from .segmenter import Segmenter

    _quiet_transformers()
    return Segmenter.from_pretrained(args.model, args.proposals, device=args.device, cache_dir=args.cache_dir, **_segmenter_options(args))


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> image paths."""
    paths: list[Path] = []
    for item in items:
        if any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ZsegError(f"{item}: pattern matches no file")
            paths += matches
        elif Path(item).is_dir():
            found = sorted(p for p in Path(item).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ZsegError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif Path(item).exists():
            paths.append(Path(item))
        else:
            raise ZsegError(f"{item}: no such file or folder")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems and stems[p.stem] != p:
            raise ZsegError(f"{stems[p.stem]} and {p} would write the same outputs ({p.stem}.png); segment them into different --out folders")
        stems[p.stem] = p
    return list(dict.fromkeys(paths))


def _vocabulary_from_args(args: argparse.Namespace):
    from .vocabulary import Vocabulary, load_vocabulary, read_class_file

    given = [x for x in (args.classes, args.classes_file, args.vocab) if x is not None]
    if len(given) != 1:
        raise ZsegError("give exactly one of --classes \"a, b, c\", --classes-file FILE or --vocab NAME")
    if args.classes is not None:
        return Vocabulary.from_names(args.classes)
    if args.classes_file is not None:
        return read_class_file(args.classes_file)
    return load_vocabulary(args.vocab)


def _prepare_out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZsegError(f"{out}: cannot create output folder ({exc.strerror or exc}); choose another --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ZsegError(f"{out}: output folder is not writable; choose another --out")
    return out


def _prepare_out_file(path: str) -> Path:
    """An output file's path, its folder created and checked writable."""
    out = Path(path)
    _prepare_out_dir(str(out.parent))
    return out


def cmd_segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .render import save_label_png

    vocab = _vocabulary_from_args(args)
    inputs = expand_inputs(args.inputs)
    out = _prepare_out_dir(args.out)
    segmenter = _build_segmenter(args)
    failures = 0
    for path in tqdm(inputs, desc="segment", unit="img", disable=len(inputs) < 2 or args.quiet):
        try:
            seg = segmenter(path, vocab)
            summary = {"image": str(path), **seg.summary()}
            over = seg.overlay(path)
            write_atomically({
                out / f"{path.stem}.png": lambda p: save_label_png(seg.labels, p, len(vocab)),
                out / f"{path.stem}_overlay.png": lambda p: over.save(p, format="PNG"),
                out / f"{path.stem}.json": lambda p: p.write_text(json.dumps(summary, indent=2)),
            })
        except ZsegError as exc:
            failures += 1
            print(f"zsseg: error: {exc}", file=sys.stderr)
            if len(inputs) == 1:
                return 2
        except OSError as exc:
            raise ZsegError(f"{out}: cannot write outputs for {path.name} ({exc.strerror or exc})") from None
    if not args.quiet:
        print(f"wrote {len(inputs) - failures} of {len(inputs)} segmentation(s) to {out}", file=sys.stderr)
    return 1 if failures else 0


def cmd_vocabularies(args: argparse.Namespace) -> int:
    from .vocabulary import list_vocabularies, load_vocabulary

    for name in list_vocabularies():
        v = load_vocabulary(name)
        print(f"{name:15s} {len(v):4d} classes  {', '.join(v.names[:6])}, ...")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.datasets import SegmentationDataset, get_spec
    from .evaluation.distributed import init_from_env, local_device, shutdown
    from .evaluation.report import write_report
    from .evaluation.runner import evaluate
    from .proposals import build_proposals

    spec = get_spec(args.dataset)
    dataset = SegmentationDataset(args.root, args.split, spec)
    out = _prepare_out_dir(args.out) if args.out else None
    unseen = [u.strip() for u in args.unseen.split(",") if u.strip()] if args.unseen else None
    if unseen:
        for u in unseen:
            dataset.vocabulary.index(u)  # a clear error for a misspelt class
    rank, _ = init_from_env()
    args.device = local_device(args.device)  # torchrun: one GPU per process
    try:
        if args.oracle:
            short_side = args.short_side or _default_short_side(args.model)
            generator = build_proposals(args.proposals, model=args.proposals_model, device=args.device)
            settings = {"proposals": generator.settings(), "short_side": short_side}
            result = evaluate(dataset, oracle=generator, short_side=short_side, limit=args.limit, unseen=unseen,
                              progress=not args.quiet, save_predictions=_predictions_dir(args, out))
        else:
            if args.per_pixel_model:
                from .baseline import PerPixelSegmenter

                segmenter = PerPixelSegmenter(args.per_pixel_model, args.short_side or _default_short_side("conse"), args.device, args.max_pixels)
            else:
                segmenter = _build_segmenter(args)
            settings = segmenter.settings()
            result = evaluate(dataset, segmenter, limit=args.limit, unseen=unseen, progress=not args.quiet,
                              save_predictions=_predictions_dir(args, out))
    finally:
        shutdown()
    result = {"dataset": spec.name, "root": str(args.root), "split": args.split, "layout": dataset.layout, "oracle": args.oracle,
              "command": "zsseg " + " ".join(sys.argv[1:]), "settings": settings, **result}
    if rank != 0:
        return 0
    keys = ["mIoU", "mIoU_seen", "mIoU_unseen", "hIoU", "recall@0.5", "recall@0.5_seen", "recall@0.5_unseen", "proposals_per_image", "images", "seconds_per_image", "images_per_second"]
    print(json.dumps({k: result[k] for k in keys if k in result}))
    if out is not None:
        write_report(result, out)
    return 0


def _predictions_dir(args: argparse.Namespace, out: Path | None) -> Path | None:
    if not args.save_predictions:
        return None
    if out is None:
        raise ZsegError("--save-predictions needs --out DIR")
    return out / "predictions"


def _default_short_side(model: str) -> int:
    from .backends import ClipBackend, ConseBackend

    return ConseBackend.default_short_side if model == "conse" else ClipBackend.default_short_side


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import ServerLimits, create_app

    limits = ServerLimits(max_upload_bytes=args.max_upload_mb * 1024 * 1024, max_pixels=args.max_pixels, max_classes=args.max_classes,
                          request_timeout_s=args.timeout, max_queue=args.max_queue)
    app = create_app(_build_segmenter(args), limits)
    print(f"zsseg: serving on http://{args.host}:{args.port}/ (API docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import CLIP_ARCHITECTURES, benchmark, random_clip_backend
    from .prompts import TextEmbeddingCache
    from .proposals import build_proposals
    from .segmenter import Segmenter, SegmenterConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    vocab = _vocabulary_from_args(args)
    images = expand_inputs(args.inputs)[: args.limit]
    if args.model in CLIP_ARCHITECTURES:
        if not Path(args.bpe).is_file():
            raise ZsegError(f"{args.bpe}: the CLIP tokenizer vocabulary (bpe_simple_vocab_16e6.txt.gz) is needed for {args.model}; pass --bpe")
        _quiet_transformers()
        backend = random_clip_backend(args.model, args.bpe, args.device)
        config = SegmenterConfig(model=args.model, proposals=args.proposals, device=args.device, **_segmenter_options(args))
        segmenter = Segmenter(backend, build_proposals(args.proposals, model=args.proposals_model, device=args.device), config, TextEmbeddingCache(None))
    else:
        segmenter = _build_segmenter(args)
    result = benchmark(segmenter, images, vocab, naive=args.naive, dtype=args.dtype)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        out = _prepare_out_file(args.out)
        write_atomically({out: lambda p: p.write_text(text)})
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.train import TrainConfig, train

    _quiet_transformers()
    cfg = TrainConfig.from_file(args.config)
    if args.device:
        cfg.device = args.device
    if args.iterations:
        cfg.iterations = args.iterations
    out = train(cfg, resume=not args.no_resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"zsseg: training output in {out}", file=sys.stderr)
    return 0


def cmd_learn_prompts(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.datasets import SegmentationDataset, get_spec
    from .prompt_learning import PromptLearner, ground_truth_crops, learn_prompts

    dataset = SegmentationDataset(args.root, args.split, get_spec(args.dataset))
    vocab = dataset.vocabulary
    unseen = {u.strip().lower() for u in (args.unseen or "").split(",") if u.strip()}
    for u in unseen:
        vocab.index(u)
    segmenter = _build_segmenter(args)
    seen_ids = [i for i, n in enumerate(vocab.names) if n.lower() not in unseen]
    names = [vocab.prompts[i][0] for i in seen_ids]
    embs, labels = ground_truth_crops(segmenter.backend, dataset, seen_ids, segmenter.crop, segmenter.short_side, args.limit)
    torch.manual_seed(args.seed)
    learner = PromptLearner(segmenter.backend, n_ctx=args.n_ctx)
    result = learn_prompts(learner, names, embs, labels, iterations=args.iterations, lr=args.lr, seed=args.seed)
    meta = {"classes": names, "dataset": f"{args.dataset}:{args.split}", "unseen": sorted(unseen), "iterations": args.iterations, "crops": result.crops,
            "train_accuracy": result.train_accuracy, "final_loss": result.losses[-1]}
    out = _prepare_out_file(args.out)
    write_atomically({out: lambda p: learner.save(p, meta)})
    print(json.dumps({k: meta[k] for k in ("crops", "train_accuracy", "final_loss")}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zsseg", description="Open-vocabulary semantic segmentation.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("segment", help="segment images into the classes you name")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--classes", help='comma-separated class names; synonyms with ";" (e.g. "cat, tv; television")')
    p.add_argument("--classes-file", help="text file, one class per line")
    p.add_argument("--vocab", help="a shipped vocabulary (see `zsseg vocabularies`)")
    p.add_argument("--out", default="zsseg_out", help="output folder (default: zsseg_out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    _add_model_options(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("eval", help="mean IoU on a benchmark (official layouts or ROOT/SPLIT/{images,labels})")
    p.add_argument("--dataset", required=True, help="voc21, voc20, ade150, ade847, pc59, pc459, coco_stuff171, cityscapes, camvid")
    p.add_argument("--root", required=True, help="dataset folder (see docs/evaluation.md for each layout)")
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--unseen", default=None, help="comma-separated unseen classes: also report mIoU seen/unseen and hIoU")
    p.add_argument("--oracle", action="store_true", help="score the proposals labelled by the ground truth (stage-1 upper bound) and their recall")
    p.add_argument("--out", default=None, help="folder for metrics.json, report.md and per_class_iou.png")
    p.add_argument("--save-predictions", action="store_true", help="also write each label map to OUT/predictions/")
    p.add_argument("--per-pixel-model", default=None, help="evaluate this per-pixel baseline (a model.pt of a per_pixel run of `zsseg train`) instead of the two-stage segmenter")
    p.add_argument("--quiet", action="store_true")
    _add_model_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="web page and HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=int, default=20, help="largest accepted upload (default: 20)")
    p.add_argument("--max-classes", type=int, default=256, help="most classes per request (default: 256)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before a request is answered 504 (default: 120)")
    p.add_argument("--max-queue", type=int, default=8, help="requests admitted at once; more get 503 + Retry-After (default: 8)")
    _add_model_options(p)
    p.set_defaults(func=cmd_serve, max_pixels=25_000_000)

    p = sub.add_parser("bench", help="per-stage timings, images/s, memory; optionally against the naive path")
    p.add_argument("inputs", nargs="+", help="real images: files, folders or globs")
    p.add_argument("--classes")
    p.add_argument("--classes-file")
    p.add_argument("--vocab")
    p.add_argument("--limit", type=int, default=5, help="images to time (default: 5)")
    p.add_argument("--naive", action="store_true", help="also run the naive reference path and report speed-up and pixel agreement")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast around the default path (the naive reference stays fp32); pays on GPUs, not on CPUs without native bf16")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--bpe", default="../shared/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz", help="CLIP BPE vocabulary for the random-weight architectures")
    p.add_argument("--out", default=None, help="write the JSON here too")
    _add_model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train", help="train the stage-1 proposal network on seen classes (docs/training.md)")
    p.add_argument("--config", required=True, help="JSON training config")
    p.add_argument("--device", default=None, help="override the config's device")
    p.add_argument("--iterations", type=int, default=None, help="override the config's iteration count")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUTPUT/last.pt exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("learn-prompts", help="CoOp: learn context vectors on crops of seen classes (use with --templates learned:FILE)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--unseen", default=None, help="comma-separated classes left out")
    p.add_argument("--n-ctx", type=int, default=16, help="context vectors (default: 16)")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--limit", type=int, default=None, help="first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to write the learned prompt (.pt)")
    _add_model_options(p)
    p.set_defaults(func=cmd_learn_prompts)

    p = sub.add_parser("vocabularies", help="list the shipped vocabularies")
    p.set_defaults(func=cmd_vocabularies)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ZsegError as exc:
        print(f"zsseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zsseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
