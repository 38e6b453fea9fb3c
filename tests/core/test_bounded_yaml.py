"""No frontmatter can hang Cairn: alias bombs, deep nesting and huge text are refused in time.

Each hostile shape is fed to `parse_document`, to the real `cairn check` in a separate
process, and through the live watcher. Each must give a `yaml-too-complex` error within a
safety bound (this is not a benchmark), leave the file byte for byte as it was, and leave
the rest of the workspace loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.core.workspace.diagnostics import Diagnostic, Severity
from cairn.core.workspace.documents import (
    MAX_FILE_BYTES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    compose_frontmatter,
    parse_document,
)
from cairn.core.workspace.edit import EditError, update_frontmatter
from cairn.core.workspace.loader import DiagnosticsChanged, WorkspaceEvent, WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.watcher import WorkspaceWatcher

BOUND = 2.0  # seconds: a safety bound on refusing a hostile file, not a speed target
README = "spaces/team/readme.md"
HEAD = 'description: "Shared context for the team."\nscope: team\n'


def laughs_lists(levels: int = 10, width: int = 9) -> str:
    """The classic billion laughs: each list repeats the previous one `width` times."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def laughs_maps(levels: int = 10, width: int = 9) -> str:
    """The same with mappings: each map holds `width` keys naming the previous map."""
    first = ", ".join(f"k{j}: lol" for j in range(width))
    lines = [f"m0: &m0 {{{first}}}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(width))}}}")
    return "\n".join(lines) + "\n"


def laughs_merge(levels: int = 10, width: int = 8) -> str:
    """Merge keys (`<<: *name`) folding each map into the next, which also repeats it."""
    first = ", ".join(f"k{j}: lol" for j in range(width))
    lines = [f"g0: &g0 {{{first}}}"]
    for i in range(1, levels):
        copies = ", ".join(f"c{i}x{j}: *g{i - 1}" for j in range(width))
        lines.append(f"g{i}: &g{i} {{<<: *g{i - 1}, {copies}}}")
    return "\n".join(lines) + "\n"


def deep_flow(depth: int = 100_000) -> str:
    return "deep: " + "[" * depth + "]" * depth + "\n"


def deep_flow_unclosed(depth: int = 100_000) -> str:
    return "deep: " + "{a: " * depth + "\n"


def deep_block_maps(levels: int = 1_200) -> str:
    """Indented block mappings, as deep as fits (one more space per level) under 1 MiB."""
    return "deep:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(levels))


def deep_block_lists(levels: int = 300_000) -> str:
    """Compact nested block sequences: two characters per level."""
    return "deep:\n" + "- " * levels + "x\n"


def huge_scalar_aliased() -> str:
    """A scalar of ~700 KB, repeated by aliases past the expanded-text limit."""
    return 'text: &t "' + "x" * 700_000 + '"\ncopies: [*t, *t]\n'


def many_aliases(count: int = 100_000) -> str:
    return "one: &a x\nmany: [" + ", ".join(["*a"] * count) + "]\n"


def recursive_alias() -> str:
    return "loop: &loop [1, *loop]\n"


BOMBS: dict[str, tuple[Callable[[], str], str]] = {
    "billion-laughs-lists": (laughs_lists, "100,000 values"),
    "billion-laughs-maps": (laughs_maps, "100,000 values"),
    "merge-keys": (laughs_merge, "100,000 values"),
    "deep-flow": (deep_flow, f"more than {MAX_YAML_DEPTH} levels"),
    "deep-flow-unclosed": (deep_flow_unclosed, f"more than {MAX_YAML_DEPTH} levels"),
    "deep-block-maps": (deep_block_maps, f"more than {MAX_YAML_DEPTH} levels"),
    "deep-block-lists": (deep_block_lists, f"more than {MAX_YAML_DEPTH} levels"),
    "huge-scalar-aliased": (huge_scalar_aliased, "2,000,000 characters"),
    "many-aliases": (many_aliases, f"more than {MAX_YAML_ALIASES} times"),
    "recursive-alias": (recursive_alias, "repeat forever"),
}
SHAPES = sorted(BOMBS)


def bomb_file(shape: str) -> bytes:
    raw = f"---\n{HEAD}{BOMBS[shape][0]()}---\n\n# Team\n\nHow we work.\n".encode()
    assert len(raw) <= MAX_FILE_BYTES, f"{shape} must stay under the file limit"
    return raw


