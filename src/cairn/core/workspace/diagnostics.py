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
