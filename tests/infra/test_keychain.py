"""API keys through the real keyring library, on the project's in-memory backend.

The user's real keychain is never touched: every test selects a backend explicitly through
PYTHON_KEYRING_BACKEND and makes keyring detect it afresh (the fixture restores keyring's
global backend afterwards).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.core
import pytest
from keyring.backends import fail

from cairn.infra.keychain import (
    INDEX_ENTRY,
    SERVICE,
    InvalidKeyError,
    InvalidProviderError,
    KeychainUnavailableError,
    KeyInfo,
    KeyStore,
    MissingKeyError,
    env_var_names,
    mask,
)
from cairn.infra.redaction import (
    KEY_LIKE,
    RedactingFilter,
    Redactor,
    install_log_redaction,
)
from cairn.testing.memory_keyring import SELECTOR, MemoryKeyring

KEY = "sk-proj-cairnTEST0123456789abcdef7f3a"
OTHER = "sk-ant-api03-cairnOTHER9876543210zz"


def use_backend(monkeypatch: pytest.MonkeyPatch, selector: str) -> None:
    """Select a keyring backend by name, as a user would, and make keyring re-detect."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", selector)
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)


@pytest.fixture(autouse=True)
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.startswith("CAIRN_KEY_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CAIRN_TEST_KEYRING_FILE", raising=False)
    use_backend(monkeypatch, SELECTOR)
    MemoryKeyring.clear()
    assert isinstance(keyring.get_keyring(), MemoryKeyring)  # never the real keychain
    yield
    MemoryKeyring.clear()


@pytest.fixture
def store() -> KeyStore:
    return KeyStore(redactor=Redactor())


# --- storing and resolving -----------------------------------------------------------


def test_set_then_get_comes_from_the_keychain(store: KeyStore) -> None:
    info = store.set("openai", KEY)
    assert info == KeyInfo("openai", "keychain", "sk-…7f3a")
    resolved = store.get("openai")
    assert resolved is not None
    assert (resolved.value, resolved.source, resolved.env_var) == (KEY, "keychain", None)
    assert KEY not in repr(resolved)
    assert KEY not in str(resolved)
    assert keyring.get_password(SERVICE, "openai") == KEY  # through the public keyring API


def test_environment_is_the_fallback_and_the_keychain_wins(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)
    resolved = store.get("openai")
    assert resolved is not None
    assert (resolved.value, resolved.source, resolved.env_var) == (
        OTHER,
        "environment",
        "OPENAI_API_KEY",
    )
    store.set("openai", KEY)
    resolved = store.get("openai")
    assert resolved is not None
    assert (resolved.value, resolved.source) == (KEY, "keychain")


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("together-ai", "TOGETHER_AI_API_KEY"),
        ("azure.openai", "AZURE_OPENAI_API_KEY"),
        ("perplexity", "PERPLEXITYAI_API_KEY"),  # an alias litellm reads as well
        ("my_local", "CAIRN_KEY_MY_LOCAL"),
    ],
)
def test_environment_variable_names(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    assert variable in env_var_names(provider)
    monkeypatch.setenv(variable, f"  {OTHER}\n")  # surrounding whitespace is not the key
    resolved = store.get(provider)
    assert resolved is not None
    assert (resolved.value, resolved.source, resolved.env_var) == (OTHER, "environment", variable)


def test_cairn_variable_comes_before_the_conventional_one(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)
    monkeypatch.setenv("CAIRN_KEY_OPENAI", KEY)
    resolved = store.get("openai")
    assert resolved is not None
    assert (resolved.value, resolved.env_var) == (KEY, "CAIRN_KEY_OPENAI")


def test_keys_are_resolved_at_call_time(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.get("openai") is None
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)
    first = store.get("openai")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    second = store.get("openai")
    assert first is not None
    assert second is not None
    assert (first.value, second.value) == (OTHER, KEY)


def test_missing_key_says_how_to_add_one(store: KeyStore) -> None:
    assert store.get("openai") is None
    with pytest.raises(MissingKeyError) as caught:
        store.require("openai")
    assert "cairn keys set openai" in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["OpenAI", "", "open ai", "a" * 65, INDEX_ENTRY, "sk-Proj-ABCDEFGHIJ0123456789klmnop"]
)
def test_invalid_provider_names(store: KeyStore, name: str) -> None:
    with pytest.raises(InvalidProviderError) as caught:
        store.set(name, KEY)
    if len(name) > 20:
        assert name not in str(caught.value)  # it may have been a key
    if name == "OpenAI":
        assert "did you mean 'openai'" in str(caught.value)


