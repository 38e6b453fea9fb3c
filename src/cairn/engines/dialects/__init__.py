"""Tool dialects: how a local model is offered tools and how its calls are read back.

Cairn speaks a model's own tool-call format when its chat template declares one, and its
JSON protocol otherwise (see docs/tool-calling.md):

    dialect = dialect_for(template, override)         # once per model
    prompt = dialect.render(messages, tools)          # -> formatter(messages=..., tools=...)
    grammar = dialect.grammar(tools)                  # GBNF text, or None
    stream = dialect.parser(tools)                    # one per generation
    events = stream.feed(text) ...; events, reason = stream.finish(reason)
"""

from cairn.engines.dialects.base import (
    PLAIN,
    NewId,
    StreamEvent,
    TemplateFeatures,
    ToolDialect,
    ToolStream,
    WirePrompt,
    new_call_id,
)
from cairn.engines.dialects.detect import (
    AUTO,
    TOOL_FORMATS,
    detect_format,
    dialect_for,
    template_features,
)
from cairn.engines.dialects.grammar import grammar_compiles
from cairn.engines.dialects.json_protocol import JsonProtocol
from cairn.engines.dialects.native import Hermes, Llama3, Mistral, NativeDialect

__all__ = [
    "AUTO",
    "PLAIN",
    "TOOL_FORMATS",
    "Hermes",
    "JsonProtocol",
    "Llama3",
    "Mistral",
    "NativeDialect",
    "NewId",
    "StreamEvent",
    "TemplateFeatures",
    "ToolDialect",
    "ToolStream",
    "WirePrompt",
    "detect_format",
    "dialect_for",
    "grammar_compiles",
    "new_call_id",
    "template_features",
]
