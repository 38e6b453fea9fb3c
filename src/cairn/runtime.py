"""The composition root: build real engines (and later the router and loop) from settings.

Nothing else in Cairn constructs engines or reaches for the keychain; front ends ask
this module. Heavy libraries stay unimported until an engine actually runs.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.core.errors import CairnError
from cairn.core.ports import ChatEngine
from cairn.core.workspace.schema import AgentsPolicy, AutomationMeta, ModelSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cairn.connectors.hub import ConnectorHub
    from cairn.core.engine import CancelToken, ChatRequest
    from cairn.core.memory.step import MemoryStep
    from cairn.core.memory.writer import MemoryWriter
    from cairn.core.routing.budget import BudgetPaused
    from cairn.core.routing.dispatch import Dispatcher
    from cairn.core.routing.router import Step
    from cairn.core.tasks.loop import Recall, TaskRunner
    from cairn.core.workspace.entities import Workspace
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.engines.local import Sampling
    from cairn.engines.prefix_cache import PrefixCache
    from cairn.infra.memory_index import MemoryIndex


class ModelNotFoundError(CairnError):
    """`--model` names nothing Cairn can run."""


def resolve_key(provider: str) -> str | None:
    """The provider's API key from the OS keychain (or the documented env fallback)."""
    from cairn.infra.keychain import KeyStore

    found = KeyStore().get(provider)
    return found.value if found else None


def model_path(spec_path: str, root: Path | None) -> Path:
    """A GGUF `path:` from agents.md: `~` expands; a relative path is the workspace's; a
    bare file name not in the workspace is in Cairn's models folder (where the starter
    model and pulled models go), so one agents.md works on every machine."""
    path = Path(spec_path).expanduser()
    if path.is_absolute():
        return path
    local = root / path if root is not None else path
    if len(path.parts) == 1 and not local.exists():
        from cairn.infra.starter_model import models_folder

        return models_folder() / path
    return local


CACHE_ENV = "CAIRN_CACHE_DIR"


def cache_folder() -> Path:
    """Cairn's cache: `$CAIRN_CACHE_DIR`, else the user's cache folder. Everything in it
    can be deleted; it is rebuilt when needed."""
    import os

    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("cairn", appauthor=False)


def prefix_cache() -> PrefixCache:
    """Evaluated prompt prefixes on disk, shared by every process of this user."""
    from importlib.metadata import version

    from cairn.engines.prefix_cache import PrefixCache

    return PrefixCache(cache_folder() / "prefixes", runtime=version("llama_cpp_python"))


def sampling_for(spec: ModelSpec) -> Sampling:
    """The engine's sampling defaults, with what agents.md sets for this model."""
    from cairn.engines.local import Sampling

    if spec.sampling is None:
        return Sampling()
    chosen = {k: v for k, v in spec.sampling.model_dump().items() if v is not None}
    return replace(Sampling(), **chosen)


def build_engine(name: str, spec: ModelSpec, root: Path | None = None) -> ChatEngine:
    if spec.engine == "local":
        from cairn.engines.local import LocalEngine

        assert spec.path is not None  # the schema requires it for local models
        return LocalEngine(
            name,
            model_path(spec.path, root),
            context=spec.context,
            gpu_layers=spec.gpu_layers or 0,
            threads=spec.threads,
            chat_format=spec.chat_format,
            sampling=sampling_for(spec),
            prefix_cache=prefix_cache() if spec.prefix_cache else None,
            tool_format=spec.tool_format,
        )
    from cairn.engines.cloud import CloudEngine

    assert spec.model is not None
    return CloudEngine(
        name,
        spec.model,
        api_base=spec.api_base,
        context=spec.context,
        resolve_key=resolve_key,
        local=spec.local,
    )


