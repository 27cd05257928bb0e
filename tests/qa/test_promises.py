"""3.3(4) promises: any commitment verb, classified clock / relative / vague, holds are not promises."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.records import Utterance
from speech.qa.checker import check_call
from speech.qa.rulefile import load_rules
from speech.qa.timeparse import parse_due_time, time_text

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=SH)  # a Tuesday, 10:00
RULES = load_rules()


def promise_of(text: str, started: datetime = T0, at: float = 0.0) -> tuple[str, str | None, str]:
    """(verdict, due time, time kind) of the one promise in ``text``, or ("none", None, "")."""
    utt = Utterance("engineer", at, at + 3.0, text, confidence=0.9)
    result = check_call([utt], RULES, "张伟", started, at + 30.0)
    found = [f for f in result.findings if f.clause == "3.3(4)"]
    if not found:
        assert result.promises == []
        return ("none", None, "")
    assert len(found) == 1 and len(result.promises) == 1
    return (found[0].verdict, result.promises[0].due_at, found[0].detail.get("time_kind", ""))


PROMISES = [
    # clock times, every verb
    ("我明早九点给您回电话", "2026-11-25T09:00:00+08:00", "clock"),
    ("下午三点半以前我把结果告诉您", "2026-11-24T15:30:00+08:00", "clock"),
    ("今晚8点前我发邮件给您", "2026-11-24T20:00:00+08:00", "clock"),
    ("周三上午十点我们安排人上门", "2026-11-25T10:00:00+08:00", "clock"),
    ("16:30之前给您答复", "2026-11-24T16:30:00+08:00", "clock"),
    ("三点一刻之前我联系您", "2026-11-24T15:15:00+08:00", "clock"),
    ("后天下午两点我通知您", "2026-11-26T14:00:00+08:00", "clock"),
    ("明天中午十二点前帮您处理好", "2026-11-25T12:00:00+08:00", "clock"),
    ("下周一上午九点派工程师上门", "2026-11-30T09:00:00+08:00", "clock"),
    ("今天下班前给您答复", "2026-11-24T18:00:00+08:00", "clock"),
    # relative
    ("十分钟之内给您回电", "2026-11-24T10:10:00+08:00", "relative"),
    ("过两个小时我再联系您", "2026-11-24T12:00:00+08:00", "relative"),
    ("一刻钟后我给您回个电话", "2026-11-24T10:15:00+08:00", "relative"),
    ("半个小时以后我把方案发给您", "2026-11-24T10:30:00+08:00", "relative"),
    # recogniser homophones of the verb (连续 for 联系) and of a number (事 for 四)
    ("我事点之前给您回复", "2026-11-24T16:00:00+08:00", "clock"),
    ("过一个小时我再连续您", "2026-11-24T11:00:00+08:00", "relative"),
    ("半段小时以后我给你回电话", "2026-11-24T10:30:00+08:00", "relative"),  # 段 heard for 个
    ("我明早就电给您回电话", "2026-11-25T09:00:00+08:00", "clock"),  # Whisper on d103: 就电 = 九点
    ("十分钟间被给您回店", "2026-11-24T10:10:00+08:00", "relative"),  # Whisper on d107: 之内 lost
    ("1630之前给您打负", "2026-11-24T16:30:00+08:00", "clock"),  # Whisper on d130
    ("3.1克之前给银回复", "2026-11-24T15:15:00+08:00", "clock"),  # Whisper on d123
    ("一刻中后我给您回个电话", "2026-11-24T10:15:00+08:00", "relative"),  # Whisper on d109
]


@pytest.mark.parametrize(("text", "due", "kind"), PROMISES)
def test_definite_promises(text: str, due: str, kind: str) -> None:
    assert promise_of(text) == ("pass", due, kind)


VAGUE = ["我稍后联系您", "我们尽快给您处理好", "改天再给您回复", "过阵子给您消息", "等有消息了我再告诉您",
         "有空的时候我给您打过去", "回头我让同事联系您", "明天给您回复", "晚些时候通知您"]


@pytest.mark.parametrize("text", VAGUE)
def test_vague_promises_fail(text: str) -> None:
    assert promise_of(text) == ("fail", None, "vague")


NOT_PROMISES = ["您稍等，我查一下", "请稍候，正在为您转接", "您别挂机，稍等一下", "我马上帮您看一下",
                "您反映的问题目前由网络部王工负责，请您从他联系好吗",  # Whisper's 从 for 同: the caller's job
                "有问题随时联系我们", "这种情况的确很特殊，我帮您反映一下，会有相关部门与您联系"]


@pytest.mark.parametrize("text", NOT_PROMISES)
def test_holds_and_invitations_are_not_promises(text: str) -> None:
    assert promise_of(text) == ("none", None, "")


def test_hold_then_a_real_promise_in_one_utterance() -> None:
    assert promise_of("您稍等，我明天上午十点给您回电") == ("pass", "2026-11-25T10:00:00+08:00", "clock")


def test_due_time_is_in_the_line_time_zone() -> None:
    urumqi = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Urumqi"))
    verdict, due, _ = promise_of("下午三点前给您回复", started=urumqi)
    assert (verdict, due) == ("pass", "2026-11-24T15:00:00+06:00")


def test_relative_time_counts_from_when_it_was_said() -> None:
    assert promise_of("二十分钟内给您回复", at=600.0)[1] == "2026-11-24T10:30:00+08:00"


def test_a_weekday_already_past_this_week_means_next_week() -> None:
    thursday = datetime(2026, 11, 26, 9, 0, tzinfo=SH)
    assert promise_of("周三上午十点安排人上门", started=thursday)[1] == "2026-12-02T10:00:00+08:00"


@pytest.mark.parametrize(
    ("raw", "due"),
    [("16：30前", "2026-11-24 16:30"), ("三点三刻前", "2026-11-24 15:45"), ("明晚七点", "2026-11-25 19:00"),
     ("过半个小时", "2026-11-24 10:30"), ("两点半", "2026-11-24 14:30")],
)
def test_time_words(raw: str, due: str) -> None:
    parsed = parse_due_time(time_text(raw), T0)
    assert parsed is not None and parsed.due_at == datetime.fromisoformat(due).replace(tzinfo=SH)
