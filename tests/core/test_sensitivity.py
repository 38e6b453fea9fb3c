"""The offline detector on positive and negative corpora."""

from __future__ import annotations

import pytest

from cairn.core.routing.sensitivity import scan

POSITIVE = [
    ("email", "Please write to jane.doe+work@example.co.uk about it."),
    ("phone", "Call me on +44 20 7946 0958 tomorrow."),
    ("phone", "Office: (415) 555-0132."),
    ("phone", "Mobil: +49 151 2345 6789"),
    ("phone", "call 555-123-4567 after lunch"),
    ("iban", "Pay to DE89 3704 0044 0532 0130 00 by Friday."),
    ("iban", "IBAN GB82WEST12345698765432"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("card", "Card: 4111 1111 1111 1111, exp 12/27"),
    ("card", "amex 378282246310005"),
    ("card", "5555-5555-5555-4444"),
    ("national-id", "SSN 123-45-6789 on the form"),
    ("national-id", "NI number AB 12 34 56 C"),
    ("api-key", "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz123456"),
    ("api-key", "aws AKIAIOSFODNN7EXAMPLE"),
    ("api-key", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("api-key", "slack xoxb-123456789012-abcdefghij"),
    ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"),
    ("token", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123"),
    ("token", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"),
    ("password", "The wifi password is CorrectHorse99"),
    ("password", "pwd=hunter22"),
    ("password", "Passwort: Geheim123"),
]

NEGATIVE = [
    "The meeting is on 2026-11-20 at 10:30 in room 4.",
    "Revenue grew 12.5% to 1,234,567 in Q3 2026.",
    "Order 1234 5678 9012 3456 shipped.",  # 16 digits, fails the Luhn check
    "Invoice DE00 0000 0000 0000 0000 00",  # IBAN shape, bad checksum
    "Version 1.2.3 and build 20261120.",
    "Use the @mention feature in chat.",
    "Reset your password in the settings page.",
    "The sk- prefix marks secret keys; never paste one here.",
    "ISBN 978-3-16-148410-0 is on the back cover.",
    "Coordinates 52.5200, 13.4050 are in Berlin.",
    "Population: 83 million people.",
    "Section 4.2.1 explains the 3-step process.",
    "The bearer of this letter is our colleague.",
    "Times: 09:00-10:30, 11:00-12:15.",
]


@pytest.mark.parametrize(("kind", "text"), POSITIVE)
def test_detects(kind: str, text: str) -> None:
    kinds = [f.kind for f in scan(text)]
    assert kind in kinds, kinds


@pytest.mark.parametrize("text", NEGATIVE)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert scan(text) == ()


def test_findings_never_carry_the_value() -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    text = f"key {secret} and card 4111 1111 1111 1111 and password: hunter22"
    findings = scan(text)
    assert {f.kind for f in findings} == {"api-key", "card", "password"}
    for finding in findings:
        assert secret not in finding.hint and "4111 1111" not in finding.hint
        assert "hunter22" not in finding.describe()
        assert text[finding.start : finding.end]  # positions point at the match


def test_long_context_and_limit() -> None:
    text = "Plain planning text for the quarter. " * 400 + "Reach me at a.b@c.io. " * 100
    findings = scan(text, limit=10)
    assert len(findings) == 10 and all(f.kind == "email" for f in findings)


def test_dates_with_times_and_references_are_not_phones() -> None:
    assert scan("Meeting 2026-03-14 09:30 in room B") == ()
    assert scan("order 2026-0412-7781 shipped") == ()
    assert [f.kind for f in scan("password is Tr0ub4dor&3 and more text " * 3)] == ["password"] * 3


def test_hyphenated_words_are_not_keys() -> None:
    assert scan("our risk-assessment-process-improvements-for-2027 plan") == ()
    assert scan("the task-skill-operator-automation-memory-loop") == ()


def test_task_ids_and_compact_timestamps_are_not_phone_numbers() -> None:
    assert scan("history/20261129-211847-3449bf-what-is-the-codename.md") == ()
    assert scan("trace 20261129T211847.jsonl") == ()
    assert [f.kind for f in scan("call 202 611 2934 now")] == ["phone"]
    assert [f.kind for f in scan("card 4111 1111 1111 1111")] == ["card"]
