"""The policy router: which model runs a step, and why — decided without calling one.

One function, `Router.decide`, holds every rule, in this order:

1. the step's kind maps to a role: the automation's override, then the skill's, then
   the space's, then `agents.md` (a kind nobody routes falls back to `work`);
2. the step is *sensitive* when it carries private-space content, content from a file
   marked `sensitive: true`, or text the offline detector flags; a sensitive step may
   only use local models — this is the one place that rule lives;
3. the role's models are tried in order; a model is passed over when its provider is
   opted out, it is cooling down after a failure, its window is too small for the
   prompt, or it was already tried for this step.

The decision lists the rule that matched, the sensitivity findings, and every model
passed over with the reason, so `cairn route --explain` and the trace can show it.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from cairn.core.routing.sensitivity import Finding, scan, scan_block
from cairn.core.workspace.schema import AgentsPolicy, ModelSpec

Clock = Callable[[], float]

DEFAULT_KIND = "work"
SENSITIVE_KIND = "sensitive"


def is_loopback(api_base: str | None) -> bool:
    if not api_base:
        return False
    host = urlparse(api_base).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def spec_is_local(spec: ModelSpec) -> bool:
    """Data sent to this model stays on this machine."""
    if spec.engine == "local":
        return True
    return spec.local if spec.local is not None else is_loopback(spec.api_base)


def spec_provider(spec: ModelSpec) -> str:
    if spec.engine == "local":
        return "local"
    model = spec.model or ""
    return model.split("/", 1)[0] if "/" in model else "openai"


@dataclass(frozen=True, slots=True)
class Step:
    """What the router needs to know about one step of a task."""

    description: str
    kind: str = DEFAULT_KIND
    context: str = ""  # the text this step will send (instructions, files, tool output)
    space: str | None = None
    space_scope: str | None = None  # private | team | company
    skill: str | None = None
    automation: str | None = None
    sensitive_sources: tuple[str, ...] = ()  # files marked `sensitive: true` in the context
    # Why content the task took in earlier (files read, findings in earlier steps) makes
    # this step sensitive: sensitivity travels with content (see `core.provenance`).
    carried: tuple[str, ...] = ()
    prompt_tokens: int | None = None  # when known, models with a smaller window are passed over
    # The context as separate blocks (instructions, readme, each tool result…): scanned one
    # by one, and a block seen before (most of them, step after step) is not scanned again.
    blocks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Overrides:
    """Routing overrides (kind → role) that apply to a step, most specific first."""

    automation: Mapping[str, str] = field(default_factory=dict)
    skill: Mapping[str, str] = field(default_factory=dict)
    space: Mapping[str, str] = field(default_factory=dict)


NO_OVERRIDES = Overrides()


@dataclass(frozen=True, slots=True)
class PassedOver:
    model: str
    reason: str


@dataclass(frozen=True, slots=True)
class Sensitivity:
    sensitive: bool
    reasons: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision, with everything needed to explain it."""

    kind: str
    role: str | None
    rule: str
    sensitivity: Sensitivity
    candidates: tuple[str, ...]
    chosen: str | None
    chosen_is_local: bool | None
    passed_over: tuple[PassedOver, ...]
    tried: tuple[str, ...] = ()
    stop_reason: str | None = None  # set when no model may run this step

    def explain(self) -> str:
        lines = [f"kind: {self.kind} → role: {self.role or '-'} ({self.rule})"]
        if self.sensitivity.sensitive:
            lines.append("sensitive: yes — local models only")
            lines.extend(f"  because {reason}" for reason in self.sensitivity.reasons)
        else:
            lines.append("sensitive: no")
        lines.append(f"candidates, in order: {', '.join(self.candidates) or 'none'}")
        for skipped in self.passed_over:
            lines.append(f"  passed over {skipped.model}: {skipped.reason}")
        if self.chosen:
            where = "local" if self.chosen_is_local else "cloud"
            lines.append(f"chosen: {self.chosen} ({where})")
        else:
            lines.append(f"no model: {self.stop_reason}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "role": self.role,
            "rule": self.rule,
            "sensitive": self.sensitivity.sensitive,
            "sensitivity_reasons": list(self.sensitivity.reasons),
            "findings": [
                {"kind": f.kind, "start": f.start, "end": f.end, "hint": f.hint}
                for f in self.sensitivity.findings
            ],
            "candidates": list(self.candidates),
            "chosen": self.chosen,
            "local": self.chosen_is_local,
            "passed_over": [{"model": p.model, "reason": p.reason} for p in self.passed_over],
            "tried": list(self.tried),
            "stop_reason": self.stop_reason,
        }


