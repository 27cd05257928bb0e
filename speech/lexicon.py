"""The lexicon step: recogniser text made readable, spans that sound like a known term rewritten.

Whisper writes 中面工程师 for 桌面工程师 and 张维 for 张伟. The lexicon (data:
``speech/lexicon.toml`` plus the roster's names) lists what the hotline says; a span of a
transcript whose toneless pinyin is close to a term, and whose characters differ, is
written as the term. Punctuation and everything else stay as heard. ``correct`` returns
the corrected text, the raw text and each change, so a reader can always see what the
recogniser said (``marked`` shows changes as 桌面〔中面〕工程师).

The step runs between the recogniser and the rules (``CallChecker`` applies it to the
engineer's side); the stored utterance keeps the raw text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from models.records import Utterance
from speech.qa.matching import syllable_similarity, syllables
from speech.text import normalize_transcript, to_simplified

DEFAULT_LEXICON = Path(__file__).with_name("lexicon.toml")


class LexiconError(ValueError):
    pass


@dataclass(frozen=True)
class Change:
    start: int  # character offsets in the raw (simplified) text
    end: int
    heard: str
    written: str


@dataclass(frozen=True)
class Correction:
    raw: str
    text: str
    changes: tuple[Change, ...]

    def marked(self) -> str:
        """The corrected text with what was heard after each change: 桌面〔中面〕工程师."""
        out, pos = [], 0
        for c in self.changes:
            out.append(self.raw[pos:c.start])
            out.append(f"{c.written}〔{c.heard}〕")
            pos = c.end
        out.append(self.raw[pos:])
        return "".join(out)


@dataclass(frozen=True)
class Lexicon:
    terms: tuple[str, ...]
    two_chars: float = 1.0
    three_chars: float = 0.95
    longer: float = 0.85

    def threshold(self, n: int) -> float:
        return self.two_chars if n <= 2 else self.three_chars if n == 3 else self.longer

    def correct(self, raw: str, names: Sequence[str] = ()) -> Correction:
        return _correct(self, to_simplified(raw), tuple(names))

    def correct_utterance(self, utt: Utterance, names: Sequence[str] = ()) -> Utterance:
        """The same utterance with corrected text (word times and confidence unchanged)."""
        fixed = self.correct(utt.text, names)
        return utt if not fixed.changes else replace(utt, text=fixed.text)


@lru_cache(maxsize=4096)
def _correct(lexicon: Lexicon, raw: str, names: tuple[str, ...]) -> Correction:
    # Positions in ``raw`` of the characters the rules see (punctuation and spaces skipped).
    keep = [i for i, c in enumerate(raw) if normalize_transcript(c)]
    norm = "".join(normalize_transcript(raw[i]) for i in keep)
    if len(norm) != len(keep):
        return Correction(raw, raw, ())  # a character that normalises to several: leave as heard
    terms = sorted({normalize_transcript(t) for t in (*lexicon.terms, *names) if t.strip()},
                   key=len, reverse=True)
    hay = syllables(norm)
    taken = [False] * len(norm)
    found: list[tuple[int, int, str]] = []
    for term in terms:
        n = len(term)
        if n < 2:
            continue
        needle = syllables(term)
        limit = lexicon.threshold(n)
        for i in range(len(norm) - n + 1):
            if any(taken[i:i + n]):
                continue
            window = norm[i:i + n]
            if window == term:
                taken[i:i + n] = [True] * n  # already right: protect it from shorter terms
                continue
            if window in terms:
                continue
            score = sum(syllable_similarity(hay[i + k], needle[k]) for k in range(n)) / n
            if score >= limit:
                found.append((i, i + n, term))
                taken[i:i + n] = [True] * n
    if not found:
        return Correction(raw, raw, ())
    found.sort()
    out, pos, changes = [], 0, []
    for a, b, term in found:
        start, end = keep[a], keep[b - 1] + 1
        if any(not normalize_transcript(c) for c in raw[start:end]):
            continue  # a span across punctuation is two phrases, not one misheard term
        out.append(raw[pos:start])
        out.append(term)
        changes.append(Change(start, end, raw[start:end], term))
        pos = end
    out.append(raw[pos:])
    return Correction(raw, "".join(out), tuple(changes))


def parse_lexicon(text: str, source: str = "<lexicon>") -> Lexicon:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LexiconError(f"{source}: not valid TOML: {e}") from None
    if data.get("version") != 1:
        raise LexiconError(f"{source}: version must be 1")
    terms = data.get("terms")
    if not isinstance(terms, dict) or not terms:
        raise LexiconError(f"{source}: [terms] must be a table of name = [words]")
    words: list[str] = []
    for name, entries in terms.items():
        ok = isinstance(entries, list) and all(isinstance(w, str) and len(w.strip()) >= 2 for w in entries)
        if not ok:
            raise LexiconError(f"{source}: terms.{name} must be a list of words of two characters or more")
        words += [w.strip() for w in entries]
    sim = data.get("similarity", {})
    values = {}
    for key in ("two_chars", "three_chars", "longer"):
        if key in sim:
            v = sim[key]
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0.5 <= v <= 1:
                raise LexiconError(f"{source}: similarity.{key} must be a number between 0.5 and 1")
            values[key] = float(v)
    return Lexicon(tuple(dict.fromkeys(words)), **values)


@lru_cache(maxsize=4)
def load_lexicon(path: str | Path | None = None) -> Lexicon:
    source = Path(path) if path else DEFAULT_LEXICON
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise LexiconError(f"{source}: cannot read lexicon: {e}") from None
    return parse_lexicon(text, str(source))
