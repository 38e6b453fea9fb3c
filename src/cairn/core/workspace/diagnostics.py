"""Diagnostics: every problem found in a workspace file, with where and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the file (or part of it) could not be used
    WARNING = "warning"  # used, but probably not what the author meant
    INFO = "info"  # worth knowing; nothing is wrong


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem in one file. `line` is 1-based and `None` when it is not known."""

    path: str
    severity: Severity
    code: str
    message: str
    fix: str
    line: int | None = None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def format(self) -> str:
        return (
            f"{self.location}: {self.severity}: {self.message} [{self.code}]\n    fix: {self.fix}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
        }


def error(path: str, code: str, message: str, fix: str, line: int | None = None) -> Diagnostic:
    return Diagnostic(path, Severity.ERROR, code, message, fix, line)


def warning(path: str, code: str, message: str, fix: str, line: int | None = None) -> Diagnostic:
    return Diagnostic(path, Severity.WARNING, code, message, fix, line)


def info(path: str, code: str, message: str, fix: str, line: int | None = None) -> Diagnostic:
    return Diagnostic(path, Severity.INFO, code, message, fix, line)


COMPAT_CODES = frozenset(
    {
        "no-frontmatter",
        "inferred",
        "long-description",
        "long-compatibility",
        "name-mismatch",
        "invalid-name",
        "display-name",
        "ignored-key",
        "layer-policy",
    }
)
"""Codes for what differs from Cairn's own format in a file another tool would load.

They are warnings, and the item loads; `cairn check --strict` reports them as errors."""


def compat(path: str, code: str, message: str, fix: str, line: int | None = None) -> Diagnostic:
    assert code in COMPAT_CODES, code
    return Diagnostic(path, Severity.WARNING, code, message, fix, line)


def strictly(diagnostic: Diagnostic) -> Diagnostic:
    """The diagnostic as `--strict` reports it: a difference from Cairn's format is an error."""
    if diagnostic.code in COMPAT_CODES and diagnostic.severity is Severity.WARNING:
        return Diagnostic(
            diagnostic.path,
            Severity.ERROR,
            diagnostic.code,
            diagnostic.message,
            diagnostic.fix,
            diagnostic.line,
        )
    return diagnostic
