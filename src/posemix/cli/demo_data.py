"""``posemix demo-data``: render the demo's COCO-like and AIC-like datasets."""

from __future__ import annotations

import argparse

from posemix.cli.common import at_least
from posemix.demo.generate import DATASETS, generate_demo_data


def add_demo_data_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``posemix demo-data`` to the CLI's subparsers (sets ``func``)."""
    p = subparsers.add_parser(
        "demo-data", help="generate the demo's COCO-like and AIC-like datasets",
        description="Render synthetic people into a COCO-like and an AIC-like dataset.")
    p.add_argument("--out", required=True, help="output folder (holds coco-like/, aic-like/)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the rendered people (default 0); the same seed and "
                        "sizes give the same data")
    p.add_argument("--images", type=at_least(1), default=2000, metavar="N",
                   help="train images per dataset (default 2000)")
    p.add_argument("--val-images", type=at_least(1), default=None, metavar="N",
                   help="val images per dataset (default N/10)")
    p.add_argument("--workers", type=at_least(1), default=None,
                   help="processes (default: CPU count)")
    p.add_argument("--force", action="store_true", help="regenerate even if the data exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


add_parser = add_demo_data_parser


def run(args: argparse.Namespace) -> int:
    result = generate_demo_data(args.out, seed=args.seed, num_images=args.images,
                                num_val=args.val_images, workers=args.workers,
                                progress=not args.quiet, force=args.force)
    verb = f"generated in {result['seconds']:.1f} s" if result["generated"] else "already there"
    print(f"demo data in {result['root']} ({verb}): " + ", ".join(
        f"{d} {result['images'][d]['train']} train + {result['images'][d]['val']} val images"
        for d in DATASETS))
    return 0
