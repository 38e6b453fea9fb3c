"""Property tests: whatever bytes a file holds, parsing never crashes; problems are diagnostics."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cairn.core.workspace.diagnostics import Diagnostic
from cairn.core.workspace.documents import parse_document
from cairn.core.workspace.edit import EditError, update_frontmatter
from cairn.core.workspace.layouts import classify
from cairn.core.workspace.parsing import parse_file

PATHS = [
    "agents.md",
    "spaces/team/readme.md",
    "skills/a-skill/SKILL.md",
    "skills/a-skill.md",
    "operators/lens.md",
    "operators/lens/OPERATOR.md",
    "automations/job.md",
]

yaml_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
    st.sampled_from(["*", "&a", "*a", "!!binary x", ": :", "'", '"', "- - -", "{", "[", "|", ">"]),
)
yaml_keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "description",
            "schedule",
            "space",
            "scope",
            "models",
            "roles",
            "routing",
            "permissions",
            "budgets",
            "metadata",
            "enabled",
            "timezone",
            "headless",
            "memory",
            "allowed-tools",
            "when",
            "skill",
            "operator",
        ]
    ),
    st.text(alphabet=string.ascii_letters + "-_ :#", min_size=1, max_size=12),
)


@st.composite
def frontmatter_text(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        key = draw(yaml_keys)
        value = draw(yaml_scalars)
        indent = " " * draw(st.sampled_from([0, 0, 0, 2, 4]))
        lines.append(f"{indent}{key}: {value}")
        if draw(st.booleans()):
            lines.append(f"  - {draw(yaml_scalars)}")
    closing = draw(st.sampled_from(["---\n", "---\n", "--\n", ""]))
    body = draw(st.text(max_size=80))
    return "---\n" + "\n".join(lines) + "\n" + closing + body


def check_result(path: str, raw: bytes) -> None:
    role = classify(path)
    assert role is not None
    parsed = parse_file(path, role, raw)
    assert all(isinstance(d, Diagnostic) and d.message and d.fix for d in parsed.diagnostics)
    if parsed.entity is None:
        # A file that yields nothing must say why.
        assert any(d.severity == "error" for d in parsed.diagnostics)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(path=st.sampled_from(PATHS), text=frontmatter_text())
def test_generated_frontmatter_never_crashes(path: str, text: str) -> None:
    check_result(path, text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(path: str, raw: bytes) -> None:
    check_result(path, raw)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), raw=st.binary(max_size=200))
def test_bytes_after_valid_opening_never_crash(path: str, raw: bytes) -> None:
    check_result(path, b"---\nname: x\n" + raw + b"\n---\nbody")


@settings(max_examples=300, deadline=None)
@given(text=frontmatter_text(), value=st.one_of(st.text(max_size=20), st.integers(), st.booleans()))
@example(text="---\n\n---\n", value="\x85")  # YAML folds NEL into a space unless escaped
def test_edits_keep_other_keys_or_refuse(text: str, value: object) -> None:
    doc, _ = parse_document("x.md", text.encode("utf-8", "surrogatepass"))
    try:
        edited = update_frontmatter(text, {"edited": value})
    except EditError:
        return
    if doc is None or not doc.has_frontmatter:
        return
    after, _ = parse_document("x.md", edited.encode("utf-8", "surrogatepass"))
    assert after is not None
    assert after.frontmatter["edited"] == value
    for key, old in doc.frontmatter.items():
        if key != "edited":
            assert after.frontmatter[key] == old
    assert after.body == doc.body