@pytest.mark.parametrize("value", ["", f"{KEY}\nsecond line", f" {KEY}", f"{KEY}\x00", "x" * 5000])
def test_invalid_keys_are_refused_without_quoting_them(store: KeyStore, value: str) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        store.set("openai", value)
    if value:
        assert value.strip() not in str(caught.value)
    assert store.get("openai") is None


# --- listing, deleting, masking ------------------------------------------------------


def test_list_and_delete(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.set("openai", KEY)
    store.set("anthropic", OTHER)
    monkeypatch.setenv("GROQ_API_KEY", "gsk_cairnTESTgroq0123456789")
    monkeypatch.setenv("CAIRN_KEY_MY_LOCAL", "local-secret-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)  # shadowed by the keychain: listed once
    assert store.list() == [
        KeyInfo("anthropic", "keychain", "sk-…10zz"),
        KeyInfo("groq", "environment", "gsk_…6789", "GROQ_API_KEY"),
        KeyInfo("my_local", "environment", "…6789", "CAIRN_KEY_MY_LOCAL"),
        KeyInfo("openai", "keychain", "sk-…7f3a"),
    ]
    # The index that makes listing possible holds names, never values.
    index = keyring.get_password(SERVICE, INDEX_ENTRY)
    assert index is not None
    assert json.loads(index) == ["anthropic", "openai"]

    assert store.delete("openai") is True
    assert store.delete("openai") is False
    assert store.get("openai") is None
    assert [i.provider for i in store.list(include_environment=False)] == ["anthropic"]
    assert store.delete("anthropic") is True
    assert keyring.get_password(SERVICE, INDEX_ENTRY) is None  # no empty index left behind
    assert store.get("anthropic") is not None  # the environment's key is not Cairn's to delete


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (KEY, "sk-…7f3a"),
        ("gsk_abcdefghijklmnopWXYZ", "gsk_…WXYZ"),
        ("AKIAIOSFODNN7EXAMPLE", "…MPLE"),
        ("0123456789abcdef", "…cdef"),
        ("sk-short123", "…"),  # under 16 characters: nothing shown
        ("abc", "…"),
    ],
)
def test_mask_shows_at_most_the_last_four(value: str, hint: str) -> None:
    assert mask(value) == hint


# --- no keychain -----------------------------------------------------------------------


def test_fail_backend_gives_the_fix_and_the_environment_still_works(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "keyring.backends.fail.Keyring")
    assert isinstance(keyring.get_keyring(), fail.Keyring)
    with pytest.raises(KeychainUnavailableError) as caught:
        store.set("openai", KEY)
    message = str(caught.value)
    for fix in ("gnome-keyring", "KWallet", "PYTHON_KEYRING_BACKEND", "OPENAI_API_KEY"):
        assert fix in message
    assert "keyrings.alt" not in message  # keyring's own advice leads to plain-text files
    assert KEY not in message
    with pytest.raises(KeychainUnavailableError):
        store.get("openai")  # no key anywhere: "none" would hide the real problem
    with pytest.raises(KeychainUnavailableError):
        store.list()
    with pytest.raises(KeychainUnavailableError):
        store.delete("openai")

    monkeypatch.setenv("OPENAI_API_KEY", OTHER)
    resolved = store.get("openai")
    assert resolved is not None
    assert (resolved.value, resolved.source) == (OTHER, "environment")
    assert [i.provider for i in store.list_environment()] == ["openai"]


def test_a_backend_that_drops_keys_is_reported(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "keyring.backends.null.Keyring")
    with pytest.raises(KeychainUnavailableError, match="did not keep the key"):
        store.set("openai", KEY)


def test_a_backend_that_cannot_load_is_reported(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "cairn.no_such_module.Keyring")
    with pytest.raises(KeychainUnavailableError, match="could not be loaded") as caught:
        store.set("openai", KEY)
    assert "OPENAI_API_KEY" in str(caught.value)


def test_the_memory_backend_is_never_chosen_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MemoryKeyring.priority < fail.Keyring.priority
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")  # no keyringrc.cfg either
    assert not isinstance(keyring.core._detect_backend(), MemoryKeyring)


