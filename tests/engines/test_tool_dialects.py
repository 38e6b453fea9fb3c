"""Tool dialects: detection, rendering, grammars and the incremental parsers.

Most tests are pure: they feed model output to a parser in many chunkings and compare the
events. A few load a tiny random-weight GGUF to prove llama.cpp accepts every grammar and
that grammar-constrained output always parses. The chat templates below are written for
these tests in each family's style; they are not the published templates.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from cairn.core.engine import (
    EngineError,
    FinishReason,
    Message,
    TextDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
)
from cairn.engines.dialects import (
    PLAIN,
    TOOL_FORMATS,
    Hermes,
    JsonProtocol,
    Llama3,
    Mistral,
    StreamEvent,
    TemplateFeatures,
    ToolDialect,
    dialect_for,
    grammar_compiles,
    template_features,
)
from cairn.engines.dialects.json_protocol import AFTER_RESULT
from cairn.engines.dialects.native import mistral_id
from cairn.engines.dialects.streaming import JsonStringDecoder
from cairn.testing.tiny_gguf import CHATML_TEMPLATE

READ = ToolSpec(
    "read_file",
    "Read a workspace file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
SEARCH = ToolSpec(
    "search",
    "Search the workspace.",
    {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query"],
    },
)
TOOLS = (READ, SEARCH)

# --- chat templates in each family's style (written for these tests) -------------------------

HERMES_STYLE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}"
    '{{- \'# Functions\\nCall one as <tool_call>{"name": ..., "arguments": ...}</tool_call>.'
    "\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' + tool | tojson }}{%- endfor %}"
    "{{- '\\n</tools><|im_end|>\\n' }}"
    "{%- elif messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' %}"
    "{%- elif message.role == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message.content"
    " + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' and message.tool_calls %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if message.content %}{{- message.content + '\\n' }}{%- endif %}"
    "{%- for call in message.tool_calls %}"
    '{{- \'<tool_call>\\n{"name": "\' + call.function.name + \'", "arguments": \''
    " + call.function.arguments | tojson + '}\\n</tool_call>' }}"
    "{%- if not loop.last %}{{- '\\n' }}{%- endif %}"
    "{%- endfor %}{{- '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

LLAMA3_STYLE = (
    "{{- bos_token }}"
    "{%- if messages[0].role == 'system' %}{%- set system = messages[0].content %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{%- if tools is not none %}{{- 'Environment: ipython\\n' }}{%- endif %}"
    "{{- system }}"
    "{%- if tools is not none %}"
    '{{- \'\\n\\nReply with JSON {"name": function name, "parameters": arguments} to call'
    " one of these functions:\\n' }}"
    "{%- for t in tools %}{{- t | tojson(indent=2) + '\\n' }}{%- endfor %}"
    "{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{%- if message.role == 'ipython' or message.role == 'tool' %}"
    "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + message.content + '<|eot_id|>' }}"
    "{%- elif 'tool_calls' in message %}"
    "{%- if message.tool_calls | length != 1 %}"
    "{{- raise_exception('one tool call per message') }}{%- endif %}"
    "{%- set call = message.tool_calls[0].function %}"
    '{{- \'<|start_header_id|>assistant<|end_header_id|>\\n\\n<|python_tag|>{"name": "\''
    " + call.name + '\", \"parameters\": ' + call.arguments | tojson + '}<|eom_id|>' }}"
    "{%- else %}"
    "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + message.content"
    " + '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

_MISTRAL_HEAD = (
    "{%- if messages[0].role == 'system' %}{%- set system = messages[0].content %}"
    "{%- set chat = messages[1:] %}{%- else %}{%- set system = '' %}"
    "{%- set chat = messages %}{%- endif %}"
    "{%- set last = namespace(user=-1) %}"
    "{%- for m in chat %}{%- if m.role == 'user' %}{%- set last.user = loop.index0 %}"
    "{%- endif %}{%- endfor %}"
    "{{- bos_token }}"
    "{%- for message in chat %}"
    "{%- if message.role == 'user' %}"
    "{%- if tools and loop.index0 == last.user %}"
    "{{- '[AVAILABLE_TOOLS] ' + tools | tojson + '[/AVAILABLE_TOOLS]' }}{%- endif %}"
    "{%- if system and loop.index0 == last.user %}"
    "{{- '[INST] ' + system + '\\n\\n' + message.content + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + message.content + '[/INST]' }}{%- endif %}"
    "{%- elif message.role == 'assistant' and message.tool_calls %}"
)
_MISTRAL_TAIL = (
    "{%- elif message.role == 'assistant' %}{{- ' ' + message.content + eos_token }}"
    "{%- elif message.role == 'tool' %}"
    "{%- if message.tool_call_id | length != 9 %}"
    "{{- raise_exception('call ids are 9 characters') }}{%- endif %}"
    "{{- '[TOOL_RESULTS] ' + {'content': message.content, 'call_id': message.tool_call_id}"
    " | tojson + '[/TOOL_RESULTS]' }}"
    "{%- endif %}"
    "{%- endfor %}"
)
MISTRAL_STYLE = (
    _MISTRAL_HEAD + "{{- '[TOOL_CALLS] [' }}"
    "{%- for call in message.tool_calls %}"
    "{%- if call.id | length != 9 %}{{- raise_exception('call ids are 9 characters') }}"
    "{%- endif %}"
    '{{- \'{"name": "\' + call.function.name + \'", "arguments": \''
    " + call.function.arguments | tojson + ', \"id\": \"' + call.id + '\"}' }}"
    "{%- if not loop.last %}{{- ', ' }}{%- endif %}"
    "{%- endfor %}{{- ']' + eos_token }}" + _MISTRAL_TAIL
)
MISTRAL_ARGS_STYLE = (
    _MISTRAL_HEAD + "{%- for call in message.tool_calls %}"
    "{{- '[TOOL_CALLS]' + call.function.name + '[ARGS]' + call.function.arguments | tojson }}"
    "{%- endfor %}{{- eos_token }}" + _MISTRAL_TAIL
)

# Markers in places that do not make a tool format.
FUNCTIONARY_STYLE = (
    "{%- for tool in tools %}{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + tool.name"
    " + '<|eot_id|>' }}{%- endfor %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'tool' %}"
    "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + message.content }}"
    "{%- else %}{{- '<function=' + message.role + '>' + message.content }}{%- endif %}"
    "{%- endfor %}"
)
MENTIONS_ONLY = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{{- '<|im_start|>system\\nNever write <tool_call> or [TOOL_CALLS].<|im_end|>\\n' }}"
)


def formatter(template: str) -> Any:
    """The formatter the local engine builds from a GGUF's template (typed loosely, as there)."""
    return Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")


