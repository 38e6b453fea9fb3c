"""The starter workspace pointed at loopback models, for end-to-end tests of the CLI, the
scheduler and the app: `cloud-fast` at an OpenAI-compatible stub (declared not local, so
the router treats it as the cloud), `local-small` at a tiny GGUF, no model risk judge (a
tiny model's verdicts are random), and a one-line body so prompts fit a 4,096-token
window."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import copy_starter


def point_at(root: Path, api_base: str | None, local_model: Path) -> None:
    """Rewrite `root`'s agents.md as above; `api_base` None leaves the cloud model as is."""
    agents = root / "agents.md"
    text = agents.read_text()
    if api_base is not None:
        text = text.replace(
            "    model: openai/gpt-4o-mini\n",
            f"    model: openai/gpt-4o-mini\n    api_base: {api_base}\n    local: false\n",
            1,
        )
    text = text.replace(
        "    path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf\n    context: 8192",
        f"    path: {local_model}\n    context: 4096",
        1,
    )
    text = text.replace("  approval: gate\n", "", 1)
    body_start = text.index("\n---\n", 4) + 5
    agents.write_text(text[:body_start] + "You are Cairn. Be brief.\n")


def stub_workspace(
    tmp_path: Path, api_base: str | None, local_model: Path, *, automations: bool = True
) -> Path:
    """A fresh starter copy under `tmp_path/ws`, pointed at the stub; `automations=False`
    removes the starter's own automations (tests of the scheduler add theirs)."""
    root = copy_starter(tmp_path / "ws")
    if not automations:
        for starter_automation in (root / "automations").glob("*.md"):
            starter_automation.unlink()
    point_at(root, api_base, local_model)
    return root