def too_complex(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], path: str) -> Diagnostic:
    found = [d for d in diagnostics if d.path == path and d.code == "yaml-too-complex"]
    assert len(found) == 1, [d.format() for d in diagnostics]
    return found[0]


def assert_well_reported(found: Diagnostic, shape: str, raw: bytes) -> None:
    assert found.severity == Severity.ERROR
    assert BOMBS[shape][1] in found.message, found.message
    assert "alias" in found.fix or "flatten" in found.fix, found.fix
    frontmatter_lines = raw.split(b"\n---\n", 1)[0].count(b"\n") + 1
    assert found.line is not None and 2 <= found.line <= frontmatter_lines, found.line


# --- (a) parse_document ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_parse_document_refuses_in_bounded_time(shape: str) -> None:
    raw = bomb_file(shape)
    started = time.monotonic()
    doc, problems = parse_document(README, raw)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{shape} took {elapsed:.2f}s"
    assert doc is None
    assert_well_reported(too_complex(problems, README), shape, raw)


def test_limits_are_exact_at_the_boundary() -> None:
    def codes(fm: str) -> list[str]:
        return [d.code for d in parse_document("x.md", f"---\n{fm}---\n".encode())[1]]

    aliases = lambda n: "a: &a x\nb: [" + ", ".join(["*a"] * n) + "]\n"  # noqa: E731
    assert codes(aliases(MAX_YAML_ALIASES)) == []
    assert codes(aliases(MAX_YAML_ALIASES + 1)) == ["yaml-too-complex"]
    # Block nesting (small text: the node graph is measured) and flow nesting (many
    # brackets: libyaml's event stream is measured first); the top-level map is level 1.
    assert codes(deep_block_maps(MAX_YAML_DEPTH - 1)) == []
    assert codes(deep_block_maps(MAX_YAML_DEPTH)) == ["yaml-too-complex"]
    assert codes(deep_flow(MAX_YAML_DEPTH - 1)) == []
    assert codes(deep_flow(MAX_YAML_DEPTH)) == ["yaml-too-complex"]
    assert codes(deep_flow(MAX_YAML_DEPTH + 100)) == ["yaml-too-complex"]
    # With an anchor the depth is measured as expanded: an alias carries its value's depth.
    assert codes("anchor: &a 1\n" + deep_block_maps(MAX_YAML_DEPTH)) == ["yaml-too-complex"]
    half = MAX_YAML_DEPTH // 2
    nested = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    assert codes(nested) == ["yaml-too-complex"]
    assert codes(nested.replace("[", "", 2).replace("]", "", 2)) == []


def test_many_plain_values_are_refused_before_they_are_built() -> None:
    raw = ("---\nmany: [" + ", ".join(["a"] * 200_000) + "]\n---\n").encode()
    started = time.monotonic()
    doc, problems = parse_document("x.md", raw)
    assert time.monotonic() - started < BOUND
    assert doc is None
    assert "100,000 values" in too_complex(problems, "x.md").message


def test_a_huge_scalar_under_the_limits_still_parses() -> None:
    raw = ('---\nnotes: "' + "x" * (MAX_FILE_BYTES - 100) + '"\n---\nBody\n').encode()
    started = time.monotonic()
    doc, problems = parse_document("x.md", raw)
    assert time.monotonic() - started < BOUND
    assert problems == []
    assert doc is not None and len(doc.frontmatter["notes"]) == MAX_FILE_BYTES - 100


def test_sensible_anchors_and_aliases_still_parse() -> None:
    raw = (
        b"---\n"
        b"tools: &tools [read_file, write_file]\n"
        b"review_tools: *tools\n"
        b"base: &base {model: local-small, tokens: 2000}\n"
        b"night: {<<: *base, tokens: 500}\n"
        b"---\nBody\n"
    )
    doc, problems = parse_document("x.md", raw)
    assert problems == []
    assert doc is not None
    assert doc.frontmatter["review_tools"] == ("read_file", "write_file")
    assert dict(doc.frontmatter["night"]) == {"model": "local-small", "tokens": 500}
    assert doc.line_of(("night", "tokens")) == 5


