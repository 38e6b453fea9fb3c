"""Run one step on the routed model, failing over, within budget, explaining each move.

`Dispatcher.run` yields routing events (`Routed`, `BudgetWarning`, `FellBack`) mixed
with the engine's own events. Failover happens only before the first token of an
answer: after text has reached the user, a failure is reported, not silently retried
elsewhere (the same words would arrive twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    EngineEvent,
    TextDelta,
    ToolCallRequested,
    Usage,
)
from cairn.core.errors import CairnError
from cairn.core.ports import ChatEngine
from cairn.core.routing.budget import (
    BudgetGuard,
    BudgetPaused,
    Spend,
    SpendLedger,
    SpendRecord,
    Verdict,
    conservative_cost,
)
from cairn.core.routing.router import NO_OVERRIDES, Decision, Overrides, Router, Step

FAILOVER_KINDS = frozenset(
    {
        "unavailable",
        "timeout",
        "rate_limited",
        "server_error",
        "out_of_memory",
        "authentication",
        "context_too_long",
    }
)
"""Failures that another model may not have. `bad_request` is the request's fault."""

_DEFAULT_OUTPUT = 4096

Price = Callable[[str, int, int], float | None]
"""(model, input tokens, output tokens) → dollars, None when unknown."""


@dataclass(frozen=True, slots=True)
class Routed:
    decision: Decision
    budget: Verdict | None = None


@dataclass(frozen=True, slots=True)
class BudgetWarning:
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class FellBack:
    model: str
    kind: str
    message: str
    cooldown_s: float


RoutingEvent = Routed | BudgetWarning | FellBack


class RoutingStopped(CairnError):
    """No model may run this step; `decision` says why. Nothing was sent anywhere."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.stop_reason or "no model available")
        self.decision = decision


class SensitivityBreach(CairnError):
    """An engine that is not local was about to receive a sensitive step. Never sent."""


class Dispatcher:
    def __init__(
        self,
        router: Router,
        engines: Callable[[str], ChatEngine],
        *,
        ledger: SpendLedger | None = None,
        guard: BudgetGuard | None = None,
        price: Price | None = None,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.router = router
        self.engines = engines
        self.ledger = ledger
        self.guard = guard
        self.price = price
        self._now = now

    def run(
        self,
        step: Step,
        request: ChatRequest | Callable[[ChatEngine], ChatRequest],
        overrides: Overrides = NO_OVERRIDES,
        cancel: CancelToken | None = None,
    ) -> Iterator[RoutingEvent | EngineEvent]:
        """Route and run one step. `request` may be a function of the chosen engine, so the
        context can be fitted to that model's window (and refitted after a failover)."""
        sensitivity = self.router.assess(step)
        tried: list[str] = []
        while True:
            decision = self.router.decide(step, overrides, tried=tried, sensitivity=sensitivity)
            if decision.chosen is None:
                yield Routed(decision)
                raise RoutingStopped(decision)
            model = decision.chosen
            engine = self.engines(model)
            if decision.sensitivity.sensitive and not engine.is_local:
                # The router decided from agents.md; the engine knows where it really sends
                # data. Both must agree before a sensitive step goes anywhere.
                raise SensitivityBreach(f"{model} is not local; the sensitive step was not sent")
            try:
                # Counting may load a local model: that can fail like a call can.
                built = request if isinstance(request, ChatRequest) else request(engine)
                prompt = built.prompt_tokens or engine.count_tokens(built.messages, built.tools)
                window = engine.context_window
            except EngineError as error:
                if error.kind not in FAILOVER_KINDS:
                    raise
                tried.append(model)
                cooldown = self.router.health.failed(model, error.kind, error.retry_after)
                yield FellBack(model, error.kind, str(error), cooldown)
                continue
            if window and prompt >= window:
                # Counted before sending: it cannot fit. The next decision says so.
                self.router.set_context_window(model, window)
                step = replace(step, prompt_tokens=prompt)
                continue
            verdict = self._check_budget(model, engine, prompt, built)
            yield Routed(decision, verdict)
            if verdict is not None and verdict.state == "pause":
                raise BudgetPaused(verdict)
            if verdict is not None and verdict.state == "warn":
                yield BudgetWarning(verdict)
            answered = False
            try:
                for event in engine.stream(built, cancel):
                    if isinstance(event, TextDelta | ToolCallRequested):
                        answered = True
                    elif isinstance(event, Usage):
                        self._record(model, engine.is_local, event, step)
                    yield event
            except EngineError as error:
                if answered or error.kind not in FAILOVER_KINDS:
                    raise
                cooldown = self.router.health.failed(model, error.kind, error.retry_after)
                tried.append(model)
                if error.kind == "context_too_long":
                    step = replace(step, prompt_tokens=max(prompt, step.prompt_tokens or 0) + 1)
                    if window:
                        self.router.set_context_window(model, window)
                yield FellBack(model, error.kind, str(error), cooldown)
                continue
            self.router.health.succeeded(model)
            return

    def _check_budget(
        self, model: str, engine: ChatEngine, prompt: int, request: ChatRequest
    ) -> Verdict | None:
        if self.guard is None:
            return None
        # With no max_tokens, assume up to 4,096 more tokens (or what the window leaves):
        # counting the whole window of a 200k model would pause every call.
        room = (engine.context_window or 8192) - prompt
        most_out = request.max_tokens or max(1, min(_DEFAULT_OUTPUT, room))
        cost = 0.0
        if not engine.is_local:
            known = self.price(model, prompt, most_out) if self.price is not None else None
            # Not in the price map: counted at the conservative price, never as free.
            cost = known if known is not None else conservative_cost(prompt, most_out)
        return self.guard.check(Spend(prompt + most_out, cost))

    def _record(self, model: str, local: bool, usage: Usage, step: Step) -> None:
        if self.ledger is None:
            return
        self.ledger.append(
            SpendRecord(
                at=self._now(),
                model=model,
                local=local,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=usage.cost_usd,
                task=self.guard.task if self.guard else None,
                automation=step.automation,
            )
        )
