"""The regression gate: does a candidate edit fix a held-out case, and break none at all?

Each case runs `repeat` times before and after. The comparison is by pass counts, so it
is deterministic for given runs, and strict where runs vary:
- *fixed*: a held-out case did not pass every run before, and passes every run after
  (only held-out cases count: the proposer saw the train cases' failures);
- *regressed*: any case, train or held-out, passes fewer runs after than before (a case
  that loses one pass out of three counts);
- the candidate is kept only with at least one fix and no regression.
Spreads of tokens and time are reported beside the verdict, not judged.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaseRuns:
    """One case's repeats: whether each passed, with its tokens and seconds."""

    case: str
    passes: tuple[bool, ...]
    tokens: tuple[int, ...] = ()
    seconds: tuple[float, ...] = ()

    @property
    def passed(self) -> int:
        return sum(self.passes)

    @property
    def runs(self) -> int:
        return len(self.passes)

    @property
    def always(self) -> bool:
        return self.runs > 0 and self.passed == self.runs

    def shown(self) -> str:
        """`2/3 passed, 1,200 ± 90 tokens, 4.1 ± 0.3 s`."""
        parts = [f"{self.passed}/{self.runs} passed"]
        if self.tokens:
            parts.append(_spread(self.tokens, "{:,.0f}") + " tokens")
        if self.seconds:
            parts.append(_spread(self.seconds, "{:.1f}") + " s")
        return ", ".join(parts)


def _spread(values: Sequence[float], form: str) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return form.format(mean)
    return f"{form.format(mean)} ± {form.format(statistics.stdev(values))}"


@dataclass(frozen=True, slots=True)
class GateVerdict:
    kept: bool
    reason: str
    fixed: tuple[str, ...] = ()
    regressed: tuple[str, ...] = ()
    before_rate: float = 0.0
    after_rate: float = 0.0

    @property
    def delta(self) -> float:
        return self.after_rate - self.before_rate


def pass_rate(runs: Mapping[str, CaseRuns]) -> float:
    total = sum(r.runs for r in runs.values())
    return sum(r.passed for r in runs.values()) / total if total else 0.0


def judge(
    before: Mapping[str, CaseRuns],
    after: Mapping[str, CaseRuns],
    held_out: Collection[str] | None = None,
) -> GateVerdict:
    """The gate's verdict on the same cases run before and after an edit. Fixes count on
    `held_out` cases only (every case when None); regressions count everywhere. The
    rates reported are the held-out cases'."""
    judged = set(before) if held_out is None else set(held_out) & set(before)
    rates = (
        pass_rate({c: r for c, r in before.items() if c in judged}),
        pass_rate({c: r for c, r in after.items() if c in judged}),
    )

    def refused(reason: str) -> GateVerdict:
        return GateVerdict(False, reason, before_rate=rates[0], after_rate=rates[1])

    if not judged:
        return refused("there are no held-out cases to judge it on")
    missing = sorted(set(before) - set(after))
    if missing:
        return refused(f"held-out cases did not run: {', '.join(missing)}")
    uneven = sorted(c for c in before if before[c].runs != after[c].runs)
    if uneven:
        return refused(f"different repeat counts for {', '.join(uneven)}")
    fixed = tuple(c for c in sorted(judged) if not before[c].always and after[c].always)
    regressed = tuple(c for c in sorted(before) if after[c].passed < before[c].passed)
    if regressed:
        reason = f"it regresses {', '.join(regressed)}"
    elif not fixed:
        reason = "it fixes no failing held-out case"
    else:
        reason = f"it fixes {', '.join(fixed)} and regresses nothing"
    kept = not regressed and bool(fixed)
    return GateVerdict(kept, reason, fixed, regressed, rates[0], rates[1])
