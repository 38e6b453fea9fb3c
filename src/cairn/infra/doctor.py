"""What works on this machine, what is missing, and the fix for each: `cairn doctor`'s checks.

Every check is a row: `ok`, `warn` or `fail`, one line of what was found and, when not
ok, the command that fixes it. `fail` is kept for what stops Cairn's main job — a task
run on a local model with no keys — so the report's exit code is simply: 1 if any row
failed (or no local model is usable), else 0. Missing cloud keys, a missing keychain or
missing Qt libraries are warnings: the local model and the CLI work without them.

The checks only look. They write nothing into the workspace (the memory index is checked
on a copy), load no model unless `load=True`, and run the two checks that can take a
process down with them (importing llama.cpp's native library, starting Qt) in child
processes with a time limit, started first so they run while the rest is checked. Each
check catches its own failure and reports it as a row: `diagnose` never raises.

`cairn doctor` prints the report; the desktop app's first-run page lists it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cairn.core.workspace.entities import Workspace
    from cairn.core.workspace.schema import ModelSpec
    from cairn.infra.keychain import KeyStore

Status = Literal["ok", "warn", "fail"]

MIB = 1024 * 1024
GIB = 1024 * MIB
DISK_WARN = GIB  # below this, a model download or a long task may not fit
DISK_FAIL = 100 * MIB  # below this, the starter model (98 MB) cannot even be installed
PROBE_TIMEOUT_S = 10.0  # the child processes that import llama.cpp and start Qt
KEYCHAIN_TIMEOUT_S = 10.0  # a locked keychain may wait for a password dialog
# The system libraries Qt loads on Debian/Ubuntu (offscreen too) and a font: what
# scripts/setup installs.
QT_APT_PACKAGES = (
    "libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 fonts-dejavu-core"
)
MEMORY_DB = Path(".cairn") / "memory.sqlite"


@dataclass
class Row:
    """One check's result. `fix` is a command (or a precise edit), present when not ok."""

    check: str  # workspace, llama-cpp, model, keychain, key, memory, disk, qt
    name: str  # what the row is about: a model's or provider's name, or the check's
    status: Status
    finding: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Probe:
    """A child process checking something that could abort or hang the process."""

    process: subprocess.Popen[str] | None
    error: str | None = None  # why it could not start

    def result(self, deadline: float) -> tuple[int | None, str, str]:
        """(exit code or None on timeout, stdout, stderr)."""
        if self.process is None:
            return -1, "", self.error or "could not start"
        try:
            out, err = self.process.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            return None, out, err
        return self.process.returncode, out, err


_LLAMA_PROBE = "import llama_cpp; print(llama_cpp.__version__)"
# Widgets and an application object: loads Qt's libraries, a platform plugin and fonts.
_QT_PROBE = (
    "import PySide6; from PySide6 import QtGui, QtWidgets; "
    "app = QtWidgets.QApplication([]); print(PySide6.__version__)"
)


def _probe(code: str, platform: str | None = None) -> _Probe:
    """Start `code` in a child Python; `platform` sets QT_QPA_PLATFORM for it."""
    env = dict(os.environ)
    if platform is not None:
        env["QT_QPA_PLATFORM"] = platform
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    except OSError as exc:
        return _Probe(None, f"{type(exc).__name__}: {exc}")
    return _Probe(process)


def diagnose(directory: str, *, load: bool = False) -> dict[str, Any]:
    """Every check for the workspace `directory`, as the JSON report `--json` prints."""
    on_display = _native_display()
    probes = _Probes(
        deadline=time.monotonic() + PROBE_TIMEOUT_S,
        llama=_probe(_LLAMA_PROBE),
        qt=_probe(_QT_PROBE, "offscreen"),
        qt_native=_probe(_QT_PROBE) if on_display else None,  # the platform Qt picks itself
    )
    try:
        return _diagnose(directory, probes, load=load)
    finally:
        probes.stop()


@dataclass
class _Probes:
    """The child processes, started before anything else so they run meanwhile."""

    deadline: float
    llama: _Probe
    qt: _Probe
    qt_native: _Probe | None  # only in a desktop session on Linux

    def stop(self) -> None:
        """Kill any still running (all are reaped already unless a check raised)."""
        for probe in (self.llama, self.qt, self.qt_native):
            if probe is not None and probe.process is not None and probe.process.poll() is None:
                probe.process.kill()
                probe.process.wait()


