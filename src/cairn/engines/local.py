"""The local engine: any GGUF model through llama.cpp (llama-cpp-python).

Design notes
- Cairn formats the chat prompt itself (the file's own chat template, or a named
  llama-cpp-python format) and calls the completion API with the token list. That
  gives exact prompt token counts, lets Cairn count the prefix llama.cpp reused, and
  lets one grammar path serve structured output and tool calls alike.
- Prefix reuse: llama.cpp keeps the KV cache of the last prompt; a new prompt that
  starts with the same tokens (instructions, space readme and skill text repeat across
  a task's steps) only evaluates the new suffix. Keeping one `Llama` warm between
  steps is what makes that work, so the engine holds it until it is idle.
- Tool calls: small local models rarely follow a native tool-call format, so tools are
  offered through a JSON protocol whose output is constrained by a grammar: the model
  can only answer `{"answer": ...}` or `{"tool": ..., "arguments": {...}}`.
- Threads: two locks. `_lock` (re-entrant) guards short sections: loading, unloading,
  counting, preparing a prompt, the idle timer; it is never held across a `yield`.
  `_generating` (a plain lock) is held for a whole generation, from the stream's first
  step to its end, and is released in the stream's `finally`. A plain lock may be
  released by any thread, so a stream abandoned by one thread and closed (or
  garbage-collected) on another still frees the engine; a re-entrant lock could only be
  released by the thread that took it. The idle timer and `unload()` never free the model
  while `_generating` is held: `unload()` then defers to the end of that generation.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import gc
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    EngineEvent,
    Finished,
    FinishReason,
    Message,
    TextDelta,
    ToolSpec,
    Usage,
)
from cairn.engines.dialects import ToolDialect, dialect_for, grammar_compiles
from cairn.engines.gguf_header import read_gguf_info
from cairn.engines.memory import MemoryEstimate, available_memory, estimate
from cairn.engines.prefix_cache import CachedPrefix, PrefixCache
from cairn.engines.repetition import RepetitionDetector

_log = logging.getLogger(__name__)

ANSWER_ONLY = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}

DEFAULT_CONTEXT = 4096
_CONTEXT_MARGIN = 8
_EVAL_CHUNK = 512  # prompt tokens evaluated between two looks at the cancel token


def _collect() -> None:
    """Free a model's memory now, unless the process collects cycles on one thread only
    (the desktop app turns automatic collection off for that: see `cairn.app.gc_guard`);
    then that thread's next collection frees it."""
    if gc.isenabled():
        gc.collect()


