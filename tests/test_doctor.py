"""`cairn doctor`: real workspaces, real GGUF files, real child processes, the test keychain."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cairn.cli.main import main
from cairn.infra.keychain import KeyStore, env_var_names
from cairn.testing.memory_keyring import FILE_ENV, SELECTOR, MemoryKeyring
from cairn.testing.tiny_gguf import write_tiny_model

STARTER_PATH = "path: SmolLM2-135M-Instruct.Q4_1.gguf"
SMALL_PATH = "path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf"
SECRET_OPENAI = "sk-doctor-test-0123456789abcdefXYZW"
SECRET_ANTHROPIC = "sk-ant-doctor-test-9876543210fedcbaQRST"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("doctor-models") / "tiny.gguf")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key from the machine running the tests, and an empty test keychain."""
    for provider in ("openai", "anthropic"):
        for name in env_var_names(provider):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", SELECTOR)
    monkeypatch.delenv(FILE_ENV, raising=False)
    MemoryKeyring.clear()


def init(tmp_path: Path, capsys: pytest.CaptureFixture[str], **paths: str) -> Path:
    """`cairn init`, then point the starter's local models (`small`, `starter`) at files."""
    root = tmp_path / "ws"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    agents = root / "agents.md"
    text = agents.read_text(encoding="utf-8")
    assert SMALL_PATH in text and STARTER_PATH in text
    if "small" in paths:
        text = text.replace(SMALL_PATH, f"path: {paths['small']}")
    if "starter" in paths:
        text = text.replace(STARTER_PATH, f"path: {paths['starter']}")
    agents.write_text(text, encoding="utf-8")
    return root


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    return code, out + err


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", *args, "--json"])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)  # llama.cpp logs on stderr
    return code, report


def row(report: dict[str, Any], check: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in report["checks"] if r["check"] == check and name in (None, r["name"])]
    assert len(found) == 1, (check, name, report["checks"])
    return found[0]


