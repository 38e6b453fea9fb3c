"""The file tools a task may call: plain data the loop offers to any model, plus `run`.

Every expected failure (a missing file, a path outside the workspace, a conflict) comes
back as `ToolOutcome(ok=False)` with a message a model can act on: a traceback teaches a
model nothing, and a loop that must know each tool's exceptions gets some of them wrong.
`Tool.target` gives the path a call touches, normalised exactly as the call will use it,
so a permission rule about `agents.md` also catches `./agents.md`.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError, PathOutsideWorkspaceError, WriteConflictError
from cairn.core.tasks.provenance import MARK_KEY, Provenance, is_marked
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash
from cairn.core.workspace.edit import EditError, update_frontmatter
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.names import path_parts

READ_CHARS = 20_000  # what read_file shows: enough for a long note, small for a context
READ_BYTES = 4 * MAX_FILE_BYTES  # files larger than this are only partly read
SEARCH_HITS = 50
SEARCH_SUFFIXES = (".md", ".txt")
LIST_ENTRIES = 500


class ToolError(CairnError):
    """An expected refusal inside a tool; `run` turns it into a failed `ToolOutcome`."""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    ok: bool
    output: str  # what the model sees
    path: str | None = None
    changed: bool = False
    read: tuple[str, ...] = ()  # other files whose content is in `output` (search hits)
    # Content from outside the workspace (a connector): its name and whose data it is
    # (private, team, company). Private content makes the task sensitive.
    source: tuple[str, str] | None = None


@dataclass
class ToolEnv:
    """What a tool call runs against. `seen` maps paths to the content hash this task's
    view of the file is based on (what it read or last wrote), so a write after someone
    else's edit is refused instead of silently overwriting it."""

    model: WorkspaceModel
    space: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    # Files read only in part: path → characters seen from the start. Replacing such a
    # file would drop what the model never saw, so write_file refuses it.
    # Keyed by the real path, with the content hash it was read at: an edit in between
    # starts the count again, and a link to the file is the same file.
    partial: dict[str, tuple[str, int]] = field(default_factory=dict)
    # What the task has taken in: files written from sensitive content carry the mark.
    provenance: Provenance | None = None
    cancel: CancelToken | None = None  # the task's: a long call (a connector's) stops with it

    @property
    def workspace(self) -> Workspace:
        return self.model.workspace


Runner = Callable[[Mapping[str, Any], ToolEnv], ToolOutcome]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON schema of the arguments object
    effect: Literal["read", "write"]
    run: Runner
    path_argument: str | None = None  # the argument naming the path the call touches
    example: Mapping[str, Any] | None = None  # a typical call's arguments, for prompts
    patterns: Mapping[str, str] = field(default_factory=dict)  # argument -> what it must look like
    # The decision when no rule of agents.md matches the call (the file tools: ask).
    default: Literal["allow", "ask"] = "ask"
    # A connector's tool that acts on the world outside this machine (sends, posts,
    # changes): only a rule naming it may allow it; a `*` rule cannot.
    outside: bool = False
    scope: str | None = None  # a connector's: whose data it returns and receives

    def target(self, arguments: Mapping[str, Any]) -> str | None:
        """The workspace-relative path the call touches (for permissions), or None."""
        raw = arguments.get(self.path_argument) if self.path_argument else None
        if not isinstance(raw, str):
            return None
        try:
            return clean_path(raw) or None
        except CairnError:
            return raw  # refused when it runs; no rule should treat it as a tidy path


class ToolSource(Protocol):
    """Tools from outside the workspace (the connectors' MCP servers), asked for when a
    step is offered its tools: nothing starts until a task needs them."""

    def tools(self, space: str | None) -> Sequence[Tool]:
        """The tools a task in `space` may be offered (None: a task outside every space)."""
        ...


def clean_path(raw: str, *, bundled: Collection[str] = ()) -> str:
    """`raw` as the store will address it ('.' and empty parts dropped, '\\' as '/').

    Escapes and hidden paths are refused here, before any file is touched: `.cairn`
    holds Cairn's own state and dot-files (`.env`, `.git`) often hold secrets. The one
    exception is `bundled`: a reader passes the files of skills kept in `.claude/skills`
    or `.agents/skills`, which `load_skill` lists for the model to open.
    """
    parts = path_parts(raw)
    if any(p.startswith(".") for p in parts) and "/".join(parts) not in bundled:
        raise ToolError(f"'{raw}' is hidden: Cairn's tools leave hidden files and folders alone")
    return "/".join(parts)


