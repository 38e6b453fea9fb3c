"""Model discovery: GGUF headers, the folders of LM Studio, Ollama and Hugging Face, the CLI.

Every layout is built on tmp_path with real (tiny) GGUF files written by `gguf.GGUFWriter`;
HOME and the tools' environment variables point there, so nothing real is ever read.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFEndian, GGUFReader, GGUFWriter

from cairn.core.errors import CairnError
from cairn.engines import discovery
from cairn.engines.discovery import (
    DiscoveryProblem,
    GgufInfo,
    GgufReadError,
    ModelFolder,
    NotGgufError,
    default_model_folders,
    discover_gguf,
    is_partial_download,
    model_folders,
    ollama_blob_names,
    read_gguf_info,
    scan_gguf,
    source_of,
)
from tests.conftest import copy_starter

TOOL_VARIABLES = (
    "CAIRN_MODEL_PATH",
    "OLLAMA_MODELS",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HOME",
    "XDG_CACHE_HOME",
)


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    name: str | None = "Tiny Llama",
    context: int | None = 4096,
    file_type: int | None = 15,  # MOSTLY_Q4_K_M
    blocks: int = 2,
    head_count_kv: int | Sequence[int] = 2,
    chat_template: bool = True,
    vocab: int = 16,
    dtype: type[np.floating] = np.float32,
    endianess: GGUFEndian = GGUFEndian.LITTLE,
    split_max_tensors: int = 0,
    tensors: int = 1,
) -> Path:
    """A small but real GGUF file: a few metadata keys, a vocabulary and 4x8 tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), arch, endianess=endianess, split_max_tensors=split_max_tensors)
    if name:
        writer.add_name(name)
    if context:
        writer.add_context_length(context)
    writer.add_block_count(blocks)
    writer.add_embedding_length(64)
    writer.add_head_count(8)
    writer.add_head_count_kv(head_count_kv)
    if file_type is not None:
        writer.add_file_type(file_type)
    if chat_template:
        writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    for n in range(tensors):
        writer.add_tensor(f"blk.{n}.attn_q.weight", np.ones((4, 8), dtype=dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "tiny-Q4_K_M.gguf")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home folder; the tools' variables unset; no system-wide Ollama."""
    fake = tmp_path / "home"
    fake.mkdir()
    monkeypatch.setenv("HOME", str(fake))
    monkeypatch.setenv("USERPROFILE", str(fake))
    for name in TOOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(discovery, "SYSTEM_OLLAMA_MODELS", tmp_path / "no-system-ollama")
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "no-cairn-models"))
    return fake


