"""Colours and the light or dark appearance, in one place.

Scopes and states have one colour each, used as a badge background under white text, so
they read the same on a light or a dark window. Where a state colours plain text (a
warning, a check's status), `text_colour` lightens it on a dark palette.

The appearance follows the system by default: Qt takes the platform's light or dark
scheme where the platform says (macOS, Windows, GNOME and KDE through their themes).
Settings can force Light or Dark, which the Fusion style draws with an explicit palette
on every platform, including a bare X server that has no theme to follow.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

Scheme = Literal["system", "light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("system", "light", "dark")
SCHEME_KEY = "appearance/scheme"
_NATIVE_STYLE = "cairnNativeStyle"  # an application property: the style to go back to

BADGES = {
    "private": "#7b3fa0",
    "team": "#1f6fb2",
    "company": "#2e7d32",
    "paused": "#8a6d1f",
    "error": "#c62828",
    "warning": "#b26a00",
    "ok": "#2e7d32",
    "fail": "#c62828",
    "warn": "#b26a00",
}


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def badge_colour(kind: str) -> QColor:
    """A badge's background (its text is white)."""
    return QColor(BADGES.get(kind, "#666666"))


def text_colour(kind: str) -> QColor:
    """A state's colour for text on the window's own background."""
    colour = badge_colour(kind)
    return colour.lighter(170) if is_dark() else colour


def badge_style(kind: str) -> str:
    """A style sheet that draws a label as a badge."""
    return (
        f"QLabel {{ background: {badge_colour(kind).name()}; color: white;"
        " border-radius: 4px; padding: 1px 6px; }"
    )


def saved_scheme() -> Scheme:
    from cairn.app.window import settings

    value = str(settings().value(SCHEME_KEY, "system"))
    return value if value in SCHEMES else "system"


def apply_scheme(app: QApplication, scheme: Scheme) -> None:
    """Draw the app light, dark, or as the system says."""
    hints = app.styleHints()
    if app.property(_NATIVE_STYLE) is None:  # the platform's style, before any change
        app.setProperty(_NATIVE_STYLE, app.style().name())
    if scheme == "system":
        hints.unsetColorScheme()
        app.setStyle(str(app.property(_NATIVE_STYLE)))
        app.setPalette(app.style().standardPalette())
        return
    hints.setColorScheme(Qt.ColorScheme.Dark if scheme == "dark" else Qt.ColorScheme.Light)
    app.setStyle("Fusion")
    app.setPalette(_dark() if scheme == "dark" else app.style().standardPalette())


def _dark() -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    colours = {
        role.Window: "#2b2d30",
        role.WindowText: "#e6e6e6",
        role.Base: "#1e1f22",
        role.AlternateBase: "#303236",
        role.ToolTipBase: "#3c3f41",
        role.ToolTipText: "#e6e6e6",
        role.PlaceholderText: "#8c8c8c",
        role.Text: "#e6e6e6",
        role.Button: "#3c3f41",
        role.ButtonText: "#e6e6e6",
        role.BrightText: "#ff6b6b",
        role.Light: "#4a4d50",
        role.Midlight: "#3f4245",
        role.Mid: "#55585c",
        role.Dark: "#1a1b1d",
        role.Shadow: "#101011",
        role.Highlight: "#3d7bd9",
        role.HighlightedText: "#ffffff",
        role.Link: "#6ea8fe",
        role.LinkVisited: "#b69cff",
    }
    for colour_role, colour in colours.items():
        palette.setColor(colour_role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for colour_role in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, colour_role, QColor("#7a7a7a"))
    return palette
