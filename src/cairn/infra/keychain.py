"""API keys for cloud models: kept in the OS keychain, resolved when a call needs them.

Why the keychain: a key in a dotfile is readable by every process of the user and ends up
in backups and sync folders. `keyring` stores it in the platform's keychain (Secret
Service / KWallet on Linux, the macOS Keychain, Windows Credential Manager) under the
service name "cairn" with the provider as user name.

Why the environment as a fallback: headless Linux machines (servers, containers, CI) often
have no keychain at all; there `keyring` picks its `fail` backend and every call raises.
A key in `CAIRN_KEY_<PROVIDER>` or `<PROVIDER>_API_KEY` is then used instead, and the
error for a missing keychain names both fixes. The keychain always wins when it has a key.

Keys are resolved at call time (`KeyStore.get`), never cached, and every resolved or
stored key is registered with the redactor so that logs and traces cannot show it.

`keyring` costs ~60-140 ms to import and is only needed when a key is touched, so it is
imported inside the methods: `cairn --version` and workspace commands never pay for it.
"""

from __future__ import annotations

import builtins
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cairn.core.errors import CairnError
from cairn.infra.redaction import REDACTOR, Redactor

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "cairn"
# The index of provider names (never values) is an entry of its own, because keyring
# cannot enumerate entries. ":" is not allowed in provider names, so it cannot collide.
INDEX_ENTRY = ":index"
MAX_KEY_LENGTH = 4096

KeySource = Literal["keychain", "environment"]

_PROVIDER = re.compile(r"[a-z0-9._-]{1,64}")
# Prefixes providers publish (they say which kind of key it is, nothing more): shown.
_PUBLIC_PREFIXES = ("sk-", "gsk_", "xai-", "pplx-", "hf_", "AIza")

# Providers whose variables `cairn keys list` looks for even when no key is stored, with
# the extra variable names litellm also reads for them (after `<PROVIDER>_API_KEY`).
KNOWN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "anthropic": (),
    "cerebras": (),
    "cohere": ("CO_API_KEY",),
    "deepinfra": (),
    "deepseek": (),
    "fireworks_ai": ("FIREWORKS_API_KEY", "FIREWORKSAI_API_KEY"),
    "gemini": (),
    "groq": (),
    "huggingface": (),
    "mistral": (),
    "openai": (),
    "openrouter": (),
    "perplexity": ("PERPLEXITYAI_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "xai": (),
}
CAIRN_ENV_PREFIX = "CAIRN_KEY_"


class KeychainError(CairnError):
    """A problem with an API key or with the keychain that holds it."""


class InvalidProviderError(KeychainError):
    """The provider name is not one Cairn accepts (lowercase letters, digits, - _ .)."""


class InvalidKeyError(KeychainError):
    """The key given is empty or malformed; nothing was stored. Never quotes the key."""


class KeychainUnavailableError(KeychainError):
    """No usable OS keychain; the message names the fixes and the environment fallback."""


class MissingKeyError(KeychainError):
    """No key for the provider, neither in the keychain nor in the environment."""


@dataclass(frozen=True)
class ResolvedKey:
    """A key ready for a call. `repr()` and `str()` never show the value."""

    provider: str
    value: str = field(repr=False)
    source: KeySource
    env_var: str | None = None  # the variable it came from, when source == "environment"


@dataclass(frozen=True)
class KeyInfo:
    """What `cairn keys list` shows about a key: where it is and a masked hint."""

    provider: str
    source: KeySource
    hint: str
    env_var: str | None = None


def validate_provider(provider: str) -> str:
    """Return `provider` if valid. The message quotes it only when it cannot be a key."""
    if _PROVIDER.fullmatch(provider):
        return provider
    rule = "provider names are 1-64 lowercase letters, digits, '-', '_' or '.'"
    if len(provider) <= 20 and _PROVIDER.fullmatch(provider.lower()):
        raise InvalidProviderError(f"{rule}: did you mean {provider.lower()!r}?")
    if len(provider) > 20:
        # Long and mixed-case: quite possibly a key typed where the provider goes.
        raise InvalidProviderError(
            f"{rule}; the name given is not quoted here in case it is a key. Keys are never "
            "given on the command line: run `cairn keys set PROVIDER` and paste the key at "
            "the prompt. If that was a key, treat it as exposed (shell history)."
        )
    raise InvalidProviderError(f"{rule} (for example openai, anthropic, together_ai)")


def validate_key(value: str) -> str:
    """Return `value` if it can be an API key. Messages describe the problem, not the key."""
    if not value:
        raise InvalidKeyError("the key is empty; nothing was stored")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidKeyError(
            "the key contains a line break or control character; give the key alone, on one "
            "line. Nothing was stored."
        )
    if value != value.strip():
        raise InvalidKeyError(
            "the key starts or ends with spaces; give the key alone. Nothing was stored."
        )
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"the key is longer than {MAX_KEY_LENGTH} characters, which no API key is; "
            "nothing was stored"
        )
    return value


