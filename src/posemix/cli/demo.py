"""``posemix demo``: the combined model against a single-source baseline, end to end."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="train on a COCO-like and an AIC-like set at once "
                                           "and compare with a single-source baseline")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--epochs", type=int, help="epochs of the combined model (default: "
                                              "configs/demo/combine.py's max_epochs)")
    p.add_argument("--images", type=int, default=2000, help="train images per dataset")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.demo.run import run_demo

    run_demo(args.out, args.epochs, args.images, args.seed)
    return 0
