"""Command line: ``zsseg segment | eval | serve | bench | train | learn-prompts | vocabularies``.

A thin shell over the library: each command turns its flags into the library's configuration
dataclasses and calls one function. Flags that are not given are left out, so every default lives
in its dataclass (``SegmenterConfig``, ``EvalConfig``, ``ServerLimits``, ``TrainConfig``) alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import MISSING, fields

from .backends import ClipBackend, ConseBackend
from .classification import CROP_STYLES
from .collection import CUDA_IMAGE_BATCH
from .distributed import local_device
from .ensemble import ENSEMBLES
from .errors import ZsegError
from .image_io import write_atomically
from .inputs import expand_inputs, prepare_out_dir, prepare_out_file
from .proposals import PROPOSAL_GENERATORS
from .segmenter import DTYPES, Segmenter, SegmenterConfig
from .text import SEEN_RULES, SYNONYM_RULES
from .training import RULES

NOT_GIVEN = argparse.SUPPRESS


def _default(cls: type, name: str) -> str:
    """The dataclass's default of a field, for help texts (the dataclass is its only home)."""
    f = next(f for f in fields(cls) if f.name == name)
    value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    return "the backend's own" if value is None else str(value)


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (defaults: zsseg.SegmenterConfig)")
    d = lambda name: _default(SegmenterConfig, name)  # noqa: E731
    g.add_argument(
        "--model",
        default=NOT_GIVEN,
        help=(
            "conse (offline), clip (= openai/clip-vit-base-patch16), or "
            f"a CLIP/SigLIP hub id or local folder (default: {d('model')})"
        ),
    )
    g.add_argument(
        "--proposals",
        default=NOT_GIVEN,
        choices=list(PROPOSAL_GENERATORS),
        help=f"mask proposal generator (default: {d('proposals')})",
    )
    g.add_argument(
        "--proposals-model",
        default=NOT_GIVEN,
        help=(
            "the model.pt of `zsseg train` for maskformer (default: the network "
            "shipped with zsseg), or a hub id / local folder for sam and mask2former"
        ),
    )
    g.add_argument("--device", default=NOT_GIVEN, help=f"cpu, cuda, cuda:1, ... (default: {d('device')})")
    g.add_argument(
        "--templates",
        default=NOT_GIVEN,
        help=(
            "prompt template set: imagenet80, vild, single, none, or "
            "learned:FILE from `zsseg learn-prompts` (default: the backend's)"
        ),
    )
    g.add_argument(
        "--crop",
        default=NOT_GIVEN,
        choices=CROP_STYLES,
        help=(
            "how proposals are cropped for classification (default: the backend's for the generator: conse "
            f"{ConseBackend.crop_for_proposals['maskformer']} with maskformer, {ConseBackend.default_crop} otherwise; "
            f"clip {ClipBackend.default_crop})"
        ),
    )
    g.add_argument(
        "--mask-threshold",
        type=float,
        default=NOT_GIVEN,
        help=f"mask binarisation threshold for crops (default: {d('mask_threshold')})",
    )
    g.add_argument(
        "--expand-ratio",
        type=float,
        default=NOT_GIVEN,
        help=f"box scale for masked crops (default: {d('expand_ratio')})",
    )
    g.add_argument(
        "--ensemble-weight",
        type=float,
        default=NOT_GIVEN,
        help=(
            "lambda of the seen/unseen geometric ensemble (default: the backend's: "
            f"clip {ClipBackend.default_ensemble_weight}, conse {ConseBackend.default_ensemble_weight})"
        ),
    )
    g.add_argument(
        "--ensemble",
        default=NOT_GIVEN,
        choices=ENSEMBLES,
        help="how the proposal network's class scores and the VLM's combine: reference (zsseg.baseline's) or "
        "arbitrated (the network names its classes, the VLM arbitrates between them and unseen ones) "
        f"(default: the backend's: clip {ClipBackend.default_ensemble}, conse {ConseBackend.default_ensemble})",
    )
    g.add_argument(
        "--unseen-weight",
        type=float,
        default=NOT_GIVEN,
        help="the proposal network's exponent for unseen classes (default: the backend's: clip 1 - lambda, "
        f"conse {ConseBackend.default_unseen_weight})",
    )
    g.add_argument(
        "--match-threshold",
        type=float,
        default=NOT_GIVEN,
        help="text similarity from which a class not named like a network class answers for it (default: the "
        f"network's text model's: conse {ConseBackend.default_match_threshold}, clip by name only)",
    )
    g.add_argument(
        "--seen",
        default=NOT_GIVEN,
        choices=SEEN_RULES,
        help="which classes the ensemble treats as seen: similar (named like a class the proposal network was trained "
        "on, or close to one in text similarity), named (named like one: the reference's rule) or none (every class "
        f"unseen, the reference's cross-dataset rule) (default: {d('seen')})",
    )
    g.add_argument(
        "--synonyms",
        default=NOT_GIVEN,
        choices=SYNONYM_RULES,
        help=f"a class with several prompt names scores as its best name (max) or as the mean of their embeddings "
        f"(default: {d('synonyms')})",
    )
    g.add_argument(
        "--short-side",
        type=int,
        default=NOT_GIVEN,
        help="working resolution: shorter image side in pixels (default: the backend's)",
    )
    g.add_argument(
        "--background-threshold",
        type=float,
        default=NOT_GIVEN,
        help="pixels less confident than this become 'background' when that class is listed (default: off)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=NOT_GIVEN,
        help="crops per encoder call (default: the backend's measured best)",
    )
    g.add_argument(
        "--max-pixels", type=int, default=NOT_GIVEN, help=f"refuse larger images (default: {d('max_pixels')})"
    )
    g.add_argument(
        "--dtype",
        default=NOT_GIVEN,
        choices=DTYPES,
        help=f"bf16: autocast around the image encoder, for GPUs; on CPUs without native bf16 it is many times "
        f"slower (default: {d('dtype')})",
    )
    g.add_argument(
        "--cache-dir", default=None, help="text-embedding cache folder (default: $ZSSEG_CACHE_DIR or ~/.cache/zsseg)"
    )