def _diagnose(directory: str, probes: _Probes, *, load: bool) -> dict[str, Any]:
    root = Path(directory).expanduser()
    rows: list[Row] = []
    workspace, workspace_row = _guard_workspace(root, directory)
    rows.append(workspace_row)
    llama_row = _guard_row("llama-cpp", "llama.cpp", lambda: _llama_row(probes))
    rows.append(llama_row)
    try:
        model_rows, usable = _model_rows(
            workspace, root, directory, load=load and llama_row.status == "ok"
        )
    except Exception as exc:
        if os.environ.get("CAIRN_DEBUG"):
            raise
        model_rows, usable = [_failed_check("model", "local models", exc)], []
    rows += model_rows
    rows += _with_timeout(lambda: _key_rows(workspace), KEYCHAIN_TIMEOUT_S, "keychain", "keychain")
    if workspace is not None:
        rows.append(_guard_row("memory", "memory index", lambda: _memory_row(workspace, root)))
    rows += _guard_rows("disk", "disk space", lambda: _disk_rows(root))
    rows.append(_guard_row("qt", "Qt", lambda: _qt_row(probes)))

    failed = [r for r in rows if r.status == "fail"]
    runnable = not failed and bool(usable)
    return {
        "version": 1,
        "workspace": str(root.resolve()) if root.is_dir() else str(root),
        "main_job": {
            "can_run": runnable,
            "model": usable[0] if usable else None,
            "command": _ask_command(directory, usable[0]) if usable and runnable else None,
        },
        "exit_code": 0 if runnable else 1,
        "checks": [asdict(r) for r in rows],
    }


# --- guards: a check that raises becomes a row, never a traceback -----------------------


def _failed_check(check: str, name: str, exc: BaseException) -> Row:
    status: Status = "fail" if check in ("workspace", "model", "llama-cpp") else "warn"
    return Row(
        check,
        name,
        status,
        f"the check itself failed: {type(exc).__name__}: {exc}",
        "run again with CAIRN_DEBUG=1 to see where, and report it",
    )


def _guard_workspace(root: Path, directory: str) -> tuple[Workspace | None, Row]:
    try:
        return _workspace(root, directory)
    except Exception as exc:
        if os.environ.get("CAIRN_DEBUG"):
            raise
        return None, _failed_check("workspace", "workspace", exc)


def _guard_row(check: str, name: str, run: Callable[[], Row]) -> Row:
    try:
        return run()
    except Exception as exc:
        if os.environ.get("CAIRN_DEBUG"):
            raise
        return _failed_check(check, name, exc)


def _guard_rows(check: str, name: str, run: Callable[[], list[Row]]) -> list[Row]:
    try:
        return run()
    except Exception as exc:
        if os.environ.get("CAIRN_DEBUG"):
            raise
        return [_failed_check(check, name, exc)]


def _with_timeout(run: Callable[[], list[Row]], timeout: float, check: str, name: str) -> list[Row]:
    """`run` in a thread: a keychain waiting for a password dialog must not hang doctor."""
    done: list[list[Row]] = []
    raised: list[BaseException] = []

    def target() -> None:
        try:
            done.append(_guard_rows(check, name, run))
        except BaseException as exc:  # only with CAIRN_DEBUG: shown on the main thread
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if raised:
        raise raised[0]
    if done:
        return done[0]
    return [
        Row(
            check,
            name,
            "warn",
            f"the keychain did not answer within {timeout:g} s (locked, or waiting for a "
            "password dialog)",
            "unlock the OS keychain, then run `cairn doctor` again",
        )
    ]


# --- the workspace ----------------------------------------------------------------------


def _quote(text: str) -> str:
    return shlex.quote(text)