# --- helpers -------------------------------------------------------------------------------


def normalize(events: Sequence[StreamEvent]) -> list[StreamEvent]:
    """Adjacent TextDeltas joined (chunking may split text anywhere), empty ones dropped."""
    out: list[StreamEvent] = []
    for event in events:
        if isinstance(event, TextDelta):
            if not event.text:
                continue
            if out and isinstance(out[-1], TextDelta):
                out[-1] = TextDelta(out[-1].text + event.text)
                continue
        out.append(event)
    return out


def run(
    dialect: ToolDialect,
    chunks: Sequence[str],
    reason: FinishReason = "stop",
    tools: Sequence[ToolSpec] = TOOLS,
) -> tuple[list[StreamEvent], FinishReason]:
    numbers = itertools.count(1)
    stream = dialect.parser(tools, new_id=lambda: f"call_{next(numbers)}")
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += stream.feed(chunk)
    tail, final = stream.finish(reason)
    return normalize(events + tail), final


def chunkings(text: str, randoms: int = 60) -> Iterator[list[str]]:
    """Whole, one character at a time, every single cut, every pair of cuts for short
    texts, and random cuts with a fixed seed."""
    yield [text]
    yield list(text)
    for i in range(1, len(text)):
        yield [text[:i], text[i:]]
    if len(text) <= 60:
        for i, j in itertools.combinations(range(1, len(text)), 2):
            yield [text[:i], text[i:j], text[j:]]
    rng = random.Random(1234)
    for _ in range(randoms if len(text) > 1 else 0):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
        yield [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]


def texts(events: Sequence[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def calls(events: Sequence[StreamEvent]) -> list[tuple[str, dict[str, Any]]]:
    made = [e.call for e in events if isinstance(e, ToolCallRequested)]
    return [(c.name, dict(c.arguments)) for c in made]


def dialect_id(dialect: ToolDialect) -> str:
    return dialect.name + ("-args" if getattr(dialect, "args", False) else "")


# --- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (HERMES_STYLE, "hermes"),
        (LLAMA3_STYLE, "llama3"),
        (MISTRAL_STYLE, "mistral"),
        (MISTRAL_ARGS_STYLE, "mistral"),
        (CHATML_TEMPLATE, "json"),
        (FUNCTIONARY_STYLE, "json"),
        (MENTIONS_ONLY, "json"),
        ("", "json"),
        (None, "json"),
    ],
)
def test_detects_the_format_from_the_template(template: str | None, expected: str) -> None:
    dialect = dialect_for(template)
    assert dialect.name == expected
    assert expected in dialect.describe()
    assert "chat template" in dialect.describe()  # and says why


