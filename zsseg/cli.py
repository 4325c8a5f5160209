"""Command line: ``zsseg segment | eval | serve | bench | train | learn-prompts | pseudo-label |
self-train | vocabularies``.

A thin shell over the library: the model flags are generated from ``SegmenterConfig``'s fields
(their help, choices and defaults live there), flags not given are left out, and each command
builds its configuration once and calls one function. Every default lives in its dataclass
(``SegmenterConfig``, ``EvalConfig``, ``ServerLimits``, ``TrainConfig``) alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from dataclasses import fields

from .backends import BACKENDS
from .collection import CUDA_IMAGE_BATCH
from .config import SegmenterConfig, field_default
from .datasets import DATASETS
from .distributed import local_device, process_group
from .errors import ZsegError
from .evaluation.runner import EvalConfig
from .image_io import write_atomically
from .inputs import expand_inputs, prepare_out_dir, prepare_out_file
from .limits import ServerLimits
from .training import RECIPES, RULES
from .training.self_training import PseudoLabelConfig
from .vocabulary import resolve_vocabulary

NOT_GIVEN = argparse.SUPPRESS


def split_names(text: str | None) -> list[str]:
    """ "a, b , c" -> ["a", "b", "c"] (the one reading of a comma-separated list of names)."""
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _flag_type(f) -> type:
    """int, float or str from a field's annotation ("float | None" -> float)."""
    hint = typing.get_type_hints(SegmenterConfig)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    return args[0]


def _default_text(f) -> str:
    """A field's default for its help: its value, or each backend's where it is None."""
    value, attr = field_default(SegmenterConfig, f.name), f.metadata.get("backend")
    if value is not None:
        return str(value)
    if attr is None:
        return "the backend's"
    return "the backend's: " + ", ".join(f"{name} {getattr(cls, attr)}" for name, cls in BACKENDS.items())


def add_model_options(p: argparse.ArgumentParser) -> None:
    """One flag per ``SegmenterConfig`` field (``--short-side`` for ``short_side``), and --cache-dir."""
    g = p.add_argument_group("model (defaults: zsseg.SegmenterConfig)")
    for f in fields(SegmenterConfig):
        choices = f.metadata.get("choices")
        g.add_argument(
            "--" + f.name.replace("_", "-"),
            type=_flag_type(f),
            default=NOT_GIVEN,
            choices=list(choices) if choices is not None else None,
            help=f"{f.metadata['help']} (default: {_default_text(f)})",
        )
    g.add_argument(
        "--cache-dir", default=None, help="text-embedding cache folder (default: $ZSSEG_CACHE_DIR or ~/.cache/zsseg)"
    )


def _model_flags(args: argparse.Namespace) -> dict:
    """The SegmenterConfig fields given as flags (flags not given are absent from ``args``)."""
    return {f.name: getattr(args, f.name) for f in fields(SegmenterConfig) if hasattr(args, f.name)}


def segmenter_config(args: argparse.Namespace, **overrides) -> SegmenterConfig:
    """The SegmenterConfig of the flags given (the others keep the dataclass's defaults); under
    torchrun "cuda" is this process's GPU. Built once per command."""
    given = _model_flags(args)
    given["device"] = local_device(given.get("device", field_default(SegmenterConfig, "device")))
    return SegmenterConfig(**{**given, **overrides})


def _build_segmenter(config: SegmenterConfig, cache_dir: str | None):
    from .segmenter import Segmenter

    _quiet_transformers()
    return Segmenter.from_config(config, cache_dir)


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _vocabulary(args: argparse.Namespace):
    return resolve_vocabulary(args.classes, file=args.classes_file, vocab=args.vocab)


def _add_class_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", help='comma-separated class names; synonyms with ";" (e.g. "cat, tv; television")')
    p.add_argument("--classes-file", help="text file, one class per line")
    p.add_argument("--vocab", help="a shipped vocabulary (see `zsseg vocabularies`)")


# --- segment ---------------------------------------------------------------------------------------


def _segment_parser(sub) -> None:
    p = sub.add_parser("segment", help="segment images into the classes you name")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    _add_class_options(p)
    p.add_argument("--out", default="zsseg_out", help="output folder (default: zsseg_out)")
    p.add_argument("--no-overlay", action="store_true", help="write the label PNG and the JSON summary only")
    p.add_argument(
        "--coco",
        action="store_true",
        help="also write STEM.coco.json: one COCO-style record per connected segment (category, area, bbox, "
        "RLE mask that pycocotools.mask.decode reads, score)",
    )
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


