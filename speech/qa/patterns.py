"""Rule patterns: a small grammar a supervisor can read, matched on characters or their pinyin.

A pattern describes a *situation*, not one sentence:

- ``{we}``            any entry of the synonym class ``we`` (classes are data, ``[classes]``
                      in the rule file; an entry is itself a pattern)
- ``(不|没)``          alternation; ``(太|很)?`` or ``了?`` optional
- ``~3``              a gap of up to 3 characters inside the same clause
- ``~~6``             a gap of up to 6 characters that may cross a comma
- ``^`` / ``$``       the start / end of a clause (punctuation or the utterance edge)
- ``，``              a clause break if the recogniser wrote one (optional)
- ``@``               (context patterns only) where the forbidden match sits:
                      ``(不是|也不是)~1@`` = a negated match, ``@的话`` = a conditional

Every other character is literal and matches the same character or any character with
the same toneless pinyin (recognisers write 不青楚 for 不清楚, 只道 for 知道), or a sound-alike
one (zh/z, ch/c, sh/s, -n/-ng: 不亲楚, 自道). Matching
runs over a token string (``c=pinyin,pinyin;`` per character, ``#=;`` per clause
break) with Python's ``re``: a pattern compiles once into one regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin

from speech.text import strip_punctuation, to_simplified

MAX_GAP = 12
_BREAK = "#=;"
_CLAUSE_BREAKS = re.compile(r"[，,。.！!？?；;：:、\n]+")
_DROP = re.compile(r"[^\w]|_", re.UNICODE)


class PatternError(ValueError):
    """A pattern that cannot be compiled; ``position`` is the character index in it."""

    def __init__(self, pattern: str, position: int, reason: str) -> None:
        self.pattern, self.position, self.reason = pattern, position, reason
        super().__init__(f"{reason} at character {position + 1} of {pattern!r}")


@lru_cache(maxsize=8192)
def readings(char: str) -> tuple[str, ...]:
    """The usual toneless pinyin of one character (rare readings would make 也 sound like 印)."""
    if not ("\u3400" <= char <= "\u9fff"):
        return (char.lower(),)
    found = pinyin(char, style=Style.NORMAL, heteronym=False, errors=lambda s: [s])
    return (found[0][0],) if found and found[0] else (char,)


@dataclass(frozen=True)
class Tokens:
    """An utterance as the token string patterns run on, and where each token came from."""

    string: str
    starts: tuple[int, ...]  # offset of each token in ``string``
    chars: tuple[int, ...]  # index in ``text`` of each token's character (-1 for a clause break)
    text: str  # the normalised characters (no punctuation), as the rest of the checker sees them

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Character span in ``text`` of the tokens between string offsets ``start`` and ``end``."""
        import bisect

        first = bisect.bisect_left(self.starts, start)
        last = bisect.bisect_left(self.starts, end)
        idx = [c for c in self.chars[first:last] if c >= 0]
        if not idx:
            return (0, 0)
        return idx[0], idx[-1] + 1


@lru_cache(maxsize=2048)
def tokenize(raw: str) -> Tokens:
    """Raw recogniser text → tokens; punctuation becomes clause breaks, nothing else is kept."""
    parts, starts, chars, text = [], [], [], []
    pos = 0
    for k, clause in enumerate(_CLAUSE_BREAKS.split(to_simplified(raw))):
        clause = strip_punctuation(clause).lower()
        if k and parts and parts[-1] != _BREAK and clause:
            starts.append(pos)
            chars.append(-1)
            parts.append(_BREAK)
            pos += len(_BREAK)
        in_context = lazy_pinyin(clause, style=Style.NORMAL, errors=lambda s: list(s)) if clause else []
        if len(in_context) != len(clause):
            in_context = [readings(c)[0] for c in clause]
        for c, said in zip(clause, in_context, strict=True):
            # The reading in context (不了 = bu liao) and the usual one (了 = le).
            token = f"{c}={','.join(dict.fromkeys((said, *readings(c))))};"
            starts.append(pos)
            chars.append(len(text))
            parts.append(token)
            text.append(c)
            pos += len(token)
    return Tokens("".join(parts), tuple(starts), tuple(chars), "".join(text))


_RETROFLEX = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_NASAL = ("in", "en", "an", "ian", "uan")


@lru_cache(maxsize=8192)
def sound_alikes(syllable: str) -> tuple[str, ...]:
    """A syllable and the ones Mandarin speakers and recognisers confuse it with: zh/z, ch/c,
    sh/s, and -n/-ng (清 qing ~ 亲 qin, 是 shi ~ 四 si)."""
    out = {syllable}
    for a, b in _RETROFLEX:
        if syllable.startswith(a):
            out.add(b + syllable[len(a):])
        elif syllable.startswith(b) and not syllable.startswith(a):
            out.add(a + syllable[len(b):])
    for s in list(out):
        for final in _NASAL:
            if s.endswith(final + "g"):
                out.add(s[:-1])
            elif s.endswith(final):
                out.add(s + "g")
    return tuple(sorted(out))


def _char_regex(c: str) -> str:
    alternatives = "|".join(re.escape(r) for s in readings(c) for r in sound_alikes(s))
    return rf"(?:{re.escape(c)}=[^;]*;|[^#;]=(?:[^;]*,)?(?:{alternatives})(?:,[^;]*)?;)"