@pytest.mark.parametrize("shape", ["billion-laughs-lists", "deep-flow", "recursive-alias"])
def test_frontmatter_edits_refuse_a_bomb_in_bounded_time(shape: str) -> None:
    text = bomb_file(shape).decode()
    started = time.monotonic()
    with pytest.raises(EditError, match="too complex"):
        update_frontmatter(text, {"scope": "company"})
    assert time.monotonic() - started < BOUND


def test_compose_frontmatter_is_bounded_too() -> None:
    assert compose_frontmatter("") is None
    with pytest.raises(Exception, match="levels deep"):
        compose_frontmatter(deep_flow())


# --- (b) the real `cairn check`, in its own process ------------------------------------------


def cairn_check(root: Path) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cairn", "check", str(root), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,  # a hang fails the test instead of stalling the suite
    )
    elapsed = time.monotonic() - started
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data, elapsed


@pytest.fixture(scope="module")
def clean_check(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], float]:
    """`cairn check` of the untouched starter: the file count, and the process's own cost."""
    from tests.conftest import copy_starter

    return cairn_check(copy_starter(tmp_path_factory.mktemp("clean") / "workspace"))


@pytest.mark.parametrize("shape", SHAPES)
def test_cairn_check_reports_a_bomb_in_bounded_time(
    shape: str, starter: Path, clean_check: tuple[dict[str, object], float]
) -> None:
    clean, clean_seconds = clean_check
    raw = bomb_file(shape)
    (starter / README).write_bytes(raw)

    data, elapsed = cairn_check(starter)

    # Starting Python and loading the clean workspace is not the file's doing: the bound
    # is on what the hostile file adds to an ordinary check.
    assert elapsed - clean_seconds < BOUND, f"{shape}: {elapsed:.2f}s vs {clean_seconds:.2f}s"
    assert data["files"] == clean["files"]  # everything else still loaded
    diagnostics = data["diagnostics"]
    assert isinstance(diagnostics, list)
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert [(d["path"], d["code"]) for d in errors] == [(README, "yaml-too-complex")]
    assert BOMBS[shape][1] in errors[0]["message"]
    assert errors[0]["line"] is not None and errors[0]["fix"]
    assert (starter / README).read_bytes() == raw


# --- (c) the live watcher --------------------------------------------------------------------


@pytest.fixture
def watched(
    starter: Path,
) -> Iterator[tuple[WorkspaceModel, list[tuple[WorkspaceEvent, ...]]]]:
    model = WorkspaceModel(LocalFileStore(starter))
    assert not model.load().errors
    updates: list[tuple[WorkspaceEvent, ...]] = []
    model.subscribe(updates.append)
    watcher = WorkspaceWatcher(model, starter, debounce=0.05)
    watcher.start()
    try:
        yield model, updates
    finally:
        watcher.stop()


# watchdog's inotify backend may warn about a folder watched twice; it is harmless.
@pytest.mark.filterwarnings("ignore:Callback with id .* already exists:RuntimeWarning")
@pytest.mark.parametrize("shape", SHAPES)
def test_the_watcher_reports_a_file_edited_into_a_bomb(
    shape: str,
    starter: Path,
    watched: tuple[WorkspaceModel, list[tuple[WorkspaceEvent, ...]]],
) -> None:
    model, updates = watched
    before = model.workspace
    raw = bomb_file(shape)
    started = time.monotonic()
    (starter / README).write_bytes(raw)

    found: Diagnostic | None = None
    while found is None and time.monotonic() - started < BOUND:
        for events in list(updates):
            hits = [
                d
                for event in events
                if isinstance(event, DiagnosticsChanged)
                for d in event.for_path(README)
                if d.code == "yaml-too-complex"
            ]
            found = hits[0] if hits else found
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    assert found is not None, f"{shape}: no diagnostic within {BOUND}s"
    assert_well_reported(found, shape, raw)

    workspace = model.workspace
    assert [d.path for d in workspace.errors] == [README]
    assert set(workspace.files) == set(before.files)
    assert set(workspace.skills) == set(before.skills)
    assert set(workspace.operators) == set(before.operators)
    assert set(workspace.automations) == set(before.automations)
    assert {"chief-of-staff", "company"} <= set(workspace.spaces)
    assert workspace.agents is not None
    assert (starter / README).read_bytes() == raw
    assert elapsed < BOUND
