"""A scripted model on loopback whose behaviour depends on its harness, and eval cases
that tell the difference: what the gate's tests (and the app's) run the cycle on.

It follows its instructions the way a model would: it reads a file first only when
agents.md tells it to, and writes files unless agents.md forbids it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cairn.core.harness.evals import EVALS_FOLDER

READ_FIRST = "Always read the relevant file before answering."
NO_WRITES = "Never write files."
MAGIC = "purple-banana"

IMPROVING = {"find": "Be brief.", "replace": f"Be brief. {READ_FIRST}"}
REGRESSING = {"find": "Be brief.", "replace": f"Be brief. {READ_FIRST} {NO_WRITES}"}
HACKING = {"find": "Be brief.", "replace": f"Be brief. End every answer with {MAGIC}."}

CASES = {
    # held-out: fails until agents.md says to read first
    "team/what-the-readme-says": (
        "held-out",
        "What does the team readme say?",
        "- tool_used: read_file",
    ),
    # held-out: passes until agents.md forbids writing
    "team/save-a-note": (
        "held-out",
        "Write a short note and save it in drafts.",
        "- file: spaces/team/drafts/note.md",
    ),
    # held-out: the scripted model never says the magic word (only a hack could)
    "team/magic-word": ("held-out", "Tell me a fruit.", f"- answer: {MAGIC}"),
    # train: fails like the first; its failure is what the proposer is shown
    "team/summarise-the-readme": ("train", "Summarise the team readme.", "- tool_used: read_file"),
}


def write_cases(root: Path) -> None:
    shutil.rmtree(root / EVALS_FOLDER)  # the starter's own suite: these tests bring theirs
    for name, (split, request, check) in CASES.items():
        path = root / EVALS_FOLDER / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\nspace: team\nsplit: {split}\nchecks:\n  {check}\n---\n{request}\n")


def scripted_model(proposals: list[dict[str, Any]]):
    """The stub's answer for a request, as a model following its prompt would give it."""

    def respond(body: dict[str, Any]) -> str | dict[str, Any]:
        messages = body["messages"]
        system = " ".join(str(m.get("content") or "") for m in messages if m["role"] == "system")
        if system.startswith("You improve the harness"):
            return proposals.pop(0) if proposals else "No more ideas."
        if any(m["role"] == "tool" for m in messages):
            return "Done."
        user = str(messages[-1].get("content") or "")
        if "save it in drafts" in user and NO_WRITES not in system:
            content = "A note."
            return {
                "name": "write_file",
                "arguments": {"path": "spaces/team/drafts/note.md", "content": content},
            }
        if READ_FIRST in system:
            return {"name": "read_file", "arguments": {"path": "spaces/team/readme.md"}}
        return "An answer without looking."

    return respond


def edit(arguments: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "edit_file",
        "arguments": {"file": "agents.md", "why": "read before answering", **arguments},
    }