def engine_for(
    choice: str | None, policy: AgentsPolicy | None, root: Path | None = None
) -> ChatEngine:
    """`--model NAME_OR_GGUF_PATH`: a model named in agents.md, a GGUF file, or a litellm id.

    Without a choice, the first model of the role that handles `work` steps.
    """
    models = policy.models if policy else {}
    if choice is None:
        if policy is None or not models:
            raise ModelNotFoundError(
                "no model to use: pass --model with a GGUF file or a litellm model id, or "
                "define models in agents.md"
            )
        role = policy.routing.get("work")
        candidates = list(policy.roles.get(role, ())) if role else []
        choice = candidates[0] if candidates else next(iter(models))
    if choice in models:
        return build_engine(choice, models[choice], root)
    path = Path(choice).expanduser()
    if choice.lower().endswith(".gguf") or path.is_file():
        if not path.is_file():
            raise ModelNotFoundError(f"{path} does not exist; `cairn models` lists GGUF files")
        return build_engine(path.stem, ModelSpec(engine="local", path=str(path)))
    if "/" in choice:
        return build_engine(choice, ModelSpec(engine="litellm", model=choice))
    known = ", ".join(models) or "none defined"
    raise ModelNotFoundError(
        f"'{choice}' is not a model in agents.md ({known}), a GGUF file, or a litellm id "
        "like openai/gpt-4o-mini"
    )


class Engines:
    """Engines for the models of one `agents.md`, built on first use and kept (warm)."""

    def __init__(self, policy: AgentsPolicy, root: Path | None = None) -> None:
        import threading

        self.policy = policy
        self.root = root
        self._built: dict[str, ChatEngine] = {}
        # Two threads asking for the same model at once get one engine: two would load
        # the model twice and split its warm prompt cache.
        self._building = threading.Lock()

    def __call__(self, name: str) -> ChatEngine:
        engine = self._built.get(name)
        if engine is not None:
            return engine
        with self._building:
            if name not in self._built:
                if name not in self.policy.models:
                    raise ModelNotFoundError(f"'{name}' is not defined under models in agents.md")
                self._built[name] = build_engine(name, self.policy.models[name], self.root)
            return self._built[name]

    def unready(self, name: str) -> str | None:
        """Why model `name` cannot run now (no key, no file), without calling it."""
        if name not in self.policy.models:
            return None  # the router says so itself
        try:
            check = getattr(self(name), "unready", None)
            return check() if callable(check) else None
        except Exception:  # a check that fails must not hide the model: let the call say
            return None

    def price(self, name: str, input_tokens: int, output_tokens: int) -> float | None:
        engine = self(name)
        estimate = getattr(engine, "estimate_cost", None)
        return estimate(input_tokens, output_tokens) if callable(estimate) else 0.0


def build_dispatcher(
    policy: AgentsPolicy,
    root: Path,
    *,
    task: str,
    automation: str | None = None,
    engines: Engines | None = None,
) -> Dispatcher:
    """The router, engines, budget guard and spend ledger for one task in a workspace."""
    from cairn.core.routing.budget import BudgetGuard
    from cairn.core.routing.dispatch import Dispatcher
    from cairn.core.routing.router import Router
    from cairn.infra.ledger import JsonlLedger

    engines = engines or Engines(policy, root)
    ledger = JsonlLedger.for_workspace(root)
    guard = BudgetGuard(policy.budgets, ledger, task=task, automation=automation)
    router = Router(policy, readiness=engines.unready)
    return Dispatcher(router, engines, ledger=ledger, guard=guard, price=engines.price)


def traced_call(
    policy: AgentsPolicy,
    root: Path,
    step: Step,
    request: ChatRequest | Callable[[ChatEngine], ChatRequest],
    cancel: CancelToken,
    *,
    engines: Engines | None = None,
    continue_past: Callable[[BudgetPaused], bool] | None = None,
) -> Iterator[object]:
    """One routed model call outside a task (`cairn ask`, the app's model try): the budget
    guard before it, the ledger after it, and a trace under `.cairn/traces/`; the
    dispatcher's events are yielded as they come. A budget pause is raised unless
    `continue_past(pause)` says to go on (a person at a terminal answered yes)."""
    from cairn.core.routing.budget import BudgetPaused
    from cairn.core.tasks.run import new_task_id
    from cairn.infra.trace import TraceWriter

    task = new_task_id("ask-")
    dispatcher = build_dispatcher(policy, root, task=task, engines=engines)
    trace = TraceWriter(root, task)
    trace.write("task_started", request=step.description, kind=step.kind, space=step.space)
    try:
        while True:
            try:
                for event in dispatcher.run(step, request, cancel=cancel):
                    trace.record(event)
                    yield event
                return
            except BudgetPaused as pause:
                trace.failed(pause)
                if continue_past is None or not continue_past(pause):
                    raise
                assert dispatcher.guard is not None and pause.verdict.scope is not None
                dispatcher.guard.continue_past(pause.verdict.scope)
            except Exception as error:  # said by the caller; the trace keeps it too
                trace.failed(error)
                raise
    finally:
        trace.close()