def test_cairns_own_models_folder_is_searched(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where scripts/setup puts the starter model (and pulled models go)."""
    own = tmp_path / "cairn-models"
    write_gguf(own / "starter.gguf")
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(own))
    assert default_model_folders() == [own]
    assert [m.path.name for m in discover_gguf(model_folders())] == ["starter.gguf"]


# --- reading headers ---------------------------------------------------------------------


def test_reads_what_the_header_says(model: Path) -> None:
    info = read_gguf_info(model)
    assert info.path == model
    assert info.size_bytes == model.stat().st_size
    assert info.architecture == "llama"
    assert info.name == "Tiny Llama"
    assert info.quantisation == "Q4_K_M"
    assert info.file_type == 15
    assert info.context_length == 4096
    assert info.embedding_length == 64
    assert info.block_count == 2
    assert (info.head_count, info.head_count_kv) == (8, 2)
    assert info.head_dim == 8
    assert info.has_chat_template
    assert info.parameter_count == 32
    assert info.tensor_count == 1
    assert info.kind == "model"
    assert info.gguf_version == 3
    assert (info.split_count, info.split_found) == (1, 1)
    assert info.source == "file"
    # layers × context × kv heads × (key + value) × 2 bytes (f16)
    assert info.kv_cache_bytes(1024) == 2 * 1024 * 2 * (8 + 8) * 2
    assert info.kv_cache_bytes() == 2 * 4096 * 2 * (8 + 8) * 2
    assert info.to_json()["path"] == str(model)
    json.dumps(info.to_json())


def test_agrees_with_the_gguf_packages_reader(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", arch="qwen2", context=32768, blocks=3, tensors=3)
    ours = read_gguf_info(path)
    theirs = GGUFReader(path)

    def value(key: str) -> object:
        found = theirs.get_field(key)
        assert found is not None, key
        return found.contents()

    assert ours.architecture == value("general.architecture")
    assert ours.name == value("general.name")
    assert ours.context_length == value("qwen2.context_length")
    assert ours.block_count == value("qwen2.block_count")
    assert ours.head_count == value("qwen2.attention.head_count")
    assert ours.head_count_kv == value("qwen2.attention.head_count_kv")
    assert ours.file_type == value("general.file_type")
    assert ours.tensor_count == len(theirs.tensors)
    assert ours.parameter_count == sum(t.n_elements for t in theirs.tensors)


def test_big_endian_files_read_the_same(tmp_path: Path) -> None:
    big = read_gguf_info(write_gguf(tmp_path / "be.gguf", endianess=GGUFEndian.BIG))
    little = read_gguf_info(write_gguf(tmp_path / "le.gguf"))
    assert big.to_json() | {"path": ""} == little.to_json() | {"path": ""}


@pytest.mark.parametrize("file_type", [None, 1024, 9999], ids=["absent", "guessed", "unknown"])
def test_quantisation_falls_back_to_the_dominant_tensor_type(
    tmp_path: Path, file_type: int | None
) -> None:
    path = write_gguf(tmp_path / "m.gguf", file_type=file_type, dtype=np.float16)
    assert read_gguf_info(path).quantisation == "F16"


def test_file_type_names_follow_llama_cpp(tmp_path: Path) -> None:
    assert read_gguf_info(write_gguf(tmp_path / "a.gguf", file_type=0)).quantisation == "F32"
    assert read_gguf_info(write_gguf(tmp_path / "b.gguf", file_type=7)).quantisation == "Q8_0"
    assert read_gguf_info(write_gguf(tmp_path / "c.gguf", file_type=1)).quantisation == "F16"


def test_per_layer_kv_heads_use_the_largest(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", blocks=3, head_count_kv=[2, 4, 2])
    assert read_gguf_info(path).head_count_kv == 4


def test_missing_fields_are_none(tmp_path: Path) -> None:
    info = read_gguf_info(
        write_gguf(tmp_path / "m.gguf", name=None, context=None, chat_template=False)
    )
    assert info.name is None
    assert info.context_length is None
    assert not info.has_chat_template
    assert info.kv_cache_bytes() is None
    assert info.display_name == "m.gguf"


def test_a_large_vocabulary_is_skipped_quickly(tmp_path: Path) -> None:
    # gguf.GGUFReader builds an object per vocabulary entry: seconds for a real model.
    path = write_gguf(tmp_path / "m.gguf", vocab=100_000)
    read_gguf_info(path)  # the first call also imports gguf's type tables
    start = time.perf_counter()
    info = read_gguf_info(path)
    assert time.perf_counter() - start < 1.0
    assert info.context_length == 4096


# --- what is not a model ------------------------------------------------------------------


def test_a_text_file_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("hello, this is not a model\n")
    with pytest.raises(NotGgufError, match="does not start with 'GGUF'") as caught:
        read_gguf_info(path)
    assert isinstance(caught.value, CairnError)
    assert caught.value.path == path
    assert str(caught.value).startswith(str(path))


def test_an_empty_file_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(NotGgufError, match="empty"):
        read_gguf_info(path)


def test_missing_files_and_folders_are_read_errors(tmp_path: Path) -> None:
    with pytest.raises(GgufReadError, match="cannot be read"):
        read_gguf_info(tmp_path / "absent.gguf")
    with pytest.raises(GgufReadError, match="cannot be read"):
        read_gguf_info(tmp_path)


def test_every_truncation_is_a_clear_error(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    cut = tmp_path / "cut.gguf"
    for length in range(4, len(data)):
        cut.write_bytes(data[:length])
        with pytest.raises(GgufReadError) as caught:
            read_gguf_info(cut)
        assert "cut short" in caught.value.reason or "incomplete" in caught.value.reason, length


def test_a_file_cut_in_its_weights_is_incomplete(model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(model.read_bytes()[:-16])
    with pytest.raises(GgufReadError, match="is incomplete: its tensors need"):
        read_gguf_info(cut)


def test_unsupported_versions_are_refused(model: Path, tmp_path: Path) -> None:
    data = bytearray(model.read_bytes())
    data[4:8] = struct.pack("<I", 1)
    bad = tmp_path / "v1.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GgufReadError, match="version 1 is not supported"):
        read_gguf_info(bad)


def test_absurd_counts_fail_fast(tmp_path: Path) -> None:
    # A header that claims 2**62 metadata items, then an array of 2**62 strings.
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62))
    start = time.perf_counter()
    with pytest.raises(GgufReadError):
        read_gguf_info(bad)
    key = b"k"
    array = struct.pack("<Q", len(key)) + key + struct.pack("<IIQ", 9, 8, 2**62)
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + array)
    with pytest.raises(GgufReadError):
        read_gguf_info(bad)
    assert time.perf_counter() - start < 1.0


def test_corrupted_headers_never_crash(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    header_end = len(data) - 128  # the tensor data is at the end
    rng = random.Random(1234)
    target = tmp_path / "fuzz.gguf"
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(4, header_end)] = rng.randrange(256)
        target.write_bytes(bytes(mutated))
        with contextlib.suppress(GgufReadError):  # anything else fails the test
            read_gguf_info(target)


# --- where models live --------------------------------------------------------------------


def test_no_folders_when_nothing_is_installed(home: Path) -> None:
    assert default_model_folders() == []
    candidates = [f.path for f in model_folders(existing_only=False)]
    assert home / ".lmstudio" / "models" in candidates
    assert home / ".ollama" / "models" / "blobs" in candidates
    assert home / ".cache" / "huggingface" / "hub" in candidates


def test_default_folders_in_order(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = tmp_path / "my-models", tmp_path / "more-models"
    ollama_env, hf_env, hf_home = tmp_path / "om", tmp_path / "hfc", tmp_path / "hfh"
    expected = [
        mine,
        other,
        home / ".lmstudio" / "models",
        home / ".cache" / "lm-studio" / "models",
        ollama_env / "blobs",
        home / ".ollama" / "models" / "blobs",
        hf_env,
        hf_home / "hub",
        home / ".cache" / "huggingface" / "hub",
    ]
    for folder in expected:
        folder.mkdir(parents=True)
    monkeypatch.setenv("CAIRN_MODEL_PATH", os.pathsep.join([str(mine), "", str(other)]))
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama_env))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_env))
    monkeypatch.setenv("HF_HOME", str(hf_home))
    assert default_model_folders() == expected
    sources = [f.source for f in model_folders()]
    assert sources == ["configured"] * 2 + ["lmstudio"] * 2 + ["ollama"] * 2 + ["huggingface"] * 3


def test_lmstudio_moved_home_and_custom_folder(home: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / ".lmstudio"
    custom = tmp_path / "big-disk" / "models"
    (moved / "models").mkdir(parents=True)
    custom.mkdir(parents=True)
    (home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    (moved / "settings.json").write_text(json.dumps({"downloadsFolder": str(custom)}))
    assert default_model_folders() == [custom, moved / "models"]


def test_the_same_folder_is_listed_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lmstudio = home / ".lmstudio" / "models"
    lmstudio.mkdir(parents=True)
    monkeypatch.setenv("CAIRN_MODEL_PATH", str(lmstudio))
    assert default_model_folders() == [lmstudio]


def test_partial_download_names() -> None:
    for name in ("m.gguf.part", "m.gguf.incomplete", "abc.incomplete", "m.gguf.crdownload"):
        assert is_partial_download(name), name
    for name in ("sha256-abc-partial", "sha256-abc-partial-0", "sha256-abc-partial-12"):
        assert is_partial_download(name), name
    for name in ("m.gguf", "sha256-abc", "partial-model.gguf"):
        assert not is_partial_download(name), name


def test_sources_from_layouts(tmp_path: Path) -> None:
    assert source_of(tmp_path / ".ollama/models/blobs/sha256-ab") == "ollama"
    assert source_of(tmp_path / "x/blobs/sha256-ab") == "ollama"
    assert source_of(tmp_path / "hub/models--org--repo/snapshots/r/m.gguf") == "huggingface"
    assert source_of(tmp_path / ".lmstudio/models/pub/repo/m.gguf") == "lmstudio"
    assert source_of(tmp_path / ".cache/lm-studio/models/pub/repo/m.gguf") == "lmstudio"
    assert source_of(tmp_path / "models/m.gguf") == "configured"


# --- discovery ------------------------------------------------------------------------------

SHA_MODEL = "a" * 64
SHA_PROJECTOR = "b" * 64
SHA_CONFIG = "c" * 64


def link(path: Path, target: Path) -> None:
    try:
        path.symlink_to(target)
    except OSError:  # Windows without developer mode
        pytest.skip("symbolic links cannot be created here")


def build_machine(home: Path, tmp_path: Path) -> dict[str, Path]:
    """LM Studio, Ollama and Hugging Face layouts in `home`, with traps in each."""
    paths: dict[str, Path] = {}
    lms = home / ".lmstudio" / "models"
    paths["lmstudio"] = write_gguf(lms / "pub" / "tiny-GGUF" / "tiny-Q4_K_M.gguf", name="LMS")
    write_gguf(lms / "pub" / "tiny-GGUF" / "tiny-Q8_0.gguf.part")  # downloading
    (lms / "pub" / "tiny-GGUF" / "README.md").write_text("# tiny\n")
    paths["not_gguf"] = lms / "pub" / "fake" / "fake.gguf"
    paths["not_gguf"].parent.mkdir(parents=True)
    paths["not_gguf"].write_text("<html>404</html>")
    write_gguf(lms / ".hidden" / "secret.gguf")
    write_gguf(lms / "pub" / ".secret.gguf")

    models = home / ".ollama" / "models"
    blobs = models / "blobs"
    paths["ollama"] = write_gguf(blobs / f"sha256-{SHA_MODEL}", arch="qwen2", name="Qwen")
    paths["projector"] = write_gguf(blobs / f"sha256-{SHA_PROJECTOR}", arch="clip", name=None)
    (blobs / f"sha256-{SHA_CONFIG}").write_text('{"model_format": "gguf"}')
    write_gguf(blobs / f"sha256-{'d' * 64}-partial")
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json"},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{SHA_MODEL}"},
            {
                "mediaType": "application/vnd.ollama.image.projector",
                "digest": f"sha256:{SHA_PROJECTOR}",
            },
            {"mediaType": "application/vnd.ollama.image.params", "digest": f"sha256:{SHA_CONFIG}"},
        ],
    }
    library = models / "manifests" / "registry.ollama.ai" / "library" / "qwen-tiny"
    library.mkdir(parents=True)
    (library / "latest").write_text(json.dumps(manifest))
    (library / "q4").write_text(json.dumps(manifest))
    user = models / "manifests" / "registry.ollama.ai" / "someone" / "tuned"
    user.mkdir(parents=True)
    (user / "v1").write_text(json.dumps(manifest))
    hf_manifest = models / "manifests" / "hf.co" / "org" / "repo-GGUF"
    hf_manifest.mkdir(parents=True)
    (hf_manifest / "Q4_K_M").write_text("{not json")

    repo = home / ".cache" / "huggingface" / "hub" / "models--org--tiny-GGUF"
    blob = write_gguf(repo / "blobs" / ("e" * 64), arch="gemma3", name="Gemma")
    write_gguf(repo / "blobs" / ("f" * 64 + ".incomplete"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    paths["huggingface"] = snapshot / "tiny-Q4_K_M.gguf"
    link(paths["huggingface"], Path("..") / ".." / "blobs" / ("e" * 64))
    link(snapshot / "gone.gguf", Path("..") / ".." / "blobs" / "missing")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    paths["hf_blob"] = blob

    mine = tmp_path / "my-models"
    paths["truncated"] = mine / "cut.gguf"
    mine.mkdir()
    paths["truncated"].write_bytes(write_gguf(tmp_path / "w" / "x.gguf").read_bytes()[:40])
    write_gguf(mine / "big-model.gguf", split_max_tensors=1, tensors=2)
    paths["split"] = mine / "big-model-00001-of-00002.gguf"
    link(mine / "loop", mine)  # a folder link back to itself
    paths["mine"] = mine
    return paths


def by_path(models: Sequence[GgufInfo]) -> dict[Path, GgufInfo]:
    return {m.path: m for m in models}


def test_discovers_every_layout(home: Path, tmp_path: Path) -> None:
    paths = build_machine(home, tmp_path)
    scan = scan_gguf([*default_model_folders(), paths["mine"]])
    found = by_path(scan.models)
    assert set(found) == {
        paths["lmstudio"],
        paths["ollama"],
        paths["projector"],
        paths["huggingface"],
        paths["split"],
    }

    lms = found[paths["lmstudio"]]
    assert (lms.source, lms.name, lms.quantisation, lms.context_length) == (
        "lmstudio",
        "LMS",
        "Q4_K_M",
        4096,
    )
    ollama = found[paths["ollama"]]
    assert ollama.source == "ollama"
    assert ollama.architecture == "qwen2"
    assert ollama.aliases == ("qwen-tiny:latest", "qwen-tiny:q4", "someone/tuned:v1")
    assert ollama.display_name == "qwen-tiny:latest"
    projector = found[paths["projector"]]
    assert projector.kind == "mmproj"
    assert projector.aliases[0] == "qwen-tiny:latest (projector)"
    hf = found[paths["huggingface"]]
    assert (hf.source, hf.architecture) == ("huggingface", "gemma3")
    split = found[paths["split"]]
    assert (split.split_count, split.split_found, split.source) == (2, 2, "configured")
    assert (
        split.size_bytes
        == paths["split"].stat().st_size
        + (paths["mine"] / "big-model-00002-of-00002.gguf").stat().st_size
    )
    assert split.parameter_count == 64

    problems = {p.path: p.message for p in scan.problems}
    assert "not a GGUF file" in problems[paths["not_gguf"]]
    assert "cut short" in problems[paths["truncated"]]
    assert "broken link" in problems[paths["huggingface"].with_name("gone.gguf")]
    assert len(problems) == 3, problems
    assert discover_gguf([paths["mine"]]) == [
        m for m in scan.models if m.path.parent == paths["mine"]
    ]


def test_a_file_reached_twice_is_listed_once(tmp_path: Path, home: Path) -> None:
    shelf = tmp_path / "shelf"
    model = write_gguf(shelf / "m.gguf")
    linked = tmp_path / "linked"
    linked.mkdir()
    link(linked / "same.gguf", model)
    link(linked / "blobby", model)  # no extension: found, but the .gguf name wins
    found = discover_gguf([linked, shelf])
    assert [m.path for m in found] == [linked / "same.gguf"]


def test_hugging_face_prefers_the_snapshot_name(home: Path, tmp_path: Path) -> None:
    paths = build_machine(home, tmp_path)
    hub = home / ".cache" / "huggingface" / "hub"
    found = discover_gguf([hub])
    assert [m.path for m in found] == [paths["huggingface"]]


def test_a_missing_split_part_is_reported(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "m"
    write_gguf(folder / "big.gguf", split_max_tensors=1, tensors=2)
    (folder / "big-00002-of-00002.gguf").unlink()
    scan = scan_gguf([folder])
    (model,) = scan.models
    assert (model.split_count, model.split_found, model.parameter_count) == (2, 1, None)
    assert any("only 1 of the 2 parts" in p.message for p in scan.problems)


def test_unreadable_and_missing_folders_are_problems(tmp_path: Path, home: Path) -> None:
    scan = scan_gguf([tmp_path / "nowhere", ModelFolder(tmp_path / "also-not", "ollama")])
    assert scan.models == ()
    assert [p.message for p in scan.problems] == ["folder does not exist"] * 2
    locked = tmp_path / "locked"
    write_gguf(locked / "m.gguf")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who can read anything")
        scan = scan_gguf([locked])
        assert scan.models == ()
        assert "cannot be read" in scan.problems[0].message
    finally:
        locked.chmod(0o755)


def test_a_file_can_be_named_directly(tmp_path: Path, home: Path, model: Path) -> None:
    text = tmp_path / "readme"
    text.write_text("hi")
    scan = scan_gguf([model, text])
    assert [m.path for m in scan.models] == [model]
    assert scan.problems == (
        DiscoveryProblem(text, "not a GGUF file (it does not start with 'GGUF')"),
    )


def test_depth_is_bounded(tmp_path: Path, home: Path) -> None:
    deep = tmp_path / "d"
    write_gguf(deep / "1" / "2" / "3" / "m.gguf")
    assert discover_gguf([deep], max_depth=3)
    assert not discover_gguf([deep], max_depth=2)


def test_ollama_names(tmp_path: Path) -> None:
    models = tmp_path / "models"
    build_machine(tmp_path / "h", tmp_path)
    assert ollama_blob_names(models) == {}
    names = ollama_blob_names(tmp_path / "h" / ".ollama" / "models")
    assert names[f"sha256-{SHA_MODEL}"] == ("qwen-tiny:latest", "qwen-tiny:q4", "someone/tuned:v1")
    assert f"sha256-{SHA_CONFIG}" not in names


def test_discovery_module_imports_nothing_heavy() -> None:
    code = (
        "import sys\nimport cairn.engines.discovery\n"
        "print(sorted(m for m in ('gguf', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- the command --------------------------------------------------------------------------


def cairn(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in TOOL_VARIABLES}
    env |= {"HOME": str(home), "USERPROFILE": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_lists_configured_and_discovered_models(tmp_path: Path, home: Path) -> None:
    paths = build_machine(home, tmp_path)
    workspace = copy_starter(tmp_path / "ws")
    agents = workspace / "agents.md"
    text = agents.read_text(encoding="utf-8")
    entry = f"  local-tiny:\n    engine: local\n    path: {json.dumps(str(paths['lmstudio']))}\n"
    agents.write_text(text.replace("models:\n", "models:\n" + entry, 1), encoding="utf-8")

    result = cairn("models", str(workspace), "--json", "--folder", str(paths["mine"]), home=home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["workspace"] == str(workspace.resolve())
    configured = {row["name"]: row for row in data["configured"]}
    assert configured["local-tiny"]["exists"] is True
    assert configured["local-tiny"]["gguf"]["architecture"] == "llama"
    assert configured["local-tiny"]["gguf"]["quantisation"] == "Q4_K_M"
    assert configured["local-small"]["exists"] is False  # ~/models/... in the empty home
    assert configured["local-small"]["context"] == 8192
    assert configured["cloud-fast"]["target"] == "openai/gpt-4o-mini"
    assert configured["cloud-fast"]["exists"] is None

    discovered = {Path(row["path"]): row for row in data["discovered"]}
    assert set(discovered) == {
        paths["lmstudio"],
        paths["ollama"],
        paths["projector"],
        paths["huggingface"],
        paths["split"],
    }
    assert discovered[paths["lmstudio"]]["configured_as"] == ["local-tiny"]
    assert discovered[paths["lmstudio"]]["size"].endswith(("B", "KiB"))
    assert discovered[paths["ollama"]]["aliases"][0] == "qwen-tiny:latest"
    sources = {row["source"] for row in data["discovered"]}
    assert sources == {"lmstudio", "ollama", "huggingface", "configured"}
    assert {Path(p["path"]) for p in data["problems"]} >= {paths["not_gguf"], paths["truncated"]}

    human = cairn("models", str(workspace), "--folder", str(paths["mine"]), home=home)
    assert human.returncode == 0, human.stderr
    assert "local-tiny" in human.stdout
    assert "qwen-tiny:latest" in human.stdout
    assert "Q4_K_M" in human.stdout
    assert "cut short" in human.stdout


@pytest.mark.slow
def test_cli_without_a_workspace_still_discovers(tmp_path: Path, home: Path) -> None:
    write_gguf(tmp_path / "loose" / "m.gguf")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cairn("models", str(empty), "--json", "--folder", str(tmp_path / "loose"), home=home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["workspace"] is None
    assert data["configured"] == []
    assert [Path(row["path"]).name for row in data["discovered"]] == ["m.gguf"]
    human = cairn("models", str(empty), home=home)
    assert human.returncode == 0, human.stderr
    assert "none" in human.stdout
    assert "CAIRN_MODEL_PATH" in human.stdout