def given_options(args: argparse.Namespace) -> dict:
    """The SegmenterConfig fields whose flags were given."""
    return {f.name: getattr(args, f.name) for f in fields(SegmenterConfig) if hasattr(args, f.name)}


def segmenter_config(args: argparse.Namespace, **overrides) -> SegmenterConfig:
    """The SegmenterConfig of the flags given (the others keep the dataclass's defaults)."""
    return SegmenterConfig(**{**given_options(args), **overrides})


def _build_segmenter(config: SegmenterConfig, cache_dir: str | None) -> Segmenter:
    _quiet_transformers()
    return Segmenter.from_config(config, cache_dir)


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _vocabulary_from_args(args: argparse.Namespace):
    from .vocabulary import Vocabulary, load_vocabulary, read_class_file

    given = [x for x in (args.classes, args.classes_file, args.vocab) if x is not None]
    if len(given) != 1:
        raise ZsegError('give exactly one of --classes "a, b, c", --classes-file FILE or --vocab NAME')
    if args.classes is not None:
        return Vocabulary.from_names(args.classes)
    if args.classes_file is not None:
        return read_class_file(args.classes_file)
    return load_vocabulary(args.vocab)


def cmd_segment(args: argparse.Namespace) -> int:
    from .collection import segment_collection
    from .distributed import init_from_env, shutdown

    if args.image_batch is not None and args.image_batch < 1:  # before the model loads
        raise ZsegError(f"--image-batch must be >= 1, got {args.image_batch}")
    vocab = _vocabulary_from_args(args)
    inputs = expand_inputs(args.inputs)
    config = segmenter_config(args)
    out = prepare_out_dir(args.out)
    rank, world = init_from_env()
    try:
        config = segmenter_config(args, device=local_device(config.device))
        segmenter = _build_segmenter(config, args.cache_dir)
        single = len(inputs) == 1 and world == 1
        result = segment_collection(
            segmenter,
            inputs,
            vocab,
            out,
            overlay=not args.no_overlay,
            resume=not args.no_resume,
            workers=args.workers,
            image_batch=args.image_batch,
            manifest=not single,
            progress=not args.quiet and not single,
        )
    finally:
        shutdown()
    if single and result.failed:
        return 2
    if not args.quiet:
        where = f" (process {rank} of {world})" if world > 1 else ""
        skipped = f", skipped {result.skipped} already done" if result.skipped else ""
        failed = f", {result.failed} failed (see {out / 'manifest.jsonl'})" if result.failed and not single else ""
        print(
            f"wrote {result.written} of {result.images} segmentation(s) to {out}{where}{skipped}{failed}",
            file=sys.stderr,
        )
    return 1 if result.failed else 0