def _workspace(root: Path, directory: str) -> tuple[Workspace | None, Row]:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    init = f"cairn init {_quote(directory)}"
    if not root.is_dir():
        return None, Row("workspace", "workspace", "fail", f"{root} is not a folder", init)
    if not looks_like_workspace(root):
        return None, Row(
            "workspace",
            "workspace",
            "fail",
            f"{root} is not a workspace (no agents.md, spaces/, skills/, operators/ or "
            "automations/)",
            init,
        )
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    errors, warnings = len(workspace.errors), len(workspace.warnings)
    check = f"cairn check {_quote(directory)}"
    counts = {"files": len(workspace.files), "errors": errors, "warnings": warnings}
    if errors:
        return workspace, Row(
            "workspace",
            "workspace",
            "fail",
            f"{plural(errors, 'error')} in the workspace's files"
            + (f" and {plural(warnings, 'warning')}" if warnings else ""),
            f"run `{check}` and fix what it lists",
            counts,
        )
    if workspace.agents is None:
        from cairn.infra.starter import other_tools_files

        source = "--from " if other_tools_files(root) else ""
        return workspace, Row(
            "workspace",
            "workspace",
            "fail",
            "no agents.md: no models, permissions or budgets are set",
            f"cairn init {source}{_quote(directory)}",
            counts,
        )
    note = f" ({plural(warnings, 'warning')}: `{check}` lists them)" if warnings else ""
    return workspace, Row(
        "workspace",
        "workspace",
        "ok",
        f"checked {plural(len(workspace.files), 'file')}, no errors{note}",
        details=counts,
    )


# --- llama.cpp and the local models -----------------------------------------------------


def _python() -> str:
    """This interpreter, as short as it can be said from here."""
    exe = Path(sys.executable)
    try:
        relative = exe.relative_to(Path.cwd())
    except ValueError:
        return _quote(str(exe))
    return _quote(str(relative))


def _setup_script() -> Path | None:
    """scripts/setup, in a source checkout (an installed wheel has none)."""
    import cairn

    script = Path(cairn.__file__).resolve().parent.parent.parent / "scripts" / "setup"
    return script if script.is_file() else None