def test_a_fresh_workspace_with_a_usable_local_model_is_ready(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init(tmp_path, capsys, small=str(tiny), starter=str(tiny))
    code, out = doctor(capsys, str(root))
    assert code == 0, out
    for label in ("workspace", "llama.cpp", "model local-small", "model local-starter"):
        assert any(line.split()[:1] == ["ok"] and label in line for line in out.splitlines()), (
            label,
            out,
        )
    assert "Ready: tasks run on local-small with no keys" in out
    assert f'cairn ask --workspace {root} --model local-small "' in out
    # Missing cloud keys are a warning with the command that adds one, never a failure.
    assert "fix: cairn keys set openai" in out
    assert "fail" not in out
    # Doctor only looks: no `.cairn/` (index, traces) appears in the workspace.
    assert not (root / ".cairn").exists()

    code, report = doctor_json(capsys, str(root))
    assert code == 0
    assert report["exit_code"] == 0 and report["main_job"]["can_run"] is True
    starter = row(report, "model", "local-starter")
    assert starter["status"] == "ok" and starter["fix"] is None
    assert starter["details"]["architecture"] == "llama"
    assert 0 < starter["details"]["needed_bytes"] <= starter["details"]["available_bytes"]
    assert row(report, "key", "openai")["status"] == "warn"
    assert row(report, "llama-cpp")["status"] == "ok"
    assert row(report, "qt")["status"] in ("ok", "warn")  # depends on the machine's libraries
    assert row(report, "memory")["status"] == "ok"
    assert all(r["status"] == "ok" for r in report["checks"] if r["check"] == "disk")


def test_load_really_loads_the_first_usable_model(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init(tmp_path, capsys, starter=str(tiny))  # local-small stays missing
    code, report = doctor_json(capsys, str(root), "--load")
    assert code == 0
    starter = row(report, "model", "local-starter")
    assert starter["status"] == "ok"
    assert starter["details"]["loaded"] is True
    assert "loaded by llama.cpp in" in starter["finding"]
    small = row(report, "model", "local-small")
    assert small["status"] == "warn"  # missing, but local-starter runs: not a failure
    assert "local-starter can run in its place" in small["finding"]
    assert "point `path:` of local-small in agents.md" in small["fix"]
    # Without --load nothing is loaded.
    _, report = doctor_json(capsys, str(root))
    assert row(report, "model", "local-starter")["details"]["loaded"] is False


def test_no_usable_local_model_exits_1_and_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The starter's agents.md as it is; the models folder (CAIRN_MODELS_DIR) is empty here.
    root = init(tmp_path, capsys)
    code, out = doctor(capsys, str(root))
    assert code == 1, out
    assert "Not ready" in out
    code, report = doctor_json(capsys, str(root))
    assert code == 1 and report["main_job"]["can_run"] is False
    starter = row(report, "model", "local-starter")
    assert starter["status"] == "fail"
    assert "the starter model is not installed" in starter["finding"]
    # The fix is Cairn's own command, which works installed and in a bundle alike.
    assert starter["fix"] == "cairn models pull starter"
    small = row(report, "model", "local-small")
    assert small["status"] == "fail"
    assert "qwen2.5-3b-instruct-q4_k_m.gguf does not exist" in small["finding"]
    assert f"cairn models {root}" in small["fix"]


def test_a_corrupt_gguf_is_a_fail_row_not_a_crash(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(os.urandom(4096))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny.read_bytes()[:200])  # a real header, cut short
    root = init(tmp_path, capsys, small=str(garbage), starter=str(cut))
    code, out = doctor(capsys, str(root))
    assert code == 1, out
    assert "Traceback" not in out
    _, report = doctor_json(capsys, str(root))
    for name in ("local-small", "local-starter"):
        found = row(report, "model", name)
        assert found["status"] == "fail"
        assert "is not a readable GGUF model" in found["finding"]
        assert "point `path:`" in found["fix"]

    # With one good model beside it, the damaged one is a warning: the main job runs.
    root.joinpath("agents.md").write_text(
        root.joinpath("agents.md").read_text().replace(f"path: {cut}", f"path: {tiny}")
    )
    code, report = doctor_json(capsys, str(root))
    assert code == 0
    assert row(report, "model", "local-small")["status"] == "warn"


def test_a_model_too_big_for_memory_fails_with_the_fix(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init(tmp_path, capsys, starter=str(tiny))
    agents = root / "agents.md"
    text = agents.read_text()
    before = f"path: {tiny}\n    context: 8192"
    assert before in text
    agents.write_text(text.replace(before, f"path: {tiny}\n    context: 900000000"))
    code, report = doctor_json(capsys, str(root))
    assert code == 1
    found = row(report, "model", "local-starter")
    assert found["status"] == "fail"
    assert "does not fit in memory now" in found["finding"]
    assert "lower `context:` of local-starter" in found["fix"]


def test_keys_are_found_and_never_shown(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init(tmp_path, capsys, starter=str(tiny))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_OPENAI)
    KeyStore().set("anthropic", SECRET_ANTHROPIC)
    try:
        code, out = doctor(capsys, str(root))
        code_json, report = doctor_json(capsys, str(root))
    finally:
        MemoryKeyring.clear()
    assert code == 0 and code_json == 0
    text = out + json.dumps(report)
    for secret in (SECRET_OPENAI, SECRET_ANTHROPIC):
        assert secret not in text
        assert secret[-4:] not in text  # not even the masked hint
    keychain = row(report, "keychain")
    assert keychain["status"] == "ok"
    assert keychain["details"] == {"backend": SELECTOR, "stored": 1}
    openai = row(report, "key", "openai")
    assert openai["status"] == "ok"
    assert "the environment (OPENAI_API_KEY)" in openai["finding"]
    anthropic = row(report, "key", "anthropic")
    assert anthropic["status"] == "ok"
    assert "the OS keychain" in anthropic["finding"]


def test_without_a_keychain_the_row_warns_with_the_environment_fix(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyring.backends import fail

    root = init(tmp_path, capsys, starter=str(tiny))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_OPENAI)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        code, report = doctor_json(capsys, str(root))
    finally:
        keyring.set_keyring(previous)
    assert code == 0  # local-first: no keychain is a warning
    keychain = row(report, "keychain")
    assert keychain["status"] == "warn"
    assert "`fail` backend" in keychain["finding"]
    assert "PYTHON_KEYRING_BACKEND" in keychain["fix"]
    assert row(report, "key", "openai")["status"] == "ok"  # from the environment
    anthropic = row(report, "key", "anthropic")
    assert anthropic["status"] == "warn"
    assert anthropic["fix"] == "export ANTHROPIC_API_KEY=..."
    assert SECRET_OPENAI not in json.dumps(report)


def test_as_a_subprocess_json_parses_and_keys_stay_hidden(tmp_path: Path, tiny: Path) -> None:
    root = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "cairn", "init", str(root)], check=True, timeout=120)
    agents = root / "agents.md"
    agents.write_text(agents.read_text().replace(STARTER_PATH, f"path: {tiny}"))
    keyring_file = tmp_path / "keychain.json"
    env = {**os.environ, FILE_ENV: str(keyring_file), "ANTHROPIC_API_KEY": SECRET_ANTHROPIC}
    env.pop("CAIRN_DEBUG", None)
    subprocess.run(
        [sys.executable, "-m", "cairn", "keys", "set", "openai"],
        input=SECRET_OPENAI,
        text=True,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "doctor", str(root), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for secret in (SECRET_OPENAI, SECRET_ANTHROPIC):
        assert secret not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1
    assert report["main_job"]["model"] == "local-starter"
    assert {r["status"] for r in report["checks"]} <= {"ok", "warn", "fail"}
    assert row(report, "key", "openai")["finding"].startswith("key found in the OS keychain")
    assert "ANTHROPIC_API_KEY" in row(report, "key", "anthropic")["finding"]
    for r in report["checks"]:
        assert set(r) == {"check", "name", "status", "finding", "fix", "details"}
        assert r["status"] == "ok" or r["fix"], r


def test_not_a_workspace_exits_1_with_cairn_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = doctor(capsys, str(empty))
    assert code == 1
    assert f"fix: cairn init {empty}" in out
    assert "is not a workspace" in out
    code, report = doctor_json(capsys, str(tmp_path / "missing"))
    assert code == 1
    workspace = row(report, "workspace")
    assert workspace["status"] == "fail"
    assert workspace["fix"] == f"cairn init {tmp_path / 'missing'}"
    # The machine's checks still run.
    assert {r["check"] for r in report["checks"]} >= {"llama-cpp", "keychain", "disk", "qt"}
    assert not (tmp_path / "missing").exists()


def test_errors_in_the_workspace_fail_with_cairn_check(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init(tmp_path, capsys, starter=str(tiny))
    (root / "automations/morning-brief.md").write_text(
        "---\nschedule: '99 * * * *'\nspace: team\n---\nx\n"
    )
    code, report = doctor_json(capsys, str(root))
    assert code == 1
    workspace = row(report, "workspace")
    assert workspace["status"] == "fail"
    assert workspace["finding"].startswith("1 error")
    assert workspace["fix"] == f"run `cairn check {root}` and fix what it lists"


def test_the_memory_index_is_checked_without_being_changed(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init(tmp_path, capsys, starter=str(tiny))
    topics = root / "spaces/team/memory/topics"
    topics.mkdir(parents=True)
    (topics / "tools.md").write_text("# Tools\n\n- We deploy with a shell script on Fridays.\n")
    assert main(["memory", "reindex", "--workspace", str(root)]) == 0
    capsys.readouterr()
    _, report = doctor_json(capsys, str(root))
    memory = row(report, "memory")
    assert memory["status"] == "ok"
    assert "in step with the memory files" in memory["finding"]

    (topics / "people.md").write_text("# People\n\n- Ana owns the release checklist.\n")
    db = root / ".cairn/memory.sqlite"
    before = db.read_bytes()
    _, report = doctor_json(capsys, str(root))
    memory = row(report, "memory")
    assert memory["status"] == "ok"
    assert "1 memory file changed since" in memory["finding"]
    assert db.read_bytes() == before  # checked on a copy

    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    code, report = doctor_json(capsys, str(root))
    assert code == 0  # recall is not the main job
    memory = row(report, "memory")
    assert memory["status"] == "warn"
    assert memory["fix"] == f"cairn memory reindex --workspace {root}"
    assert db.read_bytes() == b"this is not a database" * 100
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(db).execute("PRAGMA user_version").fetchone()


def test_a_check_that_raises_becomes_a_row(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.infra import doctor as doctor_module

    def broken(root: Path) -> list[Any]:
        raise OSError("the disk went away")

    monkeypatch.delenv("CAIRN_DEBUG", raising=False)
    monkeypatch.setattr(doctor_module, "_disk_rows", broken)
    root = init(tmp_path, capsys, starter=str(tiny))
    code, report = doctor_json(capsys, str(root))
    assert code == 0
    disk = row(report, "disk")
    assert disk["status"] == "warn"
    assert "the check itself failed: OSError: the disk went away" in disk["finding"]


def test_a_missing_catalogue_model_names_the_pull_that_fetches_it(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = pytest.importorskip("cairn.infra.model_catalogue")
    from cairn.cli.main import build_parser

    entry = catalogue.CATALOGUE[0]
    if build_parser().parse_known_args(["models", "pull", entry.name])[1]:
        pytest.skip("this Cairn has no `cairn models pull`")
    root = init(tmp_path, capsys, small=str(tmp_path / entry.filename), starter=str(tiny))
    _, report = doctor_json(capsys, str(root))
    assert row(report, "model", "local-small")["fix"] == f"cairn models pull {entry.name}"


def test_probes_that_crash_fail_or_hang_become_rows(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.infra import doctor as doctor_module

    root = init(tmp_path, capsys, starter=str(tiny))
    # A native library that kills the process importing it (SIGABRT here).
    monkeypatch.setattr(doctor_module, "_LLAMA_PROBE", "import os; os.abort()")
    # Qt missing a system library, as the loader reports it.
    missing = "ImportError: libEGL.so.1: cannot open shared object file: No such file or directory"
    monkeypatch.setattr(doctor_module, "_QT_PROBE", f"import sys; sys.exit({missing!r})")
    code, report = doctor_json(capsys, str(root))
    assert code == 1  # without llama.cpp no local model runs
    llama = row(report, "llama-cpp")
    assert llama["status"] == "fail"
    assert "killed the process (SIGABRT)" in llama["finding"]
    assert "--force-reinstall" in llama["fix"]
    qt = row(report, "qt")
    assert qt["status"] == "warn"
    assert "libEGL.so.1 is missing" in qt["finding"]
    if sys.platform.startswith("linux"):
        assert qt["fix"].startswith("sudo apt-get install libegl1 ")

    # A probe that hangs is stopped at the time limit.
    monkeypatch.setattr(doctor_module, "PROBE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(doctor_module, "_QT_PROBE", "import time; time.sleep(60)")
    started = time.monotonic()
    _, report = doctor_json(capsys, str(root))
    assert time.monotonic() - started < 30
    assert "it did not start within 0.5 s" in row(report, "qt")["finding"]
    assert row(report, "qt")["status"] == "warn"