def hidden_skill_files(workspace: Workspace) -> set[str]:
    """The files of skills kept in a hidden tool folder (`.claude/skills/x/...`)."""
    found: set[str] = set()
    spaces = [workspace.skills, *(space.skills for space in workspace.spaces.values())]
    for skills in spaces:
        for skill in skills.values():
            if skill.path.startswith("."):
                res = skill.resources
                found.update((skill.path, *res.scripts, *res.references, *res.assets, *res.other))
    return found


def real_target(model: WorkspaceModel, path: str) -> str:
    """The real workspace path behind `path` (links resolved), refused like `clean_path`
    when it is hidden: a link in drafts/ must not lead a tool into `.env` or `.cairn/`."""
    real = model.store.real_path(path)
    if real != path:
        parts = real.split("/")
        if any(p.startswith(".") for p in parts):
            raise ToolError(
                f"'{path}' is a link to a hidden file or folder: Cairn's tools leave those alone"
            )
    return real


# --- argument checks --------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (Mapping,),
    "null": (type(None),),
}


def _type_name(value: object) -> str:
    for name, kinds in _TYPES.items():
        if isinstance(value, kinds) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__


def _check(name: str, schema: Mapping[str, Any], arguments: object) -> str | None:
    if not isinstance(arguments, Mapping):
        return f"{name} takes an object of named arguments, not {_type_name(arguments)}"
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [key for key in schema.get("required", ()) if key not in arguments]
    if missing:
        return f"{name} is missing required argument(s): {', '.join(missing)}"
    unknown = sorted(str(k) for k in arguments if k not in properties)
    if unknown and schema.get("additionalProperties") is False:
        return (
            f"{name} does not take argument(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(properties) or 'nothing'}"
        )
    for key, value in arguments.items():
        wanted = properties.get(key, {}).get("type")
        if wanted is None:
            continue
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        if _type_name(value) not in names and not (
            "number" in names and _type_name(value) == "integer"
        ):
            return (
                f"argument '{key}' of {name} must be {' or '.join(names)}, not {_type_name(value)}"
            )
    return None


def validate_arguments(tool: Tool, arguments: object) -> str | None:
    """Why `arguments` do not fit the tool's schema (required keys, JSON types), or None."""
    return _check(tool.name, tool.parameters, arguments)


# --- file helpers -----------------------------------------------------------------------------


def _read_bytes(env: ToolEnv, path: str, limit: int) -> bytes | None:
    """The file's bytes (at most `limit + 1`), or None when there is no such file."""
    if not path or env.model.store.is_dir(path):
        raise ToolError(f"'{path or '.'}' is a folder, not a file: use list_files")
    _exact_case(env, path)
    real_target(env.model, path)
    try:
        return env.model.store.read(path, limit)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as exc:
        raise ToolError(f"cannot read {path}: permission denied") from exc


def _decode(path: str, raw: bytes, *, final: bool = True) -> str:
    if b"\x00" in raw[:8192]:
        raise ToolError(f"{path} looks binary (it contains NUL bytes), not text")
    try:  # an incremental decoder tolerates a character cut at the read limit
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=final)
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from exc


def _model_hash(workspace: Workspace, path: str) -> str | None:
    """The hash of `path` as the model holds it: what the task's instructions came from."""
    if path not in workspace.files:
        return None
    entities: list[Any] = [workspace.agents, *workspace.automations.values()]
    for space in (None, *workspace.spaces.values()):
        holder: Any = space or workspace
        entities += [space, *holder.skills.values(), *holder.operators.values()]
    return next((e.content_hash for e in entities if e is not None and e.path == path), None)


