"""The ``posemix`` command: train, test, infer, export, browse, inspect, union, names, demo, ...

One module per subcommand, each with ``add_parser(subparsers)``; nothing outside this
package imports it. User errors (bad files, configs, mappings) print one clear message and
exit with status 2; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from posemix import __version__
from posemix.cli import (
    browse,
    demo,
    demo_data,
    export,
    infer,
    inspect,
    names,
    test,
    train,
    union,
)
from posemix.errors import PosemixError

COMMANDS = (train, test, inspect, union, names, browse, demo_data, demo, export, infer)
# plain text: argparse prints it as is, so the docstring's RST markup would show
DESCRIPTION = ("Train one 2D keypoint (pose) model on several datasets at once, even when "
               "their keypoint definitions differ.")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posemix", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"posemix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except PosemixError as exc:
        print(f"posemix {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
