"""The connectors' MCP servers, one process (or HTTP session) each per workspace, shared
by every task and automation of this process.

`ConnectorHub` owns one asyncio event loop on its own thread; each server's session
lives in a task there that opens it, then waits until it is closed (the SDK's sessions
must be entered and left in one task). Callers on any thread use plain methods: a server
starts on first use (`tools`, `call`), never before, so `cairn --version` and the app's
window never wait for one. A call has a timeout, and a `CancelToken` reaches the server as
the protocol's cancellation. A server that crashed is started again on the next use,
with a back-off that doubles up to a minute; the failure is said, never hidden.

The server's standard error goes to `.cairn/connectors/<name>.log`, not the terminal.
Secrets a server needs (`{keychain: NAME}` in `env` or `headers`) are read from the OS
keychain when it starts and exist only in its environment or its requests' headers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError
from cairn.core.workspace.schema import ConnectorSpec, SecretRef

if TYPE_CHECKING:
    from mcp import Client

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # starting and initialising a server
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
Secret = Callable[[str], str | None]  # a keychain name -> its value, or None


class ConnectorError(CairnError):
    """A connector could not start, answer or finish a call; the message says why."""


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """One tool a server lists, as it declares itself."""

    server: str
    name: str
    description: str
    schema: Mapping[str, Any]
    read_only: bool  # the server's `readOnlyHint`
    destructive: bool | None = None
    open_world: bool | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    text: str  # the result's text content, with other content named by kind
    is_error: bool  # the tool itself reported a failure


@dataclass
class Status:
    """What `cairn connectors list` and the app show of a server."""

    state: Literal["not started", "starting", "running", "failed"] = "not started"
    detail: str = ""
    tools: int = 0
    restarts: int = 0
    started_at: float | None = None


@dataclass
class _Session:
    name: str
    client: Client
    stop: asyncio.Event
    tools: list[RemoteTool] = field(default_factory=list)
    offers: dict[str, list[str]] = field(default_factory=dict)  # resources, prompts: names
    # The owner task, as the loop thread's future: done when the session ended.
    owner: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


class ConnectorHub:
    def __init__(
        self,
        root: str | Path,
        specs: Mapping[str, ConnectorSpec],
        *,
        secret: Secret | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.specs: dict[str, ConnectorSpec] = dict(specs)
        self._secret = secret or _keychain_secret
        self._lock = threading.RLock()
        self._starting: dict[str, threading.Lock] = {}
        self._sessions: dict[str, _Session] = {}
        self._status: dict[str, Status] = {name: Status() for name in self.specs}
        self._retry_at: dict[str, float] = {}
        self._owners: set[concurrent.futures.Future[None]] = set()  # starting or running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- configuration -----------------------------------------------------------------

    def update(self, specs: Mapping[str, ConnectorSpec]) -> None:
        """agents.md changed: a server whose settings changed (or that went) is stopped;
        it starts again, as configured now, on its next use."""
        with self._lock:
            changed = [
                self._sessions.pop(name)
                for name in list(self._sessions)
                if specs.get(name) != self.specs.get(name)
            ]
            self.specs = dict(specs)
            for name in self.specs:
                self._status.setdefault(name, Status())
        for session in changed:  # waited for outside the lock: the loop thread takes it too
            self._end(session)

    def status(self, name: str) -> Status:
        with self._lock:
            return self._status.setdefault(name, Status())

    # -- use -----------------------------------------------------------------------------

    def tools(self, name: str) -> list[RemoteTool]:
        """The server's tools, starting it first if it is not running."""
        return list(self._session(name).tools)

    def offers(self, name: str) -> dict[str, list[str]]:
        """The resources and prompts the server offers, by name (shown, not yet used by
        tasks), starting it if it is not running."""
        return dict(self._session(name).offers)

    def call(
        self,
        name: str,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ) -> CallResult:
        """Call `tool` of server `name`; a `ConnectorError` says what went wrong."""
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        session = self._session(name)
        spec = self.specs[name]
        limit = timeout or spec.timeout
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(
            session.client.call_tool(tool, dict(arguments), read_timeout_seconds=limit),
            self._loop,
        )
        deadline = time.monotonic() + limit + 5  # the SDK's own timeout comes first
        while True:
            try:
                result = future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.cancelled:
                    future.cancel()  # the SDK tells the server (notifications/cancelled)
                    raise ConnectorError(f"{name}.{tool} was cancelled") from None
                if time.monotonic() > deadline:
                    future.cancel()
                    raise ConnectorError(
                        f"{name}.{tool} did not answer within {limit:g} s"
                    ) from None
            except concurrent.futures.CancelledError:
                raise ConnectorError(f"{name}.{tool} was cancelled") from None
            except MCPError as exc:
                if exc.code == REQUEST_TIMEOUT:
                    raise ConnectorError(
                        f"{name}.{tool} did not answer within {limit:g} s"
                    ) from None
                if exc.code != CONNECTION_CLOSED and not session.owner.done():
                    raise ConnectorError(
                        f"{name}.{tool}: the server refused it: {exc.message}"
                    ) from None
                raise self._crashed(name, exc) from None
            except Exception as exc:
                if session.owner.done():  # the connection broke: the server is gone
                    raise self._crashed(name, exc) from None
                # It answered, but not as the protocol says (a result that does not fit
                # its own schema): this call failed; the server stays.
                raise ConnectorError(
                    f"{name}.{tool}: the server's answer could not be read ({_reason(exc)})"
                ) from None
        return CallResult(_text(result), bool(result.is_error))

    def close(self) -> None:
        """Stop every server (a stdio server's process ends) and the loop thread."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
            starting = list(self._owners)
            loop, thread = self._loop, self._thread
        for session in sessions:
            self._end(session)
        for owner in starting:  # a server still starting: its start is cancelled, and awaited
            owner.cancel()
            with contextlib.suppress(BaseException):
                owner.result(10)
        with self._lock:
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            if not thread.is_alive():
                loop.close()

    # -- starting and stopping ---------------------------------------------------------

    def _session(self, name: str) -> _Session:
        spec = self.specs.get(name)
        if spec is None:
            raise ConnectorError(f"no connector '{name}' in agents.md")
        if not spec.enabled:
            raise ConnectorError(f"the connector '{name}' is turned off (enabled: false)")
        with self._lock:
            if self._closed:
                raise ConnectorError("the connectors are shut down")
            session = self._sessions.get(name)
            if session is not None and not session.owner.done():
                return session
            if session is not None:  # it ended on its own: a crash
                self._sessions.pop(name, None)
            starting = self._starting.setdefault(name, threading.Lock())
        with starting:  # one start at a time per server; later callers find it running
            with self._lock:
                session = self._sessions.get(name)
                if session is not None and not session.owner.done():
                    return session
                wait = self._retry_at.get(name, 0.0) - time.monotonic()
                status = self._status.setdefault(name, Status())
            if wait > 0:
                raise ConnectorError(
                    f"the connector '{name}' failed ({status.detail}); it is tried again "
                    f"in {wait:.0f} s"
                )
            return self._start(name, spec)

    def _start(self, name: str, spec: ConnectorSpec) -> _Session:
        loop = self._ensure_loop()
        status = self.status(name)
        status.state, status.detail = "starting", ""
        ready: concurrent.futures.Future[_Session] = concurrent.futures.Future()
        owner = asyncio.run_coroutine_threadsafe(self._own(name, spec, ready), loop)
        with self._lock:
            self._owners.add(owner)
        owner.add_done_callback(self._forget_owner)
        try:
            session = ready.result(START_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            owner.cancel()
            raise self._failed(name, f"it did not start within {START_TIMEOUT_S:g} s") from None
        except BaseException as exc:  # said, and tried again only after the back-off
            owner.cancel()
            why = str(exc) if isinstance(exc, ConnectorError) else _reason(exc)
            raise self._failed(name, f"it did not start: {why}") from None
        session.owner = owner
        with self._lock:  # closed, or agents.md changed while it started
            closed = self._closed or self.specs.get(name) != spec
        if closed:
            self._end(session)
            raise ConnectorError(f"the connector '{name}' was stopped while it started")
        with self._lock:
            self._sessions[name] = session
            self._retry_at.pop(name, None)
            status.state, status.tools, status.started_at = (
                "running",
                len(session.tools),
                time.time(),
            )
            status.detail = f"{len(session.tools)} tool(s)"
        return session

    async def _own(
        self, name: str, spec: ConnectorSpec, ready: concurrent.futures.Future[_Session]
    ) -> None:
        """The session's owner task: opens it, lists its tools, waits until stopped."""
        from mcp import Client

        stop = asyncio.Event()
        try:
            async with contextlib.AsyncExitStack() as stack:
                transport = await self._transport(name, spec, stack)
                # The classic handshake: every server speaks it, and a server that hangs
                # fails within the timeout (the newer probe waits 10 s of its own).
                client = await stack.enter_async_context(
                    Client(transport, read_timeout_seconds=START_TIMEOUT_S, mode="legacy")
                )
                tools = await _list_tools(name, client)
                offers = await _other_offers(client)
                ready.set_result(_Session(name, client, stop, tools, offers=offers))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(ConnectorError(_reason(exc)))
            elif not stop.is_set():  # it ran, then broke: a crash, seen by the next call
                self._failed(name, _reason(exc))
            if not isinstance(exc, Exception):
                raise

    async def _transport(self, name: str, spec: ConnectorSpec, stack: Any) -> Any:
        if spec.command is not None:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            folder = self.root / ".cairn" / "connectors"
            folder.mkdir(parents=True, exist_ok=True)
            errlog = stack.enter_context((folder / f"{name}.log").open("a", encoding="utf-8"))
            command, args = _command(spec.command), list(spec.args)
            params = StdioServerParameters(
                command=command[0],
                args=[*command[1:], *args],
                env={key: self._value(name, key, value) for key, value in spec.env.items()},
                cwd=str(self.root),
            )
            return stdio_client(params, errlog=errlog)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = {key: self._value(name, key, value) for key, value in spec.headers.items()}
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        assert spec.url is not None
        return streamable_http_client(spec.url, http_client=http)

    def _value(self, name: str, key: str, value: str | SecretRef) -> str:
        if isinstance(value, str):
            return value
        found = self._secret(value.keychain)
        if found is None:
            raise ConnectorError(
                f"the connector '{name}' needs {key} from the keychain entry "
                f"'{value.keychain}', which is not there: cairn keys set {value.keychain}"
            )
        return value.prefix + found

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="cairn-connectors", daemon=True
                )
                self._thread.start()
            return self._loop

    def _forget_owner(self, owner: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._owners.discard(owner)

    def _end(self, session: _Session) -> None:
        """Close a session and wait for it (never with the lock held)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is stopping
            loop.call_soon_threadsafe(session.stop.set)
        try:
            session.owner.result(10)  # a stdio server: stdin closed, then it is ended
        except BaseException as exc:
            log.info("connector %s ended: %s", session.name, _reason(exc))
        with self._lock:
            if self._sessions.get(session.name) is None:
                self._status.setdefault(session.name, Status()).state = "not started"

    def _failed(self, name: str, why: str) -> ConnectorError:
        with self._lock:
            status = self.status(name)
            status.state, status.detail = "failed", why
            status.restarts += 1
            backoff = BACKOFF_S[min(status.restarts - 1, len(BACKOFF_S) - 1)]
            self._retry_at[name] = time.monotonic() + backoff
        log.warning("connector %s failed: %s", name, why)
        return ConnectorError(f"the connector '{name}' failed: {why}")

    def _crashed(self, name: str, exc: BaseException) -> ConnectorError:
        with self._lock:
            session = self._sessions.pop(name, None)
        if session is not None and self._loop is not None:  # its process, if any, is ended
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(session.stop.set)
        error = self._failed(name, f"its server stopped during the call ({_reason(exc)})")
        return ConnectorError(f"{error}; it is started again on the next use")


def _command(command: str) -> list[str]:
    """`cairn` as a connector's command is this Cairn itself (installed or bundled), so
    the starter's example works without Cairn on PATH."""
    if command != "cairn":
        return [command]
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "cairn"]


