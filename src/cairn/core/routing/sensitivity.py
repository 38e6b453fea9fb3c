"""An offline detector for personal data and secrets in text.

It decides whether a step must stay on a local model, so it errs on the side of
flagging, but every numeric finding that has a checksum (card numbers, IBANs) must pass
it: a random 16-digit order number is not a card. Findings never carry the matched
value itself, only its kind, position and a masked hint, so the routing decision that
lists them can be shown and stored safely.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from cairn.core.routing.secrets import find_secrets

MAX_FINDINGS = 50  # enough to explain a decision; scanning stops counting after this


@dataclass(frozen=True, slots=True)
class Finding:
    # email, phone, iban, card, national-id; api-key, private-key, token, password, secret
    kind: str
    start: int
    end: int
    hint: str  # masked, e.g. "j…@e…com" or "…4242"

    def describe(self) -> str:
        return f"{self.kind} at {self.start} ({self.hint})"


def _mask(value: str, keep: int = 4) -> str:
    compact = re.sub(r"\s", "", value)
    return "…" + compact[-keep:] if len(compact) > keep * 2 else "…"


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    compact = re.sub(r"\s", "", text).upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


# A year first ("2026-03-14 09:30", "2026-0412-7781") is a date or a reference, not a phone;
# so is a compact date and time ("20261129-211847", a task id or a timestamp).
_DATE_LIKE = re.compile(r"(?:19|20)\d\d(?:[-./]\d|[01]\d[0-3]\d[-_T.])")


def _card_valid(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    if _DATE_LIKE.match(text.strip()):
        return False  # a date or a timestamp id ("20261129-211847"): no card starts 19/20
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits)


def _email_hint(text: str) -> str:
    user, _, domain = text.partition("@")
    return f"{user[:1]}…@{domain[:1]}…{domain.rsplit('.', 1)[-1]}"


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None = None
    hint: Callable[[str], str] = _mask


# Secrets: one table, shared with the redaction of logs (`cairn.core.routing.secrets`).
_SECRET_HINTS: dict[str, Callable[[str], str]] = {
    "private-key": lambda _: "PEM block",
    "password": lambda _: "…",
}

# Personal data.
_EMAIL = _Rule(
    "email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), hint=_email_hint
)
_IBAN = _Rule(
    "iban",
    re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
    valid=_iban_valid,
)
_CARD = _Rule("card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), valid=_card_valid)
_NATIONAL_ID = _Rule(
    "national-id",
    re.compile(
        r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"  # US social security number
        r"|\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"  # UK NI number
    ),
)
_PHONE = _Rule(
    "phone",
    re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?!\w)"
        r"|(?<![\w+])\+\d{9,14}(?!\w)"
    ),
    valid=lambda s: 9 <= len(re.sub(r"\D", "", s)) <= 15 and not _DATE_LIKE.match(s.strip()),
)
# Most specific first, each with the fewest digits its shape holds: a card has 13, a
# phone number 9 (see its check); IBANs and UK NI numbers mix letters in, so any count.
_NUMBER_RULES = ((_IBAN, 0), (_CARD, 13), (_NATIONAL_ID, 0), (_PHONE, 9))

# Trying each detailed pattern at every position of a long context is slow in Python's
# regex engine; one pass over runs of digits finds the few places worth a closer look.
_DIGITS = re.compile(r"\d\d+")  # a lone digit cannot start a number worth checking
_SEPARATORS = frozenset(" ().-+/")
_MIN_DIGITS = 6  # the shortest shape checked: a UK national insurance number
_WINDOW = 8  # characters before a number: IBAN country codes, NI letters, "+"
_WINDOW_AFTER = 16  # after it: IBANs can carry letters between digit groups


def _number_spans(text: str) -> list[tuple[int, int, int]]:
    """Spans of digit groups joined by short separators, holding enough digits to matter,
    with the number of digits each holds."""
    spans: list[tuple[int, int, int]] = []
    start = end = digits = 0
    for match in _DIGITS.finditer(text):
        first, last = match.span()
        gap = text[end:first]
        if digits and len(gap) <= 3 and _SEPARATORS.issuperset(gap):
            end, digits = last, digits + last - first
            continue
        if digits >= _MIN_DIGITS:
            spans.append((start, end, digits))
        start, end, digits = first, last, last - first
    if digits >= _MIN_DIGITS:
        spans.append((start, end, digits))
    return spans


def scan(text: str, limit: int = MAX_FINDINGS) -> tuple[Finding, ...]:
    """Every personal-data or secret shape in `text`, overlapping matches removed."""
    found = _Found(limit)
    for secret in find_secrets(text, limit):
        kind, value = secret.pattern.kind, text[secret.start : secret.end]
        found.add(Finding(kind, secret.start, secret.end, _SECRET_HINTS.get(kind, _mask)(value)))
    at = text.find("@")
    while at != -1 and not found.full:
        start = max(0, at - 64)
        found.add_all(_EMAIL, text[start : at + 256], start)
        at = text.find("@", at + 256)
    for first, last, digits in _number_spans(text):
        if found.full:
            break
        start = max(0, first - _WINDOW)
        window = text[start : last + _WINDOW_AFTER]
        for rule, fewest in _NUMBER_RULES:
            if digits >= fewest:  # a shorter number cannot have this shape
                found.add_all(rule, window, start)
    return found.result()


class _Found:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: dict[tuple[int, int], Finding] = {}

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add(self, finding: Finding) -> None:
        self.items[(finding.start, finding.end)] = finding

    def add_all(self, rule: _Rule, text: str, offset: int) -> None:
        for match in rule.pattern.finditer(text):
            if self.full:
                return
            start, end = match.span()
            start, end = start + offset, end + offset
            if (start, end) in self.items or any(start < e and s < end for s, e in self.items):
                continue  # already explained by an earlier, more specific rule
            value = match.group()
            if rule.valid is not None and not rule.valid(value):
                continue
            self.items[(start, end)] = Finding(rule.kind, start, end, rule.hint(value))

    def result(self) -> tuple[Finding, ...]:
        return tuple(sorted(self.items.values(), key=lambda f: f.start))


@functools.lru_cache(maxsize=1024)
def scan_block(text: str) -> tuple[Finding, ...]:
    """`scan`, remembered: the same instructions and files recur in every step of a task."""
    return scan(text)


def is_sensitive(text: str) -> bool:
    return bool(scan(text, limit=1))
