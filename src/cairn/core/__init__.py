"""The pure core: no Qt, no network clients, no file watching, no scheduler.

An import-linter contract in pyproject.toml (checked by the tests) keeps it that way.
"""
