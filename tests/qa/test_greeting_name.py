"""3.4(a): the name on toneless pinyin against the roster, accepted wordings, a late greeting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.records import Utterance
from speech.qa.checker import CallChecker, check_call
from speech.qa.rulefile import load_rules

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
RULES = load_rules()
ROSTER = ["张伟", "李娜", "李明", "周杰", "赵磊"]
STANDARD = "你好，我是桌面工程师张伟，您有什么需要咨询的么？"


def greeting(text: str, engineer: str, start: float = 1.0):  # noqa: ANN201
    utt = Utterance("engineer", start, start + 4.0, text, confidence=0.9)
    result = check_call([utt], RULES, engineer, T0, 60.0, roster_names=ROSTER)
    return next(f for f in result.findings if f.clause == "3.4(a)")


@pytest.mark.parametrize(
    ("text", "engineer", "verdict", "message"),
    [
        ("你好，我是桌面工程师周洁，您有什么需要咨询的么？", "周杰", "pass", ""),  # homophone
        ("你好，我是桌面工程师赵雷，您有什么需要咨询的么？", "赵磊", "pass", ""),  # tone-only difference
        ("你好，我是中面工程师张维，您有什么需要咨询的么？", "张伟", "pass", ""),  # Whisper's spelling
        ("您好,我是桌面工程师李奈,请问有什么需要咨询的吗?", "李娜", "pass", ""),  # Whisper on dev02
        ("你好，我是桌面工程师李明，您有什么需要咨询的么？", "李娜", "fail", "「李明」，不是本人（李娜）"),
        ("你好，我是桌面工程师张强，您有什么需要咨询的么？", "张伟", "fail", "「张强」，不是本人（张伟）"),
        ("你好，我是桌面工程师，您有什么需要咨询的么？", "张伟", "fail", "没有报自己的名字"),
        # accepted wordings of the last part are data (ask_wordings)
        ("您好，我是桌面工程师李娜，请问有什么可以帮您？", "李娜", "pass", ""),
        ("你好，我是桌面工程师李娜，今天天气不错", "李娜", "fail", "不完整"),
    ],
)
def test_name_and_wording(text: str, engineer: str, verdict: str, message: str) -> None:
    f = greeting(text, engineer)
    assert f.verdict == verdict, f.message
    assert message in f.message


def test_late_greeting_fails_and_says_when_it_started() -> None:
    f = greeting("你好，我是桌面工程师张伟，您有什么需要咨询的么？", "张伟", start=12.0)
    assert f.verdict == "fail"
    assert f.message == "开场用语在第 12 秒才开始（应在 10 秒内）"
    assert f.detail["late_s"] == 12.0 and f.start == 12.0


def test_late_greeting_is_counted_from_when_the_engineer_joined() -> None:
    checker = CallChecker(RULES, "张伟", T0, roster_names=ROSTER, engineer_joined_at=5.0)
    checker.on_utterance(Utterance("engineer", 20.0, 24.0, STANDARD))
    f = next(f for f in checker.finish(60.0).findings if f.clause == "3.4(a)")
    assert f.message.startswith("开场用语在第 15 秒才开始")


def test_live_failure_at_the_window_is_explained_once_the_late_greeting_arrives() -> None:
    checker = CallChecker(RULES, "张伟", T0, roster_names=ROSTER)
    live = checker.on_time(10.0)
    assert [f.verdict for f in live if f.clause == "3.4(a)"] == ["fail"]
    checker.on_utterance(Utterance("engineer", 13.0, 17.0, STANDARD))
    final = [f for f in checker.finish(60.0).findings if f.clause == "3.4(a)"]
    assert len(final) == 1 and "第 13 秒" in final[0].message


def test_talk_long_after_the_window_is_not_taken_for_a_late_greeting() -> None:
    f = greeting("你好，我是桌面工程师张伟，您有什么需要咨询的么？", "张伟", start=45.0)
    assert "没有报自己的名字" in f.message