def test_template_features() -> None:
    assert template_features(HERMES_STYLE) == TemplateFeatures(True, True, "tool")
    assert template_features(LLAMA3_STYLE) == TemplateFeatures(True, True, "tool")
    ipython_only = LLAMA3_STYLE.replace(" or message.role == 'tool'", "")
    assert template_features(ipython_only).tool_role == "ipython"
    assert template_features(MISTRAL_STYLE) == TemplateFeatures(True, True, "tool")
    assert template_features(CHATML_TEMPLATE) == PLAIN
    assert template_features(None) == PLAIN
    args, array = dialect_for(MISTRAL_ARGS_STYLE), dialect_for(MISTRAL_STYLE)
    assert isinstance(args, Mistral) and args.args
    assert isinstance(array, Mistral) and not array.args


def test_override_is_validated_and_wins() -> None:
    for name in TOOL_FORMATS:
        dialect = dialect_for(CHATML_TEMPLATE, name)
        assert dialect.name == name
        assert "tool_format" in dialect.describe()
    assert dialect_for(HERMES_STYLE, "json").name == "json"
    assert dialect_for(HERMES_STYLE, "auto").name == "hermes"
    assert dialect_for(HERMES_STYLE, " Hermes ").name == "hermes"
    with pytest.raises(EngineError) as caught:
        dialect_for(HERMES_STYLE, "qwen")
    assert caught.value.kind == "bad_request"
    message = str(caught.value)
    assert "qwen" in message and all(name in message for name in TOOL_FORMATS)


def test_describe_says_where_tools_are_listed() -> None:
    assert "model's template" in dialect_for(HERMES_STYLE).describe()
    assert "system prompt" in dialect_for(CHATML_TEMPLATE, "hermes").describe()


# --- rendering ------------------------------------------------------------------------------

CALL = ToolCall("call_abc123", "read_file", {"path": "notes/é.md"})
SECOND = ToolCall("call_def456", "search", {"query": 'say "hi"', "limit": 3})
HISTORY = (
    Message("system", "Be brief."),
    Message("user", "What is in my notes?"),
    Message("assistant", "", tool_calls=(CALL,)),
    Message("tool", "# Notes\nBuy milk.", tool_call_id=CALL.id, name="read_file"),
)


def first_turn(prompt: str, start: str, end: str) -> str:
    """The text of the first turn that opens with `start` (the generation prompt that ends
    `prompt` opens with it too)."""
    return prompt.split(start, 1)[1].split(end, 1)[0]