def _exact_case(env: ToolEnv, path: str) -> None:
    """Refuse a path that differs from an existing one only in case.

    On macOS and Windows `AGENTS.md` *is* agents.md, but a rule about `agents.md` does
    not match it, and `SPACES/PRIVATE/x.md` is a private file whose path names no known
    space: without this check a case variant would slip past a `deny`, or past the
    sensitivity and scope of the space it is really in. Reads and writes both check it.
    """
    folder = ""
    for part in path.split("/"):
        files, folders = env.model.store.scan(folder)
        if part in files or part in folders:
            folder = f"{folder}/{part}" if folder else part
            continue
        twin = next((n for n in (*files, *folders) if n.casefold() == part.casefold()), None)
        if twin is not None:
            raise ToolError(f"'{path}' differs only in case from the existing '{twin}'")
        return


def _with_mark(env: ToolEnv, path: str, text: str) -> str:
    """`text` as it must be written to `path`: with `sensitive: true` in its frontmatter
    when it comes from sensitive content (the task's, or its own) and the file is not in a
    private space. A file that cannot carry the mark is not written."""
    provenance = env.provenance
    if provenance is None or is_marked(text):
        return text
    real = real_target(env.model, path)
    if not provenance.needs_mark(real, text):
        return text
    if not path.lower().endswith((".md", ".markdown")):
        why = "; ".join(provenance.reasons()) or "personal data or secrets in the text"
        raise ToolError(
            f"this content is sensitive ({why}), and {path} cannot carry the "
            "'sensitive: true' mark: write it as a .md file, or into a private space"
        )
    try:
        return update_frontmatter(text, {MARK_KEY: True})
    except EditError as exc:
        raise ToolError(
            f"{path} must be marked sensitive but its frontmatter cannot be edited: {exc}"
        ) from exc


def _write(env: ToolEnv, path: str, text: str, base: str | None, verb: str) -> ToolOutcome:
    _exact_case(env, path)
    text = _with_mark(env, path, text)
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise ToolError(f"{path} would be {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}")
    try:
        update = env.model.write(path, text, base_hash=base)
    except WriteConflictError as exc:
        raise ToolError(
            f"{path} changed on disk since this task last saw it, so nothing was written: "
            "read it again with read_file, then redo the change"
        ) from exc
    env.seen[path] = content_hash(data)
    notes = [
        f"\n{d.severity}: {d.message} (fix: {d.fix})"
        for d in update.workspace.diagnostics
        if d.path == path
    ]
    lines = text.count("\n") + (not text.endswith("\n") and bool(text))
    marked = " — marked sensitive: it carries sensitive content" if is_marked(text) else ""
    return ToolOutcome(
        True, f"{verb} {path} ({lines} lines){marked}{''.join(notes[:5])}", path, True
    )


