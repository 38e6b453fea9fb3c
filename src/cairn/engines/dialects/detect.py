"""Choosing a model's dialect from its chat template, or from `tool_format:` in agents.md."""

from __future__ import annotations

import re

from cairn.core.engine import EngineError
from cairn.engines.dialects.base import TemplateFeatures, ToolDialect
from cairn.engines.dialects.json_protocol import JsonProtocol
from cairn.engines.dialects.native import Hermes, Llama3, Mistral

TOOL_FORMATS = ("json", "hermes", "llama3", "mistral")  # the values `tool_format:` takes
AUTO = "auto"  # or leave `tool_format:` out: detect from the template

# The template uses a `tools` variable (not merely the word, which also appears in prompts).
_USES_TOOLS = re.compile(
    r"\bin\s+tools\b|\bif\s+(?:not\s+)?tools\b|\btools\s+is\b|\btools\s*\||"
    r"\btools\s*(?:and|or)\b|\{\{-?\s*tools\b"
)
_USES_TOOL_CALLS = re.compile(r"\btool_calls\b")
_TOOL_ROLE = re.compile(r"""role['"\]]*\s*==\s*['"](tool|ipython|tool_results)['"]""")

# Formats Cairn does not speak, whose templates carry some of the markers below.
_OTHER_FORMATS = (
    "<function=",  # Functionary v3.1 (a Llama 3 template with its own call syntax)
    ">>>all",  # Functionary v3.2
    "<｜tool▁calls▁begin｜>",  # DeepSeek
    "<|START_ACTION|>",  # Command R7B
    " functools[",  # FireFunction
)
_LLAMA3_TOOL_HEADER = "<|start_header_id|>ipython<|end_header_id|>"


def template_features(template: str | None) -> TemplateFeatures:
    """What `template` renders itself: a tools list, assistant tool calls, a tool role."""
    if not template:
        return TemplateFeatures()
    roles = set(_TOOL_ROLE.findall(template))
    role = next((r for r in ("tool", "ipython", "tool_results") if r in roles), None)
    return TemplateFeatures(
        tools=bool(_USES_TOOLS.search(template)),
        tool_calls=bool(_USES_TOOL_CALLS.search(template)),
        tool_role=role,
    )


def detect_format(template: str | None) -> str | None:
    """The native format `template` was written for, or None when unsure.

    Conservative on purpose: a marker must be in the template *and* the template must use
    its `tools` variable, so a prompt that merely mentions a marker is not taken for one.
    """
    if not template or not _USES_TOOLS.search(template):
        return None
    if any(other in template for other in _OTHER_FORMATS):
        return None
    if "<tool_call>" in template:
        return "hermes"
    if _LLAMA3_TOOL_HEADER in template:
        return "llama3"
    if "[TOOL_CALLS]" in template:
        return "mistral"
    return None


def dialect_for(chat_template: str | None, override: str | None = None) -> ToolDialect:
    """The dialect for a model whose GGUF carries `chat_template` (None: it has none, or a
    named `chat_format:` is used instead); `override` is its `tool_format:` setting.

    Unknown templates get Cairn's JSON protocol. An override is taken as given, using
    whatever the template can render for it; anything else is left to the dialect.
    """
    choice = (override or "").strip().lower()
    if choice and choice != AUTO and choice not in TOOL_FORMATS:
        raise EngineError(
            "bad_request",
            f"unknown tool_format '{override}': use one of {', '.join(TOOL_FORMATS)}, or "
            f"'{AUTO}' (the same as leaving it out) to choose from the model's chat template",
        )
    features = template_features(chat_template)
    if choice and choice != AUTO:
        return _make(choice, features, chat_template, "set by tool_format in agents.md")
    detected = detect_format(chat_template)
    if detected is not None:
        return _make(detected, features, chat_template, "detected from the chat template")
    why = (
        "no chat template in the model file"
        if not chat_template
        else "no known tool-call format in the chat template"
    )
    return JsonProtocol(source=why)


def _make(name: str, features: TemplateFeatures, template: str | None, source: str) -> ToolDialect:
    if name == "hermes":
        return Hermes(features, source=source)
    if name == "llama3":
        return Llama3(features, source=source)
    if name == "mistral":
        return Mistral(features, source=source, args="[ARGS]" in (template or ""))
    return JsonProtocol(source=source)
