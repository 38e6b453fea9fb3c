"""Try one model with a one-line prompt: `cairn ask --model NAME` without a terminal.

The call goes the way every model call goes: through the router (so a sensitive prompt
still never reaches a cloud model), the budget guard and the spend ledger, with a trace
kept under the workspace's `.cairn/`. What comes back is the dispatcher's event stream
(`Routed`, `TextDelta`, `Usage`, `Finished`, ...); a budget pause or a refusal is raised,
to be said by the caller. The engine is unloaded afterwards: a check should not keep a
model in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cairn.core.engine import CancelToken, ChatRequest, Message
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import AgentsPolicy
from cairn.runtime import Engines

DEFAULT_PROMPT = "Say hello in one short sentence."
MAX_TOKENS = 64  # a greeting, not an essay: the check should take seconds


def try_model(
    root: Path,
    workspace: Workspace | None,
    model: str,
    prompt: str,
    cancel: CancelToken,
    *,
    max_tokens: int = MAX_TOKENS,
) -> Iterator[object]:
    """Ask `model` (a name in agents.md, a GGUF path or a litellm id) `prompt`, routed.

    `workspace` is the loaded workspace at `root`; None reads it from disk first."""
    from cairn.core.tasks.provenance import Provenance
    from cairn.runtime import policy_with_model, traced_call

    if workspace is None:
        from cairn.core.workspace.loader import WorkspaceModel
        from cairn.infra.files import LocalFileStore

        workspace = WorkspaceModel(LocalFileStore(root)).load()
    base = workspace.agents.policy if workspace.agents else AgentsPolicy()
    policy = policy_with_model(base, model, root)
    engines = _Unloading(policy, root)
    step = Provenance(workspace, None).step(prompt, "work", (prompt,))
    request = ChatRequest((Message("user", prompt),), max_tokens=max_tokens)
    try:
        yield from traced_call(policy, root, step, request, cancel, engines=engines)
    finally:
        engines.unload()


class _Unloading(Engines):
    """`Engines` that unloads every engine it built once the call is over."""

    def unload(self) -> None:
        for engine in self._built.values():
            unload = getattr(engine, "unload", None)
            if callable(unload):
                unload()
