"""``posemix inspect``: what each source brings, before training."""

from __future__ import annotations

import argparse
import json
import sys

from posemix.cli.common import SPLITS, add_config_args, at_least


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("inspect", help="show what each source brings, before training")
    add_config_args(p)
    p.add_argument("--split", choices=SPLITS, default="train",
                   help="whose dataloader's dataset to inspect (default train)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dump", type=at_least(0), default=0, metavar="N",
                   help="add each source's first N converted instances (implies --json: "
                        "instances are data to read by program)")
    p.add_argument("--report", metavar="DIR", help="also write the HTML mapping report")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.api import build_dataset, load_config, output_folder
    from posemix.inspection import composing_sampler, format_summary, summarize

    if args.report:
        output_folder(args.report, "--report")
    cfg = load_config(args.config, args.cfg_options)
    dataset = build_dataset(cfg, args.split)
    sampler = composing_sampler(cfg.get(f"{args.split}_dataloader"), dataset)
    summary = summarize(dataset, dump=args.dump, sampler=sampler)
    as_json = args.json or args.dump > 0
    print(json.dumps(summary, indent=1) if as_json else format_summary(summary))
    if args.report:
        from posemix.report import write_report

        path = write_report(dataset, args.report)
        print(f"mapping report: {path}", file=sys.stderr)
    return 0
