"""Cairn: a local-first agent workspace of plain markdown files."""

__version__ = "0.1.0"
