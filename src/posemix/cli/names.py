"""``posemix names``: how posemix reads a schema's keypoint names, and what
``mapping='by_name'`` maps them to."""

from __future__ import annotations

import argparse

from posemix.errors import PosemixError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("names", help="show how posemix reads a schema's keypoint names, "
                                            "and what mapping='by_name' maps them to")
    p.add_argument("schema", help="a built-in name (coco, aic, ...) or a metainfo file")
    p.add_argument("--to", metavar="TARGET", help="the target schema of mapping='by_name'")
    p.add_argument("--alias", nargs="+", metavar="NAME=CANONICAL",
                   help="user aliases, as KeypointConverter(aliases=...) takes them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.keypoints.naming_report import names_command

    aliases = {}
    for item in args.alias or []:
        name, sep, canon = item.partition("=")
        if not sep or not name or not canon:
            raise PosemixError(f"--alias takes NAME=CANONICAL (e.g. Hand=wrist), got '{item}'")
        aliases[name] = canon
    print(names_command(args.schema, args.to, aliases, args.json))
    return 0