_LOAD_LOCK = threading.Lock()
"""One model load at a time per process: llama-cpp-python silences a load by pointing the
process's stdout and stderr at /dev/null and back, and two loads at once (two automation
runs) can restore each other's /dev/null, leaving the process without stderr for good."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """How tokens are picked, beyond temperature (which each request sets).

    The defaults suit small models, which loop without a repetition penalty; every value
    can be set per model in agents.md (`sampling:`), see docs/models.md.
    """

    repeat_penalty: float = 1.1  # >1 makes tokens seen in the last `repeat_last_n` less likely
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    stop_loops: bool = True  # end an answer that repeats itself (engines.repetition)


class LocalEngine:
    """A GGUF model loaded on demand, kept warm, unloaded when idle or on request."""

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        context: int | None = None,
        gpu_layers: int = 0,
        threads: int | None = None,
        chat_format: str | None = None,
        idle_unload_s: float | None = 600.0,
        available: int | None = None,  # memory to plan against; None: measured at load
        sampling: Sampling | None = None,
        prefix_cache: PrefixCache | None = None,
        tool_format: str | None = None,
    ) -> None:
        self._name = name
        self.path = Path(path).expanduser()
        self._context = context
        self._gpu_layers = gpu_layers
        self._threads = threads
        self._chat_format = chat_format
        self._idle_unload_s = idle_unload_s
        self._available = available
        self.sampling = sampling or Sampling()
        self._prefix_cache = prefix_cache
        dialect_for(None, tool_format)  # a wrong value fails here, not at the first call
        self._tool_format = tool_format
        self._dialect: ToolDialect | None = None
        self._model_id: str | None = None  # the file's sha256, once the cache needed it
        self._llm: Any = None
        self._formatter: Any = None
        self._lock = threading.RLock()  # short sections only; never held across a yield
        self._generating = threading.Lock()  # one generation at a time; any thread releases it
        self._runner: int | None = None  # the thread that last advanced the generation
        self._unload_pending = False  # unload() was asked for during a generation
        self._idle_timer: threading.Timer | None = None
        self._idle_deadline = 0.0
        self._pieces: dict[int, bytes] = {}  # token -> its bytes, for the loaded model
        self._special_pieces: dict[int, bytes] = {}  # the same, control tokens spelled out
        self._grammars: dict[str, Any] = {}

    # --- ChatEngine -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_local(self) -> bool:
        return True

    @property
    def context_window(self) -> int | None:
        if self._context:
            return self._context
        if self._llm is not None:
            return int(self._llm.n_ctx())
        return None

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def unready(self) -> str | None:
        """Why this model cannot run now without trying (its file is missing), for the
        router to pass it over up front; None when it may be tried."""
        if not self.path.is_file():
            return f"model file {self.path} not found (`cairn models` lists GGUF files here)"
        return None

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        with self._lock:
            llm = self._ensure_loaded()
            # The tool protocol is part of the prompt: count it too.
            return len(self._prompt_tokens(llm, messages, tools)[0])

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        me = threading.get_ident()
        if self._runner == me and self._generating.locked():
            # Waiting would wait for ourselves forever.
            raise EngineError(
                "bad_request",
                f"a stream of model '{self._name}' is still open on this thread: read it to "
                "the end or close() it before starting another",
                model=self._name,
            )
        self._generating.acquire()
        self._runner = me
        try:
            for event in self._stream(request, cancel):
                yield event
                self._runner = threading.get_ident()  # a stream may move between threads
        finally:
            # Runs on whichever thread finishes, closes or collects the stream.
            with self._lock:
                self._runner = None
                self._generating.release()
                if self._unload_pending:
                    self._unload_now()
                else:
                    self._touch()

    # --- loading ------------------------------------------------------------------------

    def check_fit(self) -> MemoryEstimate:
        """Estimate memory from the file header; raise `out_of_memory` if it cannot fit."""
        if not self.path.is_file():
            raise EngineError(
                "unavailable",
                f"model file {self.path} does not exist: fix 'path:' for model "
                f"'{self._name}' in agents.md, or run `cairn models` to see the GGUF files "
                "found on this machine",
                model=self._name,
            )
        try:
            info = read_gguf_info(self.path)
        except Exception as exc:
            raise EngineError(
                "unavailable", f"{self.path} is not a readable GGUF model: {exc}", model=self._name
            ) from exc
        context = self._context or min(info.context_length or DEFAULT_CONTEXT, DEFAULT_CONTEXT)
        available = self._available if self._available is not None else available_memory()
        fit = estimate(info, context, self._gpu_layers, available)
        if not fit.fits:
            raise EngineError(
                "out_of_memory",
                f"model '{self._name}' with a {context:,}-token context {fit.describe()}. "
                "Lower 'context:' in agents.md, use a smaller quantisation, offload layers "
                "to a GPU with 'gpu_layers:', or close other programs.",
                model=self._name,
            )
        return fit

    def load(self) -> None:
        with self._lock:
            self._ensure_loaded()

    def unload(self) -> None:
        """Free the model's memory now, or when the running generation ends (never under
        it); the next call loads it again."""
        with self._lock:
            if self._generating.locked():
                self._unload_pending = True
            else:
                self._unload_now()

    def _unload_now(self) -> None:
        with self._lock:
            self._unload_pending = False
            self._cancel_idle_timer()
            llm, self._llm, self._formatter = self._llm, None, None
            self._dialect = None
            self._model_id = None  # the file may be replaced before the next load
            self._grammars.clear()
            self._pieces.clear()
            self._special_pieces.clear()
            if llm is not None:
                llm.close()
                del llm
                _collect()

    def _ensure_loaded(self) -> Any:
        if self._llm is not None:
            return self._llm
        self.check_fit()
        from llama_cpp import Llama

        info = read_gguf_info(self.path)
        context = self._context or min(info.context_length or DEFAULT_CONTEXT, DEFAULT_CONTEXT)
        llm = None
        try:
            with _LOAD_LOCK:
                llm = Llama(
                    model_path=str(self.path),
                    n_ctx=context,
                    n_gpu_layers=self._gpu_layers,
                    n_threads=self._threads,
                    last_n_tokens_size=self.sampling.repeat_last_n,
                    verbose=False,
                )
            self._formatter = self._make_formatter(llm)
            template = None if self._chat_format else llm.metadata.get("tokenizer.chat_template")
            self._dialect = dialect_for(template, self._tool_format)
        except EngineError:
            if llm is not None:
                llm.close()
            _collect()
            raise
        except Exception as exc:  # llama.cpp reports load failures as ValueError or OSError
            if llm is not None:
                llm.close()
            del llm
            _collect()  # a failed load must release everything it allocated
            raise EngineError(
                "unavailable", f"llama.cpp could not load {self.path}: {exc}", model=self._name
            ) from exc
        self._llm = llm
        return llm

    def _make_formatter(self, llm: Any) -> Any:
        from llama_cpp import llama_chat_format

        if self._chat_format:
            function = getattr(
                llama_chat_format, "format_" + self._chat_format.replace("-", "_"), None
            )
            if function is None:
                known = sorted(n[7:] for n in dir(llama_chat_format) if n.startswith("format_"))
                raise EngineError(
                    "bad_request",
                    f"unknown chat_format '{self._chat_format}' for model '{self._name}'; "
                    f"known formats: {', '.join(known)} (or leave it out to use the model "
                    "file's own template)",
                    model=self._name,
                )
            return function
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            return llama_chat_format.format_chatml  # the most common convention
        eos, bos = llm.token_eos(), llm.token_bos()
        return llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _touch(self) -> None:
        """Push the idle deadline back. One timer per loaded model, not one per call:
        starting a thread per step would cost more than the step's own bookkeeping."""
        if self._idle_unload_s is None or self._llm is None:
            return
        self._idle_deadline = time.monotonic() + self._idle_unload_s
        if self._idle_timer is None:
            self._arm(self._idle_unload_s)

    def _arm(self, delay: float) -> None:
        self._idle_timer = threading.Timer(delay, self._unload_if_idle)
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _unload_if_idle(self) -> None:
        with self._lock:
            if threading.current_thread() is not self._idle_timer:
                return  # cancelled while it waited for the lock; a newer timer took over
            self._idle_timer = None
            if self._generating.locked():  # busy means not idle: look again later
                self._arm(self._idle_unload_s or 1.0)
                return
            remaining = self._idle_deadline - time.monotonic()
            if remaining > 0:
                self._arm(remaining)  # used since the timer was set
            else:
                self._unload_now()

    # --- generation ---------------------------------------------------------------------

    def _prompt_tokens(
        self, llm: Any, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> tuple[list[int], list[str]]:
        dialect = self._dialect
        assert dialect is not None
        prompt = dialect.render(messages, tools)
        try:
            formatted = self._formatter(messages=prompt.messages, tools=prompt.tools)
        except Exception:  # a template that refuses these messages (raise_exception)
            plain = dialect.plain()
            if plain is dialect:
                raise
            prompt = plain.render(messages, tools)
            formatted = self._formatter(messages=prompt.messages, tools=prompt.tools)
        tokens = llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        # The formatter's stopping criteria only look for the end-of-generation token,
        # which the sampling loop checks itself; stop strings are kept.
        return tokens, [s for s in stop if s]

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            try:
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as exc:
                raise EngineError(
                    "bad_request",
                    f"cannot turn the JSON schema into a grammar: {exc}",
                    model=self._name,
                ) from exc
        return self._grammars[key]

    def _gbnf(self, llm: Any, text: str | None) -> Any:
        """A tool grammar, checked once against this model: None (generate without it)
        when llama.cpp rejects it, as a rejected grammar would crash the sampler."""
        if not text:
            return None
        from llama_cpp.llama_grammar import LlamaGrammar

        if text not in self._grammars:
            ok = grammar_compiles(llm, text)
            if not ok:
                _log.warning(
                    "model '%s': llama.cpp rejected the tool grammar; generating without it",
                    self._name,
                )
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False) if ok else None
        return self._grammars[text]

    # --- the prefix kept on disk (engines.prefix_cache) ------------------------------

    def _stable_prefix(
        self, llm: Any, messages: Sequence[Message], tools: Sequence[ToolSpec], tokens: list[int]
    ) -> int:
        """How many of `tokens` are the system part: everything before the first message
        that is not a system message, which is the same from one request to the next
        (instructions, readme, skills, tool protocol). 0 when there is no cache."""
        cache = self._prefix_cache
        first = next((i for i, m in enumerate(messages) if m.role != "system"), 0)
        if cache is None or first == 0 or len(tokens) < cache.min_tokens:
            return 0
        # The same conversation with other words after the system part: the tokens both
        # share are the stable prefix (the template's own markup included).
        probe = [*messages[:first], Message(messages[first].role, "\u241e")]
        shared = _common_prefix(self._prompt_tokens(llm, probe, tools)[0], tokens)
        return shared if shared >= cache.min_tokens and shared < len(tokens) else 0

    def _prefix_from_disk(
        self, llm: Any, prefix: list[int], have: int, cancel: CancelToken | None
    ) -> int:
        """Make the KV cache hold `prefix`: restored from disk when an entry exists, else
        evaluated now and saved for the next process. Returns how many of the prompt's
        tokens were reused rather than evaluated by this call (the restored entry, or the
        `have` already in memory; 0 once the cache was reset). The cache only ever saves
        time: any failure here falls back to evaluating."""
        cache = self._prefix_cache
        assert cache is not None
        try:
            if self._model_id is None:
                self._model_id = cache.model_id(self.path)
            entry = cache.find(self._model_id, prefix)
            if entry is not None and len(entry.tokens) > have:
                if _restore(llm, entry):
                    return len(entry.tokens)
                cache.forget(entry)  # llama.cpp refused the state: rebuild it below
                have = 0
            if not _evaluate(llm, prefix, have, cancel):
                return have  # cancelled
            cache.save(self._model_id, prefix, _sequence_state(llm))
        except (OSError, RuntimeError, ValueError):
            _reset_kv(llm)  # unknown state: the generation re-evaluates the whole prompt
            return 0
        return have

    def _stream(self, request: ChatRequest, cancel: CancelToken | None) -> Iterator[EngineEvent]:
        """One generation; the caller holds `_generating`."""
        with self._lock:  # loading and the grammar cache are shared with other threads
            llm = self._ensure_loaded()
            tokens, stop = self._prompt_tokens(llm, request.messages, request.tools)
            window = int(llm.n_ctx())
            # llama-cpp-python can overshoot max_tokens by a few tokens (an unfinished UTF-8
            # character) and fails at the very end of the context: keep a small margin.
            room = window - len(tokens) - _CONTEXT_MARGIN
            if room <= 0:
                raise EngineError(
                    "context_too_long",
                    f"the prompt is {len(tokens):,} tokens; model '{self._name}' has a "
                    f"{window:,}-token context",
                    model=self._name,
                )
            cached = _common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
            stable = self._stable_prefix(llm, request.messages, request.tools, tokens)
            dialect = self._dialect
            assert dialect is not None
            if request.tools:
                parser = dialect.parser(request.tools)
                if request.tool_choice == "none":
                    # Answer only: the JSON protocol keeps its envelope (its parser shows
                    # the words); a native format is left free and its calls are ignored.
                    answer = ANSWER_ONLY if dialect.name == "json" else None
                    grammar = self._grammar(answer) if answer else None
                else:
                    required = request.tool_choice == "required"
                    grammar = self._gbnf(llm, dialect.grammar(request.tools, require_call=required))
            else:
                schema = request.json_schema
                grammar = self._grammar(schema) if schema else None  # stateless: safe to reuse
                parser = None
        if stable > cached:
            cached = self._prefix_from_disk(llm, tokens[:stable], cached, cancel)
        if cancel is not None and cancel.cancelled:
            yield Usage(len(tokens), 0, 0.0, cached)
            yield Finished("cancelled")
            return
        limit = min(request.max_tokens or room, room)
        stops = [s for s in (*stop, *request.stop) if s]
        reason: FinishReason = "length"
        counter = [0]
        for text, ended in _generate(
            llm,
            tokens,
            request=request,
            grammar=grammar,
            pieces=self._special_pieces if parser is not None else self._pieces,
            special=parser is not None,
            stops=stops,
            limit=limit,
            cancel=cancel,
            counter=counter,
            sampling=self.sampling,
            # Tool arguments legitimately repeat (table rows, templates): only stop a
            # call's output on a longer loop.
            loops=RepetitionDetector(min_repeats=3, min_tokens=128) if request.tools else None,
        ):
            if text:
                if parser is None:
                    yield TextDelta(text)
                else:
                    yield from parser.feed(text)
            if ended:
                reason = ended
                break
        if parser is not None:
            events, reason = parser.finish(reason)
            yield from events
        yield Usage(len(tokens), counter[0], 0.0, cached)
        yield Finished(reason)