def _short(path: Path) -> str:
    """A path as a person would type it: `~/...` under the home folder."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _llama_row(probes: _Probes) -> Row:
    probe, deadline = probes.llama, probes.deadline
    import importlib.util
    from importlib import metadata

    try:
        version: str | None = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        version = None
    setup = _setup_script()
    if version is None or importlib.util.find_spec("llama_cpp") is None:
        probe.result(deadline)  # reap it
        fix = (
            f"bash {_quote(_short(setup))}"
            if setup
            else f'CMAKE_ARGS="-DGGML_NATIVE=OFF" {_python()} -m pip install llama-cpp-python'
        )
        return Row(
            "llama-cpp",
            "llama.cpp",
            "fail",
            "llama-cpp-python is not installed: local models cannot run",
            fix,
        )
    code, out, err = probe.result(deadline)
    if code == 0:
        return Row(
            "llama-cpp",
            "llama.cpp",
            "ok",
            f"llama-cpp-python {out.strip()} imports and its native library loads",
        )
    if code is None:
        why = f"importing it did not finish within {PROBE_TIMEOUT_S:g} s"
    elif code < 0:
        why = f"importing it killed the process ({_signal_name(-code)})"
        if -code == signal.SIGILL:
            why += ": it was built for a processor with instructions this one lacks"
    else:
        why = f"importing it failed: {_last_line(err)}"
    return Row(
        "llama-cpp",
        "llama.cpp",
        "fail",
        f"llama-cpp-python {version} is installed but {why}: local models cannot run",
        f'CMAKE_ARGS="-DGGML_NATIVE=OFF" {_python()} -m pip install --force-reinstall '
        f"--no-cache-dir --no-deps llama-cpp-python=={version}",
    )


@dataclass
class _ModelState:
    name: str
    spec: ModelSpec
    path: Path
    problem: str | None = None  # why it cannot run, or None
    fix: str | None = None
    finding: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    engine: Any = None


def _model_rows(
    workspace: Workspace | None, root: Path, directory: str, *, load: bool
) -> tuple[list[Row], list[str]]:
    """A row per local model in agents.md, and the names of those usable, in order."""
    if workspace is None or workspace.agents is None:
        return [], []  # the workspace row says what is missing and how to fix it
    from cairn.runtime import model_path

    states = [
        _check_model(name, spec, model_path(spec.path, root), directory)
        for name, spec in workspace.agents.policy.models.items()
        if spec.engine == "local" and spec.path
    ]
    if not states:
        return [
            Row(
                "model",
                "local models",
                "fail",
                "agents.md names no local model: no task can run without a key",
                "add a model with `engine: local` and `path:` to a GGUF file under `models:` "
                "in agents.md (`cairn models` lists the GGUF files on this machine; see "
                "docs/models.md)",
            )
        ], []
    if load:
        for state in states:
            if state.problem is None:
                _load(state)
                if state.problem is None:
                    break  # the first one that loads proves the engine: enough
    usable = [s.name for s in states if s.problem is None]
    rows = []
    for state in states:
        if state.problem is None:
            rows.append(Row("model", state.name, "ok", state.finding, details=state.details))
            continue
        # A model that cannot run stops the main job only when no other local one can.
        status: Status = "warn" if usable else "fail"
        problem = state.problem
        if usable:
            problem += f" ({usable[0]} can run in its place)"
        rows.append(Row("model", state.name, status, problem, state.fix, state.details))
    return rows, usable


def _check_model(name: str, spec: ModelSpec, path: Path, directory: str) -> _ModelState:
    from cairn.core.engine import EngineError
    from cairn.engines.gguf_header import GgufReadError, read_gguf_info
    from cairn.infra.starter_model import STARTER

    state = _ModelState(name, spec, path, details={"path": str(path)})
    shown = _short(path)
    fix_path = (
        f"point `path:` of {name} in agents.md at a GGUF file (`cairn models "
        f"{_quote(directory)}` lists those on this machine)"
    )
    starter = path.name == STARTER.filename
    fetch_starter = "cairn models pull starter"
    if not path.exists():
        state.problem = f"{shown} does not exist"
        if starter:
            state.problem = f"the starter model is not installed ({shown} does not exist)"
        state.fix = fetch_starter if starter else _pull_command(path.name) or fix_path
        return state
    if not path.is_file() or not os.access(path, os.R_OK):
        state.problem = f"{shown} is not a readable file"
        state.fix = f"chmod u+r {_quote(str(path))}" if path.is_file() else fix_path
        return state
    size = path.stat().st_size
    if starter and size != STARTER.size:
        state.problem = (
            f"the starter model at {shown} is damaged or incomplete ({size:,} bytes, "
            f"expected {STARTER.size:,})"
        )
        state.fix = fetch_starter
        return state
    try:
        info = read_gguf_info(path)
    except GgufReadError as exc:
        state.problem = f"{shown} is not a readable GGUF model: it {exc.reason}"
        state.fix = fetch_starter if starter else fix_path
        return state
    if info.kind != "model":
        state.problem = f"{shown} is a {info.kind} file, not a model that can chat"
        state.fix = fix_path
        return state
    if info.split_found < info.split_count:
        state.problem = (
            f"{shown} is part of a model split into {info.split_count} files; only "
            f"{info.split_found} are next to it"
        )
        state.fix = "download the missing parts into the same folder"
        return state
    from cairn.engines.local import LocalEngine

    engine = LocalEngine(
        name,
        path,
        context=spec.context,
        gpu_layers=spec.gpu_layers or 0,
        threads=spec.threads,
        chat_format=spec.chat_format,
        idle_unload_s=None,
    )
    what = ", ".join(
        x for x in (info.architecture, info.quantisation, _size(info.size_bytes)) if x is not None
    )
    try:
        fit = engine.check_fit()
    except EngineError as exc:
        if exc.kind != "out_of_memory":
            state.problem, state.fix = str(exc), fix_path
            return state
        state.problem = (
            f"{shown} ({what}) does not fit in memory now: {str(exc).split('. Lower', 1)[0]}"
        )
        state.fix = (
            f"lower `context:` of {name} in agents.md, or set `gpu_layers:`, or close other "
            "programs"
        )
        return state
    state.engine = engine
    state.details.update(
        {
            "architecture": info.architecture,
            "quantisation": info.quantisation,
            "size_bytes": info.size_bytes,
            "needed_bytes": fit.needed_bytes,
            "available_bytes": fit.available_bytes,
            "loaded": False,
        }
    )
    label = "the starter model, " if starter else ""
    state.finding = (
        f"{shown} ({label}{what}): fits in memory, needs about {_size(fit.needed_bytes)} of "
        f"{_size(fit.available_bytes)} available"
    )
    return state


def _pull_command(filename: str) -> str | None:
    """`cairn models pull NAME` when the catalogue lists a model with this file name; else
    None (the fix is then to change `path:`)."""
    from cairn.infra.model_catalogue import CATALOGUE

    entry = next((e for e in CATALOGUE if e.filename.casefold() == filename.casefold()), None)
    return None if entry is None else f"cairn models pull {entry.name}"


def _load(state: _ModelState) -> None:
    """`--load`: llama.cpp really loads the model (then frees it)."""
    from cairn.core.engine import EngineError

    engine = state.engine
    started = time.perf_counter()
    try:
        engine.load()
    except EngineError as exc:
        state.problem = f"llama.cpp could not load it: {exc}"
        state.fix = f"point `path:` of {state.name} in agents.md at another GGUF file"
        return
    finally:
        engine.unload()
    took = time.perf_counter() - started
    state.details["loaded"] = True
    state.details["load_seconds"] = round(took, 3)
    state.finding += f"; loaded by llama.cpp in {took:.2f} s"


# --- keys and the keychain --------------------------------------------------------------


KEYCHAIN_FIX = (
    "put keys in the environment (`export OPENAI_API_KEY=...`, see docs/keys.md), or use a "
    "desktop session with gnome-keyring or KWallet unlocked, or choose a keyring backend "
    "with PYTHON_KEYRING_BACKEND"
)


def _key_rows(workspace: Workspace | None) -> list[Row]:
    """The keychain's row, then one per cloud provider agents.md uses. No key is shown."""
    from cairn.infra.keychain import KeyStore

    store = KeyStore()
    rows = [_keychain_row(store)]
    if workspace is not None and workspace.agents is not None:
        rows += _provider_rows(store, workspace)
    return rows


