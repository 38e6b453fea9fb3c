"""`cairn keys`, run as users run it: in a separate process, the key fed on stdin.

Every subprocess gets the project's in-memory keyring backend, persisted to a JSON file in
tmp_path that stands in for the OS keychain, and a HOME inside tmp_path, so nothing here
can reach the user's real keychain or home folder. The leak test then reads back every
file the run wrote.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.cli.main import main
from cairn.infra.redaction import uninstall_log_redaction
from cairn.testing.memory_keyring import FILE_ENV, SELECTOR

# Distinctive, so that finding it anywhere means it leaked from this test.
KEY = "sk-cairnLEAKcanary-7Hq2Zr9XwV4mK8pT3nB6yD1f7f3a"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    clean = {
        name: value
        for name, value in os.environ.items()
        if not (name.endswith("_API_KEY") or name.startswith("CAIRN_KEY_"))
    }
    return clean | {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "PYTHON_KEYRING_BACKEND": SELECTOR,
        FILE_ENV: str(tmp_path / "test-keychain.json"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


def cairn(
    *args: str, env: dict[str, str], stdin: str = "", record: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    if record is not None:  # keep what the terminal would have shown, for the leak test
        record.mkdir(parents=True, exist_ok=True)
        name = "_".join(args).replace("/", "_").replace("-", "")
        (record / f"{name}.out").write_text(result.stdout + result.stderr, encoding="utf-8")
    return result


def keychain(env: dict[str, str]) -> dict[str, str]:
    path = Path(env[FILE_ENV])
    return json.loads(path.read_text())["cairn"] if path.exists() else {}


def test_set_from_stdin_list_and_delete(env: dict[str, str]) -> None:
    stored = cairn("keys", "set", "openai", env=env, stdin=KEY + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "sk-…7f3a" in stored.stdout
    assert keychain(env)["openai"] == KEY  # exactly: the trailing newline is stripped

    listed = cairn("keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "PROVIDER  KEY       SOURCE",
        "openai    sk-…7f3a  keychain",
    ]
    as_json = json.loads(cairn("keys", "list", "--json", env=env).stdout)
    assert as_json == {
        "keys": [{"provider": "openai", "source": "keychain", "hint": "sk-…7f3a", "env_var": None}],
        "keychain_error": None,
    }

    assert cairn("keys", "delete", "openai", env=env).returncode == 0
    again = cairn("keys", "delete", "openai", env=env)
    assert again.returncode == 1
    assert "nothing deleted" in again.stderr
    assert "openai" not in keychain(env)


@pytest.mark.parametrize("argv", [["openai", KEY], ["openai", f"--key={KEY}"]])
def test_a_key_on_the_command_line_is_refused(env: dict[str, str], argv: list[str]) -> None:
    result = cairn("keys", "set", *argv, env=env, stdin=KEY)
    assert result.returncode == 2
    assert "never from the command line" in result.stderr
    assert "shell history" in result.stderr  # says why
    assert "ps" in result.stderr
    assert KEY not in result.stdout + result.stderr  # and does not echo it
    assert keychain(env) == {}  # nothing was stored, not even from stdin


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "no key on standard input"),
        ("\n", "no key on standard input"),
        (f"{KEY}\n{KEY}\n", "line break"),
        (f" {KEY}\n", "spaces"),
    ],
)
def test_bad_input_on_stdin_is_refused(env: dict[str, str], stdin: str, message: str) -> None:
    result = cairn("keys", "set", "openai", env=env, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert KEY not in result.stderr
    assert keychain(env) == {}


def test_bad_provider_name(env: dict[str, str]) -> None:
    result = cairn("keys", "set", "OpenAI", env=env, stdin=KEY)
    assert result.returncode == 2
    assert "did you mean 'openai'" in result.stderr


def test_list_shows_keys_found_only_in_the_environment(env: dict[str, str]) -> None:
    result = cairn("keys", "list", env=env | {"ANTHROPIC_API_KEY": KEY})
    assert result.returncode == 0, result.stderr
    assert "anthropic  sk-…7f3a  environment (ANTHROPIC_API_KEY)" in result.stdout
    assert KEY not in result.stdout


def test_headless_machine_without_a_keychain(env: dict[str, str]) -> None:
    headless = env | {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = cairn("keys", "set", "openai", env=headless, stdin=KEY)
    assert result.returncode == 2
    for fix in ("gnome-keyring", "KWallet", "PYTHON_KEYRING_BACKEND", "OPENAI_API_KEY"):
        assert fix in result.stderr
    assert KEY not in result.stderr

    listed = cairn("keys", "list", env=headless | {"OPENAI_API_KEY": KEY})
    assert listed.returncode == 1  # only partly done: the keychain could not be read
    assert "no usable OS keychain" in listed.stderr
    assert "openai    sk-…7f3a  environment (OPENAI_API_KEY)" in listed.stdout


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    for name in os.environ:
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    yield
    uninstall_log_redaction()  # run_keys installs it; do not leave it on for other tests


def test_on_a_terminal_the_key_is_asked_twice_hidden(
    in_process: None, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([KEY, KEY, KEY, "something else"])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert main(["keys", "set", "openai"]) == 0
    assert keychain(env)["openai"] == KEY
    assert prompts == ["API key for openai (input is hidden): ", "Enter it again to confirm: "]
    assert main(["keys", "set", "anthropic"]) == 2  # the two entries differ
    assert "anthropic" not in keychain(env)


def test_the_key_leaks_into_no_file(tmp_path: Path, env: dict[str, str]) -> None:
    """THE LEAK TEST. Store, list, resolve and log a key, then read every file written.

    The only file allowed to hold the key is the test keychain file, which stands in for
    the OS keychain; it must hold it (or the search below would prove nothing).
    """
    outputs = tmp_path / "terminal"
    assert cairn("keys", "set", "openai", env=env, stdin=KEY, record=outputs).returncode == 0
    assert cairn("keys", "list", env=env, record=outputs).returncode == 0
    assert cairn("keys", "list", "--json", env=env, record=outputs).returncode == 0

    # What an engine does: resolve at call time, log around the call, write a trace.
    engine = textwrap.dedent(
        """
        import json, logging, sys
        from cairn.infra.keychain import KeyStore
        from cairn.infra.redaction import REDACTOR, install_log_redaction

        logs, trace = sys.argv[1], sys.argv[2]
        logging.basicConfig(filename=logs, level=logging.DEBUG)
        install_log_redaction()
        key = KeyStore().require("openai")
        logging.getLogger("cairn.engine").info("resolved %r, calling with %s", key, key.value)
        logging.getLogger("httpx").debug("Authorization: Bearer %s", key.value)
        logging.getLogger("LiteLLM").warning("headers={'x-api-key': '%s'}", key.value)
        try:
            raise PermissionError(f"401: invalid key {key.value}")
        except PermissionError:
            logging.getLogger("cairn.engine").exception("call failed")
        event = {"kind": "call", "headers": {"Authorization": f"Bearer {key.value}"}}
        with open(trace, "w", encoding="utf-8") as f:
            f.write(json.dumps(REDACTOR.redact_data(event)) + "\\n")
        print(key.source, repr(key))
        """
    )
    logs, trace = tmp_path / "logs" / "engine.log", tmp_path / "traces" / "task.jsonl"
    logs.parent.mkdir()
    trace.parent.mkdir()
    ran = subprocess.run(
        [sys.executable, "-c", engine, str(logs), str(trace)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    (outputs / "engine.out").write_text(ran.stdout + ran.stderr, encoding="utf-8")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("keychain ResolvedKey(provider='openai', source='keychain'")
    assert logs.read_text().count("[redacted:openai]") == 4  # the logging did happen
    assert "Bearer [redacted:openai]" in trace.read_text()

    needles = [KEY.encode(), base64.b64encode(KEY.encode()), KEY.encode("utf-16-le")]
    keychain_file = Path(env[FILE_ENV])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]  # HOME is inside tmp_path
    assert len(written) >= 7  # keychain, 4 terminal outputs, a log, a trace
    leaks = [
        str(path.relative_to(tmp_path))
        for path in written
        if path != keychain_file and any(needle in path.read_bytes() for needle in needles)
    ]
    assert leaks == []
    assert KEY.encode() in keychain_file.read_bytes()  # the stand-in for the OS keychain
