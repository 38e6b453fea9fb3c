"""Entry point of the `cairn` command. Imports stay minimal so `cairn --version` is instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cairn import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn",
        description="Cairn: a local-first agent workspace of plain markdown files.",
    )
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="copy the starter workspace into DIR")
    init.add_argument("dir", nargs="?", default=".", metavar="DIR")

    for name, text in (
        ("check", "report problems in the workspace's files (exit 1 on any error)"),
        ("ls", "list spaces, skills, operators and automations"),
        ("watch", "print changes live as files are edited (Ctrl-C to stop)"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "dir",
            nargs="?",
            default=".",
            metavar="DIR",
            help="the workspace folder (default: the current folder)",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # Command modules are imported only when used: each pulls in more of Cairn.
    from cairn.cli import commands
    from cairn.core.errors import CairnError

    try:
        return int(getattr(commands, f"run_{args.command}")(args))
    except CairnError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
