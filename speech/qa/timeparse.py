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
    "刻钟": 0.8,
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
    "刻": 1.0,
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
    kind: str = "clock"  # "clock" (a time of day or a day) or "relative" (a duration from now)


# Short forms said on the phone, spelled out before anything else reads the text.
SHORT_FORMS = {"今晚": "今天晚上", "明晚": "明天晚上", "明早": "明天早上", "今早": "今天早上",
               "明儿": "明天", "今儿": "今天", "礼拜": "星期", "钟头": "小时"}
# Recogniser homophones of digits, trusted only right before a time unit (事点 = 四点).
DIGIT_HOMOPHONES = {"事": "四", "似": "四", "寺": "四", "久": "九", "酒": "九", "就": "九", "旧": "九",
                    "舞": "五", "伍": "五", "衣": "一", "依": "一", "伞": "三", "溜": "六", "琪": "七",
                    "巴": "八"}
# ... before 点 or its homophones (明早就电 = 明早九点), an hour count or a minute count.
_HOMOPHONE_DIGIT = re.compile(
    "([" + "".join(DIGIT_HOMOPHONES) + "])(?=[点电店典]|个小时|个半小时|分钟|十)"
)


def time_text(raw: str) -> str:
    """Recogniser text made ready for ``parse_due_time``: 16:30 → 16点30分, then normalised."""
    from speech.text import normalize_transcript, to_simplified

    text = re.sub(r"(\d{1,2})\s*[:：]\s*(\d{2})", r"\1点\2分", to_simplified(raw))
    text = re.sub(r"(\d{1,2})\.([13])\s*[刻克]", r"\1点\2刻", text)  # Whisper's 3.1克 for 三点一刻
    # Whisper's 1630之前 for 16:30之前: four digits that can only be a time of day.
    text = re.sub(r"(?<!\d)([01]?\d|2[0-3])([0-5]\d)(?=之前|以前|前|以内)", r"\1点\2分", text)
    return normalize_transcript(text)


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
    for short, full in SHORT_FORMS.items():
        text = text.replace(short, full)
    text = _HOMOPHONE_DIGIT.sub(lambda m: DIGIT_HOMOPHONES[m.group(1)], text)
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
    result = "".join(
        p if re.fullmatch(r"(?:周|星期)[一二三四五六日天]", p) else _NUMERAL.sub(numeral, p) for p in parts
    )
    # Quarters: 3点1刻 = 3点15分, 3点3刻 = 3点45分, 1刻钟 = 15分钟.
    result = re.sub(r"点([13])刻", lambda m: f"点{int(m.group(1)) * 15}分", result)
    return re.sub(r"(\d)刻钟", lambda m: f"{int(m.group(1)) * 15}分钟", result)


_DAY = r"(?P<day>今天|明天|后天)?"
_PART = r"(?P<part>上午|下午|中午|晚上|早上)?"
_CLOCK_TAIL = r"(?P<hour>\d{1,2})点(?:(?P<half>半)|(?P<minute>\d{1,2})分?)?(?P<before>之前|以前|前)?"
_CLOCK = re.compile(_DAY + _PART + _CLOCK_TAIL)
# The measure word may be misheard (两份小时, 半段小时 for 两个/半个): any one character there.
_MEASURE = r"(?:个|[^\d点半小分])?"
_DURATION = re.compile(
    r"(?P<n>\d+)?(?P<half>半)?" + _MEASURE + r"(?P<h_half>半)?(?P<unit>小时|分钟)"
    r"(?P<rel>之内|以内|内|之后|以后|后)"
)
# A duration said with a promise and nothing after it ("十分钟给您回电", or 之内 lost by the
# recogniser) means within that long; "…分钟前" would be the past and is not read.
_BARE_DURATION = re.compile(
    r"(?P<n>\d+)(?P<half>)" + _MEASURE + r"(?P<h_half>半)?(?P<unit>小时|分钟)(?!前|以前|之前)"
)
# "过两个小时我再联系您": 过 before the duration says "after" on its own.
_AFTER_DURATION = re.compile(
    r"过(?P<n>\d+)?(?P<half>半)?" + _MEASURE + r"(?P<h_half>半)?(?P<unit>小时|分钟)"
)
_WEEKDAY = re.compile(
    r"(?P<which>这|本|下)?个?(?:周|星期)(?P<wd>[一二三四五六日天])"
    r"(?:" + _PART + _CLOCK_TAIL + r"|(?P<rest>下班前|之前|以前|前))?"
)
_DAY_ONLY = re.compile(r"(?P<day>今天|明天|后天)(?P<rest>下班前|下班之前|之内|以内|内|之前|前)")


def _hour_of_day(hour: int, part: str | None) -> int:
    if part in ("下午", "晚上") and hour < 12:
        return hour + 12
    if part == "中午" and hour < 11:
        return hour + 12
    if part is None and 1 <= hour <= 7:
        return hour + 12  # "三点" on a support line is the afternoon
    return hour


def _amount(m: re.Match[str]) -> float:
    n = int(m.group("n")) if m.group("n") else 0
    if m.group("half") and not m.group("n"):
        return 0.5
    return n + (0.5 if (m.group("h_half") or m.group("half")) else 0)


def parse_due_time(text: str, said_at: datetime, end_of_day: time = time(18, 0)) -> ParsedTime | None:
    """The definite time named in ``text`` (normalised), relative to when it was said.

    ``said_at`` carries the line's time zone; the due time is in the same zone.
    """
    canon = canonicalise(text)
    tz = said_at.tzinfo
    m = _WEEKDAY.search(canon)
    if m:
        target = WEEKDAY[m.group("wd")]
        monday = said_at.date() - timedelta(days=said_at.weekday())
        if m.group("which") == "下":
            monday += timedelta(days=7)
        day = monday + timedelta(days=target)
        if m.group("hour"):
            hour = _hour_of_day(int(m.group("hour")), m.group("part"))
            minute = 30 if m.group("half") else int(m.group("minute") or 0)
            if hour > 23 or minute > 59:
                return None
            due = datetime.combine(day, time(hour, minute), tzinfo=tz)
        else:
            due = datetime.combine(day, end_of_day, tzinfo=tz)
        if due <= said_at and m.group("which") != "下":
            due += timedelta(days=7)
        return ParsedTime(due, m.group(0), "clock")
    for regex in (_DURATION, _AFTER_DURATION, _BARE_DURATION):
        m = regex.search(canon)
        if m:
            amount = _amount(m)
            if amount > 0:
                delta = timedelta(hours=amount) if m.group("unit") == "小时" else timedelta(minutes=amount)
                return ParsedTime(said_at + delta, m.group(0), "relative")
    m = _CLOCK.search(canon)
    if m:
        hour = _hour_of_day(int(m.group("hour")), m.group("part"))
        minute = 30 if m.group("half") else int(m.group("minute") or 0)
        if hour > 23 or minute > 59:
            return None
        day = {"今天": 0, "明天": 1, "后天": 2}.get(m.group("day") or "", 0)
        due = datetime.combine(said_at.date() + timedelta(days=day), time(hour, minute), tzinfo=tz)
        if not m.group("day") and due <= said_at:
            due += timedelta(days=1)
        return ParsedTime(due, m.group(0), "clock")
    m = _DAY_ONLY.search(canon)
    if m:
        day = said_at.date() + timedelta(days={"今天": 0, "明天": 1, "后天": 2}[m.group("day")])
        return ParsedTime(datetime.combine(day, end_of_day, tzinfo=tz), m.group(0), "clock")
    return None
