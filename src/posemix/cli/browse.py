"""``posemix browse``: pictures of training samples as the model will see them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posemix.cli.common import SPLITS, add_config_args, at_least


def add_browse_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``browse`` to the ``posemix`` command's subparsers."""
    p = subparsers.add_parser(
        "browse", help="draw samples as the model will see them, and each source's mapping")
    add_config_args(p)
    p.add_argument("-o", "--out-dir",
                   help="where the pictures go (default work_dirs/CONFIG_NAME/browse)")
    p.add_argument("-n", "--per-source", type=at_least(1), default=8, metavar="N",
                   help="samples per source (default 8)")
    p.add_argument("--split", choices=SPLITS, default="train")
    p.add_argument("--seed", type=int, default=0, help="which samples are drawn (default 0)")
    p.set_defaults(func=run)
    return p


add_parser = add_browse_parser


def run(args: argparse.Namespace) -> int:
    """The ``posemix browse`` handler."""
    from posemix.api import load_config
    from posemix.browse import browse

    cfg = load_config(args.config, args.cfg_options)
    out_dir = Path(args.out_dir or Path("work_dirs") / Path(args.config).stem / "browse")
    written = browse(cfg, out_dir, per_source=args.per_source, split=args.split,
                     seed=args.seed)
    print(f"wrote {len(written)} pictures under {out_dir}")
    return 0
