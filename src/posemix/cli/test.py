"""``posemix test``: evaluate a checkpoint."""

from __future__ import annotations

import argparse
import json

from posemix.cli.common import add_config_args


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("test", help="evaluate a checkpoint")
    add_config_args(p)
    p.add_argument("checkpoint", help="the checkpoint to evaluate: a posemix or MMPose .pth "
                                      "file, or a URL")
    p.add_argument("--work-dir", help="also append the metrics to WORK_DIR/metrics.jsonl "
                                      "(default: print them only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.api import load_config
    from posemix.engine import test

    cfg = load_config(args.config, args.cfg_options)
    metrics = test(cfg, args.checkpoint, work_dir=args.work_dir)
    print(json.dumps(metrics, indent=1))
    return 0
