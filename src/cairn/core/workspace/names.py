"""File names Cairn makes from text: one slug rule for records, topics and archived notes."""

from __future__ import annotations

import re

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, length: int = 40) -> str:
    """Lower-case letters and digits joined by single hyphens, at most `length` long."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:length].strip("-")
