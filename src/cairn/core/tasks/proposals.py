"""What a model proposes to remember: one clean line, with the source Cairn observed.

A proposal's `source` is never what a model asserts: "user-said" only when the text is the
user's own words in this task, and a claim of the user's authority that is not is only an
inference. The text is normalised to one line that cannot forge memory metadata. The
memory wing stores what passes; the task loop makes proposals through these functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Source = Literal["user-said", "user-confirmed", "tool-output", "inference"]
SOURCES: tuple[Source, ...] = ("user-said", "user-confirmed", "tool-output", "inference")

_WORDS = re.compile(r"[a-z0-9]+")

MAX_TEXT = 300
_COMMENT = re.compile(r"<!--|-->|<\s*/?\s*!")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_STOPWORDS_TEXT = (
    "the and that this with for from they them their there user users said says say "
    "wants want likes like always never should would will about into have has had are "
    "was were been being you your our ours its it's not but"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split(" "))


def clean_memory_text(text: str) -> str:
    """One line of plain text that cannot forge memory metadata: no line breaks (a new
    `- date: … <!-- mem:… -->` line), no HTML comment markers, bounded length."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    while True:  # until none is left: removing one marker must not join the halves of another
        cleaner = " ".join(_COMMENT.sub("", flat).split())
        if cleaner == flat:
            break
        flat = cleaner
    return flat[:MAX_TEXT].rstrip()


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORDS.findall(text.lower()) if len(w) >= 3 and w not in _STOPWORDS}


_NEGATIONS = frozenset({"not", "never", "no", "don't", "dont", "doesn't", "won't", "without"})
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")


def _negated(text: str) -> bool:
    return any(w in _NEGATIONS for w in re.findall(r"[a-z']+", text.lower()))


def said_by_user(text: str, user_words: Sequence[str]) -> bool:
    """Whether `text` says what the user said in this task: one sentence of theirs holds
    nearly all its words (4 in 5), and says it the same way round (a "never" in one and
    not the other is the opposite statement)."""
    wanted = _stems(text)
    if not wanted:
        return False
    for said in user_words:
        for sentence in _SENTENCES.split(said):
            shared = len(wanted & _stems(sentence)) / len(wanted)
            if shared >= 0.8 and _negated(sentence) == _negated(text):
                return True
    return False


def observed_source(text: str, claimed: str, user_words: Sequence[str]) -> Source:
    """The source Cairn can stand behind: "user-said" when the text is the user's own words
    in this task; a claim of the user's authority that is not is only an inference (a model
    cannot speak for the user, and content it read cannot either)."""
    if said_by_user(text, user_words):
        return "user-said"
    if claimed == "tool-output":
        return "tool-output"
    return "inference"