def _keychain_row(store: KeyStore) -> Row:
    from cairn.infra.keychain import KeychainUnavailableError, backend_name

    try:
        name = backend_name(store.backend())
        if name.startswith("keyring.backends.fail"):
            return Row(
                "keychain",
                "keychain",
                "warn",
                "no OS keychain on this machine (keyring chose its `fail` backend): keys can "
                "only come from the environment",
                KEYCHAIN_FIX,
                {"backend": name},
            )
        stored = len(store.list(include_environment=False))
    except KeychainUnavailableError as exc:
        return Row("keychain", "keychain", "warn", _before_fix(str(exc)), KEYCHAIN_FIX)
    details = {"backend": name, "stored": stored}
    finding = f"keyring backend {name} works; {plural(stored, 'key')} stored"
    if name.startswith("keyrings.alt") and "Plaintext" in name:
        fix = "choose an encrypted keyring backend with PYTHON_KEYRING_BACKEND"
        return Row("keychain", "keychain", "warn", finding + " in a plain-text file", fix, details)
    return Row("keychain", "keychain", "ok", finding, details=details)


def _provider_rows(store: KeyStore, workspace: Workspace) -> list[Row]:
    from cairn.core.routing.router import is_loopback
    from cairn.infra.keychain import KeychainError, KeychainUnavailableError, env_var_names

    assert workspace.agents is not None
    policy = workspace.agents.policy
    rows: list[Row] = []
    by_provider: dict[str, list[str]] = {}
    for model_name, spec in policy.models.items():
        if spec.engine != "litellm" or not spec.model:
            continue
        if is_loopback(spec.api_base):
            finding = f"{model_name} is served on this machine at {spec.api_base}: no key needed"
            rows.append(Row("key", model_name, "ok", finding))
            continue
        provider = spec.model.split("/", 1)[0] if "/" in spec.model else "openai"
        by_provider.setdefault(provider, []).append(model_name)
    allow, deny = set(policy.providers.allow), set(policy.providers.deny)
    for provider, names in sorted(by_provider.items()):
        used = ", ".join(names)
        if provider in deny or (allow and provider not in allow):
            finding = f"not needed: agents.md's `providers:` rules this provider out ({used})"
            rows.append(Row("key", provider, "ok", finding))
            continue
        try:
            found = store.get(provider)
            unavailable = False
        except KeychainUnavailableError:
            found, unavailable = None, True
        except KeychainError as exc:  # a provider name that cannot have a key
            rows.append(Row("key", provider, "warn", f"cannot look up its key: {exc}"))
            continue
        if found is not None:
            where = (
                "the OS keychain"
                if found.source == "keychain"
                else f"the environment ({found.env_var})"
            )
            rows.append(Row("key", provider, "ok", f"key found in {where} (for {used})"))
            continue
        api_var = env_var_names(provider)[1]
        keychain = "no usable keychain" if unavailable else "not in the keychain"
        rows.append(
            Row(
                "key",
                provider,
                "warn",
                f"no key ({keychain}, {api_var} not set): {used} cannot run; local models still do",
                f"export {api_var}=..." if unavailable else f"cairn keys set {provider}",
            )
        )
    return rows


