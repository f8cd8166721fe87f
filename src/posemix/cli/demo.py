"""``posemix demo``: does mixing pay? Single-source baselines and mixed models, end to end."""

from __future__ import annotations

import argparse

from posemix.cli.common import at_least


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from posemix.demo.run import DEFAULT_MODELS, MODELS, REGIME_NOTES

    p = subparsers.add_parser("demo", help="does mixing pay? train single-source baselines "
                                           "and mixed models on a COCO-like and an AIC-like "
                                           "set, compare each source in its own layout")
    p.add_argument("--out", default=None, help="output folder (default demo_out, or "
                                               "demo_out_abundant with --regime abundant)")
    p.add_argument("--regime", choices=sorted(REGIME_NOTES), default="scarce",
                   help="scarce: a small COCO-like target beside a 4x larger AIC-like set "
                        "(default); abundant: both sets the same size")
    p.add_argument("--full", action="store_true",
                   help=f"train every model ({', '.join(MODELS)}); default: "
                        f"{', '.join(DEFAULT_MODELS)}")
    p.add_argument("--models", type=lambda v: v.split(","), metavar="A,B",
                   help="train only these models (comma-separated, among "
                        f"{', '.join(MODELS)})")
    p.add_argument("--epochs", type=at_least(1), help="epochs of the mixed models (default: "
                                              "configs/demo/combine.py's max_epochs); the "
                                              "baselines get as many iterations")
    p.add_argument("--images", type=at_least(4), default=2000,
                   help="AIC-like train images (default 2000; the COCO-like set has a "
                        "quarter of them in the scarce regime)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the synthetic data (default 0)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.demo.run import run_demo

    run_demo(args.out, args.epochs, args.images, args.seed, args.regime, args.full, args.models)
    return 0