async def _list_tools(name: str, client: Client) -> list[RemoteTool]:
    found: list[RemoteTool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
        for tool in page.tools:
            hints = tool.annotations
            found.append(
                RemoteTool(
                    server=name,
                    name=tool.name,
                    description=tool.description or "",
                    schema=dict(tool.input_schema or {"type": "object"}),
                    read_only=bool(hints and hints.read_only_hint),
                    destructive=hints.destructive_hint if hints else None,
                    open_world=hints.open_world_hint if hints else None,
                    title=tool.title,
                )
            )
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            return found


async def _other_offers(client: Client) -> dict[str, list[str]]:
    """What else a server offers: resources and prompts, when it declares them."""
    found: dict[str, list[str]] = {}
    for kind, listing in (("resources", client.list_resources), ("prompts", client.list_prompts)):
        try:
            page = await listing()
        except Exception as exc:  # not offered (the server has no such capability)
            log.debug("no %s: %s", kind, exc)
            continue
        items = getattr(page, kind, None) or []
        found[kind] = [str(getattr(item, "name", "") or getattr(item, "uri", "")) for item in items]
    return found


def _text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or ():
        text = getattr(block, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} not shown]")
    if not parts and result.structured_content is not None:
        import json

        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


def _reason(exc: BaseException) -> str:
    """The innermost useful message of an exception (the SDK raises exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _keychain_secret(name: str) -> str | None:
    from cairn.infra.keychain import KeychainUnavailableError, KeyStore

    try:
        found = KeyStore().get(name)
    except KeychainUnavailableError:
        return None
    return found.value if found else None
