"""A hostile set-up for end-to-end tests of Cairn's promises.

Two loopback servers speak OpenAI's protocol: `cloud` (declared `local: false`, it stands
in for a paid provider and records every byte it receives) and `local` (counted as local,
it answers with whatever tool calls a test scripts, as a compromised or confused local
model would). The starter workspace gets planted markers in its private space, a `.env`,
and whatever links a test adds; `cairn` runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import copy_starter

from cairn.testing.openai_stub import OpenAIStub

PRIVATE_MARKER = "ZEBRA-PRIVATE-7731"
ENV_MARKER = "ENVSECRET-4242-QUOKKA"
MARKED_MARKER = "MARKED-HERON-5150"


@dataclass
class Hostile:
    root: Path
    cloud: OpenAIStub
    local: OpenAIStub

    def cairn(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,  # headless: approvals are queued, never answered
            cwd=self.root,
            env={
                **os.environ,
                "OPENAI_API_KEY": "sk-test-hostile-000000000000",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            },
        )

    def run(self, request: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cairn("run", request, "--plan", "never", "--workspace", str(self.root), *args)

    def cloud_bytes(self) -> str:
        """Everything the cloud server was sent: bodies and headers."""
        return "\n".join(
            json.dumps(r.body, ensure_ascii=False) + json.dumps(dict(r.headers))
            for r in self.cloud.requests
        )

    def assert_cloud_never_saw(self, *markers: str) -> None:
        received = self.cloud_bytes()
        for marker in markers:
            assert marker not in received, f"{marker} reached the cloud"

    def trace_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for path in sorted((self.root / ".cairn" / "traces").glob("*.jsonl")):
            events += [json.loads(line) for line in path.read_text().splitlines() if line]
        return events

    def queued(self) -> list[dict[str, Any]]:
        folder = self.root / ".cairn" / "approvals" / "pending"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def hostile_policy(cloud: OpenAIStub, local: OpenAIStub) -> dict[str, Any]:
    remote = {"engine": "litellm", "api_base": cloud.base_url, "local": False}
    return {
        "name": "Cairn",
        "models": {
            "local-small": {
                "engine": "litellm",
                "model": "openai/local-stub",
                "api_base": local.base_url,
                "local": True,
            },
            "cloud-fast": {**remote, "model": "openai/gpt-4o-mini"},
            "cloud-strong": {**remote, "model": "openai/gpt-4o"},
            "cloud-unpriced": {**remote, "model": "openai/cairn-unlisted-model-9"},
        },
        "roles": {
            "planner": ["cloud-strong", "cloud-fast", "local-small"],
            "worker": ["cloud-fast", "cloud-strong", "local-small"],
            "fast": ["cloud-fast", "local-small"],
            "local": ["local-small"],
            "gate": ["local-small"],
        },
        "routing": {
            "plan": "planner",
            "work": "worker",
            "summarise": "fast",
            "sensitive": "local",
            "approval": "gate",
            "memory": "local",
        },
    }


def write_policy(root: Path, policy: dict[str, Any]) -> None:
    """Replace agents.md's models, roles and routing; keep its permissions and body."""
    agents = root / "agents.md"
    text = agents.read_text()
    end = text.index("\n---\n", 4)
    front = yaml.safe_load(text[4:end])
    front.update(policy)
    agents.write_text("---\n" + yaml.safe_dump(front, sort_keys=False) + text[end + 1 :])


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Hostile]:
    with OpenAIStub() as cloud, OpenAIStub() as local:
        root = copy_starter(tmp_path / "ws")
        write_policy(root, hostile_policy(cloud, local))
        readme = root / "spaces/chief-of-staff/readme.md"
        readme.write_text(
            readme.read_text() + f"\n## Confidential\n\nThe acquisition codename is "
            f"{PRIVATE_MARKER}.\n"
        )
        (root / ".env").write_text(f"DATABASE_PASSWORD_HINT={ENV_MARKER}\n")
        (root / "spaces/team/pay.md").write_text(
            f"---\nsensitive: true\n---\nSalary bands: {MARKED_MARKER}\n"
        )
        cloud.state.reply = "Cloud answer."
        local.state.reply = '{"items": []}'  # also a valid empty answer for the memory step
        yield Hostile(root, cloud, local)
