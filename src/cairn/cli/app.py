"""`cairn app [DIR]`: open the desktop app on a workspace (the same as `cairn-app`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run_app(args: argparse.Namespace) -> int:
    from cairn.app.main import run

    return run(
        Path(args.dir).expanduser(),
        screenshot=Path(args.screenshot) if args.screenshot else None,
        view=args.view,
        run_automations=not args.no_automations and not args.screenshot,
    )
