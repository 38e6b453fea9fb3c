"""Property tests: whole workspaces in every layout Cairn reads, with hostile content.

Files sit at paths drawn from each layout's shapes (Cairn, Agent Skills, Rebel, OpenClaw,
Claude Code; see `cairn.core.workspace.layouts`) and hold content drawn from what real
folders contain: no frontmatter, broken YAML, frontmatter whose values have the wrong type
(lists, numbers, nested maps, null, dates) for name/description/schedule/sharing/
consult_when/live_prompt and the other keys, huge descriptions, empty files, binary and
non-UTF-8 bytes, a BOM, CRLF line ends. The folder is written to disk and loaded with
`WorkspaceModel(LocalFileStore(root)).load()`.

Properties:
  * loading never raises, and every automation that loads has a timezone the scheduler
    accepts (`validate_timezone`);
  * every problem is a `Diagnostic` (with a message and a fix, a line >= 1 or None) whose
    path is one of the files written; the one exception is `missing-agents`, which names
    `agents.md`, the file to create;
  * the same files load identically twice (one model loaded twice, and a second model);
  * `strict=True` gives the same workspace except that compatibility warnings
    (`COMPAT_CODES`) are errors: no other diagnostic and no entity differs;
  * a workspace where every file is malformed still opens and lists every file (see
    `test_every_malformed_file_is_listed` for what "lists" means precisely).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cairn.core.workspace.diagnostics import COMPAT_CODES, Diagnostic, Severity, strictly
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash, parse_document
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.layouts import classify
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schedule import validate_timezone
from cairn.infra.files import LocalFileStore

# --- paths: every layout's shapes -------------------------------------------------------------

# ASCII only and no two names that differ by case alone, so the paths written are the
# paths read back on case-insensitive and normalising file systems too.
NAMES = ("alpha", "beta-two", "Brand Critic", "bad_Name", "x", "heartbeat", "--", "a" * 70)
CATEGORIES = ("cat", "Tools", "deep")
REBEL_KEY = "rebel_space_description"
SPACES = ("work", "Acme", "personal")  # Rebel space folders (not Cairn's own root folders)
SUBSPACES = ("General", "launch")
ROOT_FILES = (
    "AGENTS.md",
    "cairn.md",
    "CLAUDE.md",
    "CLAUDE.local.md",
    ".claude/CLAUDE.md",
    "SOUL.md",
    "USER.md",
    "IDENTITY.md",
    "TOOLS.md",
    "BOOTSTRAP.md",
    "HEARTBEAT.md",
)
SHAPES = (
    "skills/{n}/SKILL.md",
    "skills/{c}/{n}/SKILL.md",
    "skills/{c}/{d}/{n}/SKILL.md",
    "skills/{n}.md",
    "skills/{n}/AUTOMATION.md",
    "skills/{n}/references/{n}.md",  # a bundled file: listed with its skill, not parsed
    ".agents/skills/{n}/SKILL.md",
    ".claude/skills/{n}/SKILL.md",
    ".claude/agents/{n}.md",
    ".claude/commands/{n}.md",
    ".claude/commands/{c}/{n}.md",
    "operators/{n}/OPERATOR.md",
    "operators/{n}.md",
    "{s}/README.md",
    "{s}/{b}/README.md",
    "{s}/skills/{n}/SKILL.md",
    "{s}/operators/{n}/OPERATOR.md",
    "{s}/skills/{n}/AUTOMATION.md",
    "rebel-system/skills/{n}/SKILL.md",
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(ROOT_FILES))
    shape = draw(st.sampled_from(SHAPES))
    return shape.format(
        n=draw(st.sampled_from(NAMES)),
        c=draw(st.sampled_from(CATEGORIES)),
        d=draw(st.sampled_from(CATEGORIES)),
        s=draw(st.sampled_from(SPACES)),
        b=draw(st.sampled_from(SUBSPACES)),
    )


# --- content ----------------------------------------------------------------------------------

KEYS = (
    "name",
    "description",
    "schedule",
    "sharing",
    "consult_when",
    "live_prompt",
    "consultation_prompt",
    "rebel_space_description",
    "display_name",
    "space_type",
    "sensitivity",
    "timezone",
    "enabled",
    "space",
    "skill",
    "operator",
    "when",
    "scope",
    "metadata",
    "allowed-tools",
    "compatibility",
    "models",
    "roles",
    "routing",
    "permissions",
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),  # NaN is never equal to itself: no use for equality checks
    st.text(max_size=20),
)
huge = st.integers(1025, 40_000).map(lambda n: ("word " * (n // 5 + 1))[:n])
wrong_typed = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "description"]), scalars, max_size=3),
    st.just(""),
)
# Values typed by YAML itself: dates, hex, tagged bytes and sets, anchors.
RAW_VALUES = (
    "2024-01-01",
    "2024-01-01T09:00:00Z",
    "Mars/Olympus",  # a string, but no timezone
    "every 5 minutes",
    "0x1F",
    "1e3",
    ".inf",
    "~",
    "yes",
    "off",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "&anchor [1, 2]",
    "[[[]]]",
    "{a: {b: {c: []}}}",
)
BROKEN_YAML = (
    "name: [unclosed",
    'description: "no end',
    "name: a: b",
    "\tname: tab",
    "- just\n- a list",
    "plain scalar",
    "name: x\n  bad: indent",
    "a: *undefined",
    "{",
    ": :",
    "name: !!python/object/apply:os.system [echo]",
    "? [a, b]\n: unhashable key",
    "name: x\nname: duplicate",
    "a: &a [*a, *a]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]",
    "x: " + "[" * 200 + "]" * 200,
)
BODIES = (
    "",
    "\n",
    "# Only a heading\n",
    "Some instructions for the agent.\n",
    "<!-- a comment only -->\n",
    "- [ ] \n",
    "- [ ] Check the inbox\n",
    "```\ncode only\n```\n",
    "# Title\n\nFirst paragraph, used as a description.\n\n## Steps\n\n1. Do it.\n",
)
# A few files that load cleanly, so spaces form and cross-file checks have work to do.
WELL_FORMED = (
    "---\nrebel_space_description: A Rebel space\nsharing: team\n---\n# Space\n",
    "---\nname: alpha\ndescription: Use for alpha work.\n---\nDo the alpha thing.\n",
    "---\ndescription: A lens\nwhen: reviews\n---\nReview carefully.\n",
    "---\nschedule: daily 09:00\n---\nRun the check.\n",
    "---\nconsult_when: [reviews, launches]\nlive_prompt: Coach the user.\n---\n",
)


@st.composite
def frontmatter(draw: st.DrawFn, *, key: str | None = None) -> str:
    """A frontmatter block whose YAML is valid but whose values are of the wrong type
    (with `key` among its keys, when given)."""
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6, unique=True))
    if key is not None and key not in keys:
        keys.append(key)
    lines = []
    for key in keys:
        kind = draw(st.sampled_from(["typed", "typed", "raw", "huge"]))
        if kind == "raw":
            lines.append(f"{key}: {draw(st.sampled_from(RAW_VALUES))}")
        else:
            value = draw(huge if kind == "huge" else wrong_typed)
            lines.append(yaml.safe_dump({key: value}, allow_unicode=True, width=10**9).rstrip())
    return "\n".join(lines)


@st.composite
def text_content(draw: st.DrawFn, *, malformed: bool) -> bytes:
    kinds = ["broken", "typed", "unclosed"]
    if not malformed:
        kinds += ["plain", "plain", "good", "typed"]
    kind = draw(st.sampled_from(kinds))
    body = draw(st.sampled_from(BODIES)) + draw(st.text(max_size=40))
    if kind == "plain":
        text = body
    elif kind == "good":
        text = draw(st.sampled_from(WELL_FORMED))
    elif kind == "unclosed":
        text = f"---\n{draw(frontmatter())}\n{body}"
    else:
        fm = draw(st.sampled_from(BROKEN_YAML)) if kind == "broken" else draw(frontmatter())
        text = f"---\n{fm}\n---\n{body}"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    raw = text.encode("utf-8")
    return b"\xef\xbb\xbf" + raw if draw(st.booleans()) else raw


binary = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=100).map(lambda b: b"---\nname: x\n---\n\x00" + b),
    st.sampled_from([b"\xff\xfe# UTF-16 or junk\n", b"# caf\xe9 in Latin-1\n"]),
)
too_large = st.just(b"---\ndescription: " + b"x" * MAX_FILE_BYTES + b"\n---\n")
empty = st.sampled_from([b"", b"\xef\xbb\xbf", b"\r\n"])


@st.composite
def contents(draw: st.DrawFn, *, malformed: bool) -> bytes:
    kind = draw(st.sampled_from(["text"] * 12 + ["binary"] * 4 + ["empty"] * 2 + ["too large"]))
    if kind == "text":
        return draw(text_content(malformed=malformed))
    return draw({"binary": binary, "empty": empty, "too large": too_large}[kind])


@st.composite
def rebel_readme(draw: st.DrawFn) -> bytes:
    """A README that names itself a Rebel space, its other keys of the wrong type."""
    text = f"---\n{draw(frontmatter(key=REBEL_KEY))}\n---\n{draw(st.sampled_from(BODIES))}"
    return text.encode("utf-8")


@st.composite
def workspaces(draw: st.DrawFn, *, malformed: bool = False) -> dict[str, bytes]:
    chosen = draw(st.lists(paths(), min_size=1, max_size=14, unique=True))
    files = {}
    for path in chosen:
        # Half the READMEs say they are Rebel spaces: the others are notes, left unread.
        readme = path.endswith("/README.md") and draw(st.booleans())
        files[path] = draw(rebel_readme() if readme else contents(malformed=malformed))
    return files


# --- helpers ----------------------------------------------------------------------------------


def write(root: Path, files: dict[str, bytes]) -> None:
    for path, raw in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)


def load(root: Path, *, strict: bool = False) -> Workspace:
    return WorkspaceModel(LocalFileStore(root), strict=strict).load()


def entity_paths(ws: Workspace) -> set[str]:
    """The files behind every item the workspace loaded, in spaces too."""
    found = {layer.path for layer in ws.layers} | {a.path for a in ws.automations.values()}
    if ws.agents is not None:
        found.add(ws.agents.path)
    for holder in (ws, *ws.spaces.values()):
        found |= {s.path for s in holder.skills.values()}
        found |= {o.path for o in holder.operators.values()}
    found |= {s.path for s in ws.spaces.values()}
    return found


def check_diagnostics(ws: Workspace, written: set[str]) -> None:
    for d in ws.diagnostics:
        assert isinstance(d, Diagnostic), d
        assert isinstance(d.severity, Severity) and d.message and d.fix, d
        assert d.line is None or d.line >= 1, d
        if d.code == "missing-agents":
            assert d.path == "agents.md", d  # names the file to create
        else:
            assert d.path in written, d


# --- properties -------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(files=workspaces())
@example(files={"AGENTS.md": b"---\n42\n---\n", "SOUL.md": b"# Soul\n"})
@example(files={"HEARTBEAT.md": b"---\ntimezone: Mars/Olympus\n---\n- [ ] Check the inbox\n"})
def test_any_layout_loads_deterministically_and_strictly(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-fuzz-") as temp:
        root = Path(temp)
        write(root, files)
        model = WorkspaceModel(LocalFileStore(root))
        first = model.load()
        check_diagnostics(first, set(files))
        assert first.files <= set(files)
        assert entity_paths(first) <= first.files
        for auto in first.automations.values():  # what loads can be scheduled
            validate_timezone(auto.meta.timezone)
        # The same files, loaded again by the same model and by a new one: the same result.
        assert model.load() == first
        assert load(root) == first
        # --strict: only the compatibility warnings change, to errors.
        strict = load(root, strict=True)
        assert strict == replace(first, diagnostics=tuple(map(strictly, first.diagnostics)))
        assert not any(d.code in COMPAT_CODES for d in strict.warnings)
        assert len(strict.diagnostics) == len(first.diagnostics)


@FUZZ
@given(files=workspaces(malformed=True))
@example(files={"skills/alpha/SKILL.md": b"---\nplain scalar\n---\nbody\n"})
def test_every_malformed_file_is_listed(files: dict[str, bytes]) -> None:
    """Every file broken (bad YAML, wrong types, binary, empty, too large, ...): the
    workspace still opens and lists every file.

    The model files written are the paths `classify` gives a role other than "resource"
    (bundled files are not parsed). "Lists" means, precisely:
      1. every model file is in `workspace.files`, except a Rebel `README.md` that does
         not name itself a space: one whose bytes do not hold `rebel_space_description`
         (left alone unread), or whose frontmatter reads cleanly without that key. Such
         a README is a note, not part of the model;
      2. every path in `workspace.files` is accounted for: it is the path of a loaded item
         (the policy file, a layer, a space, a skill, an operator or an automation, in the
         workspace or in a space), or at least one diagnostic names it, or it is one of
         the two files the model reads and, by design, passes over in silence:
         a. an instruction file (a layer, or a policy file other than the one in use)
            whose bytes are those of the policy file or of a layer already read: the
            same instructions are read once;
         b. a skill, operator or automation in a Rebel space folder (`work/skills/...`)
            whose README did not load as a space: it belongs to no space.
    """
    with tempfile.TemporaryDirectory(prefix="cairn-fuzz-") as temp:
        root = Path(temp)
        write(root, files)
        ws = load(root)
        check_diagnostics(ws, set(files))
        roles = {path: classify(path) for path in files}
        model_files = {
            p for p, role in roles.items() if role is not None and role.kind != "resource"
        }
        assert ws.files <= model_files
        space_folders = {space.root for space in ws.spaces.values()}
        for path in sorted(model_files - ws.files):  # 1: only notes are left out
            role = roles[path]
            assert role is not None and role.layout == "rebel", path
            if role.kind != "space":  # an item under a folder that is not a Rebel space
                assert role.base is not None and role.base not in space_folders, path
                continue
            if REBEL_KEY.encode() in files[path]:
                doc, problems = parse_document(path, files[path])
                assert doc is not None and not problems, path
                assert REBEL_KEY not in doc.frontmatter, path
        loaded = entity_paths(ws)
        flagged = {d.path for d in ws.diagnostics}
        read_once = {ws.agents.content_hash} if ws.agents else set()
        read_once |= {layer.content_hash for layer in ws.layers}
        for path in sorted(ws.files - loaded - flagged):  # 2: the rest is accounted for
            role = roles[path]
            assert role is not None, path
            if role.kind in ("agents", "layer"):
                assert content_hash(files[path]) in read_once, path
            else:
                assert role.base is not None and role.space is None, path
                assert role.kind != "space" and role.base not in space_folders, path


def test_examples_cover_every_shape() -> None:
    """Each shape maps to a role (a typo in SHAPES would silently test nothing)."""
    for shape in (*ROOT_FILES, *SHAPES):
        path = shape.format(n="alpha", c="cat", d="deep", s="work", b="General")
        assert classify(path) is not None, path