def _generate(
    llm: Any,
    tokens: list[int],
    *,
    request: ChatRequest,
    grammar: Any,
    pieces: dict[int, bytes],
    stops: list[str],
    limit: int,
    cancel: CancelToken | None,
    counter: list[int],
    sampling: Sampling,
    special: bool = False,
    loops: RepetitionDetector | None = None,
) -> Iterator[tuple[str, FinishReason | None]]:
    """Sample token by token: (text to show, why it ended or None) per generated token;
    `counter[0]` counts the tokens generated.

    Cairn drives llama.cpp's token generator itself rather than its completion API:
    decoding text incrementally keeps streaming linear in the answer's length, holds
    back only what could still become a stop string, and makes `max_tokens` exact.
    """
    import llama_cpp

    if request.seed is not None:
        llm.set_seed(request.seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""  # text that may be the start of a stop string
    hold = max((len(s) for s in stops), default=1) - 1
    first = True
    if not sampling.stop_loops:
        loops = None
    elif loops is None:
        loops = RepetitionDetector()
    generator = llm.generate(
        tokens,
        temp=request.temperature,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        min_p=sampling.min_p,
        repeat_penalty=sampling.repeat_penalty,
        presence_penalty=sampling.presence_penalty,
        frequency_penalty=sampling.frequency_penalty,
        grammar=grammar,
    )
    try:
        for token in generator:
            if cancel is not None and cancel.cancelled:
                yield "", "cancelled"
                return
            if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                yield decoder.decode(b"", final=True) + pending, "stop"
                return
            counter[0] += 1
            piece = pieces.get(token)
            if piece is None:  # a token's bytes never change: decode each one once
                piece = pieces[token] = llm.detokenize([token], special=special)
            pending += decoder.decode(piece)
            if first and pending:
                pending, first = pending.lstrip(" "), False  # SentencePiece's leading space
            for stop in stops:
                if stop in pending:
                    yield pending[: pending.index(stop)], "stop"
                    return
            ready, pending = (pending[:-hold], pending[-hold:]) if hold else (pending, "")
            if loops is not None and loops.add(token):
                yield ready + pending, "repetition"
                return
            if counter[0] >= limit:
                yield ready + pending, "length"
                return
            yield ready, None
    finally:
        generator.close()
    yield pending, "stop"  # llama.cpp ended the generation itself


def _common_prefix(before: list[int], after: list[int]) -> int:
    count = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        count += 1
    return count


def _evaluate(llm: Any, prefix: list[int], have: int, cancel: CancelToken | None) -> bool:
    """Evaluate `prefix` into the KV cache, keeping its first `have` tokens (already
    there); False when cancelled part way (the cache then holds a shorter prefix)."""
    llm._ctx.kv_cache_seq_rm(-1, have, -1)
    llm.n_tokens = have
    for start in range(have, len(prefix), _EVAL_CHUNK):
        if cancel is not None and cancel.cancelled:
            return False
        llm.eval(prefix[start : start + _EVAL_CHUNK])
    return True


def _sequence_state(llm: Any) -> bytes:
    """The KV state of sequence 0: exactly the evaluated tokens (no logits, no scores)."""
    import llama_cpp

    ctx = llm._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
    if not 0 < written <= size:
        raise RuntimeError("llama.cpp could not copy the prefix state")
    return bytes(memoryview(buffer)[:written])


def _restore(llm: Any, entry: CachedPrefix) -> bool:
    """Load a verified entry into the KV cache; False (and an empty cache) if llama.cpp
    does not accept it (another build, another context size)."""
    import llama_cpp

    _reset_kv(llm)
    state = (ctypes.c_uint8 * len(entry.state)).from_buffer_copy(entry.state)
    read = llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, state, len(entry.state), 0)
    if read != len(entry.state):
        _reset_kv(llm)
        return False
    n = len(entry.tokens)
    llm.input_ids[:n] = entry.tokens
    llm.n_tokens = n
    return True


def _reset_kv(llm: Any) -> None:
    with contextlib.suppress(Exception):
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.n_tokens = 0
