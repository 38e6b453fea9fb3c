"""Trace lines are redacted as whole lines: still JSON, no secret left in them."""

from __future__ import annotations

import json

from cairn.infra.redaction import REDACTOR
from cairn.infra.trace import redacted_line

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuv0123456789",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    PEM,
]


def test_a_redacted_line_is_json_and_holds_no_secret() -> None:
    REDACTOR.register("hostile-test", 'quote"and\\backslash-secret-value')
    record = {
        "event": "tool_result",
        "output": "\n".join(f"line {n}: {s}" for n, s in enumerate(SECRETS)),
        "arguments": {
            "api_key": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
            "note": 'quote"and\\backslash-secret-value',
        },
        "headers": ["Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345"],
    }
    line = redacted_line(record)
    data = json.loads(line)
    assert data["event"] == "tool_result"
    for secret in [*SECRETS, "abcdefghijklmnopqrstuvwxyz012345", "backslash-secret-value"]:
        for fragment in secret.splitlines():
            assert fragment not in line or "BEGIN" in fragment or "END" in fragment, fragment
    assert "[redacted:" in line


def test_whole_line_redaction_removes_at_least_what_redacting_each_string_does() -> None:
    record = {"k": SECRETS, "nested": {"x": [f"token={SECRETS[0]}", "plain words here"]}}
    per_string = json.dumps(REDACTOR.redact_data(record))
    whole = redacted_line(record)
    for secret in SECRETS:
        assert (secret in whole) <= (secret in per_string)
    assert "plain words here" in whole


def test_secrets_quoted_inside_a_string_are_redacted() -> None:
    record = {
        "output": '{"apiKey": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA0a9"}'
        ' and "password": "hunter2-Secret"',
        "env": 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    }
    line = redacted_line(record)
    assert json.loads(line)
    for secret in ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA0a9", "hunter2-Secret", "bPxRfiCYEXAMPLEKEY"):
        assert secret not in line, secret
