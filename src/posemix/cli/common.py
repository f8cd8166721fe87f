"""Arguments several subcommands share."""

from __future__ import annotations

import argparse

SPLITS = ("train", "val", "test")


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (Python, JSON or YAML)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                        help="override config keys, e.g. train_dataloader.batch_size=8")
