"""`cairn models pull`, `cairn models catalogue`, and the listing they sit beside, run as the
command runs them (in-process, through `cairn.cli.main.main`), against a loopback Hub.

docs/models.md's examples are checked here too: every `cairn models pull` line names
something a pull accepts, the catalogue table matches the catalogue, and the lines shown
as added to agents.md are the lines a pull adds.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cairn.cli.main import main
from cairn.infra import model_pull
from cairn.infra.model_catalogue import CATALOGUE, CatalogueEntry, find
from cairn.testing.hub_stub import HubStub
from cairn.testing.tiny_gguf import write_tiny_model
from tests.conftest import REPO

REPO_ID = "cairn-test/Tiny-GGUF"
GIB = 1024**3


@pytest.fixture(autouse=True)
def _isolated_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nobody serves: never the real Hub
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_model(tmp_path_factory.mktemp("gguf") / "tiny.gguf").read_bytes()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, gguf: bytes) -> Iterator[HubStub]:
    with HubStub() as stub:
        stub.add_file(REPO_ID, "tiny.gguf", gguf)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        yield stub


def memory(monkeypatch: pytest.MonkeyPatch, available: int) -> None:
    import cairn.engines.memory

    monkeypatch.setattr(cairn.engines.memory, "available_memory", lambda: available)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pull_adds_the_model_and_the_listing_finds_it(
    hub: HubStub, starter: Path, tmp_path: Path, gguf: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "models", "pull", f"{REPO_ID}/tiny.gguf", "--workspace", str(starter)
    )
    assert code == 0, err
    assert f"tiny: {tmp_path / 'models' / 'tiny.gguf'}" in out
    assert f"Added to {starter / 'agents.md'} under models:" in out
    assert "    path: tiny.gguf\n" in out
    assert 'cairn ask --model tiny "Hello"' in out
    assert "downloading cairn-test/Tiny-GGUF/tiny.gguf" in err  # progress goes to stderr

    code, out, err = run(capsys, "models", str(starter), "--json")
    assert code == 0, err
    configured = {row["name"]: row for row in json.loads(out)["configured"]}
    assert configured["tiny"]["exists"] is True
    assert configured["tiny"]["gguf"]["architecture"] == "llama"

    code, out, _ = run(
        capsys, "models", "pull", f"{REPO_ID}/tiny.gguf", "--workspace", str(starter)
    )
    assert code == 0
    assert "already downloaded" in out and "already names it 'tiny'; left unchanged" in out


def test_pull_by_catalogue_name_with_json(
    hub: HubStub,
    starter: Path,
    gguf: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = CatalogueEntry(
        name="tiny-test",
        title="Tiny test model",
        repo=REPO_ID,
        filename="tiny.gguf",
        revision=hashlib.sha1(REPO_ID.encode()).hexdigest(),  # the stub's commit
        approx_size=len(gguf),
        sha256=hashlib.sha256(gguf).hexdigest(),
        licence="Apache-2.0",
        context=1024,
        kv_bytes_per_token=None,
        good_for="tests",
    )
    monkeypatch.setattr(model_pull, "CATALOGUE", (entry,))
    monkeypatch.chdir(starter)  # --workspace defaults to the current folder
    code, out, err = run(capsys, "models", "pull", "tiny-test", "--name", "small", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["name"], data["added"], data["downloaded"]) == ("small", True, True)
    assert data["licence"] == "Apache-2.0"
    assert data["policy_file"] == str(starter / "agents.md")
    front = yaml.safe_load((starter / "agents.md").read_text().split("---")[1])
    assert front["models"]["small"] == {"engine": "local", "path": "tiny.gguf", "context": 1024}


def test_refusals_are_one_clear_line(
    hub: HubStub,
    starter: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = f"{REPO_ID}/tiny.gguf"
    before = (starter / "agents.md").read_bytes()
    cases = [
        (("models", "pull"), "needs what to pull"),
        (
            ("models", "pull", spec, "--workspace", str(starter), "--name", "cloud-fast"),
            "already names a model 'cloud-fast'",
        ),
        (("models", "pull", "no-such-model"), "is not in the catalogue"),
        (("models", str(starter), "extra"), "`cairn models pull extra`"),
        (("models", str(starter), "--force"), "--name and --force go with `cairn models pull`"),
        (("models", "catalogue", "--name", "x"), "--name cannot be used"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, out, err)
        assert message in err, (argv, err)
        assert "Traceback" not in err
    memory(monkeypatch, 1024)
    code, _, err = run(capsys, "models", "pull", spec, "--workspace", str(starter))
    assert code == 2
    assert "would not fit in memory" in err and "--force" in err
    assert hub.requests("GET", "/cdn/") == []
    assert (starter / "agents.md").read_bytes() == before

    code, out, err = run(capsys, "models", "pull", spec, "--workspace", str(starter), "--force")
    assert code == 0, err
    assert "note: at context 2,048 it needs about" in out


def test_a_hub_that_is_down_is_an_error_not_a_traceback(
    starter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "models", "pull", f"{REPO_ID}/tiny.gguf", "--workspace", str(starter)
    )
    assert code == 2
    assert err.startswith("cairn: cannot reach the Hugging Face Hub at http://127.0.0.1:")
    assert "Traceback" not in err


def test_catalogue_says_what_fits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    memory(monkeypatch, 3 * GIB)
    code, out, err = run(capsys, "models", "catalogue")
    assert code == 0, err
    assert "3.0 GiB of memory available now" in out
    for entry in CATALOGUE:
        line = next(line for line in out.splitlines() if line.startswith(f"  {entry.name} "))
        fits = entry.memory_needed() <= 3 * GIB
        assert re.search(rf"\b{'yes' if fits else 'no'}\s+{re.escape(entry.licence)}$", line)
    assert "local-starter" in out and "installed by scripts/setup" in out
    assert "The largest that fits now: llama3.2-3b" in out

    code, out, _ = run(capsys, "models", "catalogue", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["available_memory"] == 3 * GIB
    assert [row["name"] for row in data["models"]] == [entry.name for entry in CATALOGUE]
    assert [row["fits"] for row in data["models"]] == [
        entry.memory_needed() <= 3 * GIB for entry in CATALOGUE
    ]
    assert data["installed_by_setup"]["licence"] == "Apache-2.0"

    memory(monkeypatch, 100 * 1024 * 1024)
    code, out, _ = run(capsys, "models", "catalogue")
    assert code == 0 and "None fits in the memory available now" in out


def test_the_listing_works_as_before(
    starter: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(starter)
    code, out, err = run(capsys, "models", "--json")
    assert code == 0, err
    assert json.loads(out)["workspace"] == str(starter.resolve())
    code, out, _ = run(capsys, "models", str(starter))
    assert code == 0 and "Configured models" in out and "local-starter" in out
    # A folder whose name is an action is reached with ./
    (tmp_path / "pull").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "models", "./pull", "--json")
    assert code == 0 and json.loads(out)["workspace"] is None


# --- docs/models.md -----------------------------------------------------------------------------

DOC = REPO / "docs" / "models.md"


def pull_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Getting a better model: `cairn models pull`")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_docs_pull_commands_name_what_a_pull_accepts() -> None:
    commands = re.findall(r"^cairn models pull (\S+)", pull_section(), re.M)
    assert len(commands) >= 3
    for spec in commands:
        model_pull.resolve(spec)  # raises for anything a pull would refuse


def test_docs_catalogue_table_matches_the_catalogue() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \| ([^|]+) \|$", pull_section(), re.M)
    assert [(name, licence.strip(), good.strip()) for name, licence, good in rows] == [
        (entry.name, entry.licence, entry.good_for) for entry in CATALOGUE
    ]


def test_docs_show_the_lines_a_pull_adds() -> None:
    shown = re.search(r"```yaml\n(.*?)```", pull_section(), re.S)
    assert shown
    name = re.search(r"^  ([\w.-]+):$", shown[1], re.M)
    assert name
    entry = find(name[1])
    assert entry is not None
    spec = {"engine": "local", "path": entry.filename, "context": entry.context}
    comment = model_pull.comment_for(entry.title, entry.licence, entry.repo)
    assert shown[1] == model_pull.entry_lines(entry.name, spec, comment)
    # And `add_model_entry` writes exactly those lines into the starter agents.md.
    starter = (REPO / "agents.md").read_text(encoding="utf-8")
    after = model_pull.add_model_entry(starter, entry.name, spec, comment)
    assert after.replace(shown[1], "", 1) == starter
