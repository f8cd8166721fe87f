"""``posemix union``: write the union (or a merge target) of keypoint schemas."""

from __future__ import annotations

import argparse
import sys

from posemix.cli.common import add_alias_arg, parse_aliases


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("union", help="write the union (or a merge target) of keypoint "
                                            "schemas as an MMPose metainfo file")
    p.add_argument("schemas", nargs="+", help="built-in names (coco, aic, ...) or metainfo files")
    p.add_argument("--target", help="merge into this schema instead of building the union")
    p.add_argument("--name", help="dataset_name of the result (default: names joined by _)")
    add_alias_arg(p)
    p.add_argument("-o", "--output", required=True, help="the metainfo file to write")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.keypoints import union_from_spec, write_metainfo_file

    schema, notes = union_from_spec(args.schemas, args.target, args.name,
                                    parse_aliases(args.alias))
    for note in notes:
        print(f"posemix union: note: {note}", file=sys.stderr)
    write_metainfo_file(schema, args.output)
    print(f"{args.output}: '{schema.name}', {schema.num_keypoints} keypoints: "
          f"{', '.join(schema.keypoints)}")
    return 0
