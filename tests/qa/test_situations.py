"""The 3.5 rules describe situations: wordings nobody listed, and the context decisions.

Every row is a decision the shipped rule file makes; the reason is in the rule file's
comments (speech/qa/default_rules.toml). None of these sentences is written verbatim in it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.records import Utterance
from speech.qa.checker import check_call
from speech.qa.rulefile import load_rules

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=SH)  # a Tuesday
RULES = load_rules()


def forbidden(text: str) -> set[str]:
    utt = Utterance("engineer", 20.0, 23.0, text, confidence=0.9)
    result = check_call([utt], RULES, "张伟", T0, 60.0, roster_names=["张伟", "李娜"])
    return {f.clause for f in result.findings if f.verdict == "fail" and f.clause.startswith("3.5")}


# The examples: caught without being listed.
UNLISTED = [
    ("这块儿不在我们的职责范围", "3.5(1)"),
    ("我这边确实弄不明白", "3.5(2)"),
    ("这个我们处理不了", "3.5(3)"),
    ("这跟咱们部门无关", "3.5(4)"),
    ("制度就是这么定的", "3.5(5)"),
    ("你脑子有问题吧", "3.5(6)"),
    # optional slots: subject, degree adverb, particles inside the phrase
    ("这个我是真不太了解", "3.5(2)"),
    ("那块我们这边一般不负责", "3.5(1)"),
    ("这种问题我们部门管不着", "3.5(1)"),
    ("这个故障咱们是真搞不定", "3.5(3)"),
    ("这个实在是没辙了", "3.5(3)"),
    ("这个打印服务跟我们桌面组一点关系都没有", "3.5(4)"),
    ("这是单位的规定", "3.5(5)"),
    ("你是不是有什么毛病", "3.5(6)"),
    ("您找哪个工程师都一样", "3.5(7)"),
    ("用不着非找我", "3.5(7)"),
    # recogniser homophones
    ("这个我也不青楚", "3.5(2)"),
    ("这个问题我们解绝不了", "3.5(3)"),
]


@pytest.mark.parametrize(("text", "clause"), UNLISTED)
def test_unlisted_wordings_are_caught(text: str, clause: str) -> None:
    assert forbidden(text) == {clause}


# Context: (text, clauses expected, the decision)
CONTEXT = [
    ("不知道您这会儿有空吗", set(), "不知道 opening a polite question to the customer"),
    ("不知道您那边是什么系统", set(), "a hedge before asking"),
    ("不知道你方便重启一下吗", set(), "a hedge before asking"),
    ("不知道是不是网线松了，您看一下", set(), "wondering aloud before an A-not-A question"),
    ("我这边听不清楚，您大声一点", set(), "the line is bad, not the engineer's knowledge"),
    ("我也不知道为什么会这样", {"3.5(2)"}, "a plain 不知道"),
    ("您刚才说您不知道密码，是吗", set(), "the caller's words said back"),
    ("您是说不清楚在哪里设置对吧", set(), "the caller's words said back"),
    ("客户说处理不了", set(), "someone else's words reported"),
    ("您有什么不明白的随时问我", set(), "the caller is the one who does not know"),
    ("也不是处理不了，就是需要一点时间", set(), "negated"),
    ("并不是我们不管，是要走流程", set(), "negated"),
    ("倒不是没办法，换个思路就行", set(), "negated"),
    ("这个型号的打印机没有双面功能", set(), "a device fact is not a refusal (3.5(3) is about solving)"),
    ("这台电脑的网卡没有办法单独更换，我给您换一台", set(), "how a device works, with the way forward"),
    ("这个没有办法远程操作，我安排同事上门", set(), "how the fix is done"),
    ("屏幕上的字不清楚是吧，我调一下分辨率", set(), "a fact about the display"),
    ("声音不清楚的话您换个耳机试试", set(), "a conditional"),
    ("没关系，我再帮您试一下", set(), "polite 没关系"),
    ("没关系的，您慢慢说", set(), "polite 没关系"),
    ("跟您没关系，是服务器的问题", set(), "disowning the caller's fault, not the system"),
    ("这个跟驱动版本有关系", set(), "a cause, not disowning"),
    ("跟我们没关系", {"3.5(4)"}, "disowning"),
    ("我不管怎么样都会帮您弄好", set(), "不管怎么样 = no matter what"),
    ("这个归我们管，您放心", set(), "owning the request"),
    ("根据公司规定，我需要先核实一下您的身份", set(), "a procedure explained, not a refusal"),
    ("您有什么问题都可以问我", set(), "an invitation, not an insult"),
    ("您有什么问题要咨询吗", set(), "the recommended wording"),
    ("您的机器出了什么故障", set(), "the recommended wording"),
    ("别找我们，我们不管", {"3.5(1)"}, "别找我们 is not 不用找我; 我们不管 is"),
]


@pytest.mark.parametrize(("text", "expected", "why"), CONTEXT)
def test_context_decisions(text: str, expected: set[str], why: str) -> None:
    assert forbidden(text) == expected, why


def test_a_finding_says_which_pattern_matched() -> None:
    utt = Utterance("engineer", 20.0, 23.0, "这块我们不负责的", confidence=0.9)
    f = next(f for f in check_call([utt], RULES, "张伟", T0, 60.0).findings if f.clause == "3.5(1)")
    assert f.heard == "我们不负责" and "{manage}" in f.detail["phrase"]
    assert 20.0 <= f.start < f.end <= 23.0
