"""The connector hub against real MCP servers (the SDK's server side, in real processes),
over stdio and over streamable HTTP on loopback: tools listed with their annotations and
called; a slow server times out and the session lives on; a cancelled call ends at once;
a crashing server is started again after its back-off, the failure explained; a missing
command and a missing keychain entry are said plainly; closing ends the processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cairn.connectors.hub import ConnectorError, ConnectorHub
from cairn.core.engine import CancelToken
from cairn.core.workspace.schema import ConnectorSpec, SecretRef

SERVERS = Path(__file__).with_name("mcp_servers.py")
MARKER = "CRM-PRIVATE-7731"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def stdio(kind: str, tmp_path: Path, **extra: object) -> ConnectorSpec:
    env = {
        "CAIRN_TEST_SENT": str(tmp_path / "sent.txt"),
        "CAIRN_TEST_CRASHED": str(tmp_path / "crashed.flag"),
    }
    return ConnectorSpec(
        command=sys.executable, args=(str(SERVERS), kind), env=env, scope="private", **extra
    )


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[list[ConnectorHub]]:
    made: list[ConnectorHub] = []
    yield made
    for hub in made:
        hub.close()


def servers_running() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if str(SERVERS) in " ".join(child.cmdline())
    ]


def test_a_stdio_server_is_started_on_first_use_listed_called_and_ended(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    hub = ConnectorHub(tmp_path, {"crm": stdio("crm", tmp_path)})
    hubs.append(hub)
    assert hub.status("crm").state == "not started" and not servers_running()
    tools = {t.name: t for t in hub.tools("crm")}
    assert set(tools) == {"lookup", "find", "send"}
    assert tools["lookup"].read_only and not tools["send"].read_only
    assert tools["send"].open_world is True
    assert tools["lookup"].schema["properties"]["name"]["type"] == "string"
    result = hub.call("crm", "lookup", {"name": "Acme"})
    assert not result.is_error and MARKER in result.text
    assert hub.status("crm").state == "running" and len(servers_running()) == 1
    hub.close()
    deadline = time.monotonic() + 10
    while servers_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not servers_running()  # closing ends the server's process
    assert (tmp_path / ".cairn/connectors/crm.log").exists()  # its stderr, kept aside


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_over_streamable_http_on_loopback(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(SERVERS), "crm", "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"CAIRN_TEST_SENT": str(tmp_path / "sent.txt"), "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        spec = ConnectorSpec(
            url=f"http://127.0.0.1:{port}/mcp", headers={"X-Team": "cairn"}, scope="team"
        )
        hub = ConnectorHub(tmp_path, {"crm": spec})
        hubs.append(hub)
        assert {t.name for t in hub.tools("crm")} == {"lookup", "find", "send"}
        assert MARKER in hub.call("crm", "lookup", {"name": "Acme"}).text
        hub.call("crm", "send", {"to": "ann@example.com", "text": "hello"})
        assert (tmp_path / "sent.txt").read_text() == "ann@example.com\thello\n"
    finally:
        server.terminate()
        server.wait(10)


def test_a_slow_server_times_out_and_the_session_lives_on(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    hub = ConnectorHub(tmp_path, {"slow": stdio("slow", tmp_path, timeout=1)})
    hubs.append(hub)
    hub.tools("slow")
    began = time.monotonic()
    with pytest.raises(ConnectorError, match=r"slow\.wait did not answer within 1 s"):
        hub.call("slow", "wait", {"seconds": 20})
    assert time.monotonic() - began < 6
    assert hub.call("slow", "wait", {"seconds": 0}).text == "waited 0.0"


def test_cancelling_a_call_ends_it_at_once(tmp_path: Path, hubs: list[ConnectorHub]) -> None:
    hub = ConnectorHub(tmp_path, {"slow": stdio("slow", tmp_path, timeout=60)})
    hubs.append(hub)
    hub.tools("slow")
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    began = time.monotonic()
    with pytest.raises(ConnectorError, match="was cancelled"):
        hub.call("slow", "wait", {"seconds": 30}, cancel=cancel)
    assert time.monotonic() - began < 3


def test_a_crashed_server_is_explained_and_started_again_after_its_back_off(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    hub = ConnectorHub(tmp_path, {"crm": stdio("crash", tmp_path)})
    hubs.append(hub)
    with pytest.raises(ConnectorError, match="stopped during the call") as crashed:
        hub.call("crm", "lookup", {"name": "Acme"})
    assert "started again on the next use" in str(crashed.value)
    with pytest.raises(ConnectorError, match="tried again in"):
        hub.call("crm", "lookup", {"name": "Acme"})  # within the back-off: said, not hammered
    status = hub.status("crm")
    assert status.state == "failed" and status.restarts == 1
    time.sleep(1.2)
    assert "found after a restart" in hub.call("crm", "lookup", {"name": "Acme"}).text
    assert hub.status("crm").state == "running"


def test_a_server_that_cannot_start_or_lacks_its_key_is_said_plainly(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    missing = ConnectorSpec(command="/nonexistent/mcp-server", scope="team")
    keyed = ConnectorSpec(
        command=sys.executable,
        args=(str(SERVERS), "crm"),
        env={"CRM_TOKEN": SecretRef(keychain="crm-token")},
        scope="team",
    )
    hub = ConnectorHub(tmp_path, {"gone": missing, "keyed": keyed}, secret=lambda name: None)
    hubs.append(hub)
    with pytest.raises(ConnectorError, match="'gone' failed: it did not start"):
        hub.tools("gone")
    with pytest.raises(ConnectorError, match="cairn keys set crm-token"):
        hub.tools("keyed")
    with pytest.raises(ConnectorError, match="tried again in"):
        hub.tools("gone")  # a failed start waits out its back-off, and says so
    assert hub.status("gone").state == "failed" and hub.status("gone").restarts == 1
    # With the key in the keychain it starts; the value reaches only the server's environment.
    ok = ConnectorHub(tmp_path, {"keyed": keyed}, secret=lambda name: "s3cret-token")
    hubs.append(ok)
    assert {t.name for t in ok.tools("keyed")} == {"lookup", "find", "send"}


def test_a_servers_schema_is_cleaned_before_any_check_or_grammar_sees_it() -> None:
    from cairn.connectors.tools import _schema
    from cairn.core.tasks.tools import Tool, ToolOutcome, validate_arguments

    odd = {
        "type": "object",
        "properties": {
            "a": True,
            "b": {"type": 5},
            "c": {"type": "string", "description": "x" * 900},
        },
        "required": ["a", "c", 7],
    }
    cleaned = _schema(odd)
    assert set(cleaned["properties"]) == {"b", "c"}
    assert "type" not in cleaned["properties"]["b"]
    assert len(cleaned["properties"]["c"]["description"]) <= 201
    assert cleaned["required"] == ["c"]
    tool = Tool("x.y", "", cleaned, "read", lambda a, e: ToolOutcome(True, ""))
    # The checks run on it without failing: a call is judged, never a crash of the task.
    assert validate_arguments(tool, {"a": 1, "b": 2, "c": "ok"}) is None
    assert validate_arguments(tool, {"b": 2}) == "x.y is missing required argument(s): c"


def test_the_folder_server_serves_neither_hidden_files_nor_links_out(
    tmp_path: Path, hubs: list[ConnectorHub]
) -> None:
    folder = tmp_path / "notes"
    (folder / ".hidden").mkdir(parents=True)
    (folder / ".hidden" / "x.md").write_text("SECRET hidden\n")
    (tmp_path / "outside.md").write_text("SECRET outside\n")
    (folder / "link.md").symlink_to(tmp_path / "outside.md")
    (folder / "plan.md").write_text("SECRET plan, in the folder\n")
    spec = ConnectorSpec(
        command="cairn", args=("connectors", "serve-folder", str(folder)), scope="team"
    )
    hub = ConnectorHub(tmp_path, {"notes": spec})
    hubs.append(hub)
    found = hub.call("notes", "search", {"query": "SECRET"}).text
    assert found == "plan.md:1: SECRET plan, in the folder"
    assert hub.call("notes", "read_file", {"path": "link.md"}).is_error
    assert hub.call("notes", "read_file", {"path": ".hidden/x.md"}).is_error