def cmd_segment(args: argparse.Namespace) -> int:
    from .collection import segment_collection

    if args.image_batch is not None and args.image_batch < 1:  # before the model loads
        raise ZsegError(f"--image-batch must be >= 1, got {args.image_batch}")
    vocab = _vocabulary(args)
    inputs = expand_inputs(args.inputs)
    config = segmenter_config(args)
    out = prepare_out_dir(args.out)
    segmenter = _build_segmenter(config, args.cache_dir)
    single = len(inputs) == 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1
    with process_group():
        result = segment_collection(
            segmenter,
            inputs,
            vocab,
            out,
            overlay=not args.no_overlay,
            coco=args.coco,
            resume=not args.no_resume,
            workers=args.workers,
            image_batch=args.image_batch,
            manifest=not single,
            progress=not args.quiet and not single,
        )
    if single and result.failed:
        return 2
    if not args.quiet:
        where = f" (process {result.rank} of {result.world})" if result.world > 1 else ""
        skipped = f", skipped {result.skipped} already done" if result.skipped else ""
        failed = f", {result.failed} failed (see {out / 'manifest.jsonl'})" if result.failed and not single else ""
        print(
            f"wrote {result.written} of {result.images} segmentation(s) to {out}{where}{skipped}{failed}",
            file=sys.stderr,
        )
    return 1 if result.failed else 0


# --- vocabularies ----------------------------------------------------------------------------------


def _vocabularies_parser(sub) -> None:
    p = sub.add_parser("vocabularies", help="list the shipped vocabularies")
    p.set_defaults(func=cmd_vocabularies)


def cmd_vocabularies(args: argparse.Namespace) -> int:
    from .vocabulary import list_vocabularies, shipped_vocabulary

    for name in list_vocabularies():
        v = shipped_vocabulary(name)
        print(f"{name:15s} {len(v):4d} classes  {', '.join(v.names[:6])}, ...")
    return 0


# --- eval ------------------------------------------------------------------------------------------


def _eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="mean IoU on a benchmark (official layouts or ROOT/SPLIT/{images,labels})")
    p.add_argument(
        "--dataset",
        default=None,
        choices=list(DATASETS),
        help="the benchmark (docs/evaluation.md; generic: ROOT/classes.txt)",
    )
    p.add_argument(
        "--preset",
        default=None,
        help="a protocol's reference settings, e.g. zsseg-cross-ade150 (docs/evaluation.md); flags override it",
    )
    p.add_argument("--root", required=True, help="dataset folder (see docs/evaluation.md for each layout)")
    p.add_argument("--split", default=field_default(EvalConfig, "split"))
    names = p.add_argument_group(
        "class names (default: the dataset's own)",
        "your names for the dataset's classes, one each in its order, then any names of things its labels never "
        "hold: mIoU stays over its classes, and the share of pixels those names take is reported",
    )
    _add_class_options(names)
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
        help="evaluate this per-pixel baseline (a model.pt of a per_pixel run of `zsseg train`) instead of the "
        "two-stage segmenter",
    )
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    p.set_defaults(func=cmd_eval)


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
        options["unseen"] = split_names(args.unseen)
    if any(x is not None for x in (args.classes, args.classes_file, args.vocab)):
        options["classes"] = _vocabulary(args)
    if args.preset:
        config = preset_config(args.preset, args.root, _model_flags(args), **options)
    else:
        config = EvalConfig(dataset=args.dataset, root=args.root, segmenter=segmenter_config(args), **options)
    with process_group():
        result = run(config, command="zsseg " + " ".join(sys.argv[1:]))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: result[k] for k in SUMMARY_KEYS if k in result}))
    return 0


# --- serve -----------------------------------------------------------------------------------------


def _serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="web page and HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    limits = {
        "--max-upload-mb": (int, f"largest accepted upload in MB (default: {ServerLimits.max_upload_bytes // 2**20})"),
        "--max-classes": (int, f"most classes per request (default: {ServerLimits.max_classes})"),
        "--timeout": (float, f"seconds before a request is answered 504 (default: {ServerLimits.request_timeout_s})"),
        "--max-queue": (
            int,
            f"requests admitted at once; more get 503 + Retry-After (default: {ServerLimits.max_queue})",
        ),
    }
    for flag, (kind, text) in limits.items():
        p.add_argument(flag, type=kind, default=NOT_GIVEN, help=text)
    add_model_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import create_app

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


# --- bench -----------------------------------------------------------------------------------------


