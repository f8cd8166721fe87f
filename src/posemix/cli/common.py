"""Arguments several subcommands share."""

from __future__ import annotations

import argparse

from posemix.errors import PosemixError

SPLITS = ("train", "val", "test")


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (Python, JSON or YAML)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                        help="override config keys, e.g. train_dataloader.batch_size=8")


def add_alias_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alias", nargs="+", default=[], metavar="NAME=CANONICAL",
                        help="user aliases, as KeypointConverter(aliases=...) takes them "
                             "(e.g. Hand=wrist)")


def parse_aliases(items: list[str]) -> dict[str, str]:
    """``['Hand=wrist', ...]`` as the ``aliases`` dict the library takes."""
    aliases = {}
    for item in items:
        name, sep, canon = item.partition("=")
        if not sep or not name or not canon:
            raise PosemixError(f"--alias takes NAME=CANONICAL (e.g. Hand=wrist), got '{item}'")
        aliases[name] = canon
    return aliases


def at_least(minimum: int):
    """An argparse ``type``: an integer >= ``minimum``, refused by argparse itself (usage
    and a one-line error) before the command does any work."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse
