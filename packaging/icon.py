"""Render Cairn's icon (drawn by the app, `cairn.app.icon`) to a file for the bundles:
`python packaging/icon.py OUT.png [SIZE]`, or `OUT.ico` for Windows (Qt writes ICO)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    from cairn.app.icon import cairn_icon

    target = Path(sys.argv[1])
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    app = QGuiApplication([])
    image = cairn_icon(size).pixmap(size, size).toImage()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target)):
        print(f"icon: could not write {target}", file=sys.stderr)
        return 1
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