def policy_with_model(policy: AgentsPolicy, choice: str, root: Path | None) -> AgentsPolicy:
    """`--model`: every step goes to `choice`; sensitive steps still only run locally
    (the router adds the local models as their fallback, and refuses the cloud one)."""
    models = dict(policy.models)
    if choice not in models:
        engine = engine_for(choice, policy, root)  # validates the choice, clear errors
        path = getattr(engine, "path", None)
        spec = (
            ModelSpec(engine="local", path=str(path))
            if path is not None
            else ModelSpec(engine="litellm", model=choice)
        )
        # A GGUF file is known by its name (`tiny`, not /long/path/tiny.gguf), as `cairn
        # models` shows it, unless agents.md already uses that name for another model.
        name = engine.name if path is not None and engine.name not in models else choice
        models[name] = spec
        choice = name
    kinds = {*policy.routing, "work", "plan", "summarise", "memory", "approval", "improve"}
    routing = dict.fromkeys(kinds, "override")
    roles = {**policy.roles, "override": (choice,)}
    if "sensitive" in policy.routing:
        routing["sensitive"] = policy.routing["sensitive"]
    return policy.model_copy(update={"models": models, "roles": roles, "routing": routing})


def policy_for_automation(policy: AgentsPolicy, meta: AutomationMeta) -> AgentsPolicy:
    """An automation's run: its own `budget:` replaces agents.md's `automation_run`
    limit (the daily limit still applies), and its `routing:` overrides step kinds."""
    update: dict[str, object] = {}
    if meta.budget is not None:
        update["budgets"] = policy.budgets.model_copy(update={"automation_run": meta.budget})
    if meta.routing:
        update["routing"] = {**policy.routing, **meta.routing}
    return policy.model_copy(update=update) if update else policy


def policy_missing(workspace: Workspace) -> str:
    """Why there is no policy to run with: no agents.md, or one with errors."""
    from cairn.core.workspace.layouts import POLICY_FILES

    broken = [d for d in workspace.errors if d.path in POLICY_FILES]
    if broken:
        return (
            f"{broken[0].path} has errors, so no task can run: {broken[0].format()} "
            "(`cairn check` lists them all)"
        )
    return "the workspace has no agents.md: run `cairn init` or create one"


def build_runner(
    model: WorkspaceModel,
    root: Path,
    *,
    automation: str | None = None,
    model_override: str | None = None,
    task_id: str | None = None,
    connectors: bool = True,
) -> tuple[TaskRunner, Dispatcher]:
    """A task runner over the real engines, router, budgets, ledger and approval queue;
    `connectors=False` offers no connector's tools (an eval that did not ask for them)."""
    from cairn.core.tasks.guards import default_guards
    from cairn.core.tasks.loop import TaskRunner, model_risk_judge
    from cairn.core.tasks.run import new_task_id
    from cairn.infra.approvals import ApprovalQueue

    agents = model.workspace.agents
    if agents is None:
        raise CairnError(policy_missing(model.workspace))
    policy = agents.policy
    if automation is not None and automation in model.workspace.automations:
        policy = policy_for_automation(policy, model.workspace.automations[automation].meta)
    if model_override:
        policy = policy_with_model(policy, model_override, root)
    task = task_id or new_task_id()
    dispatcher = build_dispatcher(policy, root, task=task, automation=automation)
    queue = ApprovalQueue(root)
    index, _, remember = memory_parts(model, root, dispatcher)
    hub = connector_hub(root, policy) if connectors else None
    sources = []
    if hub is not None:
        from cairn.connectors.tools import ConnectorTools

        sources.append(ConnectorTools(hub))
    runner = TaskRunner(
        model,
        dispatcher,
        guards=default_guards(dispatcher.guard, policy.harness),
        queue=lambda request, task_id: queue.queue(request, task_id, automation),
        risk=model_risk_judge(dispatcher) if "approval" in policy.routing else None,
        task_id=task,
        recall=memory_recall(index, model),
        remember=remember,
        sources=sources,
    )
    return runner, dispatcher


