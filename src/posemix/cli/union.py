"""``posemix union``: write the union (or a merge target) of keypoint schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posemix.cli.common import add_alias_arg, parse_aliases
from posemix.errors import PosemixError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("union", help="write the union (or a merge target) of keypoint "
                                            "schemas as an MMPose metainfo file")
    p.add_argument("schemas", nargs="+", help="built-in names (coco, aic, ...) or metainfo files")
    p.add_argument("--target", help="merge into this schema instead of building the union")
    p.add_argument("--name", help="dataset_name of the result (default: names joined by _)")
    add_alias_arg(p)
    p.add_argument("-o", "--output", required=True,
                   help="the metainfo file (.py) to write; an existing file needs --force")
    p.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    p.set_defaults(func=run)
    return p


def _check_output(output: str, force: bool) -> None:
    """Refuse to overwrite a file (a typo in -o could replace a config or source file)."""
    path = Path(output)
    if path.is_dir():
        raise PosemixError(f"-o {output}: is a folder; give the metainfo file to write, e.g. "
                           f"-o {path / 'union.py'}")
    if path.exists() and not force:
        raise PosemixError(f"-o {output}: the file exists; give --force to overwrite it")


def run(args: argparse.Namespace) -> int:
    from posemix.keypoints import union_from_spec, write_metainfo_file

    aliases = parse_aliases(args.alias)
    _check_output(args.output, args.force)
    schema, notes = union_from_spec(args.schemas, args.target, args.name, aliases)
    for note in notes:
        print(f"posemix union: note: {note}", file=sys.stderr)
    write_metainfo_file(schema, args.output)
    print(f"{args.output}: '{schema.name}', {schema.num_keypoints} keypoints: "
          f"{', '.join(schema.keypoints)}")
    return 0
