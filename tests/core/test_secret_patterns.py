"""Detection (`scan`) and redaction (`Redactor`) read one table of secrets, and agree.

For every secret below, in every setting it realistically shows up in (an env file, JSON,
YAML, an HTTP header, prose), the sensitivity scan flags exactly the span that the
redactor replaces, and nothing else is flagged or replaced.

Decisions on the negatives, which could go either way:
- Prose, hyphenated names ("token-bucket-rate-limiter-design") and placeholders
  (`${GITHUB_TOKEN}`, `your-api-key-here`, `********`) are not secrets.
- A UUID in a URL and a git SHA in text are not secrets: nothing names them as one. The
  same value after a key word (`token: <uuid>`, `secret=<sha>`) is, since many services
  issue tokens of exactly those shapes.
- A base64 image (`data:image/png;base64,…`) is not a secret, and must not be: its random
  characters would otherwise push every step with a screenshot to a local model.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.core.routing.secrets import (
    SECRET_KINDS,
    SECRET_PATTERNS,
    find_secrets,
    is_wordy,
    looks_random,
)
from cairn.core.routing.sensitivity import Finding, scan
from cairn.infra.redaction import KEY_LIKE, Redactor

RNG = random.Random(20260314)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"


def rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = ".".join(
    (b64url({"alg": "HS256", "typ": "JWT"}), b64url({"sub": "1234", "exp": 1}), rand(ALNUM, 43))
)
PEM = "\n".join(
    [
        "-----BEGIN RSA PRIVATE KEY-----",
        *(rand(ALNUM + "+/", 64) for _ in range(6)),
        rand(ALNUM + "+/", 20) + "==",
        "-----END RSA PRIVATE KEY-----",
    ]
)
PGP = PEM.replace("RSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK")

# name: (kind, variable name, value, a sentence that carries it)
SECRETS: dict[str, tuple[str, str, str, str]] = {
    "openai": ("api-key", "OPENAI_API_KEY", "sk-proj-" + rand(ALNUM + "-_", 48), ""),
    "anthropic": ("api-key", "ANTHROPIC_API_KEY", "sk-ant-api03-" + rand(ALNUM, 93), ""),
    "openrouter": ("api-key", "OPENROUTER_API_KEY", "sk-or-v1-" + rand(HEX, 64), ""),
    "deepseek": ("api-key", "DEEPSEEK_API_KEY", "sk-" + rand(HEX, 32), ""),
    "aws-key-id": ("api-key", "AWS_ACCESS_KEY_ID", "AKIA" + rand(UPPER_DIGITS, 16), ""),
    "aws-secret": (
        "api-key",
        "AWS_SECRET_ACCESS_KEY",
        rand(ALNUM + "+/", 40),
        "Your aws secret {} is shown only once.",
    ),
    "github": ("api-key", "GITHUB_TOKEN", "ghp_" + rand(ALNUM, 36), ""),
    "github-short": ("api-key", "GH_TOKEN", "ghs_" + rand(ALNUM, 30), ""),
    "github-pat": (
        "api-key",
        "GITHUB_PAT",
        f"github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 59)}",
        "",
    ),
    "google": ("api-key", "GEMINI_API_KEY", "AIza" + rand(ALNUM + "-_", 35), ""),
    "slack": (
        "api-key",
        "SLACK_BOT_TOKEN",
        f"xoxb-{rand(string.digits, 12)}-{rand(ALNUM, 24)}",
        "",
    ),
    "groq": ("api-key", "GROQ_API_KEY", "gsk_" + rand(ALNUM, 52), ""),
    "xai": ("api-key", "XAI_API_KEY", "xai-" + rand(ALNUM, 80), ""),
    "huggingface": ("api-key", "HF_TOKEN", "hf_" + rand(ALNUM, 34), ""),
    "stripe": ("api-key", "STRIPE_SECRET_KEY", "sk_live_" + rand(ALNUM, 24), ""),
    "jwt": ("token", "ID_TOKEN", JWT, ""),
    "password": ("password", "DB_PASSWORD", "Tr0ub4dor&3x", "The database password is {} today."),
    "client-secret": (
        "secret",
        "OAUTH_CLIENT_SECRET",
        rand(ALNUM, 32),
        "Client secret: {} (rotate it monthly).",
    ),
    "session-token": ("secret", "SESSION_TOKEN", rand(HEX, 40), "session_token={}; Path=/"),
    "opaque-api-key": (
        "api-key",
        "PAYMENTS_API_KEY",
        rand(ALNUM, 32),
        "Use api key: {} for the sandbox.",
    ),
}
PEMS = {"pem": PEM, "pgp": PGP}
# Secrets known only by the name they are given: behind "Bearer " they are bearer tokens.
BY_NAME_ONLY = {"aws-secret", "password", "client-secret", "session-token", "opaque-api-key"}


def settings_for(variable: str, value: str, sentence: str) -> dict[str, tuple[str, str]]:
    """setting: (text, the secret as it appears in that text)."""
    lower = variable.lower()
    escaped = json.dumps(value)[1:-1]
    out = {
        "env": (f"# staging\nAPP_ENV=staging\n{variable}={value}\nDEBUG=false\n", value),
        "env-quoted": (f'export {variable}="{value}"\n', value),
        "json": (json.dumps({"name": "staging", lower: value}, indent=2), escaped),
        "yaml": (f"service: billing\ncredentials:\n  {lower}: {value}\n  region: eu\n", value),
        "prose": (
            (sentence or "The staging key is {} for now, do not share it.").format(value),
            value,
        ),
    }
    if re.fullmatch(r"[A-Za-z0-9._~+/-]{16,}=*", value):  # what a bearer header can carry
        out["header"] = (f"GET /v1/models HTTP/1.1\nAuthorization: Bearer {value}\n", value)
    return out


CASES = (
    [
        pytest.param(
            "token" if where == "header" and name in BY_NAME_ONLY else kind,
            text,
            shown,
            id=f"{name}-{where}",
        )
        for name, (kind, variable, value, sentence) in SECRETS.items()
        for where, (text, shown) in settings_for(variable, value, sentence).items()
    ]
    + [
        pytest.param("private-key", text, shown, id=f"{name}-{where}")
        for name, pem in PEMS.items()
        for where, (text, shown) in {
            "file": (f"key file:\n{pem}\n", pem),
            "env": (f'PRIVATE_KEY="{pem}"\n', pem),
            "json": (json.dumps({"private_key": pem}), json.dumps(pem)[1:-1]),
            "yaml": (
                f"tls:\n  key: |\n{textwrap.indent(pem, '    ')}\n",
                textwrap.indent(pem, "    ").lstrip(),
            ),
            "cut-short": (pem[:300], pem[:300].rstrip()),
        }.items()
    ]
    + [
        pytest.param(
            "token",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA==",
            id="basic-auth",
        ),
        pytest.param(
            "password", '{"user": "ana", "password": "hunter22"}', "hunter22", id="password-json"
        ),
        pytest.param("password", "Passwort: Geheim123", "Geheim123", id="password-german"),
        pytest.param("password", "mot de passe = Soleil2026", "Soleil2026", id="password-french"),
    ]
)


def secret_findings(text: str) -> list[Finding]:
    return [f for f in scan(text, limit=10_000) if f.kind in SECRET_KINDS]


def redacted_by_scan(text: str) -> str:
    """`text` with the spans that the scan flags as secrets replaced: what redaction must do."""
    out, last = [], 0
    for finding in secret_findings(text):
        out += (text[last : finding.start], KEY_LIKE)
        last = finding.end
    return "".join([*out, text[last:]])


@pytest.mark.parametrize(("kind", "text", "shown"), CASES)
def test_every_secret_is_both_flagged_and_redacted(kind: str, text: str, shown: str) -> None:
    at = text.index(shown)
    findings = secret_findings(text)
    assert [(f.kind, f.start, f.end) for f in findings] == [(kind, at, at + len(shown))]
    assert shown not in findings[0].hint and shown[-8:] not in findings[0].describe()
    redacted = Redactor().redact(text)
    assert redacted == text.replace(shown, KEY_LIKE)  # the words around it are kept
    assert redacted == redacted_by_scan(text)
    assert Redactor().redact(redacted) == redacted
    assert secret_findings(redacted) == []


NEGATIVES = [
    "Plan the token-bucket-rate-limiter-design review with Dana before Friday.",
    "token: token-bucket-rate-limiter-design",
    "secret_name: billing-service-stripe-webhook-signing",
    "Our secret: keep the roadmap short and lead with the recommendation.",
    "API keys live in the OS keychain; rotate the access key every quarter.",
    "Reset your password in the settings page; the password is required.",
    "password: ******** (hidden)",
    "api_key=your-api-key-here",
    "OPENAI_API_KEY=YOUR_OPENAI_API_KEY_HERE",
    "token: ${GITHUB_TOKEN}\npassword: ${DB_PASSWORD}\napi_key: {{ api_key }}",
    "max_tokens=4096 and a context window of 128000 tokens",
    "The author_id: 1234567890123456789 is a number, not a secret.",
    "auth_url: https://login.example.com/oauth2/authorize?client_id=cairn",
    "Open https://app.example.com/tasks/123e4567-e89b-12d3-a456-426614174000/edit to edit.",
    "Fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8; see also 3f2a9b8c.",
    "use sk-learn-compatible-estimators and the task-abcdefghijklmnopqrstuvwxyz1 queue",
    "The bearer of this letter is our colleague.",
    "The sk- prefix marks secret keys; never paste one here.",
    "Tokens: 4,000 in, 800 out; the secret sauce is the order of the steps.",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_neither_flagged_nor_redacted(text: str) -> None:
    assert secret_findings(text) == []
    assert Redactor().redact(text) == text


def test_a_key_word_makes_a_random_value_a_secret() -> None:
    uuid, sha = "123e4567-e89b-12d3-a456-426614174000", "9fceb02d0ae598e95dc970b74767f19372d61af8"
    for text in (f"token: {uuid}", f"secret={sha}"):
        assert [f.kind for f in secret_findings(text)] == ["secret"]
        assert Redactor().redact(text).endswith(KEY_LIKE)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=64, max_size=6000))
def test_base64_images_are_not_secrets(image: bytes) -> None:
    text = f'<img src="data:image/png;base64,{base64.b64encode(image).decode()}">'
    assert secret_findings(text) == []
    assert Redactor().redact(text) == text


FRAGMENTS = [
    "password",
    "Password is ",
    "pwd=",
    "api_key",
    "X-Api-Key: ",
    "token",
    "client_secret",
    "aws_secret_access_key = ",
    "Authorization: ",
    "Bearer ",
    "Basic ",
    "sk-",
    "sk-proj-",
    "AKIA",
    "ghp_",
    "xai-",
    "eyJ",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "${X}",
    ": ",
    "=",
    '"',
    "'",
    ".",
    "-",
    " ",
    "\n",
    "a@b.io",
    "+49 30 1234 5678",
]
texts = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(ALNUM + "+/=_-.~", min_size=1, max_size=48),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_redaction_replaces_exactly_what_the_scan_flags(text: str) -> None:
    assert Redactor().redact(text) == redacted_by_scan(text)


def known_secrets() -> st.SearchStrategy[str]:
    def shape(prefix: str, alphabet: str, least: int) -> st.SearchStrategy[str]:
        body = st.text(alphabet, min_size=least, max_size=least + 40)
        return body.filter(lambda b: any(c.isdigit() for c in b)).map(lambda b: prefix + b)

    return st.one_of(
        shape("sk-proj-", ALNUM, 20),
        shape("AKIA", UPPER_DIGITS, 16).map(lambda s: s[:20]),
        shape("ghp_", ALNUM, 36),
        shape("xai-", ALNUM, 20),
        shape("hf_", ALNUM, 30),
        shape("gsk_", ALNUM, 20),
    )


@settings(max_examples=200, deadline=None)
@given(
    known_secrets(),
    st.lists(
        st.sampled_from(
            [
                "the",
                "plan",
                "is",
                "ready",
                "review",
                "it",
                "before",
                "Friday",
                ":",
                ";",
                ",",
                "(",
                ")",
            ]
        )
    ),
    st.sampled_from(["", "\n", "key: ", "'", '"', "export KEY=", "Bearer "]),
)
def test_a_known_key_anywhere_is_flagged_and_removed(
    secret: str, words: list[str], before: str
) -> None:
    text = f"{' '.join(words)} {before}{secret} {' '.join(reversed(words))}"
    assert [(f.start, f.end) for f in secret_findings(text)] == [
        (text.index(secret), text.index(secret) + len(secret))
    ]
    assert secret not in Redactor().redact(text)


@pytest.mark.parametrize(
    ("value", "random_"),
    [
        ("token-bucket-rate-limiter-design", False),
        ("MyApplicationSecretName", False),
        ("risk-assessment-process-improvements-for-2027", False),
        ("aaaaaaaaaaaaaaaa1111", False),
        ("12345678901234567890", False),
        ("${DATABASE_PASSWORD_VALUE}", False),
        ("3f2a9b8c7d6e5f4a3b2c1d0e", True),
        ("123e4567-e89b-12d3-a456-426614174000", True),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
    ],
)
def test_the_entropy_check(value: str, random_: bool) -> None:
    assert looks_random(value) is random_


def test_wordy_check_is_linear_on_long_runs() -> None:
    assert not is_wordy("a" * 50_000 + "1" * 20)  # a nested quantifier would never return


def test_the_table() -> None:
    names = [p.name for p in SECRET_PATTERNS]
    assert len(names) == len(set(names))
    for pattern in SECRET_PATTERNS:
        assert "secret" in pattern.regex.groupindex, pattern.name
        assert pattern.words and all(w == w.lower() for w in pattern.words), pattern.name
    assert {"api-key", "token", "password", "private-key", "secret"} == SECRET_KINDS


def test_many_secrets_and_the_limit() -> None:
    keys = [f"sk-proj-{i:04d}{rand(ALNUM, 30)}" for i in range(60)]
    text = "\n".join(f"KEY_{i}={k}" for i, k in enumerate(keys))
    assert len(find_secrets(text)) == 60
    assert len(find_secrets(text, limit=5)) == 5
    assert len(scan(text)) == 50  # sensitivity stops counting at MAX_FINDINGS
    assert all(k not in Redactor().redact(text) for k in keys)
