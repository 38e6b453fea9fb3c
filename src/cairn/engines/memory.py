"""Will this model fit? Estimate a GGUF model's memory before llama.cpp tries to load it.

Loading a model that does not fit makes the process swap to a crawl or be killed by
the system, with no message the user can act on. The estimate is read from the file's
header (no weights are loaded) and compared with the memory available now.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.engines.gguf_header import GgufInfo

MIB = 1024 * 1024
_KV_BYTES_PER_VALUE = 2  # llama.cpp's default KV cache type is f16
_OVERHEAD_BYTES = 64 * MIB  # compute buffers, tokenizer, scratch; grows with context below


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    weights_bytes: int  # on the CPU side (layers offloaded to a GPU are not counted)
    kv_cache_bytes: int
    overhead_bytes: int
    available_bytes: int

    @property
    def needed_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes

    def describe(self) -> str:
        return (
            f"needs about {self.needed_bytes / MIB:,.0f} MiB (weights "
            f"{self.weights_bytes / MIB:,.0f} MiB + KV cache {self.kv_cache_bytes / MIB:,.0f} "
            f"MiB + {self.overhead_bytes / MIB:,.0f} MiB working memory); "
            f"{self.available_bytes / MIB:,.0f} MiB available"
        )


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def estimate(info: GgufInfo, context: int, gpu_layers: int, available: int) -> MemoryEstimate:
    weights = info.size_bytes  # every part of a split model
    layers = info.block_count or 0
    if gpu_layers and layers:
        offloaded = layers if gpu_layers < 0 else min(gpu_layers, layers)
        weights = int(weights * (1 - offloaded / layers))
    kv = info.kv_cache_bytes(context, _KV_BYTES_PER_VALUE) or 0  # unknown shape: weights only
    # Working buffers scale with context and width; a tenth of the KV cache is a fair bound.
    overhead = _OVERHEAD_BYTES + kv // 10
    return MemoryEstimate(weights, kv, overhead, available)
