"""Python's cycle collector, run on the UI thread only.

The cyclic garbage collector runs in whichever thread happens to allocate when a
threshold is crossed. When it frees a Qt wrapper there (a widget from a closed card, a
worker held in a cycle by a lambda), the C++ object is destroyed off the thread that owns
it, and the app crashes later, somewhere else. So the app turns automatic collection off
and collects on the UI thread from a timer, with the same generation thresholds Python
uses. Reference counting still frees everything outside cycles at once.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class UiThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the generations whose counts passed Python's own thresholds."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
