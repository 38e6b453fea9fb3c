"""The one table of secret shapes, shared by detection and redaction.

`cairn.core.routing.sensitivity.scan` turns each match into a finding (kind, span, masked hint)
that keeps a step on a local model; `cairn.infra.redaction.Redactor` replaces the same
span with `[redacted:key-like]` in logs, traces and errors. Because both read
`find_secrets`, whatever one of them treats as a secret the other does too.

Each pattern's named group `secret` is the secret itself: the words around it
(`Bearer `, `api_key=`, `"password": "`) stay outside, so redacted text stays readable.
A pattern is never run over the whole text: it is tried only where one of its lower-case
`words` occurs (found with `str.find`, which is fast), or up to `lead` characters before
that, and it is matched from there on the whole text, so a long key or a PEM block is
never cut short. On a 16,000-character context that holds no secret, the whole table
costs about twenty `str.find` passes and a few regex attempts: a fraction of a millisecond.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecretPattern:
    name: str
    kind: str  # the finding kind: api-key, token, password, private-key, secret
    regex: re.Pattern[str]  # with a named group "secret"
    words: tuple[str, ...]  # lower-case ASCII; the regex is tried only where one occurs
    lead: int = 0  # and this many characters before it, for a match that starts earlier
    valid: Callable[[str], bool] | None = None  # a further check of the secret group


@dataclass(frozen=True, slots=True)
class SecretMatch:
    pattern: SecretPattern
    start: int  # the span of the secret group
    end: int


# --- checks on the value -----------------------------------------------------------------

# A piece of a value that reads as a word or a number: "token", "Bucket", "API", "2027", "v2".
_WORDLIKE = re.compile(r"[A-Za-z][a-z]*+(?:[A-Z][a-z]++)*+|[A-Z]++|\d++|[A-Za-z]{1,12}\d{1,4}")
_PIECES = re.compile(r"[-_./+~=]+")
_PLACEHOLDER = re.compile(r"\[redacted:|\$\{|\{\{|%\(|<.*>$|[*x•.]+$", re.IGNORECASE)
MIN_ENTROPY = 3.0  # bits per character; random base64 of 16+ characters has about 3.5-4


def _entropy(value: str) -> float:
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


def _pieces(value: str) -> list[str]:
    return [piece for piece in _PIECES.split(value) if piece]


def is_wordy(value: str) -> bool:
    """Whether `value` is words or numbers joined by separators (prose, names, versions)."""
    return all(_WORDLIKE.fullmatch(piece) for piece in _pieces(value))


def is_placeholder(value: str) -> bool:
    """`${VAR}`, `{{ var }}`, `<your key>`, `********`, an already redacted value."""
    return _PLACEHOLDER.match(value) is not None


def looks_random(value: str) -> bool:
    """A high-entropy value: not words, at least two of lower/upper/digit, varied characters.

    "token-bucket-rate-limiter-design" and "MyApplicationSecret" are words; a hex digest,
    a UUID or a base64 string is random.
    """
    if len(value) < 16 or is_wordy(value) or is_placeholder(value):
        return False
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
    )
    return classes >= 2 and _entropy(value) >= MIN_ENTROPY


def _not_prose(value: str) -> bool:
    """Not hyphenated words ("your-api-key-here") nor a placeholder; one long run is kept."""
    return not (len(_pieces(value)) > 1 and is_wordy(value)) and not is_placeholder(value)


def _password_value(value: str) -> bool:
    return not is_placeholder(value) and value.lower() not in _NOT_PASSWORDS


# "the password is required", "password: none": error messages and schemas, not secrets.
_NOT_PASSWORDS = frozenset(
    [
        "required",
        "incorrect",
        "invalid",
        "wrong",
        "missing",
        "none",
        "null",
        "empty",
        "expired",
        "changed",
        "unset",
        "redacted",
        "hidden",
        "optional",
        "string",
    ]
)


# --- the table ---------------------------------------------------------------------------

_START = r"(?<![A-Za-z0-9_-])"  # a key starts a word: "task-" does not hold an "sk-" key
_END = r"(?![A-Za-z0-9])"


def _value(least: int) -> str:
    """A token-like value of `least`+ characters that does not end with a full stop."""
    return rf"(?P<secret>[A-Za-z0-9+/=_.~-]{{{least - 1},}}[A-Za-z0-9+/=_~-])"


# Between a key word and its value: `: `, `=`, `": "`, `' => '`.
_ASSIGN = r"[\"']?\s*(?:[:=]|=>)\s*[\"']?"


def _key(name: str, body: str, *words: str, lead: int = 0) -> SecretPattern:
    """A provider key recognised by its prefix: the whole match is the secret."""
    regex = re.compile(rf"{_START}(?P<secret>{body})")
    return SecretPattern(name, "api-key", regex, words, lead)


SECRET_PATTERNS: tuple[SecretPattern, ...] = (
    # The whole block, BEGIN to END (up to 16 KiB: a 4096-bit RSA key is 3.2 KiB), in a
    # file or JSON-escaped; a block cut short ends with its last body line.
    SecretPattern(
        "pem-private-key",
        "private-key",
        re.compile(
            r"(?P<secret>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            # whole body lines: base64, or a header such as "Proc-Type: 4,ENCRYPTED" (after
            # the headers, one blank line)
            r"|(?:(?:\\n|\r?\n)(?:[ \t]*(?:\\n|\r?\n))?[ \t]*"
            r"(?:[A-Za-z-]++: [A-Za-z0-9,-]++|[A-Za-z0-9+/=]++)(?=[\\\r\n\"']|\Z))*))"
        ),
        ("-----begin",),
    ),
    SecretPattern(
        "jwt",
        "token",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
            r"\.[A-Za-z0-9_-]{8,})"
        ),
        ("eyj",),
    ),
    # OpenAI, Anthropic (sk-ant-…), DeepSeek, OpenRouter (sk-or-…): a digit is required
    # so that prose such as "sk-learn-compatible-estimators" is left alone.
    _key("openai-style", r"sk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}", "sk-"),
    _key("aws-access-key-id", rf"(?:AKIA|ASIA)[0-9A-Z]{{16}}{_END}", "akia", "asia"),
    _key(
        "github",
        r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}",
        *("gh", "github_pat_"),  # "gh" for the five gh?_ prefixes; in prose it fails at once
    ),
    _key("google", r"AIza[0-9A-Za-z_-]{35}", "aiza"),
    _key("slack", r"xox[abposr]-[A-Za-z0-9-]{10,}", "xox"),
    _key("groq", r"gsk_[A-Za-z0-9]{20,}", "k_", lead=2),
    _key("xai", r"xai-[A-Za-z0-9]{20,}", "xai-"),
    _key("huggingface", r"hf_[A-Za-z0-9]{30,}", "hf_"),
    _key("stripe", r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,}", "k_", lead=1),
    SecretPattern(
        "aws-secret-access-key",
        "api-key",
        re.compile(
            r"(?i:(?:aws_?)?secret_?access_?key|aws[ _-]?secret(?:[ _-]?(?:access[ _-]?)?key)?)"
            r"[\"']?(?:\s*(?:[:=]|=>|\bis\b)\s*|\s+)[\"']?"
            r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        ("secret",),
        lead=4,  # "aws_secret…"
        valid=looks_random,
    ),
    SecretPattern(
        "bearer",
        "token",
        re.compile(r"(?i:\bbearer\s+)" + _value(16)),
        ("bearer",),
        valid=_not_prose,
    ),
    SecretPattern(
        "basic-auth",
        "token",
        re.compile(
            r"(?i:authorization" + _ASSIGN + r"basic\s+)(?P<secret>[A-Za-z0-9+/]{8,}={0,2})"
        ),
        ("auth",),
    ),
    # "password: x", "DB_PASSWORD=x", "the wifi password is x", "\"passwd\": \"x\"".
    SecretPattern(
        "password",
        "password",
        re.compile(
            r"(?i)(?<![A-Za-z])(?:password|passwd|pwd|passcode|passwort|mot de passe)"
            r"(?![A-Za-z])[\"']?\s*(?:is|[:=])\s*[\"']?"
            r"(?P<secret>[^\s,;'\"]{3,}[^\s,;'\".])"
        ),
        ("pass", "pwd"),  # every password word above holds one of these
        lead=7,  # "mot de passe"
        valid=_password_value,
    ),
    # "api_key=…", "OPENAI_API_KEY=…", "x-api-key: …", "\"apiKey\": \"…\"".
    SecretPattern(
        "api-key-assignment",
        "api-key",
        re.compile(r"(?i:api[-_ ]?key)" + _ASSIGN + _value(16)),
        ("api",),
        valid=_not_prose,
    ),
    # A random-looking value assigned to a name with a key word in it: "client_secret: …",
    # "GITHUB_TOKEN=…", "X-Auth-Token: …", "\"SecretAccessKey\": \"…\"", "?access_token=…".
    SecretPattern(
        "generic-secret",
        "secret",
        re.compile(
            r"(?i:secret|token|access[-_ ]?key|auth|credential|passphrase)"
            # the rest of the name, and one more word: "Secret Key", "token_url"
            r"[A-Za-z0-9_.-]{0,32}+(?: [A-Za-z]{1,16}+)?" + _ASSIGN + _value(16)
        ),
        ("secret", "token", "access", "auth", "credential", "pass"),
        valid=looks_random,
    ),
)

SECRET_KINDS = frozenset(pattern.kind for pattern in SECRET_PATTERNS)


# --- finding them ------------------------------------------------------------------------


class _Words:
    """Where each word occurs in one text, found once however many patterns ask."""

    def __init__(self, text: str) -> None:
        # Every word is ASCII: lower-casing only ASCII is several times faster than
        # `str.lower` on text with a "—" or an "é" in it, and keeps every position ("?"
        # stands in for each other character; "İ".lower() would be two).
        self.lowered = text.encode("ascii", "replace").lower().decode("ascii")
        self.seen: dict[str, list[int]] = {}

    def find(self, word: str) -> list[int]:
        found = self.seen.get(word)
        if found is None:
            found = self.seen[word] = []
            at = self.lowered.find(word)
            while at != -1:
                found.append(at)
                at = self.lowered.find(word, at + 1)
        return found


def _starts(pattern: SecretPattern, words: _Words) -> Iterator[int]:
    """Where `pattern` may start: every occurrence of a word and `lead` characters before it."""
    occurrences = [at for word in pattern.words for at in words.find(word)]
    if len(pattern.words) > 1:
        occurrences.sort()
    tried = -1  # windows overlap when words are close: try each position once
    for at in occurrences:
        yield from range(max(at - pattern.lead, tried + 1), at + 1)
        tried = at


def _matches(pattern: SecretPattern, text: str, words: _Words) -> Iterator[tuple[int, int]]:
    regex, valid = pattern.regex, pattern.valid
    end = -1
    for pos in _starts(pattern, words):
        if pos < end:
            continue  # inside the previous match
        found = regex.match(text, pos)  # on the whole text: a long key is never cut
        if found is None or (valid is not None and not valid(found.group("secret"))):
            continue
        end = found.end()
        yield found.span("secret")


def find_secrets(text: str, limit: int | None = None) -> list[SecretMatch]:
    """Every secret in `text`, in order, none overlapping another (earlier patterns win)."""
    words = _Words(text)
    taken: list[SecretMatch] = []
    for pattern in SECRET_PATTERNS:
        for start, end in _matches(pattern, text, words):
            if any(start < m.end and m.start < end for m in taken):
                continue  # already explained by an earlier, more specific pattern
            taken.append(SecretMatch(pattern, start, end))
            if limit is not None and len(taken) >= limit:
                return sorted(taken, key=lambda m: m.start)
    return sorted(taken, key=lambda m: m.start)