def env_var_names(provider: str) -> tuple[str, ...]:
    """The variables checked for `provider`, in order: Cairn's own name first.

    `together-ai` -> CAIRN_KEY_TOGETHER_AI, TOGETHER_AI_API_KEY (+ litellm's aliases).
    """
    upper = re.sub(r"[^A-Z0-9]", "_", validate_provider(provider).upper())
    return (
        f"{CAIRN_ENV_PREFIX}{upper}",
        f"{upper}_API_KEY",
        *KNOWN_PROVIDERS.get(provider, ()),
    )


def mask(value: str) -> str:
    """A hint to recognise a key by: `sk-…7f3a`. At most the last 4 characters are shown,
    plus a provider's published prefix; keys under 16 characters show nothing at all."""
    if len(value) < 16:
        return "…"
    prefix = next((p for p in _PUBLIC_PREFIXES if value.startswith(p)), "")
    return f"{prefix}…{value[-4:]}"


def backend_name(backend: KeyringBackend) -> str:
    """The backend's import path, as PYTHON_KEYRING_BACKEND would name it."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def unavailable_message(provider: str | None, backend: str, reason: str) -> str:
    """The message for a missing keychain: what happened, the two fixes, the fallback."""
    if provider and _PROVIDER.fullmatch(provider):
        cairn_var, api_var = env_var_names(provider)[:2]
        fallback = f"{api_var} (or {cairn_var})"
    else:
        fallback = "<PROVIDER>_API_KEY (or CAIRN_KEY_<PROVIDER>), e.g. OPENAI_API_KEY"
    return (
        f"no usable OS keychain for API keys: {reason} (keyring backend: {backend}). "
        "Fix: install and unlock a Secret Service keychain such as gnome-keyring or KWallet "
        "(it needs a desktop or D-Bus session), or select a keyring backend with the "
        "PYTHON_KEYRING_BACKEND environment variable (`python -m keyring --list-backends` "
        f"shows them). Without a keychain, put the key in the environment instead: "
        f"{fallback}. See docs/keys.md."
    )


class KeyStore:
    """API keys by provider: the OS keychain first, then the environment.

    `backend` is for tests and special setups; by default the backend keyring selects
    (PYTHON_KEYRING_BACKEND, its config file, or the best one available) is looked up on
    every call. `environ` defaults to `os.environ`, read at call time.
    """

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        redactor: Redactor | None = REDACTOR,
        service: str = SERVICE,
    ) -> None:
        self._fixed_backend = backend
        self._environ = environ
        self._redactor = redactor
        self.service = service

    # --- the public operations ----------------------------------------------------------

    def get(self, provider: str) -> ResolvedKey | None:
        """The key for `provider` and where it came from, or None if there is none.

        With no usable keychain the environment is still consulted; only when it has no
        key either is `KeychainUnavailableError` raised, since "no key" would be a guess.
        """
        provider = validate_provider(provider)
        unavailable: KeychainUnavailableError | None = None
        try:
            backend = self.backend(provider)
            with self._keychain_errors(provider, backend):
                value = backend.get_password(self.service, provider)
            if value:
                return self._resolved(ResolvedKey(provider, value, "keychain"))
        except KeychainUnavailableError as exc:
            unavailable = exc
        from_env = self._from_environment(provider)
        if from_env is not None:
            return self._resolved(from_env)
        if unavailable is not None:
            raise unavailable
        return None

    def require(self, provider: str) -> ResolvedKey:
        """Like `get`, but a missing key is an error that says how to add one."""
        resolved = self.get(provider)
        if resolved is None:
            cairn_var, api_var = env_var_names(provider)[:2]
            raise MissingKeyError(
                f"no API key for {provider}: store one with `cairn keys set {provider}`, "
                f"or set {api_var} (or {cairn_var}) in the environment"
            )
        return resolved

    def set(self, provider: str, value: str) -> KeyInfo:
        """Store `value` in the keychain for `provider` (replacing any earlier key)."""
        provider = validate_provider(provider)
        value = validate_key(value)
        if self._redactor is not None:  # before anything can fail and log
            self._redactor.register(provider, value)
        backend = self.backend(provider)
        with self._keychain_errors(provider, backend):
            backend.set_password(self.service, provider, value)
            kept = backend.get_password(self.service, provider)
            if kept != value:
                raise KeychainUnavailableError(
                    unavailable_message(
                        provider, backend_name(backend), "the backend did not keep the key"
                    )
                )
            names = self._read_index(backend)
            if provider not in names:
                self._write_index(backend, [*names, provider])
        return KeyInfo(provider, "keychain", mask(value))

    def delete(self, provider: str) -> bool:
        """Remove the keychain's key for `provider`; False if it had none.

        Keys in the environment are not Cairn's to remove and stay in effect.
        """
        provider = validate_provider(provider)
        backend = self.backend(provider)
        with self._keychain_errors(provider, backend):
            existed = backend.get_password(self.service, provider) is not None
            if existed:
                backend.delete_password(self.service, provider)
            names = self._read_index(backend)
            if provider in names:
                self._write_index(backend, [n for n in names if n != provider])
        if existed and self._redactor is not None:
            self._redactor.forget(provider)
        return existed

    def environment_var(self, provider: str) -> str | None:
        """The environment variable that holds a key for `provider`, if one does."""
        found = self._from_environment(validate_provider(provider))
        return found.env_var if found else None

    def list_environment(self, also: Iterable[str] = ()) -> builtins.list[KeyInfo]:
        """Keys found only in the environment: known providers, `CAIRN_KEY_*`, and `also`."""
        environ = self._env()
        candidates = set(KNOWN_PROVIDERS) | set(also)
        for name in environ:
            if name.startswith(CAIRN_ENV_PREFIX):
                candidate = name.removeprefix(CAIRN_ENV_PREFIX).lower()
                if _PROVIDER.fullmatch(candidate):
                    candidates.add(candidate)
        infos = []
        for provider in sorted(candidates):
            found = self._from_environment(provider)
            if found is not None:
                infos.append(KeyInfo(provider, "environment", mask(found.value), found.env_var))
        return infos

    def list(self, *, include_environment: bool = True) -> builtins.list[KeyInfo]:
        """Every key Cairn can use, one per provider, as the resolution order picks it.

        Raises `KeychainUnavailableError` without a keychain; `list_environment()` still
        works then.
        """
        backend = self.backend()
        infos: builtins.list[KeyInfo] = []
        with self._keychain_errors(None, backend):
            names = self._read_index(backend)
            for provider in names:
                value = backend.get_password(self.service, provider)
                if value:
                    infos.append(KeyInfo(provider, "keychain", mask(value)))
        if include_environment:
            in_keychain = {info.provider for info in infos}
            infos += [
                info
                for info in self.list_environment(also=names)
                if info.provider not in in_keychain
            ]
        return sorted(infos, key=lambda info: info.provider)

    # --- the keychain -------------------------------------------------------------------

    def backend(self, provider: str | None = None) -> KeyringBackend:
        """The keyring backend in effect now; a backend that cannot load is 'unavailable'.

        `provider` only makes the error name that provider's environment variable.
        """
        if self._fixed_backend is not None:
            return self._fixed_backend
        import keyring

        try:
            return keyring.get_keyring()
        except Exception as exc:  # a PYTHON_KEYRING_BACKEND that does not import, etc.
            chosen = os.environ.get("PYTHON_KEYRING_BACKEND", "auto-detected")
            reason = f"the keyring backend could not be loaded: {type(exc).__name__}: {exc}"
            raise KeychainUnavailableError(unavailable_message(provider, chosen, reason)) from exc

    @contextmanager
    def _keychain_errors(self, provider: str | None, backend: KeyringBackend) -> Iterator[None]:
        """Turn keyring's errors into `KeychainUnavailableError` with the fixes."""
        from keyring.errors import KeyringError, KeyringLocked, NoKeyringError

        try:
            yield
        except NoKeyringError as exc:
            reason = "keyring found no keychain on this machine"
            raise KeychainUnavailableError(
                unavailable_message(provider, backend_name(backend), reason)
            ) from exc
        except KeyringLocked as exc:
            reason = "the keychain is locked and was not unlocked"
            raise KeychainUnavailableError(
                unavailable_message(provider, backend_name(backend), reason)
            ) from exc
        except (KeyringError, RuntimeError) as exc:
            detail = str(exc)
            if self._redactor is not None:
                detail = self._redactor.redact(detail)
            reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            raise KeychainUnavailableError(
                unavailable_message(provider, backend_name(backend), reason)
            ) from exc

    def _read_index(self, backend: KeyringBackend) -> builtins.list[str]:
        raw = backend.get_password(self.service, INDEX_ENTRY)
        try:
            names = json.loads(raw) if raw else []
        except ValueError:
            return []  # a damaged index only hides names from `list`; `set` rebuilds it
        if not isinstance(names, builtins.list):
            return []
        return [n for n in names if isinstance(n, str) and _PROVIDER.fullmatch(n)]

    def _write_index(self, backend: KeyringBackend, names: builtins.list[str]) -> None:
        if names:
            backend.set_password(self.service, INDEX_ENTRY, json.dumps(sorted(set(names))))
        elif backend.get_password(self.service, INDEX_ENTRY) is not None:
            backend.delete_password(self.service, INDEX_ENTRY)

    # --- the environment ----------------------------------------------------------------

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _from_environment(self, provider: str) -> ResolvedKey | None:
        environ = self._env()
        for name in env_var_names(provider):
            value = environ.get(name, "").strip()
            if value:
                return ResolvedKey(provider, value, "environment", name)
        return None

    def _resolved(self, resolved: ResolvedKey) -> ResolvedKey:
        if self._redactor is not None:
            self._redactor.register(resolved.provider, resolved.value)
        return resolved
