"""Every example in docs/ is loaded: good examples load clean, mistakes give their diagnostic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn.core.workspace.layouts import classify
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from tests.conftest import REPO, copy_starter

FENCE = re.compile(r"^```markdown (?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)


def examples(doc: Path, *, evals: bool = False) -> list[tuple[str, str | None, str]]:
    """The `markdown file=PATH [expect=CODE]` examples of a page: workspace files, or with
    `evals` the eval cases (evals/…, which the workspace model does not load)."""
    found = []
    for match in FENCE.finditer(doc.read_text(encoding="utf-8")):
        info = dict(part.split("=", 1) for part in match["info"].split() if "=" in part)
        if "file" in info and info["file"].startswith("evals/") == evals:
            found.append((info["file"], info.get("expect"), match["body"]))
    return found


DOCS = sorted((REPO / "docs").glob("*.md"))


def test_every_format_page_has_examples() -> None:
    with_examples = {d.name for d in DOCS if examples(d)}
    assert {
        "agents.md",
        "spaces.md",
        "skills.md",
        "operators.md",
        "automations.md",
        "compatibility.md",
    } <= with_examples


@pytest.mark.parametrize(
    "doc", [d for d in DOCS if any(e is None for _, e, _ in examples(d))], ids=lambda d: d.name
)
def test_good_examples_load_clean(doc: Path, tmp_path: Path) -> None:
    good = [(path, body) for path, expect, body in examples(doc) if expect is None]
    root = copy_starter(tmp_path / "ws")
    for path, body in good:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body, encoding="utf-8")
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    assert [d.format() for d in workspace.errors] == []
    for path, _ in good:
        role = classify(path)
        if role is not None and role.kind != "resource":
            assert path in workspace.files, f"{path} was not loaded as part of the model"


@pytest.mark.parametrize(
    ("doc", "path", "expect", "body"),
    [(d, p, e, b) for d in DOCS for p, e, b in examples(d) if e],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v else "",
)
def test_mistake_examples_are_diagnosed(
    doc: Path, path: str, expect: str, body: str, tmp_path: Path
) -> None:
    root = copy_starter(tmp_path / "ws")
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(body, encoding="utf-8")
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    codes = {d.code for d in workspace.diagnostics if d.path == path}
    assert expect in codes, [d.format() for d in workspace.diagnostics]
    found = next(d for d in workspace.diagnostics if d.path == path and d.code == expect)
    assert found.fix, "every diagnostic says how to fix it"


def test_eval_examples_parse_or_say_what_is_wrong() -> None:
    from cairn.core.harness.evals import parse_eval

    found = [e for d in DOCS for e in examples(d, evals=True)]
    assert len(found) >= 2
    for path, expect, body in found:
        case, problems = parse_eval(path, body.encode("utf-8"))
        if expect is None:
            assert case is not None and not problems, [p.format() for p in problems]
        else:
            assert case is None and expect in {p.code for p in problems}
            assert all(p.fix for p in problems)