def _before_fix(message: str) -> str:
    """The keychain's long message, up to where it starts listing fixes."""
    return message.split(" Fix:", 1)[0].rstrip(".")


# --- the memory index -------------------------------------------------------------------


def _memory_row(workspace: Workspace, root: Path) -> Row:
    state = root / ".cairn"
    if state.exists() and not state.is_dir():
        return Row(
            "memory",
            "memory index",
            "fail",
            f"{state} is a file, not Cairn's state folder",
            f"mv {_quote(str(state))} {_quote(str(state))}.bak",
        )
    writable = state if state.is_dir() else root
    if not os.access(writable, os.W_OK | os.X_OK):
        return Row(
            "memory",
            "memory index",
            "fail",
            f"{writable} is not writable: tasks cannot keep traces, spend or the index",
            f"chmod u+rwx {_quote(str(writable))}",
        )
    db = root / MEMORY_DB
    if not db.exists():
        return Row(
            "memory",
            "memory index",
            "ok",
            "not built yet: the first task builds it from the memory files",
        )
    return _index_row(workspace, root, db)


def _index_row(workspace: Workspace, root: Path, db: Path) -> Row:
    """Checked on a copy: `repair()` on the copy lists what the real index lacks."""
    from cairn.infra.memory_index import SCHEMA_VERSION, MemoryIndex
    from cairn.runtime import space_folders

    fix = "cairn memory reindex" + (
        f" --workspace {_quote(str(root))}" if root.resolve() != Path.cwd() else ""
    )
    with tempfile.TemporaryDirectory(prefix="cairn-doctor-") as scratch:
        copy = Path(scratch) / "memory.sqlite"
        try:
            source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                version = source.execute("PRAGMA user_version").fetchone()[0]
                healthy = source.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                if healthy:
                    target = sqlite3.connect(copy)
                    try:
                        source.backup(target)
                    finally:
                        target.close()
            finally:
                source.close()
        except sqlite3.DatabaseError as exc:
            return Row(
                "memory",
                "memory index",
                "warn",
                f"{MEMORY_DB} cannot be read ({exc}); recall finds nothing until it is rebuilt",
                fix,
            )
        if not healthy:
            return Row(
                "memory", "memory index", "warn", f"{MEMORY_DB} is damaged (integrity check)", fix
            )
        if version != SCHEMA_VERSION:
            return Row(
                "memory",
                "memory index",
                "warn",
                f"{MEMORY_DB} is from another version of Cairn (schema {version}, this one "
                f"reads {SCHEMA_VERSION})",
                fix,
            )
        with MemoryIndex(root, copy, space_folders=lambda: space_folders(workspace)) as index:
            behind = index.repair()
        counted = sqlite3.connect(copy)
        try:
            items = int(counted.execute("SELECT count(*) FROM items").fetchone()[0])
        finally:
            counted.close()
    if behind:
        return Row(
            "memory",
            "memory index",
            "ok",
            f"{plural(items, 'item')} indexed; {plural(len(behind), 'memory file')} changed "
            f"since (the next task catches up, or `{fix}` now)",
            details={"items": items, "behind": len(behind)},
        )
    return Row(
        "memory",
        "memory index",
        "ok",
        f"{plural(items, 'item')} indexed, in step with the memory files",
        details={"items": items, "behind": 0},
    )