def test_memory_backend_can_share_a_file_between_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "keychain.json"
    monkeypatch.setenv("CAIRN_TEST_KEYRING_FILE", str(path))
    keyring.set_password(SERVICE, "openai", KEY)
    assert json.loads(path.read_text()) == {SERVICE: {"openai": KEY}}
    assert keyring.get_password(SERVICE, "openai") == KEY
    monkeypatch.delenv("CAIRN_TEST_KEYRING_FILE")
    assert keyring.get_password(SERVICE, "openai") is None  # the process dict is separate


# --- redaction -----------------------------------------------------------------------


def test_resolved_keys_are_registered_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)
    KeyStore(redactor=redactor).require("openai")
    assert redactor.redact(f"Authorization: Bearer {OTHER}") == (
        "Authorization: Bearer [redacted:openai]"
    )


def test_redactor_replaces_the_value_and_its_encodings() -> None:
    odd = "Zz9/+cairn=secret&value0123"  # characters that URL, JSON and base64 change
    redactor = Redactor(key_patterns=False)
    redactor.register("custom", odd)
    redactor.register("tiny", "abc")  # too short to register: would mangle every text
    for form in (
        odd,
        quote(odd, safe=""),
        base64.b64encode(odd.encode()).decode(),
        base64.urlsafe_b64encode(odd.encode()).decode(),
    ):
        assert redactor.redact(f"x {form} y") == "x [redacted:custom] y"
    assert redactor.redact("abc") == "abc"
    data = {"headers": {"Authorization": f"Bearer {odd}"}, "n": 1, "list": [odd]}
    assert redactor.redact_data(data) == {
        "headers": {"Authorization": "Bearer [redacted:custom]"},
        "n": 1,
        "list": ["[redacted:custom]"],
    }
    redactor.forget("custom")
    assert redactor.redact(odd) == odd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-AbCdEf0123456789GhIj", f"key {KEY_LIKE}"),
        ("id AKIAIOSFODNN7EXAMPLE.", f"id {KEY_LIKE}."),
        ("ghp_" + "a1" * 18, KEY_LIKE),
        ("AIza" + "B" * 35, KEY_LIKE),
        ("Authorization: Bearer abc.def.ghi1234567890", f"Authorization: Bearer {KEY_LIKE}"),
        ("x-api-key: 'Zx0123456789abcdefgh'", f"x-api-key: '{KEY_LIKE}'"),
        # Prose is left alone.
        ("use sk-learn-compatible-estimators", "use sk-learn-compatible-estimators"),
        ("the task-abcdefghijklmnopqrstuvwxyz1", "the task-abcdefghijklmnopqrstuvwxyz1"),
    ],
)
def test_key_shaped_strings_are_caught_by_the_safety_net(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def fail_with_the_key() -> None:
    raise RuntimeError(f"401 Unauthorized for key {KEY}")


def test_log_records_are_redacted_in_a_real_log_file(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.register("openai", KEY)
    log_file = tmp_path / "cairn.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(detail)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    installed = install_log_redaction(redactor)
    try:
        logging.getLogger("cairn.engine").warning("calling with %s", KEY, extra={"detail": KEY})
        # A child logger's record propagates to root's handler; logger filters skip it.
        logging.getLogger("httpx._client").warning(
            "headers %r", {"Authorization": f"Bearer {KEY}"}, extra={"detail": "-"}
        )
        logging.getLogger("LiteLLM").error(f"raw {KEY} in msg", extra={"detail": "-"})
        try:
            fail_with_the_key()
        except RuntimeError:
            logging.getLogger("cairn").exception("call failed", extra={"detail": "-"})
    finally:
        installed.uninstall()
        root.removeHandler(handler)
        handler.close()
    text = log_file.read_text(encoding="utf-8")
    assert KEY not in text
    assert text.count("[redacted:openai]") == 5, text
    assert "Bearer [redacted:openai]" in text
    assert "RuntimeError: 401 Unauthorized for key [redacted:openai]" in text  # traceback kept


def test_the_filter_alone_on_a_handler_covers_propagated_records(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.register("openai", KEY)
    log_file = tmp_path / "handler.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("cairn.test.filter-only")
    logger.addHandler(handler)
    try:
        logging.getLogger("cairn.test.filter-only.child").warning("key=%s", KEY)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert log_file.read_text(encoding="utf-8") == "key=[redacted:openai]\n"
