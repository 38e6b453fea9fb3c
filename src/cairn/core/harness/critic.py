"""The critic: deterministic reasons to refuse a proposed edit before it is ever tried.

An automated loop that is rewarded by eval checks learns to game them. So an edit is
refused when it:
- touches anything but a skill, an operator, agents.md's instructions, or a harness or
  routing setting (never evals, permissions, budgets, models, connectors or content);
- writes an eval's expected output into the harness (text a check looks for that the
  file did not already hold), or quotes an eval's request, or names an eval;
- is too large to be a targeted fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cairn.core.harness.evals import EVALS_FOLDER, EvalCase
from cairn.core.harness.proposals import MAX_EDIT_CHARS, Proposal, is_policy

QUOTE_WORDS = 6
"""This many words of an eval's request in a row, newly in a file, is quoting it."""


def critique(
    proposal: Proposal,
    *,
    before: str,
    after: str,
    editable: Iterable[str],
    cases: Sequence[EvalCase],
) -> list[str]:
    """Why `proposal` (turning `before` into `after`) must not be kept; empty if none."""
    reasons = path_problems(proposal, editable)
    path = proposal.path
    added = _added(before, after)
    if len(added) > MAX_EDIT_CHARS:
        reasons.append(f"it adds {len(added):,} characters: not a small, targeted edit")
    lowered_before, lowered_added = before.lower(), added.lower()
    for case in cases:
        for text in _expected(case):
            if text.lower() in lowered_added and text.lower() not in lowered_before:
                reasons.append(f"it writes {text!r}, what eval {case.name} checks for, into {path}")
        quoted = _quote(case.request, added, before)
        if quoted:
            reasons.append(f"it quotes eval {case.name}'s request: {quoted!r}")
        for name in _names(case.name):
            if name in lowered_added and name not in lowered_before:
                reasons.append(f"it names eval {case.name}")
    if "evals/" in lowered_added and "evals/" not in lowered_before:
        reasons.append("it refers to the evals folder")
    return list(dict.fromkeys(reasons))


def path_problems(proposal: Proposal, editable: Iterable[str]) -> list[str]:
    """Why the file `proposal` changes is not the harness's to change (checked before the
    file is even read): only the policy file, skills and operators are."""
    path = proposal.path
    reasons = []
    if path.startswith(f"{EVALS_FOLDER}/") or path == EVALS_FOLDER:
        reasons.append("it edits an eval: checks are not the harness's to change")
    elif path not in set(editable):
        reasons.append(f"{path} is not a skill, an operator or agents.md")
    if proposal.setting and (
        not is_policy(path) or not proposal.setting.startswith(("harness.", "routing."))
    ):
        reasons.append(f"{proposal.setting} is not a harness or routing setting")
    return reasons


def _names(name: str) -> list[str]:
    """How an edit could name a case: its full name, or its own name when distinctive."""
    own = name.rpartition("/")[2].lower()
    return [name.lower()] + ([own] if len(own) >= 8 and own != name.lower() else [])


def _expected(case: EvalCase) -> list[str]:
    return [t for check in case.checks for t in check.expected_texts()]


def _added(before: str, after: str) -> str:
    """The text `after` has that `before` does not: the middle between their common
    start and common end."""
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    return after[start : len(after) - end]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _quote(request: str, added: str, before: str) -> str:
    """A run of QUOTE_WORDS words of `request` that `added` has and `before` had not."""
    words = _words(request)
    added_text = " ".join(_words(added))
    before_text = " ".join(_words(before))
    for n in range(len(words) - QUOTE_WORDS + 1):
        run = " ".join(words[n : n + QUOTE_WORDS])
        if run in added_text and run not in before_text:
            return run
    return ""