class ModelHealth:
    """Cooldowns after failures, with back-off, honouring Retry-After. Thread-safe enough:
    each update replaces a tuple in a dict."""

    def __init__(
        self, clock: Clock = time.monotonic, base_s: float = 5.0, max_s: float = 300.0
    ) -> None:
        self._clock = clock
        self._base_s = base_s
        self._max_s = max_s
        self._state: dict[str, tuple[float, int, str]] = {}  # model -> (until, strikes, why)

    def failed(self, model: str, kind: str, retry_after: float | None = None) -> float:
        """Start (or lengthen) a cooldown; returns its length in seconds."""
        _, strikes, _ = self._state.get(model, (0.0, 0, ""))
        strikes += 1
        backoff = min(self._max_s, self._base_s * float(2 ** (strikes - 1)))
        length = float(max(backoff, retry_after or 0.0))
        self._state[model] = (self._clock() + length, strikes, kind)
        return length

    def succeeded(self, model: str) -> None:
        self._state.pop(model, None)

    def cooling(self, model: str) -> tuple[float, str] | None:
        """Seconds left and the failure that caused it, or None when the model is usable."""
        until, _, why = self._state.get(model, (0.0, 0, ""))
        left = until - self._clock()
        return (left, why) if left > 0 else None


class Router:
    """Routing decisions from an `agents.md` policy. Pure: it never calls a model."""

    def __init__(
        self,
        policy: AgentsPolicy,
        health: ModelHealth | None = None,
        readiness: Callable[[str], str | None] | None = None,
    ) -> None:
        self.policy = policy
        self.health = health or ModelHealth()
        # Why a model cannot run right now (no key, no file), asked before choosing it so
        # that a machine without keys goes straight to its local models.
        self.readiness = readiness
        self._context_windows: dict[str, int] = {}

    def set_context_window(self, model: str, tokens: int) -> None:
        """Windows learnt from engines (a GGUF's own size, litellm's model info)."""
        self._context_windows[model] = tokens

    def context_window(self, model: str) -> int | None:
        spec = self.policy.models.get(model)
        if spec is not None and spec.context:
            return spec.context
        return self._context_windows.get(model)

    def is_local(self, model: str) -> bool:
        spec = self.policy.models.get(model)
        return spec is not None and spec_is_local(spec)

    def assess(self, step: Step) -> Sensitivity:
        reasons: list[str] = []
        if step.space_scope == "private" or step.kind == SENSITIVE_KIND:
            reasons.append(
                f"space '{step.space}' is private"
                if step.space_scope == "private"
                else "the step is of kind 'sensitive'"
            )
        reasons.extend(f"{path} is marked sensitive" for path in step.sensitive_sources)
        reasons.extend(step.carried)
        findings = scan(f"{step.description}\n{step.context}")
        for block in step.blocks:
            findings += scan_block(block)
        if findings:
            kinds = sorted({f.kind for f in findings})
            reasons.append(f"the text contains {', '.join(kinds)} ({len(findings)} found)")
        return Sensitivity(bool(reasons), tuple(reasons), findings)

    def role_for(self, step: Step, overrides: Overrides = NO_OVERRIDES) -> tuple[str | None, str]:
        kind = step.kind
        for scope, routing in (
            ("automation", overrides.automation),
            ("skill", overrides.skill),
            ("space", overrides.space),
        ):
            if kind in routing:
                owner = {"automation": step.automation, "skill": step.skill, "space": step.space}[
                    scope
                ]
                return routing[kind], f"{scope} '{owner}' routes '{kind}'"
        if kind in self.policy.routing:
            return self.policy.routing[kind], f"agents.md routes '{kind}'"
        if DEFAULT_KIND in self.policy.routing:
            return (
                self.policy.routing[DEFAULT_KIND],
                f"no route for '{kind}'; agents.md routes '{DEFAULT_KIND}'",
            )
        return None, f"agents.md routes neither '{kind}' nor '{DEFAULT_KIND}'"

    def decide(
        self,
        step: Step,
        overrides: Overrides = NO_OVERRIDES,
        *,
        tried: Iterable[str] = (),
        sensitivity: Sensitivity | None = None,
    ) -> Decision:
        sensitivity = sensitivity or self.assess(step)
        role, rule = self.role_for(step, overrides)
        candidates = list(self.policy.roles.get(role, ())) if role else []
        if sensitivity.sensitive and not any(self.is_local(m) for m in candidates):
            # The role has no local model: the sensitive route, then any local model.
            fallback = self.policy.routing.get(SENSITIVE_KIND)
            local_role = list(self.policy.roles.get(fallback, ())) if fallback else []
            extra = [m for m in local_role + list(self.policy.models) if m not in candidates]
            candidates += [m for m in dict.fromkeys(extra) if self.is_local(m)]
            rule += "; sensitive content, so local models are added"
        already = tuple(dict.fromkeys(tried))
        passed: list[PassedOver] = []
        chosen: str | None = None
        for model in candidates:
            # Readiness (a key lookup, a file check) is only asked until a model is chosen.
            reason = self._reason_to_pass(model, step, sensitivity, already, chosen is None)
            if reason:
                passed.append(PassedOver(model, reason))
            elif chosen is None:
                chosen = model
        stop = None
        if chosen is None:
            stop = self._stop_reason(role, candidates, sensitivity, passed)
        return Decision(
            kind=step.kind,
            role=role,
            rule=rule,
            sensitivity=sensitivity,
            candidates=tuple(candidates),
            chosen=chosen,
            chosen_is_local=self.is_local(chosen) if chosen else None,
            passed_over=tuple(
                p
                for p in passed
                if chosen is None or candidates.index(p.model) < candidates.index(chosen)
            ),
            tried=already,
            stop_reason=stop,
        )

    def _reason_to_pass(
        self,
        model: str,
        step: Step,
        sensitivity: Sensitivity,
        tried: tuple[str, ...],
        ask_ready: bool = True,
    ) -> str | None:
        spec = self.policy.models.get(model)
        if spec is None:
            return "not defined under models in agents.md"
        if sensitivity.sensitive and not spec_is_local(spec):
            return "cloud model, and this step is sensitive: it stays local"
        provider = spec_provider(spec)
        providers = self.policy.providers
        if provider in providers.deny:
            return f"provider '{provider}' is opted out (providers.deny)"
        if providers.allow and provider != "local" and provider not in providers.allow:
            return f"provider '{provider}' is not in providers.allow"
        ready = self.readiness if ask_ready else None
        unready = ready(model) if ready is not None else None
        if unready:
            return unready
        window = self.context_window(model)
        if step.prompt_tokens and window and step.prompt_tokens >= window:
            return f"window of {window:,} tokens is too small for the {step.prompt_tokens:,} needed"
        cooling = self.health.cooling(model)
        if model in tried:
            failure = f" and failed ({cooling[1]})" if cooling else ""
            return f"already tried for this step{failure}"
        if cooling:
            return f"cooling down for {cooling[0]:.0f} s after {cooling[1]}"
        return None

    def _stop_reason(
        self,
        role: str | None,
        candidates: list[str],
        sensitivity: Sensitivity,
        passed: list[PassedOver],
    ) -> str:
        if role is None:
            return "no role handles this kind of step: add it under routing in agents.md"
        if sensitivity.sensitive and not any(self.is_local(m) for m in candidates):
            return (
                "this step is sensitive and no local model is configured: add one to "
                "agents.md (models: {name: {engine: local, path: ...gguf}}) and put it in "
                "the 'sensitive' route; `cairn models` lists GGUF files on this machine"
            )
        if not candidates:
            return f"role '{role}' lists no models"
        return "every model was passed over: " + "; ".join(f"{p.model}: {p.reason}" for p in passed)
