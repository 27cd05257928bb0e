"""Issue 14: a callback the node places is checked with the outbound greeting (name + 给您回电)
and without the ring-time rule; a rule set not chosen for a direction checks inbound calls."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.records import Utterance
from speech.qa.checker import check_call
from speech.qa.rulefile import RuleFileError, load_rules, parse_rules

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
RULES = load_rules()
ROSTER = ["张伟", "李娜"]


def opening(text: str, rules, ring_time_s: float | None = None):  # noqa: ANN001, ANN201
    utt = Utterance("engineer", 1.0, 5.0, text, confidence=0.9)
    return check_call([utt], rules, "张伟", T0, 60.0, roster_names=ROSTER, ring_time_s=ring_time_s).findings


@pytest.mark.parametrize(("text", "direction", "rule_id", "verdict"), [
    ("你好，我是桌面工程师张伟，给您回电。", "outbound", "greeting.outbound", "pass"),
    ("您好，我是桌面工程师张伟，给您回个电话。", "outbound", "greeting.outbound", "pass"),
    # The inbound wording is not a callback's opening (no 给您回电) ...
    ("你好，我是桌面工程师张伟，您有什么需要咨询的么？", "outbound", "greeting.outbound", "fail"),
    # ... and a callback's opening is not an inbound greeting.
    ("你好，我是桌面工程师张伟，给您回电。", "inbound", "greeting", "fail"),
    ("你好，我是桌面工程师张伟，您有什么需要咨询的么？", "inbound", "greeting", "pass"),
])
def test_each_direction_has_its_own_greeting(text: str, direction: str, rule_id: str, verdict: str) -> None:
    greetings = [f for f in opening(text, RULES.for_calls(direction)) if f.clause == "3.4(a)"]
    assert [(f.rule_id, f.verdict) for f in greetings] == [(rule_id, verdict)], greetings[0].message


def test_outbound_calls_have_no_ring_time_rule() -> None:
    inbound = opening("你好，我是桌面工程师张伟，您有什么需要咨询的么？", RULES.for_calls("inbound"), 20.0)
    outbound = opening("你好，我是桌面工程师张伟，给您回电。", RULES.for_calls("outbound"), 20.0)
    assert any(f.clause == "3.3(2)" and f.verdict == "fail" for f in inbound)
    assert not any(f.clause == "3.3(2)" for f in outbound)


def test_a_rule_set_without_direction_checks_inbound_calls() -> None:
    findings = opening("你好，我是桌面工程师张伟，给您回电。", RULES)
    greetings = [f.rule_id for f in findings if f.clause == "3.4(a)"]
    assert greetings == ["greeting"]


def test_calls_must_name_a_direction() -> None:
    text = """version = 1
[[rule]]
id = "x"
kind = "ring_time"
clause = "3.3(2)"
text = "t"
max_rings = 3
calls = "sideways"
"""
    with pytest.raises(RuleFileError, match=r'rule\[0\]\.calls: .*must be "inbound", "outbound" or "all"'):
        parse_rules(text)
