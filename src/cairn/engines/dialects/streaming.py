"""Incremental pieces the parsers are built from.

Every piece here decides from the text seen so far and never from where a chunk ended, so
feeding one output in any chunking gives the same text and the same calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cairn.core.engine import FinishReason, TextDelta, ToolCall, ToolCallRequested, ToolSpec
from cairn.engines.dialects.base import NewId, StreamEvent, ToolStream, calls_in

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_STRING_STOP = re.compile(r'["\\]')
_STRUCTURE = re.compile(r'[\[\]{}"]')
REPLACEMENT = "\ufffd"


class JsonStringDecoder:
    """Decodes the inside of a JSON string as it arrives, up to its closing quote.

    An escape split across chunks (a lone backslash, `\\u12`, or the first half of a
    surrogate pair) waits for the rest. A lone surrogate becomes U+FFFD so the text stays
    valid Unicode; an unknown escape gives the escaped character, as lenient parsers do.
    """

    def __init__(self) -> None:
        self._pending = ""  # the start of an escape, cut off by the end of a chunk
        self._high = 0  # a high surrogate waiting for its low half
        self.closed = False

    def feed(self, text: str) -> tuple[str, str]:
        """(decoded text, what followed the closing quote: "" until the string closes)."""
        if self.closed:
            return "", text
        buf, self._pending = self._pending + text, ""
        out: list[str] = []
        i, n = 0, len(buf)
        while i < n:
            match = _STRING_STOP.search(buf, i)
            k = match.start() if match else n
            if k > i:
                self._put(out, buf[i:k])
            if match is None:
                break
            if buf[k] == '"':
                if self._high:
                    out.append(REPLACEMENT)
                    self._high = 0
                self.closed = True
                return "".join(out), buf[k + 1 :]
            if k + 1 == n:  # a backslash at the very end: its escape is still coming
                self._pending = buf[k:]
                break
            kind = buf[k + 1]
            if kind != "u":
                self._put(out, _ESCAPES.get(kind, kind))
                i = k + 2
                continue
            digits = buf[k + 2 : k + 6]
            if not all(d in _HEX for d in digits):
                self._put(out, "u")  # not an escape after all: keep what was written
                i = k + 2
            elif len(digits) < 4:
                self._pending = buf[k:]
                break
            else:
                self._code(out, int(digits, 16))
                i = k + 6
        return "".join(out), ""

    def _put(self, out: list[str], text: str) -> None:
        if self._high:
            out.append(REPLACEMENT)
            self._high = 0
        out.append(text)

    def _code(self, out: list[str], code: int) -> None:
        if 0xD800 <= code < 0xDC00:
            if self._high:
                out.append(REPLACEMENT)
            self._high = code
        elif 0xDC00 <= code < 0xE000:
            if self._high:
                out.append(chr(0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)))
                self._high = 0
            else:
                out.append(REPLACEMENT)
        else:
            self._put(out, chr(code))


class JsonSpan:
    """Finds where one JSON object or array ends while its text grows.

    Call `scan` with the whole text so far (it must start with `{` or `[`); it resumes where
    it stopped and returns the index just past the closing bracket, or None until then.
    """

    def __init__(self) -> None:
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def scan(self, text: str) -> int | None:
        i, n = self._pos, len(text)
        while i < n:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                    i += 1
                    continue
                match = _STRING_STOP.search(text, i)
                if match is None:
                    i = n
                    break
                i = match.end()
                if match.group() == "\\":
                    self._escaped = True
                else:
                    self._in_string = False
                continue
            match = _STRUCTURE.search(text, i)
            if match is None:
                i = n
                break
            i = match.end()
            char = match.group()
            if char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth <= 0:
                    self._pos = i
                    return i
        self._pos = i
        return None


def partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of `text` that is a proper start of `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


def make_call(name: str, arguments: dict[str, Any], new_id: NewId) -> ToolCallRequested:
    return ToolCallRequested(ToolCall(id=new_id(), name=name, arguments=arguments))


# --- the native formats' parser ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Syntax:
    """How one native format marks its tool calls."""

    marker: str  # starts a call anywhere in the output: "<tool_call>", "[TOOL_CALLS]"
    close: str | None = None  # ends one ("</tool_call>"); None: the JSON value ends it
    bare: str = ""  # characters that may open a call written without the marker, at the
    # start of the output or right after a call ("{", "["); such a call must name a known tool
    args: str | None = None  # "[ARGS]": calls written `MARKER name[ARGS]{...}` (newer Mistral)
    separators: str = ""  # allowed between calls besides whitespace (";" for Llama 3)


_BARE_START = {"{": re.compile(r'\{\s*"'), "[": re.compile(r'\[\s*\{\s*"')}
_BARE_PARTIAL = {"{": re.compile(r"\{\s*"), "[": re.compile(r"\[\s*(?:\{\s*)?")}
_NAME_HEADER = re.compile(r"\s*([^\s\[\]{}\"]+)\s*(?:\[CALL_ID\]\s*[A-Za-z0-9_-]*\s*)?")
_CALL_ID = "[CALL_ID]"
_NAME_SO_FAR = re.compile(r'\s*[^\s\[\]{}"]*\s*')
_ID_SO_FAR = re.compile(r"\s*[A-Za-z0-9_-]*\s*")


class NativeStream(ToolStream):
    """Text streams as it comes; calls are cut out of it wherever the format marks them.

    Leading and trailing whitespace of each stretch of text is dropped (so the newlines
    between calls never show), and text that could be the start of a marker waits until
    the next characters decide. A call that does not parse is given back as the text the
    model wrote, marker and all.
    """

    def __init__(self, syntax: Syntax, tools: tuple[ToolSpec, ...], new_id: NewId) -> None:
        self._syntax = syntax
        self._known = frozenset(t.name for t in tools)
        self._new_id = new_id
        self._buf = ""  # text not decided yet
        self._mode = "text"  # text | call (after a marker) | json (collecting one value)
        self._fresh = True  # at the start of the output or right after a call
        self._space = ""  # trailing whitespace held back from the text shown so far
        self._lead = ""  # what preceded the JSON being collected: given back if it fails
        self._name: str | None = None  # the tool named before [ARGS]
        self._explicit = False  # the JSON being collected followed a marker
        self._span = JsonSpan()
        self._calls = 0

    def feed(self, text: str) -> list[StreamEvent]:
        self._buf += text
        out: list[StreamEvent] = []
        while self._step(out):
            pass
        return out

    def finish(self, reason: FinishReason) -> tuple[list[StreamEvent], FinishReason]:
        out: list[StreamEvent] = []
        buf, self._buf = self._buf, ""
        if self._mode == "call" and self._syntax.close is not None:
            self._finish_unclosed(buf, out)
        elif self._mode == "text":
            self._text(out, buf, final=True)
        else:  # an unfinished call or a header: the model's own text
            self._text(out, self._lead + buf, final=True)
        self._mode = "done"
        if self._calls and reason != "cancelled":
            return out, "tool_calls"
        return out, reason

    # --- steps: each consumes what it can decide and says whether to go on ---------------

    def _step(self, out: list[StreamEvent]) -> bool:
        if self._mode == "text":
            return self._step_text(out)
        if self._mode == "call":
            return self._step_call(out)
        if self._mode == "json":
            return self._step_json(out)
        if self._mode == "args":
            return self._step_args(out)
        return False

    def _step_text(self, out: list[StreamEvent]) -> bool:
        syntax, buf = self._syntax, self._buf
        if self._fresh:
            buf = buf.lstrip(" \t\r\n" + syntax.separators)
            self._buf = buf
            if not buf:
                return False
            if syntax.marker.startswith(buf) and len(buf) < len(syntax.marker):
                return False  # could be the marker: wait for it
            if not buf.startswith(syntax.marker):
                opener = buf[0]
                if opener in syntax.bare:
                    if _BARE_START[opener].match(buf):
                        self._start_json(buf, lead="", explicit=False)
                        return True
                    if _BARE_PARTIAL[opener].fullmatch(buf):
                        return False
                self._fresh = False
        at = buf.find(syntax.marker)
        if at >= 0:
            self._text(out, buf[:at], final=True)
            self._buf = buf[at + len(syntax.marker) :]
            self._mode, self._lead = "call", syntax.marker
            return True
        keep = partial_suffix(buf, syntax.marker)
        self._text(out, buf[: len(buf) - keep], final=False)
        self._buf = buf[len(buf) - keep :]
        return False

    def _step_call(self, out: list[StreamEvent]) -> bool:
        syntax, buf = self._syntax, self._buf
        if syntax.close is not None:
            end = buf.find(syntax.close)
            if end < 0:
                return False
            inner, self._buf = buf[:end], buf[end + len(syntax.close) :]
            calls = _decode(inner)
            if calls is None:
                self._give_back(out, self._lead + inner + syntax.close)
            else:
                self._emit(out, calls)
            return True
        body = buf.lstrip()
        if not body:
            return False
        if body[0] in "{[":
            self._start_json(body, lead=self._lead + buf[: len(buf) - len(body)], explicit=True)
            return True
        if syntax.args is not None:
            at = buf.find(syntax.args)
            header = _NAME_HEADER.fullmatch(buf[:at]) if at >= 0 else None
            if header is not None:
                self._name = header.group(1)
                self._lead += buf[: at + len(syntax.args)]
                self._buf, self._mode = buf[at + len(syntax.args) :], "args"
                return True
            if at < 0 and _header_so_far(buf, syntax.args):
                return False  # the tool's name, still being written
        # Not a call after all: the marker is text, and what follows is read as text
        # (it may hold a real call further on).
        self._give_back(out, self._lead)
        return True

    def _step_args(self, out: list[StreamEvent]) -> bool:
        """After `name[ARGS]`: the arguments object must follow."""
        buf = self._buf
        body = buf.lstrip()
        if not body:
            return False
        if body[0] == "{":
            self._start_json(body, lead=self._lead + buf[: len(buf) - len(body)], explicit=True)
            return True
        self._name = None
        self._give_back(out, self._lead)
        return True

    def _step_json(self, out: list[StreamEvent]) -> bool:
        end = self._span.scan(self._buf)
        if end is None:
            return False
        value_text, self._buf = self._buf[:end], self._buf[end:]
        calls: list[tuple[str, dict[str, Any]]] | None
        if self._name is not None:  # `name[ARGS]{...}`: the object is the arguments
            arguments = _object(value_text)
            calls = None if arguments is None else [(self._name, arguments)]
            self._name = None
        else:
            calls = _decode(value_text)
            if calls and not self._explicit and any(n not in self._known for n, _ in calls):
                calls = None  # unmarked JSON that does not name our tools is an answer
        if calls is None:
            self._give_back(out, self._lead + value_text)
        else:
            self._emit(out, calls)
        return True

    # --- helpers -------------------------------------------------------------------------

    def _start_json(self, body: str, *, lead: str, explicit: bool = False) -> None:
        self._mode, self._buf, self._lead, self._explicit = "json", body, lead, explicit
        self._span = JsonSpan()

    def _emit(self, out: list[StreamEvent], calls: list[tuple[str, dict[str, Any]]]) -> None:
        self._space = ""  # whitespace before a call is not part of the answer
        for name, arguments in calls:
            out.append(make_call(name, arguments, self._new_id))
        self._calls += len(calls)
        self._mode, self._fresh, self._lead = "text", True, ""

    def _give_back(self, out: list[StreamEvent], text: str) -> None:
        """A would-be call that is not one: show it as the text it is, and read on as text
        (without looking for a call at the start of what follows)."""
        self._text(out, text, final=False)
        self._mode, self._fresh, self._lead = "text", False, ""

    def _text(self, out: list[StreamEvent], text: str, *, final: bool) -> None:
        text = self._space + text
        body = text.rstrip()
        self._space = "" if final else text[len(body) :]
        if body:
            out.append(TextDelta(body))

    def _finish_unclosed(self, inner: str, out: list[StreamEvent]) -> None:
        """A call block never closed (the model stopped or ran out): take the call if its JSON
        is whole, and what follows it as text; otherwise give it all back as text."""
        body = inner.lstrip()
        try:
            value, end = json.JSONDecoder(strict=False).raw_decode(body)
        except ValueError:
            value, end = None, 0
        calls = calls_in(value) if value is not None else None
        if calls is None:
            self._text(out, self._lead + inner, final=True)
            return
        self._emit(out, calls)
        self._text(out, body[end:].strip(), final=True)


def _header_so_far(text: str, args: str) -> bool:
    """Whether `text` can still grow into `name[ARGS]` (or `name[CALL_ID]id[ARGS]`)."""
    rest = text[_matched(_NAME_SO_FAR, text, 0) :]
    if rest.startswith(_CALL_ID):
        rest = rest[_matched(_ID_SO_FAR, rest, len(_CALL_ID)) :]
    elif _CALL_ID.startswith(rest):
        return True
    return args.startswith(rest)


def _matched(pattern: re.Pattern[str], text: str, start: int) -> int:
    match = pattern.match(text, start)
    return match.end() if match else start


def _decode(text: str) -> list[tuple[str, dict[str, Any]]] | None:
    try:
        value = json.loads(text.strip(), strict=False)
    except ValueError:
        return None
    return calls_in(value)


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, strict=False)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