def test_json_protocol_lists_tools_compactly_with_their_examples() -> None:
    example = ToolSpec("read_file", "Read a file.", TOOLS[0].parameters, example={"path": "a.md"})
    prompt = JsonProtocol().render(HISTORY, (example, *TOOLS[1:]))
    assert prompt.tools is None
    system = prompt.messages[0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.\n\n")
    assert '{"answer": "<your reply>"}' in system["content"]
    # Signatures, not schemas: argument descriptions with sample values get copied by
    # small models; the grammar holds the arguments to the schema anyway.
    assert (
        '- read_file(path): Read a file.\n  {"tool": "read_file", "arguments": {"path": "a.md"}}'
        in (system["content"])
    )
    assert "JSON schema" not in system["content"]
    assert json.loads(prompt.messages[2]["content"]) == {
        "tool": "read_file",
        "arguments": {"path": "notes/é.md"},
    }
    assert prompt.messages[3] == {
        "role": "user",
        "content": f"Result of tool read_file:\n# Notes\nBuy milk.\n\n{AFTER_RESULT}",
    }
    # Without tools nothing is added, and past calls still render.
    bare = JsonProtocol().render(HISTORY, ())
    assert bare.messages[0] == {"role": "system", "content": "Be brief."}


def test_hermes_through_its_template() -> None:
    dialect = dialect_for(HERMES_STYLE)
    prompt = dialect.render(HISTORY, TOOLS)
    assert prompt.tools is not None and prompt.tools[0]["function"]["name"] == "read_file"
    text = formatter(HERMES_STYLE)(messages=prompt.messages, tools=prompt.tools).prompt
    assert '"name": "search"' in text and "<tools>" in text
    assert "<tool_response>\n# Notes\nBuy milk.\n</tool_response>" in text
    turn = first_turn(text, "<|im_start|>assistant\n", "<|im_end|>")
    events, reason = run(dialect, [turn])
    assert calls(events) == [("read_file", {"path": "notes/é.md"})] and reason == "tool_calls"


def test_llama3_through_its_template() -> None:
    dialect = dialect_for(LLAMA3_STYLE)
    prompt = dialect.render(HISTORY, TOOLS)
    text = formatter(LLAMA3_STYLE)(messages=prompt.messages, tools=prompt.tools).prompt
    assert "Environment: ipython" in text and '"name": "read_file"' in text
    assert "<|start_header_id|>ipython<|end_header_id|>\n\n# Notes" in text
    turn = first_turn(text, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eom_id|>")
    assert calls(run(dialect, [turn])[0]) == [("read_file", {"path": "notes/é.md"})]


def test_llama3_renders_several_calls_itself() -> None:
    # Its template takes one call per message: more are written as text the parser reads.
    dialect = dialect_for(LLAMA3_STYLE)
    history = (Message("user", "Both."), Message("assistant", "", tool_calls=(CALL, SECOND)))
    prompt = dialect.render(history, TOOLS)
    assert "tool_calls" not in prompt.messages[1]
    text = formatter(LLAMA3_STYLE)(messages=prompt.messages, tools=prompt.tools).prompt
    assert calls(run(dialect, [prompt.messages[1]["content"]])[0]) == [
        ("read_file", dict(CALL.arguments)),
        ("search", dict(SECOND.arguments)),
    ]
    assert prompt.messages[1]["content"] in text


@pytest.mark.parametrize("template", [MISTRAL_STYLE, MISTRAL_ARGS_STYLE])
def test_mistral_through_its_template(template: str) -> None:
    dialect = dialect_for(template)
    history = (*HISTORY[:2], Message("assistant", "", tool_calls=(CALL, SECOND)), HISTORY[3])
    prompt = dialect.render(history, TOOLS)
    # The template raises unless call ids are nine letters and digits: they are mapped.
    text = formatter(template)(messages=prompt.messages, tools=prompt.tools).prompt
    assert "[AVAILABLE_TOOLS] [" in text
    assert f'"call_id": "{mistral_id(CALL.id)}"' in text
    assert len(mistral_id(CALL.id)) == 9 and mistral_id("abcDEF123") == "abcDEF123"
    turn = first_turn(text, "[/INST]", "</s>")
    assert turn.startswith("[TOOL_CALLS]")
    assert calls(run(dialect, [turn])[0]) == [
        ("read_file", dict(CALL.arguments)),
        ("search", dict(SECOND.arguments)),
    ]


@pytest.mark.parametrize(
    "dialect", [Hermes(), Llama3(), Mistral(), Mistral(args=True)], ids=dialect_id
)
def test_without_template_support_everything_is_text(dialect: ToolDialect) -> None:
    history = (
        *HISTORY[:2],
        Message("assistant", "", tool_calls=(CALL, SECOND)),
        HISTORY[3],
        Message("tool", "3 hits", tool_call_id=SECOND.id, name="search"),
    )
    prompt = dialect.render(history, TOOLS)
    assert prompt.tools is None
    assert "read_file" in prompt.messages[0]["content"]  # tools listed in the system prompt
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    results = prompt.messages[3]["content"]
    assert "Buy milk." in results and "3 hits" in results
    assert all(isinstance(m["content"], str) for m in prompt.messages)
    # And it still renders through a template that knows nothing of tools.
    formatter(CHATML_TEMPLATE)(messages=prompt.messages, tools=prompt.tools)


@pytest.mark.parametrize(
    "dialect",
    [JsonProtocol(), Hermes(), Llama3(), Mistral(), Mistral(args=True)],
    ids=dialect_id,
)
@pytest.mark.parametrize("content", ["", "Let me check."])
def test_a_rendered_call_parses_back(dialect: ToolDialect, content: str) -> None:
    several = not isinstance(dialect, JsonProtocol)  # the protocol makes one call a reply
    made = (CALL, SECOND) if several else (CALL,)
    prompt = dialect.render((Message("assistant", content, tool_calls=made),), TOOLS)
    rendered = prompt.messages[-1]["content"]
    events, reason = run(dialect, [rendered])
    assert calls(events) == [(c.name, dict(c.arguments)) for c in made]
    assert reason == "tool_calls"
    if several:
        assert texts(events) == content


def test_plain_keeps_the_format_and_drops_the_template() -> None:
    dialect = dialect_for(MISTRAL_ARGS_STYLE)
    plain = dialect.plain()
    assert isinstance(plain, Mistral) and plain.args and plain.features == PLAIN
    assert JsonProtocol().plain().name == "json"


# --- the JSON protocol's stream -------------------------------------------------------------

ANSWERS = [
    '{"answer": "Hello, world."}',
    '{ "answer" : "Line one\\nLine \\"two\\" \\\\ \\/ \\t tab" }',
    '{"answer": "caf\\u00e9 \\ud83d\\ude00 \\u4e2d"}',
    '{"answer":""}',
    '{"answer": "raw\nnewline"}',  # the grammar lets control characters into strings
]


@pytest.mark.parametrize("output", ANSWERS)
def test_answers_decode_the_same_in_every_chunking(output: str) -> None:
    expected = json.loads(output, strict=False)["answer"]
    for chunks in chunkings(output):
        events, reason = run(JsonProtocol(), chunks)
        assert texts(events) == expected, chunks
        assert all(isinstance(e, TextDelta) for e in events)
        assert reason == "stop"


def test_answer_words_stream_before_the_object_ends() -> None:
    stream = JsonProtocol().parser(TOOLS)
    assert stream.feed('{"ans') == []
    assert stream.feed('wer": "Hel') == [TextDelta("Hel")]
    assert stream.feed("lo\\") == [TextDelta("lo")]
    assert stream.feed('n"}') == [TextDelta("\n")]
    assert stream.finish("stop") == ([], "stop")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    answer=st.text(),
    ascii_only=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_any_answer_any_chunking(answer: str, ascii_only: bool, cuts: list[int]) -> None:
    output = json.dumps({"answer": answer}, ensure_ascii=ascii_only)
    points = sorted({c % (len(output) + 1) for c in cuts})
    chunks = [output[a:b] for a, b in itertools.pairwise([0, *points, len(output)])]
    events, reason = run(JsonProtocol(), chunks)
    assert texts(events) == answer
    assert not any('{"answer"' in e.text for e in events if isinstance(e, TextDelta))
    assert reason == "stop"


@pytest.mark.parametrize(
    ("escaped", "decoded"),
    [
        ("\\ud83d\\ude00", "\U0001f600"),
        ("\\ud83d", "\ufffd"),  # a high surrogate alone
        ("\\ude00", "\ufffd"),  # a low surrogate alone
        ("\\ud83dx", "\ufffdx"),
        ("\\ud83d\\ud83d\\ude00", "\ufffd\U0001f600"),
        ("\\q", "q"),  # not an escape JSON knows: the character
        ("\\uZZ", "uZZ"),
    ],
)
def test_escapes_split_anywhere(escaped: str, decoded: str) -> None:
    output = '{"answer": "' + escaped + '"}'
    for chunks in chunkings(output):
        assert texts(run(JsonProtocol(), chunks)[0]) == decoded, chunks


def test_string_decoder_reports_what_follows_the_string() -> None:
    decoder = JsonStringDecoder()
    assert decoder.feed("ab\\") == ("ab", "")
    assert decoder.feed('"c" } tail') == ('"c', " } tail")
    assert decoder.closed and decoder.feed("more") == ("", "more")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('{"answer": "Hello wor', "Hello wor"),
        ('{"answer": "Hello\\', "Hello"),
        ('{"answer": "caf\\u00', "caf"),
        ('{"answer": "smile \\ud83d', "smile "),
        ('{"answer": "', ""),
        ('{"answer"', ""),
        ('{"ans', ""),
        ("{", ""),
        ("", ""),
    ],
)
def test_a_cut_short_answer_keeps_what_was_decoded(output: str, expected: str) -> None:
    for chunks in chunkings(output, randoms=10):
        events, reason = run(JsonProtocol(), chunks, "length")
        assert texts(events) == expected and reason == "length"
        assert not any('{"' in e.text for e in events if isinstance(e, TextDelta))