_HUBS: dict[Path, ConnectorHub] = {}
_HUBS_LOCK = threading.Lock()


def connector_hub(root: Path, policy: AgentsPolicy) -> ConnectorHub | None:
    """The process's one `ConnectorHub` for the workspace at `root` (its servers shared by
    every task and automation here), told the policy's connectors as they are now; None
    when agents.md names none. Nothing starts until a task asks for a tool."""
    if not policy.connectors:
        return None
    from cairn.connectors.hub import ConnectorHub

    key = Path(root).resolve()
    with _HUBS_LOCK:
        hub = _HUBS.get(key)
        if hub is None:
            hub = _HUBS[key] = ConnectorHub(key, policy.connectors)
            if len(_HUBS) == 1:
                import atexit

                atexit.register(close_connectors)
        else:
            hub.update(policy.connectors)
        return hub


def running_hub(root: Path) -> ConnectorHub | None:
    """The hub of the workspace at `root` if this process made one (nothing is created)."""
    with _HUBS_LOCK:
        return _HUBS.get(Path(root).resolve())


def close_hub(root: Path) -> None:
    """Stop the connector servers this process started for the workspace at `root` (an
    eval's workspace copy, when its case is done)."""
    with _HUBS_LOCK:
        hub = _HUBS.pop(Path(root).resolve(), None)
    if hub is not None:
        hub.close()


def close_connectors() -> None:
    """Stop every connector's server this process started (at exit, or when the app
    closes a workspace)."""
    with _HUBS_LOCK:
        hubs = list(_HUBS.values())
        _HUBS.clear()
    for hub in hubs:
        hub.close()


def memory_recall(index: MemoryIndex, model: WorkspaceModel) -> Recall:
    """Recall for a task: dormant items from the task's own space and company spaces.

    Private memories are recalled only into tasks in that same private space, so they
    never ride along into a shared task's context (or a cloud model). The owner's root
    memory (`MEMORY.md`, `memory/`: the space "") is recalled into tasks with no space and
    tasks in a private space, both the owner's own, and never into a team or company task;
    a task that recalls it is sensitive (its files are private: `marks.space_of`)."""

    def recall(query: str, space: str | None, budget_tokens: int) -> list[tuple[str, str]]:
        workspace = model.workspace
        allowed = {s.name for s in workspace.spaces.values() if s.scope == "company"}
        if space:
            allowed.add(space)
        found_space = workspace.spaces.get(space) if space else None
        if not space or (found_space is not None and found_space.scope == "private"):
            allowed.add("")  # the owner's root memory
        found: list[tuple[str, str]] = []
        used = 0
        for hit in index.search(query, spaces=allowed, limit=8):
            cost = len(hit.text) // 4 + 8
            if used + cost > budget_tokens:
                break
            found.append((hit.path, hit.text))
            used += cost
        return found

    return recall


def space_folders(workspace: Workspace) -> dict[str, str]:
    """Spaces kept outside `spaces/` (Rebel's): folder -> name, for the memory index."""
    return {s.root: s.name for s in workspace.spaces.values() if s.root != f"spaces/{s.name}"}


def memory_parts(
    model: WorkspaceModel, root: Path, dispatcher: Dispatcher
) -> tuple[MemoryIndex, MemoryWriter, MemoryStep]:
    """The index (repaired against the files at start-up), the writer that keeps it
    current, and the memory step that runs after each task."""
    from cairn.core.memory.step import MemoryStep
    from cairn.core.memory.writer import MemoryWriter
    from cairn.infra.memory_index import MemoryIndex

    index = MemoryIndex(root, space_folders=lambda: space_folders(model.workspace))
    index.repair()
    writer = MemoryWriter(model, on_change=index.update)
    return index, writer, MemoryStep(dispatcher, writer)
