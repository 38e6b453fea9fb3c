"""One app per workspace: a second launch on the same folder focuses the first and exits.

The first instance listens on a local socket named after the workspace's resolved path;
a later launch that can connect sends "focus" and leaves. A stale socket file left by a
crash is removed before listening again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

TIMEOUT_MS = 500


def server_name(root: Path) -> str:
    digest = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"cairn-app-{digest}"


def focus_running(root: Path) -> bool:
    """Ask an app already open on `root` to come forward; True when one answered."""
    socket = QLocalSocket()
    socket.connectToServer(server_name(root))
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write(b"focus\n")
    socket.waitForBytesWritten(TIMEOUT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """Listens for later launches on the same workspace; calls `on_focus` for each."""

    def __init__(self, root: Path, on_focus: Callable[[], None]) -> None:
        super().__init__()
        self._on_focus = on_focus
        self._server = QLocalServer(self)
        name = server_name(root)
        # Only a leftover of a crashed instance is removed: when another app answers on
        # the name, it is alive, and taking its name would leave it unreachable.
        if not self._server.listen(name) and not focus_running(root):
            QLocalServer.removeServer(name)
            self._server.listen(name)
        self._server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(self._on_focus)
            socket.disconnected.connect(socket.deleteLater)

    def close(self) -> None:
        self._server.close()
