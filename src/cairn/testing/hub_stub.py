"""A loopback server that speaks enough of the Hugging Face Hub's protocol for huggingface_hub.

It stands in for https://huggingface.co in tests of `cairn models pull`: point
`HF_ENDPOINT` at `stub.url` and huggingface_hub talks to it as to the Hub.

    GET  /api/models/OWNER/NAME[/revision/REV]?blobs=True   repository metadata, with
         every file's size and Git LFS sha256 (what `HfApi.model_info(files_metadata=True)`
         reads); 404 with `X-Error-Code: RepoNotFound` / `RevisionNotFound` as the Hub does
    HEAD|GET /OWNER/NAME/resolve/REV/FILE   302 to the file's bytes, with the headers the
         Hub sends (`X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size`, `ETag`)
    HEAD|GET /cdn/SHA256                    the bytes, as a CDN serves them: `Accept-Ranges`,
         `Range: bytes=N-` answered with 206 and `Content-Range`

Failures on purpose: `drop_after(sha, n)` makes the next GET of a file's bytes send `n`
bytes and then close the connection mid-body; `fail_with(sha, status)` answers the next GET
with an HTTP error; `serve_instead` serves other bytes than the metadata describes (a
damaged download); `hang_api_s` delays metadata answers (a Hub that does not answer).
Every request is recorded with its headers. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from cairn.testing.openai_stub import Headers


@dataclass
class StubFile:
    data: bytes  # what the metadata describes
    served: bytes | None = None  # what is actually sent, when it should differ

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class StubRepo:
    commit: str
    files: dict[str, StubFile] = field(default_factory=dict)
    licence: str | None = "apache-2.0"


@dataclass
class HubRequest:
    method: str
    path: str
    headers: Headers


@dataclass
class HubState:
    repos: dict[str, StubRepo] = field(default_factory=dict)
    requests: list[HubRequest] = field(default_factory=list)
    # sha256 -> what the next GETs of those bytes do: ("drop", bytes sent) or ("status", code)
    actions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    hang_api_s: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HubStub:
    """Start with `with HubStub() as hub:`; `hub.url` is the value for `HF_ENDPOINT`."""

    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_file(
        self,
        repo: str,
        filename: str,
        data: bytes,
        *,
        commit: str | None = None,
        serve_instead: bytes | None = None,
    ) -> StubFile:
        """Publish `data` as `filename` in `repo` (created at `commit`, or a made-up one)."""
        with self.state.lock:
            made_up = hashlib.sha1(repo.encode()).hexdigest()  # noqa: S324 - an id, not security
            stub_repo = self.state.repos.setdefault(repo, StubRepo(commit or made_up))
            if commit is not None:
                stub_repo.commit = commit
            stub_file = StubFile(data, serve_instead)
            stub_repo.files[filename] = stub_file
            return stub_file

    def drop_after(self, sha256: str, *sizes: int) -> None:
        """The next GETs of the file close the connection after these many body bytes."""
        with self.state.lock:
            self.state.actions.setdefault(sha256, []).extend(("drop", n) for n in sizes)

    def fail_with(self, sha256: str, *statuses: int) -> None:
        """The next GETs of the file are answered with these HTTP error statuses."""
        with self.state.lock:
            self.state.actions.setdefault(sha256, []).extend(("status", n) for n in statuses)

    def requests(self, method: str | None = None, prefix: str = "") -> list[HubRequest]:
        with self.state.lock:
            return [
                r
                for r in self.state.requests
                if (method is None or r.method == method) and r.path.startswith(prefix)
            ]

    def start(self) -> HubStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HubStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?/?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


class _Handler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def _handle(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.state.lock:
            self.state.requests.append(
                HubRequest(self.command, path, Headers(self.headers.items()))
            )
        if (match := _API.match(path)) and not head:
            self._api(match["repo"], match["rev"])
        elif match := _RESOLVE.match(path):
            self._resolve(match["repo"], match["rev"], match["file"])
        elif match := _CDN.match(path):
            self._bytes(match["sha"], head=head)
        else:
            self._send(404, b"not found", {"X-Error-Code": "EntryNotFound"})

    def _repo(self, name: str, revision: str | None) -> StubRepo | None:
        with self.state.lock:
            repo = self.state.repos.get(name)
        if repo is None:
            self._send(404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            return None
        if revision not in (None, "main", repo.commit):
            self._send(404, b'{"error":"Revision not found"}', {"X-Error-Code": "RevisionNotFound"})
            return None
        return repo

    def _api(self, name: str, revision: str | None) -> None:
        if self.state.hang_api_s:
            self.state.released.wait(self.state.hang_api_s)
        repo = self._repo(name, revision)
        if repo is None:
            return
        siblings = [
            {
                "rfilename": filename,
                "size": len(item.data),
                "blobId": hashlib.sha1(item.data).hexdigest(),  # noqa: S324 - git's blob id
                "lfs": {"size": len(item.data), "sha256": item.sha256, "pointerSize": 134},
            }
            for filename, item in repo.files.items()
        ]
        info: dict[str, Any] = {"id": name, "modelId": name, "sha": repo.commit, "private": False}
        info["siblings"] = siblings
        if repo.licence:
            info["tags"] = ["gguf", f"license:{repo.licence}"]
            info["cardData"] = {"license": repo.licence}
        body = json.dumps(info).encode()
        self._send(200, body, {"Content-Type": "application/json"})

    def _resolve(self, name: str, revision: str, filename: str) -> None:
        repo = self._repo(name, revision)
        if repo is None:
            return
        item = repo.files.get(filename)
        if item is None:
            missing = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit}
            self._send(404, b"Entry not found", missing)
            return
        self._send(
            302,
            b"",
            {
                "Location": f"/cdn/{item.sha256}",
                "X-Repo-Commit": repo.commit,
                "X-Linked-Etag": f'"{item.sha256}"',
                "X-Linked-Size": str(len(item.data)),
                "ETag": f'"{hashlib.sha1(item.data).hexdigest()}"',  # noqa: S324
            },
        )

    def _bytes(self, sha: str, *, head: bool) -> None:
        with self.state.lock:
            item = next(
                (f for r in self.state.repos.values() for f in r.files.values() if f.sha256 == sha),
                None,
            )
            queued = self.state.actions.get(sha)
            action = queued.pop(0) if queued and not head else None
        if item is None:
            self._send(404, b"no such object")
            return
        if action is not None and action[0] == "status":
            self._send(action[1], b"failing on purpose")
            return
        drop = action[1] if action is not None else None
        data = item.served if item.served is not None else item.data
        start, status = 0, 200
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha}"'}
        wanted = _RANGE.match(self.headers.get("Range", ""))
        if wanted:
            start = int(wanted["start"])
            end = int(wanted["end"]) if wanted["end"] else len(data) - 1
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if head:
            self._send(status, b"", headers | {"Content-Length": str(len(data))}, body=False)
            return
        if drop is None:
            self._send(status, data, headers)
            return
        # Promise the whole body, send part of it, then hang up: a connection lost mid-file.
        self.send_response(status)
        for key, value in (headers | {"Content-Length": str(len(data))}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data[:drop])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        body: bool = True,
    ) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body and payload:
            self.wfile.write(payload)