CALL_OUTPUTS = [
    ('{"tool": "read_file", "arguments": {"path": "a}b\\"c{"}}', {"path": 'a}b"c{'}),
    ('{ "tool" : "read_file" , "arguments" : { "path" : "x" } } ', {"path": "x"}),
    ('{"arguments": {"path": "x"}, "tool": "read_file"}', {"path": "x"}),  # any key order
    ('{"tool": "read_file", "arguments": "{\\"path\\": \\"x\\"}"}', {"path": "x"}),
    ('{"tool": "read_file", "arguments": 7}', {}),
]


@pytest.mark.parametrize(("output", "arguments"), CALL_OUTPUTS)
def test_protocol_calls_in_every_chunking(output: str, arguments: dict[str, Any]) -> None:
    expected = [ToolCallRequested(ToolCall("call_1", "read_file", arguments))]
    for chunks in chunkings(output):
        assert run(JsonProtocol(), chunks) == (expected, "tool_calls"), chunks


def test_protocol_odd_outputs() -> None:
    # Not the protocol at all: streamed as text, as it comes.
    stream = JsonProtocol().parser(TOOLS)
    assert stream.feed("  Sure") == [TextDelta("Sure")]
    assert stream.feed(", here.") == [TextDelta(", here.")]
    # An answer in an unusual key order is shown whole; an unknown object as written.
    assert run(JsonProtocol(), ['{"mood": 1, "answer": "hi"}']) == ([TextDelta("hi")], "stop")
    assert run(JsonProtocol(), ['{"mood": 1}']) == ([TextDelta('{"mood": 1}')], "stop")
    # What follows a complete object is ignored.
    assert run(JsonProtocol(), ['{"answer": "a"} {"answer": "b"}']) == ([TextDelta("a")], "stop")
    # A call cut short is shown as the text the model wrote; the reason stays.
    cut = '{"tool": "read_file", "arguments": {"pa'
    assert run(JsonProtocol(), [cut], "length") == ([TextDelta(cut)], "length")
    # Cancelled: no call is reported.
    assert run(JsonProtocol(), ['{"tool": "read_file"'], "cancelled")[1] == "cancelled"