# --- disk space -------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _disk_rows(root: Path) -> list[Row]:
    from cairn.infra.starter_model import models_folder

    places: dict[int, list[tuple[str, Path]]] = {}
    folders = [("the workspace", root)] if root.is_dir() else []
    for label, path in (*folders, ("the models folder", models_folder())):
        where = _existing(path)
        places.setdefault(where.stat().st_dev, []).append((label, where))
    rows = []
    for found in places.values():
        where = found[0][1]
        free = shutil.disk_usage(where).free
        status: Status = "fail" if free < DISK_FAIL else "warn" if free < DISK_WARN else "ok"
        shown = ", ".join(f"{label} {_short(path)}" for label, path in found)
        finding = f"{_size(free)} free on the disk holding {shown}"
        fix = None
        if status != "ok":
            finding += (
                ": too little for a task's files" if status == "fail" else ": models need more"
            )
            fix = (
                f"free space on that disk (`du -sh {_quote(_short(where))}/*` shows what is "
                "big), or move the models with CAIRN_MODELS_DIR"
            )
        details = {"free_bytes": free, "paths": [str(path) for _, path in found]}
        rows.append(Row("disk", "disk", status, finding, fix, details))
    return rows


# --- Qt ---------------------------------------------------------------------------------


def _native_display() -> bool:
    """A desktop session where the app would use a real display, not offscreen."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _qt_row(probes: _Probes) -> Row:
    qt, native, deadline = probes.qt, probes.qt_native, probes.deadline
    import importlib.util

    python = _python()
    warn_suffix = ": the desktop app cannot open; the `cairn` command works without it"
    if importlib.util.find_spec("PySide6") is None:
        qt.result(deadline)
        if native is not None:
            native.result(deadline)
        return Row(
            "qt",
            "Qt",
            "warn",
            "PySide6 is not installed" + warn_suffix,
            f"{python} -m pip install PySide6-Essentials",
        )
    linux = sys.platform.startswith("linux")
    code, out, err = qt.result(deadline)
    if code != 0:
        if native is not None:
            native.result(deadline)
        why = _probe_failure(code, err)
        fix = (
            f"sudo apt-get install {QT_APT_PACKAGES}"
            if linux
            else f"{python} -m pip install --force-reinstall PySide6-Essentials"
        )
        return Row("qt", "Qt", "warn", f"Qt cannot start ({why})" + warn_suffix, fix)
    version = out.strip()
    if native is not None:
        n_code, _, n_err = native.result(deadline)
        if n_code != 0:
            why = _probe_failure(n_code, n_err)
            fix = (
                "sudo apt-get install libxcb-cursor0"
                if "xcb-cursor" in n_err
                else f"sudo apt-get install {QT_APT_PACKAGES}"
            )
            return Row(
                "qt",
                "Qt",
                "warn",
                f"PySide6 {version} works offscreen but not on this display ({why})" + warn_suffix,
                fix,
            )
    where = "on this display" if native is not None else "offscreen (no display in use)"
    return Row("qt", "Qt", "ok", f"PySide6 {version} and its system libraries load, {where}")


def _probe_failure(code: int | None, err: str) -> str:
    missing = next(
        (line for line in err.splitlines() if "cannot open shared object file" in line), None
    )
    if missing:
        # "ImportError: libEGL.so.1: cannot open shared object file: No such file or directory"
        lib = missing.split(": cannot open shared object file")[0].rsplit(": ", 1)[-1]
        return f"{lib} is missing"
    if "xcb-cursor" in err:
        return "libxcb-cursor0 is missing"
    if code is None:
        return f"it did not start within {PROBE_TIMEOUT_S:g} s"
    if code < 0:
        return f"it was killed by {_signal_name(-code)}: {_last_line(err)}"
    return _last_line(err)


# --- output -----------------------------------------------------------------------------


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _ask_command(directory: str, model: str) -> str:
    where = (
        ""
        if Path(directory).expanduser().resolve() == Path.cwd()
        else (f" --workspace {_quote(directory)}")
    )
    return f'cairn ask{where} --model {_quote(model)} "Hello: what can you do?"'


def row_label(row: dict[str, Any]) -> str:
    """A report row as a person names it: `model local-starter`, `key openai`, `disk`."""
    if row["check"] in ("model", "key") and row["name"] != "local models":
        return f"{row['check']} {row['name']}"
    return str(row["name"])
