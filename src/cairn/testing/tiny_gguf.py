"""Write a tiny, random-weight llama.cpp model (GGUF) for tests and benchmarks.

Tests and benchmarks run the real llama.cpp engine (tokenizer, chat template, sampler,
grammar-constrained JSON, context limits, KV cache) without downloading any weights: this
module writes a llama-architecture GGUF file of about 0.6 MB in milliseconds. Its
words are random, so assert on shapes and formats, never on the text it generates.

    path = write_tiny_model(tmp_path / "tiny.gguf")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from gguf import GGUFWriter, LlamaFileType, TokenType

__all__ = ["CHATML_TEMPLATE", "write_tiny_model"]

# ChatML, as Qwen and many fine-tunes use it. llama-cpp-python renders the template in the
# file automatically; it renders with add_generation_prompt=True and adds no BOS of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# Word-start pieces, frequent first as a real vocabulary ranks them; the ChatML roles and JSON
# words are among them, so rendered prompts and JSON answers come out in few tokens.
_WORD_TEXT = (
    "the of and to a in is it you that he was for on are with as I his they be at one have "
    "this from or had by not word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round "
    "man year came show every good me give our under name very through just form sentence "
    "great think say help low line differ turn cause much mean before move right boy old too "
    "same tell does set three want air well also play small end put home read hand port large "
    "spell add even land here must big high such follow act why ask men change went light "
    "kind off need house picture try us again animal point mother world near build self earth "
    "father hello file note task agent model run test data text list true false null value "
    "yes ok system user assistant tool json key"
)
_WORDS = _WORD_TEXT.split()
# Also whole without a word-start space: they follow '"', '{' or a newline in JSON and ChatML.
_BARE_TEXT = (
    "name title note text value type id data list items done ok true false null role content "
    "user assistant system tool key json s ed ing er ly es tion 's n't"
)
_BARE = _BARE_TEXT.split()
# "\\n" is JSON's escaped newline (backslash, n); a real newline is the <0x0A> byte token.
_PUNCT = [*"{}[]:,\".!?'-_()/;*#=+<>@&%$", '{"', '":', '",', '"}', "},", "],", "\\n"]


def _llama_pieces() -> list[str]:
    """Printable SentencePiece pieces: every prefix of each '▁word', so merges can reach it.

    llama.cpp's SPM tokenizer merges adjacent symbols only when the joined text is itself a
    piece, so a whole word is reachable only through a chain of pieces ('▁t', '▁th', '▁the').
    """
    pieces = dict.fromkeys(["▁", *map(chr, range(ord("a"), ord("z") + 1))])
    upper = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    pieces.update(dict.fromkeys(upper + ["▁" + c for c in upper]))
    pieces.update(dict.fromkeys("0123456789"))
    pieces.update(dict.fromkeys(_PUNCT + ["▁" + c for c in '{["0123456789']))
    for word in ["▁" + w for w in _WORDS] + _BARE:  # bare pieces last: they score lower
        pieces.update(dict.fromkeys(word[:n] for n in range(2, len(word) + 1)))
    return list(pieces)


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: printable bytes stand for themselves, the rest are shifted
    past U+0100 so every byte has a visible, whitespace-free character (space becomes 'Ġ')."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    mapping = {b: chr(b) for b in keep}
    shifted = (b for b in range(256) if b not in mapping)
    mapping.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return dict(sorted(mapping.items()))


def _add_llama_vocab(writer: GGUFWriter) -> int:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256
    pieces = _llama_pieces()
    tokens += [*pieces, IM_START, IM_END]
    types += [TokenType.NORMAL] * len(pieces) + [TokenType.CONTROL] * 2
    # Scores are log-probability-like: higher wins when two merges compete.
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))] + [0.0, 0.0]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    # EOS is <|im_end|>, so a ChatML turn ends generation (llama.cpp also marks it end-of-gen).
    writer.add_eos_token_id(tokens.index(IM_END))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    return len(tokens)


def _add_gpt2_vocab(writer: GGUFWriter) -> int:
    alphabet = _byte_to_unicode()
    tokens = list(alphabet.values())  # all 256 bytes: byte-level BPE never needs <unk>
    merges: dict[str, None] = {}
    # Merges apply lowest rank first. Ranking every ' word' chain before the bare ones lets a
    # space-led word grow left to right ('Ġw' 'Ġwo' 'Ġwor' ...) before 'o r' can split it.
    for text in [" " + w for w in _WORDS] + _BARE + ['{"', '":', '",', '"}']:
        chars = "".join(alphabet[b] for b in text.encode("utf-8"))
        for n in range(1, len(chars)):  # each merge joins the prefix so far with one more byte
            merges[f"{chars[:n]} {chars[n]}"] = None
            tokens.append(chars[: n + 1])
    tokens = [*dict.fromkeys(tokens), "<|endoftext|>", IM_START, IM_END]
    types = [TokenType.NORMAL] * (len(tokens) - 3) + [TokenType.CONTROL] * 3
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # the pre-tokenizer regex; llama.cpp warns without one
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(list(merges))
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index(IM_END))
    writer.add_add_bos_token(False)
    return len(tokens)


def write_tiny_model(
    path: str | os.PathLike[str],
    *,
    context_length: int = 2048,
    embedding: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = None,
    feed_forward: int = 128,
    vocab: Literal["llama", "gpt2"] = "llama",
    chat_template: str | None = CHATML_TEMPLATE,
    seed: int = 0,
    name: str = "cairn-tiny",
) -> Path:
    """Write a random llama-architecture GGUF model to `path` and return the path.

    The same arguments always give a byte-identical file. `context_length` is the model's
    trained context (`n_ctx_train`); the context a test runs with is still `Llama(n_ctx=...)`.
    """
    kv_heads = heads if kv_heads is None else kv_heads
    if embedding % heads or heads % kv_heads:
        raise ValueError(
            f"embedding ({embedding}) must be a multiple of heads ({heads}), "
            f"and heads a multiple of kv_heads ({kv_heads})"
        )
    if vocab not in ("llama", "gpt2"):
        raise ValueError(f"vocab must be 'llama' or 'gpt2', not {vocab!r}")
    target = Path(path)
    head_dim = embedding // heads
    writer = GGUFWriter(target, arch="llama")  # writes general.architecture = "llama"
    writer.add_name(name)
    writer.add_file_type(LlamaFileType.ALL_F32)
    writer.add_context_length(context_length)
    writer.add_embedding_length(embedding)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(feed_forward)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    n_vocab = _add_llama_vocab(writer) if vocab == "llama" else _add_gpt2_vocab(writer)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_vocab_size(n_vocab)

    rng = np.random.default_rng(seed)

    def weight(*numpy_shape: int) -> npt.NDArray[np.float32]:
        # Small weights keep activations and logits in a sane range through every layer.
        return rng.standard_normal(numpy_shape, dtype=np.float32) * np.float32(0.02)

    ones = np.ones(embedding, dtype=np.float32)  # RMS-norm gains of 1 leave the norm as is
    # GGUF stores ggml's dimension order (ne[0] is the contiguous one), the reverse of numpy's:
    # GGUFWriter reverses the shape, so a ggml tensor {n_embd, n_vocab} is numpy (n_vocab,
    # n_embd), and a matrix mapping n_in -> n_out is numpy (n_out, n_in).
    writer.add_tensor("token_embd.weight", weight(n_vocab, embedding))
    # No output.weight: llama.cpp then ties the output projection to token_embd.
    writer.add_tensor("output_norm.weight", ones)
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(heads * head_dim, embedding))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(kv_heads * head_dim, embedding))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(kv_heads * head_dim, embedding))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(embedding, heads * head_dim))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(feed_forward, embedding))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(feed_forward, embedding))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(embedding, feed_forward))

    # The header, key-values and tensor infos come first, then the aligned tensor data.
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return target