# --- the native formats' streams ------------------------------------------------------------

R = {"path": "x.md"}
S = {"query": "milk", "limit": 2}
NATIVE_CASES: list[tuple[ToolDialect, str, str, list[tuple[str, dict[str, Any]]]]] = [
    (Hermes(), "Plain answer, no call.", "Plain answer, no call.", []),
    (
        Hermes(),
        'Let me look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "x.md"}}\n'
        '</tool_call>\n<tool_call>\n{"name": "search", "arguments": {"query": "milk", '
        '"limit": 2}}\n</tool_call>',
        "Let me look.",
        [("read_file", R), ("search", S)],
    ),
    (Hermes(), "a < b, <tool x>, <tool_cal", "a < b, <tool x>, <tool_cal", []),
    (
        Hermes(),
        '<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"x.md\\"}"}</tool_call>',
        "",
        [("read_file", R)],
    ),
    (
        Hermes(),
        '{"name": "read_file", "arguments": {"path": "x.md"}}',  # without the tags
        "",
        [("read_file", R)],
    ),
    (Hermes(), '{"name": "unknown", "arguments": {}}', '{"name": "unknown", "arguments": {}}', []),
    (
        Hermes(),
        "<tool_call>not json</tool_call> after",
        "<tool_call>not json</tool_call> after",
        [],
    ),
    (
        Hermes(),
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "x.md"}}\nDone.',  # unclosed
        "Done.",
        [("read_file", R)],
    ),
    (Llama3(), "The answer is 4.", "The answer is 4.", []),
    (Llama3(), '{"name": "read_file", "parameters": {"path": "x.md"}}', "", [("read_file", R)]),
    (
        Llama3(),
        '<|python_tag|>{"name": "read_file", "parameters": {"path": "x.md"}}; '
        '{"name": "search", "parameters": {"query": "milk", "limit": 2}}',
        "",
        [("read_file", R), ("search", S)],
    ),
    (
        Llama3(),
        '{"type": "function", "name": "read_file", "parameters": {"path": "x.md"}}',
        "",
        [("read_file", R)],
    ),
    (Llama3(), '{"name": "Ada", "age": 36}', '{"name": "Ada", "age": 36}', []),
    (Llama3(), "{not json} ok", "{not json} ok", []),
    (
        Llama3(),
        '<|python_tag|>brave_search.call(query="x")',
        '<|python_tag|>brave_search.call(query="x")',
        [],
    ),
    (Llama3(), 'I call it: {"name": "read_file"}', 'I call it: {"name": "read_file"}', []),
    (Mistral(), "[1] See the notes.", "[1] See the notes.", []),
    (
        Mistral(),
        '[TOOL_CALLS] [{"name": "read_file", "arguments": {"path": "x.md"}, "id": "a1b2c3d4e"}, '
        '{"name": "search", "arguments": {"query": "milk", "limit": 2}}]',
        "",
        [("read_file", R), ("search", S)],
    ),
    (
        Mistral(),
        '[{"name": "read_file", "arguments": {"path": "x.md"}}]',  # the marker was a
        "",  # control token, detokenized away
        [("read_file", R)],
    ),
    (
        Mistral(),
        'Checking.[TOOL_CALLS]read_file[ARGS]{"path": "x.md"}'
        '[TOOL_CALLS]search[CALL_ID]a1b2c3d4e[ARGS]{"query": "milk", "limit": 2}',
        "Checking.",
        [("read_file", R), ("search", S)],
    ),
    (Mistral(), "[TOOL_CALLS] oops, prose", "[TOOL_CALLS] oops, prose", []),
    (
        Mistral(),
        '[TOOL_CALLS] no.[TOOL_CALLS]read_file[ARGS]{"path": "x.md"}',
        "[TOOL_CALLS] no.",
        [("read_file", R)],
    ),
    (
        Mistral(),
        '[TOOL_CALLS]read_file[ARGS] x [TOOL_CALLS]read_file[ARGS]{"path": "x.md"}',
        "[TOOL_CALLS]read_file[ARGS] x",
        [("read_file", R)],
    ),
    (
        Llama3(),
        '<|python_tag|>run(1) then <|python_tag|>{"name": "read_file", "parameters": {"path": '
        '"x.md"}}',
        "<|python_tag|>run(1) then",
        [("read_file", R)],
    ),
    (Mistral(), '[{"a": 1}] is JSON', '[{"a": 1}] is JSON', []),
]


@pytest.mark.parametrize(
    ("dialect", "output", "text", "made"), NATIVE_CASES, ids=[c[1][:40] for c in NATIVE_CASES]
)
def test_native_streams_are_the_same_in_every_chunking(
    dialect: ToolDialect, output: str, text: str, made: list[tuple[str, dict[str, Any]]]
) -> None:
    expected = run(dialect, [output])
    assert texts(expected[0]) == text
    assert calls(expected[0]) == made
    assert expected[1] == ("tool_calls" if made else "stop")
    for chunks in chunkings(output):
        assert run(dialect, chunks) == expected, chunks


