"""Cairn's icon, drawn rather than shipped: three stacked stones."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap


def cairn_icon(size: int = 64) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    stones = (  # (x, y, width, height) as fractions of the size, bottom stone first
        (0.10, 0.62, 0.80, 0.30, "#5b6770"),
        (0.20, 0.36, 0.60, 0.28, "#7d8a93"),
        (0.32, 0.12, 0.36, 0.26, "#a3b0b8"),
    )
    for x, y, w, h, colour in stones:
        painter.setBrush(QColor(colour))
        painter.drawEllipse(QRectF(x * size, y * size, w * size, h * size))
    painter.end()
    return QIcon(pixmap)
