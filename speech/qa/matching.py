"""Find what was meant, not only the exact characters: phrase spotting on characters and pinyin.

Recognisers make homophone errors (不清楚 → 不青楚, 张伟 → 张维) and near-homophone
errors (下午 → 向五). Each character of a normalised text is paired with its toneless
pinyin, and a phrase is compared syllable by syllable: identical syllables score 1, a
syllable with the same initial and a similar final scores partly (xia ~ xiang), a
different initial scores little. A phrase is found where the mean syllable score over a
window of the phrase's length reaches the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import Levenshtein

from speech.text import normalize_transcript


def _per_char(style: Style, text: str) -> list[str]:
    return lazy_pinyin(text, style=style, strict=False, errors=lambda s: list(s))


@lru_cache(maxsize=4096)
def syllables(text: str) -> tuple[tuple[str, str, str], ...]:
    """(pinyin, initial, final) for each character of an already normalised text."""
    full = _per_char(Style.NORMAL, text)
    initials = _per_char(Style.INITIALS, text)
    finals = _per_char(Style.FINALS, text)
    return tuple(zip(full, initials, finals, strict=True))


def syllable_similarity(a: tuple[str, str, str], b: tuple[str, str, str]) -> float:
    if a[0] == b[0]:
        return 1.0
    initial = 1.0 if a[1] == b[1] else 0.0
    final = Levenshtein.normalized_similarity(a[2], b[2])
    return 0.5 * initial + 0.5 * final


@dataclass(frozen=True)
class Match:
    start: int  # character index in the normalised text
    end: int
    score: float  # 0..1
    text: str  # the characters matched


def find_phrase(text: str, phrase: str, threshold: float = 0.85) -> list[Match]:
    """Every non-overlapping place ``phrase`` occurs in ``text`` (both normalised), best first."""
    phrase = normalize_transcript(phrase)
    n = len(phrase)
    if n == 0 or len(text) < n:
        return []
    hay, needle = syllables(text), syllables(phrase)
    scored = []
    for i in range(len(text) - n + 1):
        if text[i : i + n] == phrase:
            score = 1.0
        else:
            score = sum(syllable_similarity(hay[i + k], needle[k]) for k in range(n)) / n
        if score >= threshold:
            scored.append((score, i))
    matches: list[Match] = []
    taken: set[int] = set()
    for score, i in sorted(scored, key=lambda s: (-s[0], s[1])):
        if any(j in taken for j in range(i, i + n)):
            continue
        taken.update(range(i, i + n))
        matches.append(Match(i, i + n, score, text[i : i + n]))
    return matches


def best_similarity(text: str, phrase: str) -> tuple[float, Match | None]:
    """How well the best window of ``text`` matches ``phrase`` (0..1), and where."""
    found = find_phrase(text, phrase, threshold=0.0)
    return (found[0].score, found[0]) if found else (0.0, None)