def test_text_that_may_start_a_marker_waits() -> None:
    stream = Hermes().parser(TOOLS)
    assert stream.feed("Hello <tool") == [TextDelta("Hello")]
    assert stream.feed("_call>") == []
    assert stream.feed('{"name": "read_file", "arguments": {}}') == []
    [event] = stream.feed("</tool_call>")
    assert isinstance(event, ToolCallRequested) and event.call.name == "read_file"
    assert stream.finish("stop") == ([], "tool_calls")

    stream = Hermes().parser(TOOLS)
    assert stream.feed("Hello <to") == [TextDelta("Hello")]
    assert stream.feed("day") == [TextDelta(" <today")]


def test_native_text_streams_as_it_comes() -> None:
    stream = Llama3().parser(TOOLS)
    assert stream.feed("The") == [TextDelta("The")]
    assert stream.feed(" answer ") == [TextDelta(" answer")]  # trailing space waits
    assert stream.feed("is 4") == [TextDelta(" is 4")]


@pytest.mark.parametrize(
    ("dialect", "output"),
    [
        (Hermes(), '<tool_call>\n{"name": "read_file", "argu'),
        (Llama3(), '{"name": "read_file", "parameters": {"pa'),
        (Mistral(), '[TOOL_CALLS] [{"name": "read_file", "arguments": {"pa'),
        (Mistral(), "[TOOL_CALLS]read_fi"),
    ],
)
def test_a_cut_short_call_becomes_its_text(dialect: ToolDialect, output: str) -> None:
    for chunks in chunkings(output, randoms=10):
        events, reason = run(dialect, chunks, "length")
        assert events == [TextDelta(output)] and reason == "length"


def test_calls_made_before_the_cut_still_count() -> None:
    output = (
        '<tool_call>{"name": "read_file", "arguments": {"path": "x.md"}}</tool_call>'
        '<tool_call>{"name": "sea'
    )
    events, reason = run(Hermes(), [output], "length")
    assert calls(events) == [("read_file", R)] and reason == "tool_calls"
    assert texts(events) == '<tool_call>{"name": "sea'
    _, reason = run(Hermes(), [output], "cancelled")
    assert reason == "cancelled"


def test_a_call_to_an_unknown_tool_is_still_a_call_when_marked() -> None:
    # The task loop answers it with "there is no tool ...": a clear error the model can fix.
    output = '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>'
    assert calls(run(Hermes(), [output])[0]) == [("delete_all", {})]


# --- grammars, with a real llama.cpp model --------------------------------------------------

