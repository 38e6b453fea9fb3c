"""Stop an answer that has started repeating itself.

Small models, sampled greedily or near it, fall into loops: the same sentence, line or
paragraph over and over until the token limit. Sampling penalties make that rarer; this
detector makes it end. It watches the generated token ids and reports a loop when the last
tokens are one block repeated back to back: two copies of a block of `min_tokens / 2`
tokens or more, more copies of a shorter one (a run of a single token must be `min_tokens`
long). A loop that varies a word inside its block ("… shifting. … changing. … shifting.")
is still caught once the whole varied stretch repeats.

Tried against every document and source file of this repository (prose, markdown tables,
numbered lists, code): none trips it. A looser rule — a phrase seen several times close
together — also caught loops earlier, but stopped ordinary code with repeated signatures.

Token ids rather than text: comparing ids is exact and cheap, and a loop in text is a loop
in tokens (the model re-emits the same pieces). Each new token costs a handful of
comparisons: only block lengths whose last token matches are checked in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RepetitionDetector:
    """Feed each generated token; `add` returns True once the answer is looping."""

    min_repeats: int = 2  # copies of a block, back to back
    min_tokens: int = 48  # and at least this many tokens in the repeated stretch
    max_block: int = 200  # longest block considered, in tokens
    tokens: list[int] = field(default_factory=list)
    block: int = 0  # the repeating block's length, once found

    def add(self, token: int) -> bool:
        tokens = self.tokens
        tokens.append(token)
        n = len(tokens)
        for period in range(1, min(self.max_block, n // self.min_repeats) + 1):
            if tokens[-1 - period] != token:
                continue
            repeats = max(self.min_repeats, -(-self.min_tokens // period))
            if period * repeats > n:
                continue
            tail = tokens[n - period :]
            if all(
                tokens[n - k * period : n - (k - 1) * period] == tail for k in range(2, repeats + 1)
            ):
                self.block = period
                return True
        return False