def cmd_vocabularies(args: argparse.Namespace) -> int:
    from .vocabulary import list_vocabularies, load_vocabulary

    for name in list_vocabularies():
        v = load_vocabulary(name)
        print(f"{name:15s} {len(v):4d} classes  {', '.join(v.names[:6])}, ...")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import EvalConfig, run
    from .evaluation.presets import load_preset, preset_config
    from .evaluation.runner import SUMMARY_KEYS

    _quiet_transformers()
    if args.preset is None and args.dataset is None:
        raise ZsegError(
            "give --dataset NAME, or --preset NAME for a benchmark protocol's reference settings (docs/evaluation.md)"
        )
    if args.preset and args.dataset and args.dataset != load_preset(args.preset)["dataset"]:
        raise ZsegError(
            f"preset {args.preset} evaluates {load_preset(args.preset)['dataset']}, not {args.dataset}; drop --dataset"
        )
    options = dict(
        split=args.split,
        limit=args.limit,
        oracle=args.oracle,
        per_pixel_model=args.per_pixel_model,
        cache_dir=args.cache_dir,
        out=str(prepare_out_dir(args.out)) if args.out else None,
        save_predictions=args.save_predictions,
        progress=not args.quiet,
    )
    if args.unseen is not None:
        options["unseen"] = [u.strip() for u in args.unseen.split(",") if u.strip()]
    if args.preset:
        config = preset_config(args.preset, args.root, given_options(args), **options)
    else:
        config = EvalConfig(dataset=args.dataset, root=args.root, segmenter=segmenter_config(args), **options)
    result = run(config, command="zsseg " + " ".join(sys.argv[1:]))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: result[k] for k in SUMMARY_KEYS if k in result}))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import ServerLimits, create_app

    given = {
        "max_upload_bytes": args.max_upload_mb * 1024 * 1024 if hasattr(args, "max_upload_mb") else None,
        "max_pixels": getattr(args, "max_pixels", None),
        "max_classes": getattr(args, "max_classes", None),
        "request_timeout_s": getattr(args, "timeout", None),
        "max_queue": getattr(args, "max_queue", None),
    }
    limits = ServerLimits(**{k: v for k, v in given.items() if v is not None})
    segmenter = _build_segmenter(segmenter_config(args, max_pixels=limits.max_pixels), args.cache_dir)
    app = create_app(segmenter, limits)
    print(f"zsseg: serving on http://{args.host}:{args.port}/ (API docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import bench_segmenter, benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    vocab = _vocabulary_from_args(args)
    images = expand_inputs(args.inputs)[: args.limit]
    out = prepare_out_file(args.out) if args.out else None  # a bad --out fails before the benchmark runs
    config = segmenter_config(args)
    _quiet_transformers()
    segmenter = bench_segmenter(config, args.bpe, args.cache_dir)
    result = benchmark(segmenter, images, vocab, naive=args.naive)
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
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
    from .datasets import SegmentationDataset, get_spec
    from .training.coop import learn_prompts_on

    dataset = SegmentationDataset(args.root, args.split, get_spec(args.dataset))
    unseen = [u.strip() for u in (args.unseen or "").split(",") if u.strip()]
    out = prepare_out_file(args.out)
    segmenter = _build_segmenter(segmenter_config(args), args.cache_dir)
    learner, meta = learn_prompts_on(
        segmenter,
        dataset,
        unseen,
        n_ctx=args.n_ctx,
        recipe=args.recipe,
        iterations=args.iterations,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
    )
    write_atomically({out: lambda p: learner.save(p, meta)})
    print(json.dumps({k: meta[k] for k in ("crops", "train_accuracy", "final_loss")}))
    return 0


def cmd_pseudo_label(args: argparse.Namespace) -> int:
    from .training.self_training import PseudoLabelConfig, pseudo_label

    _quiet_transformers()
    unseen = [u.strip() for u in args.unseen.split(",") if u.strip()]
    if not hasattr(args, "proposals_model"):
        raise ZsegError(
            "pseudo-labels need the network trained on the seen classes: pass --proposals-model RUN/model.pt"
        )
    config = PseudoLabelConfig(
        dataset=args.dataset,
        root=args.root,
        split=args.split,
        unseen=unseen,
        model=args.proposals_model,
        out=str(prepare_out_dir(args.out)),
        rule=args.rule,
        quantile=args.quantile,
        segmenter=segmenter_config(args),
        limit=args.limit,
        progress=not args.quiet,
    )
    report = pseudo_label(config)
    print(json.dumps(report["classes"]))
    return 0


def cmd_self_train(args: argparse.Namespace) -> int:
    from .training.self_training import SelfTrainConfig, self_train

    _quiet_transformers()
    summary = self_train(
        SelfTrainConfig.from_file(args.config),
        progress=not args.quiet,
        command=f"zsseg self-train --config {args.config}",
    )
    print(
        json.dumps(
            {
                "seen_only": summary["seen_only"],
                "rounds": [{k: r[k] for k in ("mIoU_seen", "mIoU_unseen", "hIoU")} for r in summary["rounds"]],
            }
        )
    )
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
    p.add_argument("--no-overlay", action="store_true", help="write the label PNG and the JSON summary only")
    p.add_argument(
        "--no-resume", action="store_true", help="segment every image again, even those whose outputs are complete"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding and resizing images ahead of the model (default: none for fewer than 16 "
        "images, else half the CPU cores, at most 8)",
    )
    p.add_argument(
        "--image-batch",
        type=int,
        default=None,
        help="images per proposal-network pass and shared encoder batches, grouped by size "
        f"(default: 1 on a CPU, {CUDA_IMAGE_BATCH} on a GPU)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    add_model_options(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("eval", help="mean IoU on a benchmark (official layouts or ROOT/SPLIT/{images,labels})")
    p.add_argument(
        "--dataset", default=None, help="voc21, voc20, ade150, ade847, pc59, pc459, coco_stuff171, cityscapes, camvid"
    )
    p.add_argument(
        "--preset",
        default=None,
        help="a protocol's reference settings, e.g. zsseg-cross-ade150 (docs/evaluation.md); flags override it",
    )
    p.add_argument("--root", required=True, help="dataset folder (see docs/evaluation.md for each layout)")
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument(
        "--unseen", default=None, help="comma-separated unseen classes: also report mIoU seen/unseen and hIoU"
    )
    p.add_argument(
        "--oracle",
        action="store_true",
        help="score the proposals labelled by the ground truth (stage-1 upper bound) and their recall",
    )
    p.add_argument("--out", default=None, help="folder for metrics.json, report.md and per_class_iou.png")
    p.add_argument("--save-predictions", action="store_true", help="also write each label map to OUT/predictions/")
    p.add_argument(
        "--per-pixel-model",
        default=None,
        help=(
            "evaluate this per-pixel baseline (a model.pt of a per_pixel "
            "run of `zsseg train`) instead of the two-stage segmenter"
        ),
    )
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    p.set_defaults(func=cmd_eval)

    from .server import ServerLimits

    p = sub.add_parser("serve", help="web page and HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-upload-mb",
        type=int,
        default=NOT_GIVEN,
        help=f"largest accepted upload in MB (default: {ServerLimits.max_upload_bytes // 2**20})",
    )
    p.add_argument(
        "--max-classes",
        type=int,
        default=NOT_GIVEN,
        help=f"most classes per request (default: {ServerLimits.max_classes})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=NOT_GIVEN,
        help=f"seconds before a request is answered 504 (default: {ServerLimits.request_timeout_s})",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=NOT_GIVEN,
        help=f"requests admitted at once; more get 503 + Retry-After (default: {ServerLimits.max_queue})",
    )
    add_model_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="per-stage timings, images/s, memory; optionally against the naive path")
    p.add_argument("inputs", nargs="+", help="real images: files, folders or globs")
    p.add_argument("--classes")
    p.add_argument("--classes-file")
    p.add_argument("--vocab")
    p.add_argument("--limit", type=int, default=5, help="images to time (default: 5)")
    p.add_argument(
        "--naive", action="store_true", help="also run the naive reference path and report speed-up and pixel agreement"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--bpe",
        default=None,
        help=(
            "CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) for the "
            "random-weight architectures clip-vit-b16 / clip-vit-l14"
        ),
    )
    p.add_argument("--out", default=None, help="write the JSON here too")
    add_model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train", help="train the stage-1 proposal network on seen classes (docs/training.md)")
    p.add_argument("--config", required=True, help="JSON training config")
    p.add_argument("--device", default=None, help="override the config's device")
    p.add_argument("--iterations", type=int, default=None, help="override the config's iteration count")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUTPUT/last.pt exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "learn-prompts", help="CoOp: learn context vectors on crops of seen classes (use with --templates learned:FILE)"
    )
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--unseen", default=None, help="comma-separated classes left out")
    p.add_argument("--n-ctx", type=int, default=16, help="context vectors (default: 16)")
    p.add_argument(
        "--recipe",
        default="quick",
        choices=["quick", "reference"],
        help="quick: crops embedded once, 300 iterations; reference: zsseg.baseline's (augmented crops, 32 per class, "
        "SGD + weight decay, warm-up, cosine, 16k iterations) (default: quick)",
    )
    p.add_argument("--iterations", type=int, default=None, help="override the recipe's iteration count")
    p.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate (0.02)")
    p.add_argument("--limit", type=int, default=None, help="first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to write the learned prompt (.pt)")
    add_model_options(p)
    p.set_defaults(func=cmd_learn_prompts)

    p = sub.add_parser(
        "pseudo-label", help="self-training: label the unseen classes of a training set with a seen-class model"
    )
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument(
        "--unseen", required=True, help="comma-separated classes whose names are known but whose labels are not"
    )
    p.add_argument(
        "--rule",
        default=RULES[0],
        choices=RULES,
        help="quantile (default, measured better): a pixel whose best class is unseen and at least as confident as "
        "that class's --quantile; prior: zsseg.baseline's (every pixel without seen ground truth)",
    )
    p.add_argument("--quantile", type=float, default=0.5, help="for --rule quantile (default: 0.5)")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument(
        "--out", required=True, help="the pseudo-labelled set (OUT/SPLIT/images|labels) and OUT/pseudo_labels.json"
    )
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    p.set_defaults(func=cmd_pseudo_label)

    p = sub.add_parser(
        "self-train", help="seen-class training -> pseudo-labels -> training again -> evaluation (docs/training.md)"
    )
    p.add_argument("--config", required=True, help="JSON self-training config")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_self_train)

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
