"""The ``posemix`` command: train, test, infer, browse, inspect, union, demo, demo-data.

User errors (bad files, configs, mappings) print one clear message and exit with
status 2; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from posemix.errors import PosemixError

SPLITS = ("train", "val", "test")


def load_config(path: str, options: Sequence[str] | None) -> Any:
    """A config file with ``--cfg-options`` applied."""
    from posemix.config import Config, parse_cfg_options

    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(parse_cfg_options(options))
    return cfg


def build_split_dataset(cfg: Any, split: str) -> Any:
    """The dataset of ``{split}_dataloader`` (val/test fall back to each other)."""
    import posemix  # noqa: F401 - registers every type
    from posemix.registry import DATASETS

    order = [split] + [s for s in ("val", "test") if s != split and split != "train"]
    for name in order:
        loader = cfg.get(f"{name}_dataloader")
        if loader:
            return DATASETS.build(loader["dataset"])
    raise PosemixError(f"the config has no {split}_dataloader")


def cmd_inspect(args: argparse.Namespace) -> int:
    from posemix.inspection import format_summary, summarize

    cfg = load_config(args.config, args.cfg_options)
    dataset = build_split_dataset(cfg, args.split)
    summary = summarize(dataset, dump=args.dump)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from posemix.engine import train

    cfg = load_config(args.config, args.cfg_options)
    train(cfg, work_dir=args.work_dir, resume=args.resume, amp=args.amp, device=args.device)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from posemix.engine import test

    cfg = load_config(args.config, args.cfg_options)
    metrics = test(cfg, args.checkpoint, work_dir=args.work_dir)
    print(json.dumps(metrics, indent=1))
    return 0


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (Python, JSON or YAML)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                        help="override config keys, e.g. train_dataloader.batch_size=8")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posemix", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a config")
    add_config_args(p)
    p.add_argument("--work-dir", help="where checkpoints and logs go (default work_dirs/NAME)")
    p.add_argument("--resume", nargs="?", const=True, default=None,
                   help="resume from CKPT, or from the newest checkpoint in the work dir")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("test", help="evaluate a checkpoint")
    add_config_args(p)
    p.add_argument("checkpoint")
    p.add_argument("--work-dir")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("inspect", help="show what each source brings, before training")
    add_config_args(p)
    p.add_argument("--split", choices=SPLITS, default="train")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dump", type=int, default=0, metavar="N",
                   help="add each source's first N converted instances")
    p.set_defaults(func=cmd_inspect)

    from posemix.browse import add_browse_parser

    add_browse_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"posemix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except PosemixError as exc:
        print(f"posemix {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
