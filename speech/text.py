"""Recogniser text made comparable: simplified characters, no punctuation or spaces.

Whisper writes punctuation and sometimes traditional characters; Vosk writes words
separated by spaces. Rules compare text on characters and pinyin, so every engine's
output goes through ``normalize_transcript`` before rules see it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

# Anything that is not a letter or a digit (CJK ideographs count as letters).
_NOT_WORD = re.compile(r"[^\w]|_", re.UNICODE)


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def strip_punctuation(text: str) -> str:
    # NFKC folds full-width letters and digits (ＡＢ１) to ASCII before stripping.
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text))


def normalize_transcript(text: str) -> str:
    """Simplified characters, no punctuation, no whitespace, lower-case Latin letters."""
    return strip_punctuation(to_simplified(text)).lower()