def _bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="per-stage timings, images/s, memory; optionally against the naive path")
    p.add_argument("inputs", nargs="+", help="real images: files, folders or globs")
    _add_class_options(p)
    p.add_argument("--limit", type=int, default=5, help="images to time (default: 5)")
    p.add_argument(
        "--naive", action="store_true", help="also run the naive reference path and report speed-up and pixel agreement"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--bpe",
        default=None,
        help="CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) for the random-weight architectures clip-vit-b16 / "
        "clip-vit-l14",
    )
    p.add_argument("--out", default=None, help="write the JSON here too")
    add_model_options(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import bench_segmenter, benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    vocab = _vocabulary(args)
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


# --- train, learn-prompts, pseudo-label, self-train -------------------------------------------------


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train the stage-1 proposal network on seen classes (docs/training.md)")
    p.add_argument("--config", required=True, help="JSON training config")
    p.add_argument("--device", default=None, help="override the config's device")
    p.add_argument("--iterations", type=int, default=None, help="override the config's iterations (its own stage's)")
    p.add_argument("--seed", type=int, default=None, help="override the config's random seed (its own stage's)")
    p.add_argument("--output", default=None, help="override the config's output folder (its own stage's)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="override the config's CPU threads (its own stage's; 0: torch's choice); a CPU training repeats "
        "byte for byte only with the count it ran with",
    )
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUTPUT/last.pt exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .training.train import TrainConfig, train

    _quiet_transformers()
    cfg = TrainConfig.from_file(args.config)
    if args.device:
        cfg.device = args.device
    if args.iterations:
        cfg.iterations = args.iterations
    if args.seed is not None:
        cfg.seed = args.seed
    if args.output:
        cfg.output = args.output
    if args.threads is not None:
        if args.threads < 0:
            raise ZsegError(f"--threads must be >= 0 (0: torch's choice), got {args.threads}")
        cfg.threads = args.threads or None
    with process_group("nccl" if cfg.device.startswith("cuda") else "gloo"):
        out = train(cfg, resume=not args.no_resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"zsseg: training output in {out}", file=sys.stderr)
    return 0


def _finetune_parser(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="teach the network new classes from a small labelled folder, keeping the ones it knows (docs/training.md)",
    )
    p.add_argument("data", help="folder with SPLIT/images, SPLIT/labels (value = line of classes.txt, 255 unlabelled)")
    p.add_argument("--out", required=True, help="output folder: model.pt, loss curve, model card")
    p.add_argument("--base", default=None, help="the network to teach (default: the shipped one)")
    # Defaults (None here) are FinetuneConfig's: the recipe owns them.
    p.add_argument("--split", default=None, help="the folder's split to learn from (default: train)")
    p.add_argument("--iterations", type=int, default=None, help="(default: 300)")
    p.add_argument("--batch-size", type=int, default=None, help="(default: 4)")
    p.add_argument("--lr", type=float, default=None, help="(default: 1e-4)")
    p.add_argument(
        "--teacher-confidence",
        type=float,
        default=None,
        help="unlabelled pixels take the base network's class where it wins this share of the score (default 0.5)",
    )
    p.add_argument(
        "--new-class-bias",
        type=float,
        default=None,
        help="subtracted from the new classes' logits at inference, so they do not claim old classes' regions "
        "(default 1, measured in docs/training.md; 0: none)",
    )
    p.add_argument(
        "--freeze",
        default=None,
        help="comma-separated parts of the network kept at the base weights, e.g. backbone (default: none)",
    )
    p.add_argument("--device", default=None, help="(default: cpu)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/last.pt exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    from .training.finetune import FinetuneConfig, finetune

    _quiet_transformers()
    keys = ("base", "split", "iterations", "batch_size", "lr", "teacher_confidence", "new_class_bias", "device")
    options = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if args.freeze is not None:
        options["freeze"] = split_names(args.freeze)
    cfg = FinetuneConfig(args.data, args.out, **options)
    out = finetune(cfg, resume=not args.no_resume, progress=not args.quiet)
    print(f"zsseg: the taught network is {out / 'model.pt'} (model card: {out / 'model_card.md'})", file=sys.stderr)
    return 0


def _learn_prompts_parser(sub) -> None:
    p = sub.add_parser(
        "learn-prompts", help="CoOp: learn context vectors on crops of seen classes (use with --templates learned:FILE)"
    )
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--unseen", default=None, help="comma-separated classes left out")
    p.add_argument("--n-ctx", type=int, default=NOT_GIVEN, help="context vectors (default: 16)")
    p.add_argument(
        "--recipe",
        default=next(iter(RECIPES)),
        choices=list(RECIPES),
        help="quick: crops embedded once, 300 iterations; reference: zsseg.baseline's (augmented crops, 32 per class, "
        f"SGD + weight decay, warm-up, cosine, 16k iterations) (default: {next(iter(RECIPES))})",
    )
    p.add_argument("--iterations", type=int, default=None, help="override the recipe's iteration count")
    p.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate (0.02)")
    p.add_argument("--limit", type=int, default=None, help="first N training images")
    p.add_argument("--seed", type=int, default=NOT_GIVEN)
    p.add_argument("--out", required=True, help="where to write the learned prompt (.pt)")
    add_model_options(p)
    p.set_defaults(func=cmd_learn_prompts)


def cmd_learn_prompts(args: argparse.Namespace) -> int:
    from .datasets import SegmentationDataset, get_spec
    from .training.coop import learn_prompts_on

    dataset = SegmentationDataset(args.root, args.split, get_spec(args.dataset))
    out = prepare_out_file(args.out)
    segmenter = _build_segmenter(segmenter_config(args), args.cache_dir)
    learner, meta = learn_prompts_on(
        segmenter,
        dataset,
        split_names(args.unseen),
        recipe=args.recipe,
        iterations=args.iterations,
        lr=args.lr,
        limit=args.limit,
        **{k: getattr(args, k) for k in ("n_ctx", "seed") if hasattr(args, k)},  # else learn_prompts_on's defaults
    )
    write_atomically({out: lambda p: learner.save(p, meta)})
    print(json.dumps({k: meta[k] for k in ("crops", "train_accuracy", "final_loss")}))
    return 0


def _pseudo_label_parser(sub) -> None:
    p = sub.add_parser(
        "pseudo-label", help="self-training: label the unseen classes of a training set with a seen-class model"
    )
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--root", required=True)
    p.add_argument("--split", default=field_default(PseudoLabelConfig, "split"))
    p.add_argument(
        "--unseen", required=True, help="comma-separated classes whose names are known but whose labels are not"
    )
    p.add_argument(
        "--rule",
        default=field_default(PseudoLabelConfig, "rule"),
        choices=RULES,
        help="quantile (default, measured better): a pixel whose best class is unseen and at least as confident as "
        "that class's --quantile; prior: zsseg.baseline's (every pixel without seen ground truth)",
    )
    p.add_argument(
        "--quantile",
        type=float,
        default=field_default(PseudoLabelConfig, "quantile"),
        help=f"for --rule quantile (default: {field_default(PseudoLabelConfig, 'quantile')})",
    )
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument(
        "--out", required=True, help="the pseudo-labelled set (OUT/SPLIT/images|labels) and OUT/pseudo_labels.json"
    )
    p.add_argument("--quiet", action="store_true")
    add_model_options(p)
    p.set_defaults(func=cmd_pseudo_label)


def cmd_pseudo_label(args: argparse.Namespace) -> int:
    from .training.self_training import PseudoLabelConfig, pseudo_label

    _quiet_transformers()
    if not hasattr(args, "proposals_model"):
        raise ZsegError(
            "pseudo-labels need the network trained on the seen classes: pass --proposals-model RUN/model.pt"
        )
    config = PseudoLabelConfig(
        dataset=args.dataset,
        root=args.root,
        split=args.split,
        unseen=split_names(args.unseen),
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


def _self_train_parser(sub) -> None:
    p = sub.add_parser(
        "self-train", help="seen-class training -> pseudo-labels -> training again -> evaluation (docs/training.md)"
    )
    p.add_argument("--config", required=True, help="JSON self-training config")
    p.add_argument("--seed", type=int, default=None, help="seed of every training (outputs get -seedN)")
    p.add_argument("--no-control", action="store_true", help="skip the control (extra iterations on seen labels)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_self_train)


def cmd_self_train(args: argparse.Namespace) -> int:
    from .training.self_training import SelfTrainConfig, self_train

    _quiet_transformers()
    config = SelfTrainConfig.from_file(args.config)
    if args.seed is not None:
        config.seed = args.seed
    if args.no_control:
        config.control = False
    with process_group():
        summary = self_train(
            config,
            progress=not args.quiet,
            command=f"zsseg self-train --config {args.config}",
        )
    keys = ("mIoU_seen", "mIoU_unseen", "hIoU")
    rounds = [
        {**{k: r[k] for k in keys}, **({"control": {k: r["control"][k] for k in keys}} if "control" in r else {})}
        for r in summary["rounds"]
    ]
    print(json.dumps({"seen_only": summary["seen_only"], "rounds": rounds}))
    return 0


SUBCOMMANDS = (
    _segment_parser,
    _eval_parser,
    _serve_parser,
    _bench_parser,
    _train_parser,
    _finetune_parser,
    _learn_prompts_parser,
    _pseudo_label_parser,
    _self_train_parser,
    _vocabularies_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zsseg", description="Open-vocabulary semantic segmentation.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
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