class _Parser:
    def __init__(self, pattern: str, classes: Mapping[str, Sequence[str]], depth: int, allow_at: bool):
        self.p = to_simplified(pattern)
        self.i = 0
        self.classes = classes
        self.depth = depth
        self.allow_at = allow_at
        self.at_seen = False

    def fail(self, reason: str, at: int | None = None) -> PatternError:
        return PatternError(self.p, self.i if at is None else at, reason)

    def parse(self) -> str:
        out = self.alternation()
        if self.i < len(self.p):
            raise self.fail("unbalanced ')'")
        return out

    def alternation(self) -> str:
        branches = [self.sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self.sequence())
        if any(b == "" for b in branches):
            raise self.fail("empty alternative")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    def sequence(self) -> str:
        out = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom = self.atom()
            if self.i < len(self.p) and self.p[self.i] == "?":
                self.i += 1
                atom = f"(?:{atom})?"
            out.append(atom)
        return "".join(out)

    def atom(self) -> str:
        c = self.p[self.i]
        start = self.i
        if c == "(":
            self.i += 1
            inner = self.alternation()
            if self.i >= len(self.p) or self.p[self.i] != ")":
                raise self.fail("'(' is never closed", start)
            self.i += 1
            return f"(?:{inner})"
        if c == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                raise self.fail("'{' is never closed")
            name = self.p[self.i + 1 : end].strip()
            if name not in self.classes:
                known = ", ".join(sorted(self.classes)) or "none"
                raise self.fail(f"unknown class {{{name}}} (known: {known})")
            if self.depth > 4:
                raise self.fail(f"class {{{name}}} refers to itself")
            self.i = end + 1
            members = [compile_body(m, self.classes, self.depth + 1) for m in self.classes[name]]
            # Longest members first, so 我们这边 is tried before 我们.
            members.sort(key=len, reverse=True)
            return "(?:" + "|".join(members) + ")"
        if c == "~":
            cross = self.p.startswith("~~", self.i)
            self.i += 2 if cross else 1
            m = re.match(r"\d+", self.p[self.i :])
            if not m:
                raise self.fail("'~' needs a number of characters, like ~3")
            n = int(m.group(0))
            if n > MAX_GAP:
                raise self.fail(f"a gap of {n} characters is too wide (at most {MAX_GAP})")
            self.i += len(m.group(0))
            token = r"[^;]*;" if cross else r"[^#;][^;]*;"
            return f"(?:{token}){{0,{n}}}"
        if c == "^":
            self.i += 1
            return r"(?:\A|(?<=#=;))"
        if c == "$":
            self.i += 1
            return r"(?=#=;|\Z)"
        if c in "，,":
            self.i += 1
            return f"(?:{re.escape(_BREAK)})?"
        if c == "@":
            if not self.allow_at:
                raise self.fail("'@' (the match's place) belongs only in context patterns")
            raise self.fail("'@' may appear only once")
        if c in "?)|}":
            raise self.fail(f"unexpected {c!r}")
        if _DROP.fullmatch(c) or c.isspace():
            raise self.fail(f"{c!r} is not a character a transcript can contain")
        self.i += 1
        return _char_regex(c.lower())


def compile_body(pattern: str, classes: Mapping[str, Sequence[str]], depth: int = 0) -> str:
    if not pattern.strip():
        raise PatternError(pattern, 0, "empty pattern")
    return _Parser(pattern.strip(), classes, depth, allow_at=False).parse()


@dataclass(frozen=True)
class Pattern:
    source: str
    regex: re.Pattern[str]

    def find(self, tokens: Tokens) -> list[tuple[int, int]]:
        """Character spans (in ``tokens.text``) where the pattern holds, left to right."""
        out = []
        for m in self.regex.finditer(tokens.string):
            if m.end() > m.start():
                out.append(tokens.char_span(m.start(), m.end()))
        return out


def compile_pattern(pattern: str, classes: Mapping[str, Sequence[str]]) -> Pattern:
    return Pattern(pattern, re.compile(compile_body(pattern, classes)))


@dataclass(frozen=True)
class ContextPattern:
    """``left@right``: holds for a match when ``left`` ends where it starts and ``right``
    starts where it ends (either side may be empty). Without ``@`` it holds when a span of
    the pattern covers the match (the allowed wording itself)."""

    source: str
    left: re.Pattern[str] | None
    right: re.Pattern[str] | None
    cover: re.Pattern[str] | None

    def holds(self, tokens: Tokens, start: int, end: int) -> bool:
        s0 = _token_offset(tokens, start)
        s1 = _token_offset(tokens, end)
        if self.cover is not None:
            for m in self.cover.finditer(tokens.string):
                if m.start() <= s0 and s1 <= m.end():
                    return True
            return False
        if self.left is not None and not self.left.search(tokens.string[:s0]):
            return False
        return not (self.right is not None and not self.right.match(tokens.string[s1:]))


def _token_offset(tokens: Tokens, char_index: int) -> int:
    """String offset of the token of character ``char_index`` (the end of the string past the last)."""
    for k, c in enumerate(tokens.chars):
        if c == char_index:
            return tokens.starts[k]
    return len(tokens.string)


def compile_context(pattern: str, classes: Mapping[str, Sequence[str]]) -> ContextPattern:
    text = pattern.strip()
    if text.count("@") > 1:
        raise PatternError(text, text.index("@", text.index("@") + 1), "'@' may appear only once")
    if "@" not in text:
        return ContextPattern(pattern, None, None, re.compile(compile_body(text, classes)))
    at = text.index("@")
    left, right = text[:at].strip(), text[at + 1 :].strip()
    if not left and not right:
        raise PatternError(text, at, "'@' alone says nothing about the context")
    try:
        lre = re.compile(f"(?:{compile_body(left, classes)})\\Z") if left else None
        rre = re.compile(compile_body(right, classes)) if right else None
    except PatternError as e:
        offset = 0 if e.pattern == to_simplified(left) else at + 1
        raise PatternError(text, offset + e.position, e.reason) from None
    return ContextPattern(pattern, lre, rre, None)