def _guarded(name: str, schema: Mapping[str, Any], body: Runner) -> Runner:
    """`body` behind the argument check, with every expected error as a failed outcome."""

    def run(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
        problem = _check(name, schema, arguments)
        if problem:
            return ToolOutcome(False, problem)
        try:
            return body(arguments, env)
        except PathOutsideWorkspaceError:
            # The store's message names real paths on this machine: the model gets none.
            where = arguments.get("path", arguments.get("folder", ""))
            return ToolOutcome(False, f"'{where}' is outside the workspace (or leads outside it)")
        except CairnError as exc:
            return ToolOutcome(False, str(exc))
        except OSError as exc:
            return ToolOutcome(False, f"{name} failed: {exc.strerror or exc}")

    return run


# --- the tools --------------------------------------------------------------------------------

_TOOLS: list[Tool] = []
_PATH = "workspace-relative path, e.g. spaces/team/drafts/note.md"
_FOLDER = "workspace-relative folder; omit for the whole workspace"
_QUERY = "text to find, in any case"
_CONTENT = "the complete new content"


def _tool(
    name: str,
    description: str,
    effect: Literal["read", "write"],
    /,
    example: Mapping[str, str] | None = None,
    patterns: Mapping[str, str] | None = None,
    **arguments: str,
) -> Callable[[Runner], Runner]:
    """Register a tool whose string arguments are `arguments` (a `_` suffix: optional)."""

    def register(body: Runner) -> Runner:
        names = {key.rstrip("_"): text for key, text in arguments.items()}
        schema = {
            "type": "object",
            "properties": {k: {"type": "string", "description": d} for k, d in names.items()},
            "required": [k for k in arguments if not k.endswith("_")],
            "additionalProperties": False,
        }
        target = next((k for k in names if k in ("path", "folder")), None)
        run = _guarded(name, schema, body)
        tool = Tool(name, description, schema, effect, run, target, example, dict(patterns or {}))
        _TOOLS.append(tool)
        return body

    return register


@_tool(
    "read_file",
    "See what a file says: read a text file of the workspace (long files in parts: pass "
    "offset to read on).",
    "read",
    example={"path": "notes/plan.md"},
    patterns={"offset": "^[0-9]{1,9}$"},  # a string, as every argument here: digits only
    path=_PATH,
    offset_="character to start from, for the rest of a long file (default 0)",
)
def _read_file(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    path = clean_path(arguments["path"], bundled=hidden_skill_files(env.workspace))
    offset = _offset(arguments.get("offset", "0"))
    raw = _read_bytes(env, path, READ_BYTES)
    if raw is None:
        raise ToolError(f"there is no file {path}: use list_files or search to find one")
    complete = len(raw) <= READ_BYTES
    text = _decode(path, raw[:READ_BYTES], final=complete).removeprefix("\ufeff")
    if offset > len(text):
        raise ToolError(f"{path} has only {len(text):,} characters; offset {offset:,} is past it")
    end = min(len(text), offset + READ_CHARS)
    shown = text[offset:end]
    # What the task has seen of the file from its start: a read that follows on extends it.
    digest = content_hash(raw) if complete else None
    real = real_target(env.model, path)
    digest_now = content_hash(raw)
    before = env.partial.get(real)
    seen = before[1] if before is not None and before[0] == digest_now else 0
    reach = max(seen, end) if offset <= seen else seen
    if digest is not None and (env.seen.get(path) == digest or reach >= len(text)):
        env.seen[path] = digest
        env.partial.pop(real, None)
    else:
        env.seen.pop(path, None)
        env.partial[real] = (digest_now, reach)
    if end < len(text) or not complete:
        rest = len(text) - end
        more = f"{rest:,}" if complete else f"more than {rest:,}"
        shown += (
            f"\n[truncated: {more} more characters not shown; read them with read_file "
            f"offset={end}. Replacing this file with write_file is refused until you have "
            "read all of it; append_file adds to it safely]"
        )
    if offset:
        shown = f"[from character {offset:,} of {path}]\n{shown}"
    return ToolOutcome(True, shown if text else "[empty file]", path)


def _offset(raw: object) -> int:
    try:
        value = int(str(raw).strip() or "0")
    except ValueError:
        raise ToolError(f"offset must be a whole number of characters, not {raw!r}") from None
    if value < 0:
        raise ToolError("offset cannot be negative")
    return value


@_tool(
    "list_files",
    "See which files a folder holds (sub-folders end in /).",
    "read",
    example={"folder": "notes"},
    folder_=_FOLDER,
)
def _list_files(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    folder = clean_path(arguments.get("folder", ""))
    if folder:
        _exact_case(env, folder)
    if folder and not env.model.store.is_dir(folder):
        raise ToolError(f"there is no folder {folder} in the workspace")
    if folder:
        real_target(env.model, folder)
    files, folders = env.model.store.scan(folder)
    prefix = f"{folder}/" if folder else ""
    entries = [f"{prefix}{name}/" for name in folders] + [prefix + name for name in files]
    if not entries:
        return ToolOutcome(True, f"{folder or 'the workspace'} is empty", folder or None)
    shown = entries[:LIST_ENTRIES]
    if len(entries) > LIST_ENTRIES:
        shown.append(f"[{len(entries) - LIST_ENTRIES} more entries not shown]")
    return ToolOutcome(True, "\n".join(shown), folder or None)


@_tool(
    "search",
    "Find where a word or phrase appears: every line containing it, in .md/.txt files.",
    "read",
    example={"query": "budget"},
    query=_QUERY,
    folder_=_FOLDER,
)
def _search(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    query = arguments["query"].strip()
    if not query:
        raise ToolError("search needs a non-empty query")
    needle = query.casefold()
    folder = clean_path(arguments.get("folder", ""))
    store = env.model.store
    if folder:
        _exact_case(env, folder)
    if folder and not store.is_dir(folder):
        raise ToolError(f"there is no folder {folder} in the workspace")
    if folder:
        real_target(env.model, folder)
    hits: list[str] = []
    shown: list[str] = []  # the files whose lines the output holds
    stack = [folder]
    while stack and len(hits) <= SEARCH_HITS:
        current = stack.pop()
        prefix = f"{current}/" if current else ""
        files, folders = store.scan(current)  # hidden names (.cairn, .git) are left out
        stack.extend(prefix + name for name in reversed(folders))
        for name in files:
            if not name.lower().endswith(SEARCH_SUFFIXES):
                continue
            try:
                real_target(env.model, prefix + name)
                raw = store.read(prefix + name, MAX_FILE_BYTES)
            except (OSError, CairnError):
                continue  # unreadable, a link leading outside or into hidden files: skipped
            text = raw.decode("utf-8", errors="replace")
            if b"\x00" in raw[:8192] or needle not in text.casefold():
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if needle in line.casefold():
                    hits.append(f"{prefix}{name}:{number}: {line.strip()[:200]}")
                    if not shown or shown[-1] != prefix + name:
                        shown.append(prefix + name)
    if not hits:
        return ToolOutcome(True, f"no matches for '{query}'", folder or None)
    if len(hits) > SEARCH_HITS:
        hits[SEARCH_HITS:] = [
            f"[more than {SEARCH_HITS} matches, only the first {SEARCH_HITS} are shown: "
            "narrow the query or pass a folder]"
        ]
    return ToolOutcome(True, "\n".join(hits), folder or None, read=tuple(shown))


@_tool(
    "load_skill",
    "Load a skill by name to follow its steps: its instructions and bundled files.",
    "read",
    example={"name": "weekly-review"},
    name="skill name",
)
def _load_skill(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    name = arguments["name"]
    skill = env.workspace.find_skill(name, env.space)
    if skill is None:
        available = ", ".join(sorted(env.workspace.skills_for(env.space))) or "none"
        raise ToolError(f"there is no skill named '{name}'; available skills: {available}")
    env.seen[skill.path] = skill.content_hash
    res = skill.resources
    bundled = [*res.scripts, *res.references, *res.assets, *res.other]
    listing = "\n".join(f"- {p}" for p in bundled) or "- (none)"
    output = (
        f"Skill '{skill.name}' ({skill.path}): {skill.description}\n\n{skill.body.strip()}\n\n"
        f"Bundled files (open them with read_file):\n{listing}"
    )
    return ToolOutcome(True, output, skill.path)


@_tool(
    "write_file",
    "Create a file, or replace all of it, with the given content.",
    "write",
    example={"path": "drafts/memo.md", "content": "..."},
    path=_PATH,
    content=_CONTENT,
)
def _write_file(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    path = clean_path(arguments["path"])
    text: str = arguments["content"]
    raw = _read_bytes(env, path, READ_BYTES)
    if raw is not None and len(raw) > READ_BYTES:
        raise ToolError(f"{path} is too large for Cairn's tools to replace")
    partly = env.partial.get(real_target(env.model, path))
    if partly is not None:
        raise ToolError(
            f"{path} was read only in part (the first {partly[1]:,} characters), so "
            "replacing it would lose the rest: read the rest with read_file and an offset, "
            "add to it with append_file, or ask the user with ask_user"
        )
    current = content_hash(raw) if raw is not None else None
    base = env.seen.get(path) or _model_hash(env.workspace, path) or current
    if base == current == content_hash(text.encode("utf-8")):
        return ToolOutcome(True, f"{path} already has exactly this content", path)
    return _write(env, path, text, base, "created" if raw is None else "replaced")


def task_view(env: ToolEnv, path: str) -> str | None:
    """The content hash a write to `path` would be based on in this task, as write_file
    bases its own: what the task read or last wrote, else the workspace model's copy, else
    the file on disk now; None when there is no such file. An approval queued for later
    records it, so the write is refused if the file changed in between.

    `ToolError` where the write would be refused anyway (a file read only in part, a
    hidden target), `PathOutsideWorkspaceError` for a path that leads outside."""
    partly = env.partial.get(real_target(env.model, path))
    if partly is not None:
        raise ToolError(f"{path} was read only in part (the first {partly[1]:,} characters)")
    seen = env.seen.get(path) or _model_hash(env.workspace, path)
    if seen is not None:
        return seen
    raw = _read_bytes(env, path, READ_BYTES)
    return content_hash(raw) if raw is not None else None


@_tool("append_file", "Add text at the end of a file.", "write", path=_PATH, text="text to add")
def _append_file(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
    """Append to what is on disk now: the change does not depend on an earlier read."""
    path = clean_path(arguments["path"])
    raw = _read_bytes(env, path, READ_BYTES)
    if raw is not None and len(raw) > READ_BYTES:
        raise ToolError(f"{path} is too large for Cairn's tools to change")
    current = _decode(path, raw) if raw is not None else ""
    joiner = "\n" if current and not current.endswith("\n") else ""
    base = content_hash(raw) if raw is not None else None
    return _write(env, path, current + joiner + arguments["text"], base, "appended to")


CHOICES_LIMIT = 400
"""Workspaces with more files or folders than this offer no list (the grammar would grow
past what is quick to build and sample with)."""


def _grammar_safe(path: str) -> bool:
    """Whether a name can go into a grammar as it is: llama.cpp's converter does not escape
    a backslash and writes characters beyond the Basic Multilingual Plane as halves of a
    surrogate pair, and a quote breaks the grammar whole. Such names are left out of the
    lists (a constrained model cannot name them; every other model still can)."""
    return not any(c in '"\\' or ord(c) < 32 or ord(c) > 0xFFFF for c in path)


def new_file_pattern(folders: Collection[str]) -> str:
    """A regular expression for a new file's path: a name inside one of `folders`, so a
    constrained model writes into the workspace's folders rather than anywhere."""
    names = "[A-Za-z0-9_][A-Za-z0-9 ._()&,+'-]*"
    inside = "|".join(_literal(f) for f in sorted(folders) if _plain(f))
    return f"^({inside})/{names}$" if inside else f"^{names}$"


def _plain(folder: str) -> bool:
    return all(c.isalnum() or c in "/_ .-" for c in folder)


def _literal(text: str) -> str:
    """A plain folder name (`_plain`) as a regular expression without backslashes:
    llama.cpp's converter writes a backslash escape into the grammar as it is, and its
    grammar parser rejects most of them (a rejected grammar means no constraint at all)."""
    return "".join(f"[{c}]" if c in ".-" else c for c in text)


def argument_choices(
    workspace_model: WorkspaceModel, space: str | None = None, limit: int = CHOICES_LIMIT
) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per tool, the values its name-like arguments can take right now: the files that
    exist (read_file's path), the folders (list_files' and search's folder), the skills and
    operators of the space. Grammar-constrained models pick from these, so a small model
    cannot invent a file name (`ToolSpec.choices`). Hidden files are not offered, as the
    tools refuse them anyway."""
    store = workspace_model.store
    files: list[str] = []
    folders: list[str] = []
    stack = [""]
    while stack:
        current = stack.pop()
        try:
            names, subfolders = store.scan(current)
        except (OSError, CairnError):
            continue
        prefix = f"{current}/" if current else ""
        files += [prefix + n for n in names if n != ".gitkeep" and _grammar_safe(prefix + n)]
        folders += [prefix + n for n in subfolders if _grammar_safe(prefix + n)]
        stack.extend(prefix + n for n in reversed(subfolders))
        if len(files) > limit or len(folders) > limit:
            files, folders = [], []  # too many to list: leave the arguments free
            break
    workspace = workspace_model.workspace
    choices: dict[str, dict[str, tuple[str, ...]]] = {
        "load_skill": {"name": tuple(sorted(workspace.skills_for(space)))},
        "consult_operator": {"operator": tuple(sorted(workspace.operators_for(space)))},
    }
    if files:
        choices["read_file"] = {"path": tuple(sorted(files))}
    if folders:
        choices["list_files"] = {"folder": tuple(sorted(folders))}
        choices["search"] = {"folder": tuple(sorted(folders))}
    return choices


def file_tools() -> tuple[Tool, ...]:
    """The workspace file tools, in the order they are offered to a model."""
    return tuple(_TOOLS)
