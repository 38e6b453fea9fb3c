"""The eval suite of a workspace: every `evals/**/*.md` (readmes excepted), parsed."""

from __future__ import annotations

from pathlib import Path

from cairn.core.errors import CairnError
from cairn.core.harness.evals import EVALS_FOLDER, EvalCase, parse_eval
from cairn.core.workspace.diagnostics import Diagnostic, error

_README = ("readme.md", "README.md")
MAX_EVAL_BYTES = 256 * 1024


def load_suite(root: Path, suite: str | None = None) -> tuple[list[EvalCase], list[Diagnostic]]:
    """The cases under `evals/` (or `evals/SUITE/`, or the one case named SUITE), sorted
    by name, and the problems of files that could not be read as cases."""
    folder = root / EVALS_FOLDER
    if not folder.is_dir():
        raise CairnError(
            f"{root} has no {EVALS_FOLDER}/ folder: add eval tasks there "
            "(docs/improving.md; `cairn init` ships a starter suite)"
        )
    cases: list[EvalCase] = []
    problems: list[Diagnostic] = []
    for path in sorted(folder.rglob("*.md")):
        relative = path.relative_to(root).as_posix()
        if path.name in _README or any(p.startswith(".") for p in path.parts[len(root.parts) :]):
            continue
        try:
            if path.stat().st_size > MAX_EVAL_BYTES:
                problems.append(
                    error(relative, "eval-too-large", "larger than 256 KiB", "shorten it")
                )
                continue
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(error(relative, "eval-unreadable", str(exc), "check the file"))
            continue
        case, found = parse_eval(relative, raw)
        problems.extend(found)
        if case is not None:
            cases.append(case)
    if suite:
        wanted = suite.strip("/").removeprefix(f"{EVALS_FOLDER}/").removesuffix(".md")

        def chosen_path(path: str) -> bool:
            name = path.removeprefix(f"{EVALS_FOLDER}/").removesuffix(".md")
            return name == wanted or name.startswith(f"{wanted}/")

        chosen = [c for c in cases if chosen_path(c.path)]
        problems = [p for p in problems if chosen_path(p.path)]
        if not chosen and problems:
            raise CairnError(f"no case of '{suite}' could be read: {problems[0].format()}")
        if not chosen:
            names = ", ".join(sorted({c.suite or c.name for c in cases})) or "none"
            raise CairnError(f"no eval suite or case '{suite}' under {EVALS_FOLDER}/ ({names})")
        cases = chosen
    return sorted(cases, key=lambda c: c.name), problems
