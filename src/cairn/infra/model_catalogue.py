"""A short, curated list of instruct models worth pulling, and which of them fit this machine.

`cairn models catalogue` lists these; `cairn models pull NAME` fetches one from the Hugging
Face Hub. Each entry is pinned to a commit of its repository and, where the Hub's own page
for that commit shows it, to the file's sha256: a pull checks the download against both the
pin and the sha256 the Hub reports, so a file replaced upstream is refused, not installed.
Sizes here are the Hub's rounded figures, for choosing; a pull uses the exact size the Hub
reports.

The memory figure is a rough need at the entry's context: the weights, the KV cache
(`kv_bytes_per_token`, from the model's attention shape: layers x 2 x KV heads x head size
x 2 bytes at f16) and working memory, computed as `cairn.engines.memory` does when it
checks a model before loading it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cairn.engines.memory import MIB, MemoryEstimate

_OVERHEAD_BYTES = 64 * MIB  # as the local engine's estimate: buffers, tokenizer, scratch


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str  # the short name to pull and the default name in agents.md
    title: str
    repo: str  # "owner/name" on the Hub
    filename: str
    revision: str  # a commit of `repo`: the same bytes for everyone, always
    approx_size: int  # bytes, as the Hub rounds them; the exact size comes with the pull
    sha256: str | None  # None: checked against the sha256 the Hub reports instead
    licence: str
    context: int  # the `context:` written to agents.md
    kv_bytes_per_token: int | None  # None: not known, the cache is left out of the estimate
    good_for: str

    def memory_needed(self, size: int | None = None, context: int | None = None) -> int:
        return rough_estimate(
            size or self.approx_size, context or self.context, self.kv_bytes_per_token, 0
        ).needed_bytes

    @property
    def spec(self) -> str:
        return f"{self.repo}/{self.filename}"


def rough_estimate(
    size: int, context: int, kv_bytes_per_token: int | None, available: int
) -> MemoryEstimate:
    """Memory for a model not yet on disk: its file size, its KV cache when the attention
    shape is known, and working memory (the loader's own check reads the real header)."""
    kv = (kv_bytes_per_token or 0) * context
    return MemoryEstimate(size, kv, _OVERHEAD_BYTES + kv // 10, available)


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="qwen2.5-0.5b",
        title="Qwen2.5 0.5B Instruct (Q4_K_M)",
        repo="bartowski/Qwen2.5-0.5B-Instruct-GGUF",
        filename="Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
        revision="b26a58accf53b1a19fbc555d52fdb224bec473f5",
        approx_size=398_000_000,
        sha256="6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653",
        licence="Apache-2.0",
        context=8192,
        kv_bytes_per_token=12_288,  # 24 layers, 2 KV heads of 64
        good_for="the smallest that follows instructions: rewording, tagging, short answers",
    ),
    CatalogueEntry(
        name="llama3.2-1b",
        title="Llama 3.2 1B Instruct (Q4_K_M)",
        repo="bartowski/Llama-3.2-1B-Instruct-GGUF",
        filename="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        revision="d52af3776f99ddf220e5ffd3f93b2a4e4df105be",
        approx_size=808_000_000,
        sha256="6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83",
        licence="Llama 3.2 Community License",
        context=8192,
        kv_bytes_per_token=32_768,  # 16 layers, 8 KV heads of 64
        good_for="quick summaries and chat on any laptop",
    ),
    CatalogueEntry(
        name="qwen2.5-1.5b",
        title="Qwen2.5 1.5B Instruct (Q4_K_M)",
        repo="bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        filename="Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
        revision="85553858e3522ce5b531285b2202bdb40fab1624",
        approx_size=986_000_000,
        sha256="50961d9b7d3b89e46be230528fc66d38bbdda8ac3748323dd34f129a714124fc",
        licence="Apache-2.0",
        context=8192,
        kv_bytes_per_token=28_672,  # 28 layers, 2 KV heads of 128
        good_for="a sound default for small machines: instructions, JSON and simple tool calls",
    ),
    CatalogueEntry(
        name="smollm2-1.7b",
        title="SmolLM2 1.7B Instruct (Q4_K_M)",
        repo="lmstudio-community/SmolLM2-1.7B-Instruct-GGUF",
        filename="SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
        revision="8e3b7e27a6253ac83ae6e7e307baabafcb2d1c71",
        approx_size=1_060_000_000,
        sha256="48db74b86a7e5f1d177f8efbf9929aa3e42bdb07bdc338c14a380a90cd98bde6",
        licence="Apache-2.0",
        context=8192,
        kv_bytes_per_token=196_608,  # 24 layers, 32 KV heads of 64: a large cache per token
        good_for="the starter model's big sibling: same chat format, far better answers",
    ),
    CatalogueEntry(
        name="llama3.2-3b",
        title="Llama 3.2 3B Instruct (Q4_K_M)",
        repo="bartowski/Llama-3.2-3B-Instruct-GGUF",
        filename="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        revision="c346bfc2029e79ba6d7edf026cf01fe44242db0d",
        approx_size=2_020_000_000,
        sha256="6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
        licence="Llama 3.2 Community License",
        context=8192,
        kv_bytes_per_token=114_688,  # 28 layers, 8 KV heads of 128
        good_for="everyday drafting, summarising and tool use on an 8 GB laptop",
    ),
    CatalogueEntry(
        name="qwen2.5-7b",
        title="Qwen2.5 7B Instruct (Q4_K_M)",
        repo="bartowski/Qwen2.5-7B-Instruct-GGUF",
        filename="Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        revision="215ad673efa530c712db83ff5e39263c5fc979f8",
        approx_size=4_680_000_000,
        sha256="c43b4d4fd23c0ef261e55f5ae2217d44ecbdc40f44cfd476491462a05f4205f2",
        licence="Apache-2.0",
        context=8192,
        kv_bytes_per_token=57_344,  # 28 layers, 4 KV heads of 128
        good_for="the strongest here: planning, code, longer documents (16 GB machines)",
    ),
)


@dataclass(frozen=True, slots=True)
class InstalledBySetup:
    """The starter model, listed with the catalogue so the list is complete."""

    name: str
    title: str
    filename: str
    size: int
    licence: str
    note: str


def starter_row() -> InstalledBySetup:
    from cairn.infra.starter_model import STARTER

    return InstalledBySetup(
        name="local-starter",
        title="SmolLM2 135M Instruct (Q4_1)",
        filename=STARTER.filename,
        size=STARTER.size,
        licence=STARTER.licence,
        note="installed by scripts/setup (or `cairn models pull starter`); demo grade",
    )


def find(name: str, catalogue: Iterable[CatalogueEntry] = CATALOGUE) -> CatalogueEntry | None:
    wanted = name.strip().lower()
    return next((entry for entry in catalogue if entry.name == wanted), None)


def recommend(
    available: int | None = None, catalogue: Iterable[CatalogueEntry] = CATALOGUE
) -> list[CatalogueEntry]:
    """The entries that fit in `available` bytes (default: the memory available now), the
    largest first: the best model this machine can run leads the list."""
    if available is None:
        from cairn.engines.memory import available_memory

        available = available_memory()
    fitting = [entry for entry in catalogue if entry.memory_needed() <= available]
    return sorted(fitting, key=lambda entry: entry.memory_needed(), reverse=True)
