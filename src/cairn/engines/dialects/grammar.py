"""GBNF grammars for tool calls, built on llama-cpp-python's JSON-schema converter.

A native format's grammar lets the model either write free text or make calls in its own
syntax, with each call's arguments held to that tool's JSON schema. Free text is "any text
that does not contain the call marker", written as the rules of the small automaton that
recognises the marker: the model cannot slip a malformed call into its prose, and a call
it does make must be well formed. The marker's first character must not recur in it
("<tool_call>", "[TOOL_CALLS]" and "<|python_tag|>" all qualify), which keeps the
automaton to one state per character.

llama_cpp is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.engine import ToolSpec
from cairn.engines.dialects.base import plain_json

ANY_OBJECT: dict[str, Any] = {"type": "object"}


def usable_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A tool's argument schema if llama.cpp's converter handles it; else any JSON object
    (the task loop still checks the arguments against the real schema)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        # Local references are written out in place: the converter names a referenced
        # rule after its last path segment, so two tools' "#/$defs/item" would collide.
        schema = _inline_refs(plain_json(parameters), plain_json(parameters), 0)
        json_schema_to_gbnf(json.dumps(schema))
    except Exception:  # the converter raises assorted errors on schemas it cannot handle
        return dict(ANY_OBJECT)
    return schema if isinstance(schema, dict) else dict(ANY_OBJECT)


def _inline_refs(node: Any, root: Any, depth: int) -> Any:
    if depth > 32:
        raise ValueError("recursive or too deeply nested $ref")
    if isinstance(node, list):
        return [_inline_refs(item, root, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#"):
            raise ValueError(f"only local references are supported, not {ref}")
        target = root
        for part in filter(None, ref[1:].split("/")):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _inline_refs(target, root, depth + 1)
    return {
        key: _inline_refs(value, root, depth)
        for key, value in node.items()
        if key not in ("$defs", "definitions")
    }


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(json.dumps(plain_json(schema))))


def literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    return '"' + "".join(_escape(c, in_class=False) for c in text) + '"'


def char_class(chars: str, *, negate: bool = False) -> str:
    body = "".join(_escape(c, in_class=True) for c in dict.fromkeys(chars))
    return f"[{'^' if negate else ''}{body}]"


def _escape(char: str, *, in_class: bool) -> str:
    code = ord(char)
    plain = char.isascii() and (char.isalnum() or char in " _.,:;!?'()/|<>{}@#$%&*+=~`")
    if plain and not (in_class and char in "^-"):
        return char
    if code < 0x80:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


class GrammarBuilder:
    """Collects rules: Cairn's own and those llama.cpp's converter makes from each tool's
    schema (one converter, so shared rules such as `string` are written once)."""

    def __init__(self) -> None:
        from llama_cpp import llama_grammar

        converter: Any = llama_grammar.SchemaConverter  # untyped
        self._converter: Any = converter(
            prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
        )
        self._rules: dict[str, str] = {}

    def add(self, name: str, rule: str) -> str:
        self._rules[name] = rule
        return name

    def arguments(self, index: int, tool: ToolSpec) -> str:
        """The rule for `tool`'s arguments object, named `tool-<index>-arguments`."""
        schema = usable_schema(tool.constrained())
        resolved = self._converter.resolve_refs(schema, f"tool{index}")
        return str(self._converter.visit(resolved, f"tool-{index}-arguments"))

    def prose(self, name: str, marker: str, *, not_first: str = "") -> str:
        """Rules for any text without `marker` in it; `not_first`: characters it may not
        start with. Returns the rule's name."""
        first = marker[0]
        if first in marker[1:]:
            raise ValueError(f"the first character of {marker!r} recurs in it")
        state = [f"{name}-{k}" for k in range(len(marker))]
        # state[k]: the text so far ends with the first k characters of the marker.
        for k, rule in enumerate(state):
            options = [f"{literal(first)} {state[1]}"]
            if k == 0:
                options.insert(0, f"{char_class(first, negate=True)} {state[0]}")
            else:
                options.append(f"{char_class(marker[k] + first, negate=True)} {state[0]}")
                if k + 1 < len(marker):
                    options.insert(0, f"{literal(marker[k])} {state[k + 1]}")
            self.add(rule, "( " + " | ".join(options) + " )?")
        if not not_first:
            return self.add(name, state[0])
        options = [f"{char_class(first + not_first, negate=True)} {state[0]}"]
        if first not in not_first:
            options.append(f"{literal(first)} {state[1]}")
        return self.add(name, "( " + " | ".join(options) + " )?")

    def call_object(
        self, name: str, tools: Sequence[ToolSpec], *, arguments_key: str, extra: str = ""
    ) -> str:
        """`{"name": "<tool>", "<arguments_key>": {...}<extra>}` for any of `tools`;
        `extra` is a grammar fragment allowed before the closing brace."""
        options = []
        for index, tool in enumerate(tools):
            args = self.arguments(index, tool)
            options.append(
                self.add(
                    f"{name}-{index}",
                    f"{literal(json.dumps(tool.name, ensure_ascii=False))} space "
                    f'"," space {literal(json.dumps(arguments_key))} space ":" space {args}',
                )
            )
        rule = f'"{{" space {literal(json.dumps("name"))} space ":" space ( '
        rule += " | ".join(options) + f" ) {extra} " + '"}" space'
        return self.add(name, rule)

    def named_arguments(self, name: str, tools: Sequence[ToolSpec], separator: str) -> str:
        """`<tool>[ARGS]{...}` for any of `tools` (the name written bare)."""
        options = [
            f"{literal(tool.name)} {literal(separator)} {self.arguments(index, tool)}"
            for index, tool in enumerate(tools)
        ]
        return self.add(name, " | ".join(options))

    def text(self, root: str) -> str:
        rules = {"root": root, **self._rules}
        converted = str(self._converter.format_grammar())
        return "\n".join(f"{k} ::= {v}" for k, v in rules.items()) + "\n" + converted + "\n"


def grammar_compiles(llm: Any, grammar: str) -> bool:
    """Whether llama.cpp accepts `grammar` for the loaded model `llm` (a `llama_cpp.Llama`).

    `LlamaGrammar.from_string` does not check anything; llama.cpp parses the text only when
    the sampler is made, and a grammar it rejects would crash the sampler chain. Ask once
    per grammar and generate without it when this says False.
    """
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        llm._model.vocab, grammar.encode("utf-8"), b"root"
    )
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True