ODD_TOOLS = (
    ToolSpec(
        "pick",
        "Two tools sharing a $defs name must not share its rule.",
        {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/item"}},
            "required": ["item"],
            "$defs": {"item": {"enum": ["a", "b"]}},
        },
    ),
    ToolSpec(
        "put",
        'A name with "quotes" is fine in its description.',
        {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/item"}},
            "required": ["item"],
            "$defs": {"item": {"type": "integer"}},
        },
    ),
    ToolSpec("weird", "A schema the converter rejects.", {"type": "object", "$ref": "http://x"}),
    ToolSpec("anything", "No schema at all.", {}),
)
SMALL_TOOLS = (
    ToolSpec(
        "count",
        "Count.",
        {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
            "required": ["n", "unit"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "flag",
        "Flag.",
        {
            "type": "object",
            "properties": {"on": {"type": "boolean"}},
            "required": ["on"],
            "additionalProperties": False,
        },
    ),
)
ALL_DIALECTS = [JsonProtocol(), Hermes(), Llama3(), Mistral(), Mistral(args=True)]


@pytest.fixture(scope="module")
def llm(tiny_model_path: Path) -> Iterator[Any]:
    from llama_cpp import Llama

    model = Llama(model_path=str(tiny_model_path), n_ctx=1024, verbose=False)
    yield model
    model.close()


@pytest.mark.parametrize("dialect", ALL_DIALECTS, ids=dialect_id)
def test_every_grammar_compiles(llm: Any, dialect: ToolDialect) -> None:
    assert dialect.grammar(()) is None
    for tools in (TOOLS, ODD_TOOLS, SMALL_TOOLS, TOOLS[:1]):
        for require_call in (False, True):
            grammar = dialect.grammar(tools, require_call=require_call)
            assert grammar is not None and grammar_compiles(llm, grammar), grammar
    assert not grammar_compiles(llm, "root ::= missing-rule")


def generate(llm: Any, grammar: str, seed: int, max_tokens: int) -> tuple[str, FinishReason]:
    from llama_cpp.llama_grammar import LlamaGrammar

    prompt = llm.tokenize(b"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", special=True)
    llm.reset()
    result = llm.create_completion(
        prompt,
        max_tokens=max_tokens,
        temperature=1.0,
        seed=seed,
        grammar=LlamaGrammar.from_string(grammar, verbose=False),
    )
    choice = result["choices"][0]
    return choice["text"], choice["finish_reason"]


@pytest.mark.parametrize("dialect", ALL_DIALECTS, ids=dialect_id)
def test_constrained_calls_always_parse(llm: Any, dialect: ToolDialect) -> None:
    grammar = dialect.grammar(SMALL_TOOLS, require_call=True)
    assert grammar is not None
    made = 0
    for seed in range(2):
        text, ended = generate(llm, grammar, seed, 200)
        events, reason = run(dialect, [text], ended, SMALL_TOOLS)
        for name, arguments in calls(events):
            if name == "count":  # the arguments follow the tool's schema
                assert set(arguments) == {"n", "unit"} and arguments["unit"] in ("c", "f")
                assert isinstance(arguments["n"], int) and not isinstance(arguments["n"], bool)
            else:
                assert name == "flag" and set(arguments) == {"on"}
                assert isinstance(arguments["on"], bool)
            made += 1
        if ended == "stop":  # finished: the whole reply is calls, nothing left over as text
            assert reason == "tool_calls" and texts(events) == "", text
    assert made


@pytest.mark.parametrize("dialect", ALL_DIALECTS, ids=dialect_id)
def test_constrained_free_output_always_parses(llm: Any, dialect: ToolDialect) -> None:
    grammar = dialect.grammar(SMALL_TOOLS)
    assert grammar is not None
    for seed in range(2):
        text, ended = generate(llm, grammar, seed, 40)
        events, reason = run(dialect, [text], ended, SMALL_TOOLS)
        assert reason in ("stop", "length", "tool_calls")
        if isinstance(dialect, JsonProtocol):
            assert not any('{"answer"' in e.text for e in events if isinstance(e, TextDelta))
        elif not calls(events):
            # Prose never holds a marker (the grammar keeps it out), so all of it is shown.
            assert re.sub(r"\s+", "", texts(events)) == re.sub(r"\s+", "", text)


@pytest.mark.parametrize("dialect", ALL_DIALECTS, ids=dialect_id)
def test_argument_choices_and_patterns_hold_in_constrained_output(
    llm: Any, dialect: ToolDialect
) -> None:
    """`ToolSpec.choices` and `patterns` reach the grammar: a call can only name a file
    that exists, or a new one inside a known folder."""
    existing = ("notes/a.md", "notes/b.md")
    tools = (
        ToolSpec(
            "read_file",
            "Read a file.",
            {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            choices={"path": existing},
        ),
        ToolSpec(
            "write_file",
            "Write a file.",
            {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            patterns={"path": "^(drafts|no-tes)/[a-z]+[.]md$"},
        ),
    )
    grammar = dialect.grammar(tools, require_call=True)
    assert grammar is not None and grammar_compiles(llm, grammar), grammar
    made = 0
    for seed in range(3):
        text, ended = generate(llm, grammar, seed, 300)
        for name, arguments in calls(run(dialect, [text], ended, tools)[0]):
            made += 1
            if name == "read_file":
                assert arguments["path"] in existing
            else:
                assert re.fullmatch(r"(drafts|no-tes)/[a-z]+\.md", arguments["path"]), arguments
    assert made


# --- fuzzing: any output, any chunking -------------------------------------------------------

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<tool",
    "[TOOL_CALLS]",
    "[TOOL",
    "[ARGS]",
    "[CALL_ID]",
    "<|python_tag|>",
    "read_file",
    '{"name": "read_file", "arguments": {"path": "x"}}',
    '{"name": "search", "parameters": {"query": "q"}}',
    '[{"name": "search", "arguments": {"query": "q"}}]',
    '{"answer": "',
    '{"tool": "read_file", "arguments": {}}',
    '{"a": [1, "}"]}',
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    "\\u00e9",
    "\\ud83d",
    '"}',
    " ",
    "\n",
    ";",
    "hello",
    "é",
]
REASONS: list[FinishReason] = ["stop", "length", "cancelled"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    pieces=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12),
    reason=st.sampled_from(REASONS),
)
def test_any_output_any_chunking(pieces: list[str], cuts: list[int], reason: FinishReason) -> None:
    output = "".join(pieces)
    points = sorted({c % (len(output) + 1) for c in cuts})
    chunks = [output[a:b] for a, b in itertools.pairwise([0, *points, len(output)])]
    for dialect in ALL_DIALECTS:
        whole = run(dialect, [output], reason)
        assert run(dialect, chunks, reason) == whole, (dialect, chunks)
        assert run(dialect, list(output), reason) == whole, dialect
        events, final = whole
        assert final == ("tool_calls" if calls(events) and reason != "cancelled" else reason)
