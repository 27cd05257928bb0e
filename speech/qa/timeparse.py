"""Definite times in a promise (3.3(4)): "今天下午三点前" → an absolute due time.

Recognisers mishear time words (下午三点前 → 向五三点钱), so the text is first
canonicalised on pinyin: each known time word is looked for with the same syllable
similarity the phrase rules use, longest words first, and replaced by its canonical
characters; Chinese numerals become digits. Then a few patterns read the canonical text.
Hours 1–7 without a part of day are afternoon (office hours); a time already past on
the day named means the next day only when no day was named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from speech.qa.matching import syllable_similarity, syllables

# canonical word → threshold for fuzzy matching (1.0 = same pinyin only)
TIME_WORDS: dict[str, float] = {
    "今天": 0.8,
    "明天": 0.8,
    "后天": 0.8,
    "上午": 0.8,
    "下午": 0.8,
    "中午": 0.8,
    "晚上": 0.8,
    "早上": 0.8,
    "下班": 0.8,
    "小时": 0.8,
    "分钟": 0.8,
    "星期": 0.8,
    "之前": 0.9,
    "以前": 0.9,
    "之内": 0.9,
    "以内": 0.9,
    "之后": 0.9,
    "以后": 0.9,
    "这周": 0.9,
    "本周": 0.9,
    "下周": 0.9,
    "点": 1.0,
    "半": 1.0,
    "前": 1.0,
    "内": 1.0,
    "后": 1.0,
    "分": 1.0,
    "周": 1.0,
    "个": 1.0,
}
DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}


@dataclass(frozen=True)
class ParsedTime:
    due_at: datetime
    phrase: str  # the canonical words that named the time, e.g. "今天下午3点前"


def _numeral_value(s: str) -> int:
    if s.isdigit():
        return int(s)
    if s == "十":
        return 10
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (DIGITS[tens] if tens else 1) * 10 + (DIGITS[ones] if ones else 0)
    return DIGITS[s]


_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十]+")


def _next_to_number(text: str, i: int) -> bool:
    def is_number(j: int) -> bool:
        return 0 <= j < len(text) and (text[j].isdigit() or text[j] in DIGITS or text[j] in "十点分半")

    return is_number(i - 1)


def canonicalise(text: str) -> str:
    """Fuzzy time words replaced by their canonical characters, numerals by digits."""
    hay = syllables(text)
    out = list(text)
    claimed = [False] * len(text)
    # Weekday names said exactly are kept: 周五 must not become 中午.
    for m in re.finditer(r"(?:周|星期)[一二三四五六日天]", text):
        claimed[m.start() : m.end()] = [True] * (m.end() - m.start())
    for word in sorted(TIME_WORDS, key=len, reverse=True):
        needle = syllables(word)
        n = len(word)
        for i in range(len(text) - n + 1):
            if any(claimed[i : i + n]):
                continue
            if n == 1 and text[i] != word and not _next_to_number(text, i):
                continue  # a lone homophone (电 for 点) counts only beside a number
            score = sum(syllable_similarity(hay[i + k], needle[k]) for k in range(n)) / n
            if text[i : i + n] == word or score >= TIME_WORDS[word]:
                # A number character heard inside a time word (向五 for 下午) belongs to the word.
                out[i : i + n] = list(word)
                claimed[i : i + n] = [True] * n
    result = "".join(out)

    def numeral(m: re.Match[str]) -> str:
        s = m.group(0)
        try:
            return str(_numeral_value(s))
        except (KeyError, ValueError):
            return s

    # Weekday names keep their characters: 周五 is Friday, not week 5.
    parts = re.split(r"((?:周|星期)[一二三四五六日天])", result)
    return "".join(
        p if re.fullmatch(r"(?:周|星期)[一二三四五六日天]", p) else _NUMERAL.sub(numeral, p) for p in parts
    )


_DAY = r"(?P<day>今天|明天|后天)?"
_PART = r"(?P<part>上午|下午|中午|晚上|早上)?"
_CLOCK = re.compile(
    _DAY + _PART + r"(?P<hour>\d{1,2})点(?:(?P<half>半)|(?P<minute>\d{1,2})分?)?"
    r"(?P<before>之前|以前|前)?"
)
_DURATION = re.compile(
    r"(?P<n>\d+)?(?P<half>半)?个?(?P<h_half>半)?(?P<unit>小时|分钟)(?P<rel>之内|以内|内|之后|以后|后)"
)
_WEEKDAY = re.compile(
    r"(?P<which>这|本|下)?(?:周|星期)(?P<wd>[一二三四五六日天])(?P<rest>下班前|之前|以前|前)?"
)
_DAY_ONLY = re.compile(r"(?P<day>今天|明天|后天)(?P<rest>下班前|下班之前|之内|以内|内|之前|前)")


def parse_due_time(text: str, said_at: datetime, end_of_day: time = time(18, 0)) -> ParsedTime | None:
    """The definite time named in ``text`` (normalised), relative to when it was said."""
    canon = canonicalise(text)
    m = _DURATION.search(canon)
    if m:
        n = int(m.group("n")) if m.group("n") else 0
        if m.group("half") and not m.group("n"):
            amount = 0.5
        else:
            amount = n + (0.5 if (m.group("h_half") or m.group("half")) else 0)
        if amount > 0:
            delta = timedelta(hours=amount) if m.group("unit") == "小时" else timedelta(minutes=amount)
            return ParsedTime(said_at + delta, m.group(0))
    m = _CLOCK.search(canon)
    if m:
        hour = int(m.group("hour"))
        minute = 30 if m.group("half") else int(m.group("minute") or 0)
        part = m.group("part")
        if part in ("下午", "晚上") and hour < 12:
            hour += 12
        elif part == "中午" and hour < 11:
            hour += 12
        elif part is None and 1 <= hour <= 7:
            hour += 12
        if hour > 23 or minute > 59:
            return None
        day = {"今天": 0, "明天": 1, "后天": 2}.get(m.group("day") or "", 0)
        due = datetime.combine(
            said_at.date() + timedelta(days=day), time(hour, minute), tzinfo=said_at.tzinfo
        )
        if not m.group("day") and due <= said_at:
            due += timedelta(days=1)
        return ParsedTime(due, m.group(0))
    m = _WEEKDAY.search(canon)
    if m:
        target = WEEKDAY[m.group("wd")]
        monday = said_at.date() - timedelta(days=said_at.weekday())
        if m.group("which") == "下":
            monday += timedelta(days=7)
        day = monday + timedelta(days=target)
        if day < said_at.date():
            day += timedelta(days=7)
        return ParsedTime(datetime.combine(day, end_of_day, tzinfo=said_at.tzinfo), m.group(0))
    m = _DAY_ONLY.search(canon)
    if m:
        day = said_at.date() + timedelta(days={"今天": 0, "明天": 1, "后天": 2}[m.group("day")])
        return ParsedTime(datetime.combine(day, end_of_day, tzinfo=said_at.tzinfo), m.group(0))
    return None
