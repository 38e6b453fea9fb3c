"""Permission rules and pending approvals: who may let a tool call through.

`check_permission` reads the `permissions:` rules of agents.md top to bottom, first match
wins, and anything no rule matches is `ask`: a workspace that forgot a rule asks rather
than acts. `tighten` lets a model's own risk judgement make a call *more* careful, never
less, because a prompt-injected model would otherwise argue itself past the rules.
`ApprovalRequest` is one pending decision that a loop thread waits on while another
thread (the desktop's UI, a CLI prompt) answers it; a queued one carries a `Replay`, what
performing the call later needs to re-check it (see `cairn.core.tasks.replay`).
"""

from __future__ import annotations

import functools
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from cairn.core.workspace.schema import PermissionRule

Decision = Literal["allow", "ask", "deny"]
PREVIEW_LINES = 40


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one path segment; a `**` segment spans any number of them."""
    parts = pattern.split("/")
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            # Trailing `a/**`: everything inside `a` (one segment or more), not `a` itself.
            # Leading or inner `**/`: zero segments or more.
            regex += "[^/]+(?:/[^/]+)*" if last else "(?:[^/]+/)*"
            continue
        regex += "".join(
            "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
            for char in part.replace("**", "*")
        )
        if not last:
            regex += "/"
    return re.compile(regex)


def glob_match(pattern: str, path: str) -> bool:
    """Whether the workspace-relative POSIX `path` matches `pattern`. Case-sensitive."""
    return _compile(pattern).fullmatch(path) is not None


@dataclass(frozen=True, slots=True)
class PermissionCheck:
    """The decision for one call and why: `rule` is the 0-based index into the rules,
    while `reason` counts from 1, as a person reading agents.md does."""

    decision: Decision
    rule: int | None
    reason: str


def _describe(rule: PermissionRule) -> str:
    action = f" ({rule.action})" if rule.action else ""
    where = f" on {rule.path}" if rule.path else ""
    return f"{rule.tool}{action}{where} → {rule.decision}"


def check_permission(
    rules: Sequence[PermissionRule],
    tool: str,
    *,
    action: str | None = None,
    path: str | None = None,
) -> PermissionCheck:
    """The first rule matching the call decides; no match means `ask`.

    A rule matches when its tool is the call's tool, `*`, or `server.*` for a
    connector's tools, its action (if set) is the
    call's action, and its path glob (if set) matches the call's path. A rule with a path
    never matches a call without one: a path rule cannot widen to path-less calls.
    """
    for index, rule in enumerate(rules):
        if rule.tool not in (tool, "*") and not _server_rule(rule.tool, tool):
            continue
        if rule.action is not None and rule.action != action:
            continue
        if rule.path is not None and (path is None or not glob_match(rule.path, path)):
            continue
        return PermissionCheck(rule.decision, index, f"rule {index + 1}: {_describe(rule)}")
    return PermissionCheck("ask", None, "no rule matched: ask by default")


def _server_rule(pattern: str, tool: str) -> bool:
    """`mail.*` names every tool of the connector `mail`."""
    return pattern.endswith(".*") and "." in tool and tool.split(".", 1)[0] == pattern[:-2]


def tighten(check: PermissionCheck, risk: str | None) -> PermissionCheck:
    """Turn `allow` into `ask` when the model judged the call risky; never loosen.

    Anything but "low" (or no judgement at all) counts as high: a garbled answer from
    the judging model must not be read as "safe".
    """
    if check.decision != "allow" or risk is None or risk == "low":
        return check
    return replace(check, decision="ask", reason=f"{check.reason}; judged {risk} risk → ask")


def preview_text(tool: str, arguments: Mapping[str, Any], lines: int = PREVIEW_LINES) -> str:
    """What the user sees before deciding: the call, and the start of any content."""
    head = ", ".join(
        f"{key}={value!r}"
        for key, value in arguments.items()
        if not (isinstance(value, str) and "\n" in value) and len(repr(value)) <= 200
    )
    body = next(
        (v for k, v in arguments.items() if k in ("content", "text") and isinstance(v, str)), None
    )
    text = f"{tool}({head})"
    if body is not None:
        shown = body.splitlines()
        text += "\n" + "\n".join(shown[:lines])
        if len(shown) > lines:
            text += f"\n[… {len(shown) - lines} more lines]"
    return text


@dataclass(frozen=True, slots=True)
class Replay:
    """What performing a queued call later needs besides its arguments.

    `base_hash` is, for a write, the content hash of the target file as the task saw it
    (what it read or last wrote, else what was on disk), or None when the file did not
    exist: the write is refused later if the file is not exactly that any more. For a read
    it is None and means nothing. `space` and `sensitive` (the task's reasons its content
    is sensitive) let the later write carry the `sensitive: true` mark the task's would."""

    base_hash: str | None
    space: str | None = None
    sensitive: tuple[str, ...] = ()


class ApprovalRequest:
    """One pending decision, shared between the thread that waits and the one that answers.

    Decided once: the first `approve` or `deny` wins and later calls change nothing, so a
    double click, or a timeout racing a late answer, cannot flip a decision.
    """

    def __init__(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        path: str | None = None,
        reason: str = "",
        preview: str | None = None,
        id: str | None = None,
        replay: Replay | None = None,
    ) -> None:
        self.id = id or uuid.uuid4().hex[:12]
        self.tool = tool
        self.arguments: Mapping[str, Any] = dict(arguments)
        self.path = path
        self.reason = reason
        self.preview = preview if preview is not None else preview_text(tool, arguments)
        self.replay = replay  # None: nothing recorded to perform it later (a plan, a budget)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._approved = False
        self._by: str | None = None
        self._why = ""

    def _decide(self, approved: bool, by: str, why: str) -> bool:
        with self._lock:
            if self._done.is_set():
                return False
            self._approved, self._by, self._why = approved, by, why
            self._done.set()
            return True

    def approve(self, by: str = "user") -> bool:
        """Let the call through; False when it was already decided."""
        return self._decide(True, by, "")

    def deny(self, by: str = "user", why: str = "") -> bool:
        """Refuse the call; False when it was already decided."""
        return self._decide(False, by, why)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until decided (True) or until `timeout` seconds passed (False)."""
        return self._done.wait(timeout)

    @property
    def decided(self) -> bool:
        return self._done.is_set()

    @property
    def approved(self) -> bool:
        """True only once approved: an undecided request is not approved."""
        with self._lock:
            return self._approved

    @property
    def decided_by(self) -> str | None:
        with self._lock:
            return self._by

    @property
    def why(self) -> str:
        with self._lock:
            return self._why

    def __repr__(self) -> str:
        state = "pending" if not self.decided else "approved" if self.approved else "denied"
        return f"ApprovalRequest({self.id}, {self.tool}, {self.path!r}, {state})"
