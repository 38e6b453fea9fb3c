"""Keep API keys out of logs, traces and error messages.

Two layers, applied in this order by `Redactor.redact`:

1. **Known secrets.** Every key Cairn resolves (`cairn.infra.keychain.KeyStore.get`) or
   stores is registered here with its provider, and every occurrence of it, or of a common
   encoding of it (URL-quoted, JSON-escaped, base64), becomes `[redacted:<provider>]`.
   `Bearer <key>` is covered because the key itself is replaced.
2. **Safety net.** Every secret that `cairn.core.routing.secrets` recognises (keys such as
   `sk-…`, `AKIA…`, `ghp_…`, `AIza…`; bearer tokens and JWTs; `api_key=…`, passwords and
   random values after key words; PEM private-key blocks) becomes `[redacted:key-like]`
   even when Cairn never saw it, e.g. a key a library read from the environment on its
   own. The words around it stay: `Bearer [redacted:key-like]`. It is the same table the
   sensitivity scan reads, so what is kept off cloud models is also kept out of logs.
   Patterns catch the common shapes, not every secret: layer 1 is the guarantee, layer 2
   the net.

`install_log_redaction()` makes every log record pass through a redactor, whichever
handler ends up writing it. `REDACTOR` is the process-wide instance that the key store
registers into and the log filter reads from: one process, one set of live secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cairn.core.routing.secrets import find_secrets

# Values shorter than this are not registered: replacing every "abc" in every log line
# would destroy the logs, and no cloud provider issues keys that short.
MIN_SECRET_LENGTH = 8

KEY_LIKE = "[redacted:key-like]"


def _derived_forms(value: str) -> set[str]:
    """The value and the encodings in which it commonly shows up in logs and payloads."""
    raw = value.encode("utf-8")
    forms = {
        value,
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update({text, text.rstrip("=")})
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


@dataclass(frozen=True)
class _Snapshot:
    """An immutable view of the registered secrets, swapped atomically on register."""

    pattern: re.Pattern[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)


class Redactor:
    """Holds the secret values of this process and removes them from text.

    Thread-safe: registration swaps an immutable snapshot, `redact` never takes a lock.
    """

    def __init__(self, *, key_patterns: bool = True) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}  # form -> provider
        self._snapshot = _Snapshot()
        self._key_patterns = key_patterns

    def register(self, provider: str, value: str) -> None:
        """Redact `value` (and its common encodings) as `[redacted:<provider>]` from now on."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            for form in _derived_forms(value):
                self._secrets.setdefault(form, provider)
            self._rebuild()

    def forget(self, provider: str) -> None:
        """Stop redacting the values registered for `provider` (after its key is deleted).

        Kept values would be harmless; forgetting keeps the set small in long sessions.
        """
        with self._lock:
            self._secrets = {f: p for f, p in self._secrets.items() if p != provider}
            self._rebuild()

    def _rebuild(self) -> None:
        # Longest first, so a value is never partly replaced by a shorter form inside it.
        forms = sorted(self._secrets, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
        self._snapshot = _Snapshot(pattern, dict(self._secrets))

    def redact(self, text: str) -> str:
        """`text` with every registered secret and every key-shaped string replaced."""
        if len(text) < MIN_SECRET_LENGTH:
            return text  # too short to hold any secret Cairn registers or recognises
        snapshot = self._snapshot
        if snapshot.pattern is not None:
            labels = snapshot.labels
            text = snapshot.pattern.sub(lambda m: f"[redacted:{labels[m.group(0)]}]", text)
        if self._key_patterns:
            text = _redact_key_like(text)
        return text

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with every string (keys included) redacted: for traces."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(item) for item in data]
        return data


def _redact_key_like(text: str) -> str:
    """`text` with the secret part of every match of the shared table replaced."""
    found = find_secrets(text)
    if not found:
        return text
    parts: list[str] = []
    last = 0
    for match in found:
        parts += (text[last : match.start], KEY_LIKE)
        last = match.end
    parts.append(text[last:])
    return "".join(parts)


REDACTOR = Redactor()
"""The process-wide redactor: `KeyStore` registers into it, the log filter reads from it."""


# --- logging -------------------------------------------------------------------------

# Loggers of the libraries that see keys: litellm (three names, none of them "litellm"),
# the HTTP clients under it, and the provider SDKs.
DEFAULT_LOGGERS = (
    "",
    "LiteLLM",
    "LiteLLM Router",
    "LiteLLM Proxy",
    "litellm",
    "httpx",
    "httpcore",
    "openai",
    "anthropic",
)

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}
_FORMATTER = logging.Formatter()


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Format the record's message now, redact it, and drop the raw args.

    Formatting first matters: a key passed as an argument (`log.info("key %s", key)`) is
    only visible in the formatted message. The traceback is rendered and redacted too,
    and `exc_info` dropped, because an exception message may quote a key.
    """
    try:
        message = record.getMessage()
    except Exception:  # a malformed call must not break logging, nor leak its args
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redactor.redact(message)
    record.args = ()
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    for name, value in list(vars(record).items()):  # `extra=` fields, for JSON formatters
        if name not in _STANDARD_ATTRS and isinstance(value, str):
            setattr(record, name, redactor.redact(value))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees and lets all of them through."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


@dataclass
class LogRedaction:
    """What `install_log_redaction` changed, so that tests (and shutdown) can undo it."""

    filter: RedactingFilter
    targets: list[logging.Logger | logging.Handler]
    factory: Callable[..., logging.LogRecord] | None
    previous_factory: Callable[..., logging.LogRecord] | None

    def uninstall(self) -> None:
        for target in self.targets:
            target.removeFilter(self.filter)
        if self.factory is not None and logging.getLogRecordFactory() is self.factory:
            assert self.previous_factory is not None
            logging.setLogRecordFactory(self.previous_factory)
        if _INSTALLED.get("current") is self:
            del _INSTALLED["current"]


_INSTALLED: dict[str, LogRedaction] = {}  # "current" -> the active installation


def install_log_redaction(
    redactor: Redactor = REDACTOR,
    logger_names: Iterable[str] = DEFAULT_LOGGERS,
    *,
    record_factory: bool = True,
) -> LogRedaction:
    """Redact every log record of this process, whichever handler writes it.

    The filter goes on the root logger, the litellm/httpx/SDK loggers and on every handler
    they have now. Logger filters alone are not enough: they do not run for records that
    propagate from child loggers (`httpx._client`, `LiteLLM.utils`), and handlers added
    later have no filter. So by default the log record factory is wrapped as well, which
    redacts every record of every logger when it is created. Idempotent per redactor.
    """
    current = _INSTALLED.get("current")
    if current is not None:
        if current.filter.redactor is redactor:
            return current
        current.uninstall()
    filt = RedactingFilter(redactor)
    targets: list[logging.Logger | logging.Handler] = []
    for name in logger_names:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    for target in targets:
        target.addFilter(filt)
    factory: Callable[..., logging.LogRecord] | None = None
    previous: Callable[..., logging.LogRecord] | None = None
    if record_factory:
        previous = wrapped = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = wrapped(*args, **kwargs)
            redact_record(record, redactor)
            return record

        factory = redacting_factory
        logging.setLogRecordFactory(factory)
    current = _INSTALLED["current"] = LogRedaction(filt, targets, factory, previous)
    return current


def uninstall_log_redaction() -> None:
    """Undo `install_log_redaction` (for tests that run commands in-process)."""
    current = _INSTALLED.get("current")
    if current is not None:
        current.uninstall()
