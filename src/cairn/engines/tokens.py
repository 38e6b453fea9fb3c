"""Token counts for cloud models, with tiktoken, offline.

tiktoken downloads its encodings on first use unless `TIKTOKEN_CACHE_DIR` points at a
copy; litellm ships cl100k_base and o200k_base, so Cairn points there — found on
disk without importing litellm, which would cost seconds. Local models count with
their own tokenizer (`LocalEngine.count_tokens`).

OpenAI's newer models use o200k_base, older ones cl100k_base; other providers'
tokenizers are not public, so their counts are cl100k_base estimates (close enough
for budgeting a context window, which keeps a safety margin anyway).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cairn.core.engine import Message

_PER_MESSAGE = 4  # role and separators, as OpenAI documents for its chat format
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def bundled_encodings() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils/tokenizers"
    return folder if folder.is_dir() else None


def encoding_name(model: str) -> str:
    base = model.rsplit("/", 1)[-1].lower()
    return "o200k_base" if base.startswith(_O200K_PREFIXES) else "cl100k_base"


@functools.lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        folder = bundled_encodings()
        if folder is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    import tiktoken

    return tiktoken.get_encoding(name)


@functools.lru_cache(maxsize=512)
def _count(encoding: str, text: str) -> int:
    # Remembered: a task's system message and tool schemas recur in every model call.
    return len(_encoding(encoding).encode(text, disallowed_special=()))


def count_text(model: str, text: str) -> int:
    return _count(encoding_name(model), text)


def count_messages(model: str, messages: Sequence[Message]) -> int:
    encoding = encoding_name(model)
    total = 3  # every reply is primed with an assistant header
    for message in messages:
        total += _PER_MESSAGE + _count(encoding, message.content)
        for call in message.tool_calls:
            total += _count(encoding, call.name + str(dict(call.arguments)))
    return total
