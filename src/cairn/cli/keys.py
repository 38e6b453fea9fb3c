"""`cairn keys set|list|delete`: API keys for cloud models, in the OS keychain.

A key is never taken from the command line: argv is readable by other users (`ps`,
/proc) and lands in shell history. It is read from a hidden prompt on a terminal, or
from standard input when that is a pipe or a file (scripts, CI).

Exit codes: 0 done; 1 nothing to do (no stored key to delete) or only partly done
(`list` without a keychain shows the environment's keys only); 2 refused or failed
(a key on the command line, an empty key, a bad provider name, no usable keychain).
This module is imported only when `cairn keys` runs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from cairn.infra.keychain import (
    MAX_KEY_LENGTH,
    InvalidKeyError,
    InvalidProviderError,
    KeychainUnavailableError,
    KeyInfo,
    KeyStore,
    backend_name,
    validate_provider,
)
from cairn.infra.redaction import install_log_redaction


def run_keys(args: argparse.Namespace) -> int:
    install_log_redaction()  # keyring and its backends log too
    store = KeyStore()
    action: str = args.keys_command
    if action == "set":
        return _set(store, args.provider, list(args.value))
    if action == "delete":
        return _delete(store, args.provider)
    return _list(store, as_json=bool(args.json))


def _set(store: KeyStore, provider: str, extra: list[str]) -> int:
    if extra:
        _refuse_key_on_command_line(provider)
        return 2
    provider = validate_provider(provider)
    info = store.set(provider, _read_key(provider))
    print(
        f"stored the API key for {provider} ({info.hint}) in the OS keychain "
        f"(keyring backend {backend_name(store.backend())})"
    )
    shadowed = store.environment_var(provider)
    if shadowed:
        print(f"note: {shadowed} is also set; the keychain's key takes precedence over it")
    return 0


def _refuse_key_on_command_line(provider: str) -> None:
    # Never echo the arguments: the second one is presumably the key.
    try:
        name = validate_provider(provider)
    except InvalidProviderError:
        name = "PROVIDER"
    print(
        "cairn: refused: `cairn keys set` takes the key from a hidden prompt or from "
        "standard input, never from the command line, because command lines are visible "
        "to other users of this machine (ps, /proc) and are saved in shell history. "
        f"Nothing was stored. Run `cairn keys set {name}` and paste the key at the prompt, "
        f"or pipe it in: `cairn keys set {name} < keyfile`. The key you typed is now in "
        "your shell history: delete it from there, and rotate the key if others can read it.",
        file=sys.stderr,
    )


def _read_key(provider: str) -> str:
    """The key from a hidden prompt (asked twice) or from standard input."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        try:
            first = getpass.getpass(f"API key for {provider} (input is hidden): ")
            if not first:
                raise InvalidKeyError("no key entered; nothing was stored")
            again = getpass.getpass("Enter it again to confirm: ")
        except EOFError:
            raise InvalidKeyError("no key entered; nothing was stored") from None
        if first != again:
            raise InvalidKeyError("the two entries differ; nothing was stored")
        return first
    data = stdin.read(MAX_KEY_LENGTH + 3) if stdin is not None else ""
    # One trailing newline is what `echo` and editors add; anything else is refused later.
    data = data.removesuffix("\n").removesuffix("\r") if data.endswith("\n") else data
    if not data:
        raise InvalidKeyError(
            f"no key on standard input: pipe it in (`cairn keys set {provider} < keyfile`) "
            "or run the command in a terminal to be asked for it. Nothing was stored."
        )
    return data


def _delete(store: KeyStore, provider: str) -> int:
    provider = validate_provider(provider)
    existed = store.delete(provider)
    if existed:
        print(f"deleted the API key for {provider} from the OS keychain")
    else:
        print(f"no API key for {provider} in the OS keychain; nothing deleted", file=sys.stderr)
    remaining = store.environment_var(provider)
    if remaining:
        print(
            f"note: {remaining} is still set in the environment, so {provider} calls will "
            "keep using that key; unset it to stop"
        )
    return 0 if existed else 1


def _list(store: KeyStore, *, as_json: bool) -> int:
    problem: str | None = None
    try:
        infos = store.list()
    except KeychainUnavailableError as exc:
        problem = str(exc)
        infos = store.list_environment()
    if as_json:
        rows = [
            {"provider": i.provider, "source": i.source, "hint": i.hint, "env_var": i.env_var}
            for i in infos
        ]
        print(json.dumps({"keys": rows, "keychain_error": problem}))
    else:
        if problem:
            print(f"cairn: warning: {problem}", file=sys.stderr)
            print("showing the keys in the environment only", file=sys.stderr)
        _print_table(infos)
    return 1 if problem else 0


def _print_table(infos: list[KeyInfo]) -> None:
    if not infos:
        print("no API keys; add one with: cairn keys set PROVIDER (see docs/keys.md)")
        return
    rows = [("PROVIDER", "KEY", "SOURCE")] + [
        (i.provider, i.hint, f"environment ({i.env_var})" if i.env_var else i.source) for i in infos
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    for provider, hint, source in rows:
        print(f"{provider:<{widths[0]}}  {hint:<{widths[1]}}  {source}")
