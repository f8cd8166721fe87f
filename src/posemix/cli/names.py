"""``posemix names``: how posemix reads a schema's keypoint names, and what
``mapping='by_name'`` maps them to."""

from __future__ import annotations

import argparse

from posemix.cli.common import add_alias_arg, parse_aliases


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("names", help="show how posemix reads a schema's keypoint names, "
                                            "and what mapping='by_name' maps them to")
    p.add_argument("schema", help="a built-in name (coco, aic, ...) or a metainfo file")
    p.add_argument("--to", metavar="TARGET", help="the target schema of mapping='by_name'")
    add_alias_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.keypoints.naming_report import names_command

    print(names_command(args.schema, args.to, parse_aliases(args.alias), args.json))
    return 0
