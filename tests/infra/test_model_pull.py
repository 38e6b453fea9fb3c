"""`cairn models pull` against a real loopback HTTP server standing in for the Hugging Face Hub.

huggingface_hub is pointed at `cairn.testing.hub_stub.HubStub` through `HF_ENDPOINT`; every
test that does not name the stub points it at a closed loopback port, so no test can reach
the real network. The served model is a real (tiny, random-weight) GGUF file.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.model_catalogue import CATALOGUE, CatalogueEntry, find, recommend
from cairn.infra.model_pull import (
    DISK_MARGIN_BYTES,
    ChecksumMismatchError,
    HubError,
    ModelPullError,
    NameTakenError,
    NotEnoughDiskError,
    NotEnoughMemoryError,
    add_model_entry,
    pull,
    resolve,
)
from cairn.runtime import model_path
from cairn.testing.hub_stub import HubStub
from cairn.testing.tiny_gguf import write_tiny_model

REPO_ID = "cairn-test/Tiny-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIB = 1024**3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Nothing reaches huggingface.co: the default endpoint is a loopback port nobody serves.
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    import huggingface_hub.constants

    # huggingface_hub hands body bytes to the file in 10 MB chunks; the test model is 0.6 MB,
    # so a lost connection would lose the whole of it. Smaller chunks let a resume be seen.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_model(tmp_path_factory.mktemp("gguf") / "tiny.gguf").read_bytes()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, gguf: bytes) -> Iterator[HubStub]:
    with HubStub() as stub:
        stub.add_file(REPO_ID, "tiny.gguf", gguf, commit=COMMIT)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        yield stub


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def make_entry(gguf: bytes, **changes: object) -> CatalogueEntry:
    values: dict[str, object] = {
        "name": "tiny-test",
        "title": "Tiny test model (F32)",
        "repo": REPO_ID,
        "filename": "tiny.gguf",
        "revision": COMMIT,
        "approx_size": len(gguf),
        "sha256": hashlib.sha256(gguf).hexdigest(),
        "licence": "Apache-2.0",
        "context": 1024,
        "kv_bytes_per_token": 2 * 2 * 4 * 16 * 2,  # 2 layers, 4 KV heads of 16, f16
        "good_for": "tests",
    }
    values.update(changes)
    return CatalogueEntry(**values)  # type: ignore[arg-type]


def quiet(_: str) -> None:
    return None


def only_insertions(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if anything else differs."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    inserted: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert"), (tag, old[i1:i2], new[j1:j2])
        if tag == "insert":
            inserted += new[j1:j2]
    return inserted


def download_requests(hub: HubStub) -> list[str]:
    return [r.path for r in hub.requests("GET") if not r.path.startswith("/api/")]


# --- pulling --------------------------------------------------------------------------------


def test_pull_by_catalogue_name_adds_the_model_and_keeps_every_other_byte(
    hub: HubStub, starter: Path, models: Path, gguf: bytes
) -> None:
    agents = starter / "agents.md"
    before = agents.read_bytes()
    result = pull("tiny-test", starter, catalogue=[make_entry(gguf)], log=quiet)

    assert result.path == models / "tiny.gguf"
    assert result.path.read_bytes() == gguf
    assert (result.downloaded, result.added, result.name) == (True, True, "tiny-test")
    assert result.sha256 == hashlib.sha256(gguf).hexdigest()
    assert list(models.iterdir()) == [result.path]  # no partial file left behind
    # Metadata and bytes both come from the catalogue's pinned commit.
    assert [r.path for r in hub.requests("GET", "/api/")] == [
        f"/api/models/{REPO_ID}/revision/{COMMIT}"
    ]
    assert download_requests(hub)[0] == f"/{REPO_ID}/resolve/{COMMIT}/tiny.gguf"

    after = agents.read_bytes()
    inserted = only_insertions(before.decode(), after.decode())
    assert inserted == [
        "  # Tiny test model (F32), Apache-2.0: pulled from cairn-test/Tiny-GGUF\n",
        "  tiny-test:\n",
        "    engine: local\n",
        "    path: tiny.gguf\n",
        "    context: 1024\n",
    ]
    assert result.entry_text == "".join(inserted)
    # Inserted at the end of `models:`, before the blank line and the roles' comment.
    text = after.decode()
    assert text.index("tiny-test:") < text.index("\n# Role -> ordered list")
    assert text.index("# api_base: http://127.0.0.1:4000") < text.index("tiny-test:")

    workspace = WorkspaceModel(LocalFileStore(starter)).load()
    assert [d.format() for d in workspace.errors] == []
    assert workspace.agents is not None
    spec = workspace.agents.policy.models["tiny-test"]
    assert (spec.engine, spec.path, spec.context) == ("local", "tiny.gguf", 1024)
    assert model_path("tiny.gguf", starter) == result.path  # the bare name finds the pull


def test_pull_by_repo_and_file_path(hub: HubStub, starter: Path, models: Path, gguf: bytes) -> None:
    hub.add_file("someone/Other-GGUF", "q8/Tiny-Q8_0.gguf", gguf)
    result = pull("someone/Other-GGUF/q8/Tiny-Q8_0.gguf", starter, log=quiet)
    assert result.name == "tiny-q8_0"
    assert result.path == models / "Tiny-Q8_0.gguf"
    assert result.path.read_bytes() == gguf
    assert result.licence == "apache-2.0"  # from the repository's card on the Hub
    commit = result.commit
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert [r.path for r in hub.requests("GET", "/api/")] == ["/api/models/someone/Other-GGUF"]
    assert download_requests(hub)[0] == f"/someone/Other-GGUF/resolve/{commit}/q8/Tiny-Q8_0.gguf"
    front = yaml.safe_load((starter / "agents.md").read_text().split("---")[1])
    # The context is the default, lowered to what the model was trained on (2,048).
    assert front["models"]["tiny-q8_0"] == {
        "engine": "local",
        "path": "Tiny-Q8_0.gguf",
        "context": 2048,
    }


def test_a_connection_lost_mid_file_is_resumed_with_a_range_request(
    hub: HubStub, starter: Path, gguf: bytes
) -> None:
    sha = hashlib.sha256(gguf).hexdigest()
    hub.drop_after(sha, 200_000)
    result = pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert result.path.read_bytes() == gguf

    gets = hub.requests("GET", "/cdn/")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    match = re.fullmatch(r"bytes=(\d+)-", gets[1].headers["Range"])
    assert match, gets[1].headers
    assert 0 < int(match[1]) <= 200_000  # only what had not arrived was asked for again


def test_an_interrupted_pull_continues_where_it_stopped(
    hub: HubStub, starter: Path, models: Path, gguf: bytes
) -> None:
    sha = hashlib.sha256(gguf).hexdigest()
    agents = starter / "agents.md"
    before = agents.read_bytes()
    hub.drop_after(sha, 300_000)  # the connection is lost part-way...
    hub.fail_with(sha, 500)  # ...and the Hub fails the retry: the pull gives up
    with pytest.raises(HubError, match=r"HTTP 500.*bytes kept: the same command continues"):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert not (models / "tiny.gguf").exists()
    partials = list(models.glob(".tiny.gguf.*.partial"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 0 < kept < len(gguf)
    assert partials[0].read_bytes() == gguf[:kept]
    assert agents.read_bytes() == before

    result = pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert result.resumed_from == kept
    assert result.path.read_bytes() == gguf
    assert hub.requests("GET", "/cdn/")[-1].headers["Range"] == f"bytes={kept}-"
    assert not list(models.glob(".*.partial"))
    assert result.added


def test_a_damaged_download_is_deleted_and_agents_md_left_alone(
    hub: HubStub, starter: Path, models: Path, gguf: bytes
) -> None:
    published = gguf + b"\0" * 64  # other bytes than tiny.gguf: the stub serves by sha256
    damaged = bytearray(published)
    damaged[len(published) // 2] ^= 0xFF
    hub.add_file("someone/Bad-GGUF", "bad.gguf", published, serve_instead=bytes(damaged))
    agents = starter / "agents.md"
    before = agents.read_bytes()
    with pytest.raises(ChecksumMismatchError, match=r"it was deleted and agents\.md was not"):
        pull("someone/Bad-GGUF/bad.gguf", starter, log=quiet)
    assert list(models.iterdir()) == []  # neither the file nor a partial stays
    assert agents.read_bytes() == before


def test_a_partial_file_with_wrong_bytes_is_not_trusted(
    hub: HubStub, starter: Path, models: Path, gguf: bytes
) -> None:
    sha = hashlib.sha256(gguf).hexdigest()
    models.mkdir()
    (models / f".tiny.gguf.{sha[:16]}.partial").write_bytes(b"\0" * 1000)
    with pytest.raises(ChecksumMismatchError):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert list(models.iterdir()) == []
    assert pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet).path.read_bytes() == gguf


def test_not_enough_disk_is_refused_before_downloading(
    hub: HubStub, starter: Path, models: Path, gguf: bytes
) -> None:
    before = (starter / "agents.md").read_bytes()
    seen: list[Path] = []

    def small_disk(path: Path) -> SimpleNamespace:
        seen.append(path)
        return SimpleNamespace(free=len(gguf) + DISK_MARGIN_BYTES - 1)

    with pytest.raises(NotEnoughDiskError, match="CAIRN_MODELS_DIR") as caught:
        pull(f"{REPO_ID}/tiny.gguf", starter, disk_usage=small_disk, log=quiet)
    assert "not enough free disk space" in str(caught.value)
    assert seen == [models]
    assert download_requests(hub) == []
    assert (starter / "agents.md").read_bytes() == before

    def roomy(_: Path) -> SimpleNamespace:
        return SimpleNamespace(free=len(gguf) + DISK_MARGIN_BYTES)

    assert pull(f"{REPO_ID}/tiny.gguf", starter, disk_usage=roomy, log=quiet).downloaded


def test_too_little_memory_is_refused_unless_forced(
    hub: HubStub, starter: Path, gguf: bytes
) -> None:
    entry = make_entry(gguf)
    with pytest.raises(NotEnoughMemoryError, match="--force") as caught:
        pull("tiny-test", starter, catalogue=[entry], available_memory=lambda: 1024, log=quiet)
    assert "MiB available" in str(caught.value)
    assert download_requests(hub) == []

    result = pull(
        "tiny-test",
        starter,
        catalogue=[entry],
        available_memory=lambda: 1024,
        force=True,
        log=quiet,
    )
    assert result.path.read_bytes() == gguf
    # The file's own header confirms it: the note says what to change.
    assert any("lower `context:`" in note for note in result.notes)


def test_a_name_agents_md_already_uses_is_refused_before_anything_is_fetched(
    hub: HubStub, starter: Path, gguf: bytes
) -> None:
    before = (starter / "agents.md").read_bytes()
    with pytest.raises(NameTakenError, match="already names a model 'local-starter'"):
        pull(f"{REPO_ID}/tiny.gguf", starter, name="local-starter", log=quiet)
    assert hub.requests() == []
    assert (starter / "agents.md").read_bytes() == before


def test_a_byte_order_mark_and_crlf_line_ends_are_kept(hub: HubStub, starter: Path) -> None:
    agents = starter / "agents.md"
    before = b"\xef\xbb\xbf" + agents.read_bytes().replace(b"\n", b"\r\n")
    agents.write_bytes(before)
    pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    after = agents.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf")
    inserted = only_insertions(before[3:].decode(), after[3:].decode())
    assert inserted and all(line.endswith("\r\n") for line in inserted)


def test_a_read_only_agents_md_is_refused_before_anything_is_fetched(
    hub: HubStub, starter: Path
) -> None:
    agents = starter / "agents.md"
    agents.chmod(0o444)
    with pytest.raises(ModelPullError, match="read-only"):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert hub.requests() == []


def test_pulling_the_same_model_again_changes_nothing(
    hub: HubStub, starter: Path, gguf: bytes
) -> None:
    first = pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    text = (starter / "agents.md").read_bytes()
    again = pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert (again.downloaded, again.added, again.path) == (False, False, first.path)
    assert (starter / "agents.md").read_bytes() == text
    assert len(hub.requests("GET", "/cdn/")) == 1


def test_another_file_under_the_same_name_is_not_overwritten(
    hub: HubStub, starter: Path, models: Path
) -> None:
    models.mkdir()
    (models / "tiny.gguf").write_bytes(b"mine")
    with pytest.raises(ModelPullError, match="is another file"):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert (models / "tiny.gguf").read_bytes() == b"mine"


def test_without_a_workspace_the_model_is_downloaded_and_the_entry_returned(
    hub: HubStub, tmp_path: Path, gguf: bytes
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = pull(f"{REPO_ID}/tiny.gguf", empty, log=quiet)
    assert result.policy_file is None and not result.added
    assert result.path.read_bytes() == gguf
    assert "path: tiny.gguf" in result.entry_text
    assert list(empty.iterdir()) == []


def test_a_catalogue_pin_the_hub_no_longer_matches_is_refused(
    hub: HubStub, starter: Path, gguf: bytes
) -> None:
    entry = make_entry(gguf, sha256="0" * 64)
    with pytest.raises(HubError, match="not the file the catalogue pins"):
        pull("tiny-test", starter, catalogue=[entry], log=quiet)
    assert download_requests(hub) == []


# --- the Hub's errors -------------------------------------------------------------------------


def test_a_hub_that_is_down_gives_a_clear_error_at_once(starter: Path) -> None:
    started = time.monotonic()
    with pytest.raises(HubError, match=r"cannot reach the Hugging Face Hub at http://127\.0\.0\.1"):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert time.monotonic() - started < 10


def test_a_hub_that_does_not_answer_times_out(hub: HubStub, starter: Path) -> None:
    hub.state.hang_api_s = 30
    started = time.monotonic()
    with pytest.raises(HubError, match="did not answer within 1 s"):
        pull(f"{REPO_ID}/tiny.gguf", starter, timeout=1, log=quiet)
    assert time.monotonic() - started < 10


def test_unknown_repositories_and_files_are_named(hub: HubStub, starter: Path) -> None:
    with pytest.raises(HubError, match="nobody/Nothing-GGUF was not found on the Hub"):
        pull("nobody/Nothing-GGUF/x.gguf", starter, log=quiet)
    with pytest.raises(HubError, match=r"has no file missing\.gguf \(its GGUF files: tiny\.gguf\)"):
        pull(f"{REPO_ID}/missing.gguf", starter, log=quiet)


def test_offline_mode_is_said_plainly(
    hub: HubStub, starter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        pull(f"{REPO_ID}/tiny.gguf", starter, log=quiet)
    assert hub.requests() == []


# --- what to pull -----------------------------------------------------------------------------


def test_resolve_reads_names_and_repo_file_paths() -> None:
    spec = "bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    target = resolve(spec)
    assert (target.repo, target.filename, target.revision, target.name) == (
        "bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
        None,
        "qwen2.5-1.5b-instruct-q4_k_m",
    )
    named = resolve("Qwen2.5-1.5B", name="small")
    assert (named.name, named.entry, named.revision) == (
        "small",
        find("qwen2.5-1.5b"),
        find("qwen2.5-1.5b").revision,  # type: ignore[union-attr]
    )
    with pytest.raises(ModelPullError, match="not in the catalogue"):
        resolve("gpt-5")
    with pytest.raises(ModelPullError, match="looks like a repository: name the GGUF file"):
        resolve("bartowski/Qwen2.5-1.5B-Instruct-GGUF")
    with pytest.raises(ModelPullError, match="not a GGUF file"):
        resolve("someone/Model/model.safetensors")
    with pytest.raises(ModelPullError, match="cairn models pull starter"):
        resolve("local-starter")
    with pytest.raises(ModelPullError, match="cannot name a model"):
        resolve("qwen2.5-1.5b", name="has space")
    with pytest.raises(ModelPullError, match="not a file path"):
        resolve("someone/Model/../x.gguf")


# --- the catalogue ----------------------------------------------------------------------------


def test_the_catalogue_is_short_pinned_and_licensed() -> None:
    assert 5 <= len(CATALOGUE) <= 7
    assert len({entry.name for entry in CATALOGUE}) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert re.fullmatch(r"[a-z0-9.-]+", entry.name)
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.repo)
        assert entry.filename.endswith(".gguf")
        assert re.fullmatch(r"[0-9a-f]{40}", entry.revision)
        assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert entry.licence and entry.good_for and entry.context > 0
        assert entry.memory_needed() > entry.approx_size
        assert resolve(entry.name).entry is entry


def test_recommend_lists_what_fits_the_largest_first() -> None:
    assert recommend(available=0) == []
    everything = recommend(available=1024 * GIB)
    assert set(everything) == set(CATALOGUE)
    needs = [entry.memory_needed() for entry in everything]
    assert needs == sorted(needs, reverse=True)
    middle = sorted(needs)[len(needs) // 2]
    assert all(entry.memory_needed() <= middle for entry in recommend(available=middle))
    assert recommend(available=middle)[0].memory_needed() == middle


# --- the agents.md edit -----------------------------------------------------------------------

SPEC = {"engine": "local", "path": "m.gguf", "context": 4096}


@pytest.mark.parametrize(
    "text",
    [
        "---\nname: x\nmodels:\n    a:\n        engine: local   # four-space indent\n"
        "        path: a.gguf\nroles: {}\n---\nbody\n",
        "---\r\nmodels:\r\n  a:\r\n    engine: litellm\r\n    model: openai/x\r\n"
        "  # a trailing note\r\n\r\nroles: {}\r\n---\r\nbody\r\n",
        "---\nname: x\n---\nno models yet\n",
        "---\nmodels: {a: {engine: litellm, model: openai/x}}\nroles: {}\n---\n",
        "---\nmodels:\n  a:\n    engine: local\n    path: a.gguf\n    sampling:\n"
        "      temperature: 0.2\n---\n",
        "no frontmatter at all\n",
    ],
    ids=["four-spaces", "crlf-and-comment", "no-models-key", "flow-style", "nested", "bare"],
)
def test_adding_an_entry_only_inserts_lines(text: str) -> None:
    after = add_model_entry(text, "new-one", SPEC, comment="pulled for a test")
    front = after.split("---")[1] if after.startswith("---") else ""
    data = yaml.safe_load(front)
    assert data["models"]["new-one"] == SPEC
    if "{a:" not in text:  # a one-line `models: {...}` is the one key rewritten
        only_insertions(text, after)
    if "\r\n" in text:
        assert "\n" not in after.replace("\r\n", "")
    if "four-space" in text:
        assert "    new-one:\n        engine: local\n" in after
    with pytest.raises(NameTakenError):
        add_model_entry(after, "new-one", SPEC)
