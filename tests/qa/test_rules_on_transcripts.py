"""Rules on transcripts: every clause, positive and negative, homophones, context, times.

No audio and no recogniser: utterances are written here, including the exact mistakes
Whisper makes on the synthetic hotline clips (tests/fixtures/audio/tts/README.md).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from models.records import Utterance, Word
from speech.activity import LegActivity
from speech.qa.checker import CallChecker, check_call, check_written_reply
from speech.qa.rulefile import load_rules
from speech.qa.scoring import score_findings
from speech.qa.timeparse import parse_due_time

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=SH)  # a Tuesday
RULES = load_rules()
TTS = Path(__file__).parents[1] / "fixtures" / "audio" / "tts"


def eng(text: str, start: float = 20.0, end: float | None = None) -> Utterance:
    return Utterance("engineer", start, end if end is not None else start + 3.0, text, confidence=0.9)


def caller(text: str, start: float = 15.0) -> Utterance:
    return Utterance("caller", start, start + 3.0, text, confidence=0.9)


def clauses(result, verdict: str = "fail") -> set[str]:  # noqa: ANN001
    return {f.clause for f in result.findings if f.verdict == verdict}


def run(*utts: Utterance, engineer: str = "张伟", duration: float = 60.0, **kw):  # noqa: ANN003, ANN201
    return check_call(list(utts), RULES, engineer, T0, duration, roster_names=["张伟", "李娜", "李明"], **kw)


# --- 3.5 forbidden phrases: (engineer text, clause expected or None) ------------------------
FORBIDDEN = [
    ("这个问题我们不管。", "3.5(1)"),
    ("这个问题我们不负责", "3.5(1)"),
    ("并不是我们不管，是需要走流程", None),  # negated
    ("这种情况的确很特殊，我帮您反映一下，会有相关部门与您联系。", None),  # recommended wording (e05)
    ("這種情況的確很特殊，我幫您反映一下，會有相關部門與您聯繫。", None),  # same, traditional
    ("这个我也不清楚。", "3.5(2)"),
    ("这个我也不青楚", "3.5(2)"),  # homophone
    ("这个我也步清楚", "3.5(2)"),  # homophone
    ("這個我也不清楚。", "3.5(2)"),  # traditional characters
    ("我不知道怎么弄。", "3.5(2)"),
    ("我不只道怎么弄", "3.5(2)"),  # homophone
    ("您不知道密码的话，可以点忘记密码", None),  # quoting the customer's situation
    ("您说不清楚是吗，我再解释一下", None),  # quoting
    ("不是不知道，是需要查一下", None),  # negated
    ("我知道怎么弄", None),
    ("这个很清楚了", None),
    ("这个真的没办法解决。", "3.5(3)"),
    ("这个我们解决不了", "3.5(3)"),
    ("我请我们这方面的专家找一种比较理想的解决方案", None),
    ("那个系统跟我们没关系。", "3.5(4)"),
    ("那个系统和我们没有关系", "3.5(4)"),
    ("那个系统由信息部王工负责，请您同他联系好吗", None),
    ("这是公司规定，我也没办法。", "3.5(5) 3.5(3)"),  # e10: both, as its manifest says
    ("很抱歉，因为公司在这方面有一些规定，我帮您反映一下好吗", None),
    ("您有什么毛病吗？", "3.5(6)"),
    ("您有什么问题吗", "3.5(6)"),
    ("您有什么问题要咨询吗？您的机器出了什么故障？", None),  # the recommended wording
    ("您打电话来跟谁说都行，不用找我。", "3.5(7)"),
    ("我是张伟，您再次来电时有可能我在接听其它用户的电话", None),
]


@pytest.mark.parametrize(("text", "clause"), FORBIDDEN)
def test_forbidden_phrases(text: str, clause: str | None) -> None:
    found = {c for c in clauses(run(eng(text))) if c.startswith("3.5")}
    assert found == (set(clause.split()) if clause else set()), text


def test_caller_side_is_never_judged() -> None:
    result = run(caller("您不知道密码的话怎么办？"), caller("这个我也不清楚，我们不管"))
    assert not {c for c in clauses(result) if c.startswith("3.5")}


def test_forbidden_finding_carries_evidence() -> None:
    u = Utterance(
        "engineer",
        42.0,
        44.0,
        "这个我也不清楚。",
        confidence=0.8,
        words=[
            Word("这个", 42.0, 42.4, 0.9),
            Word("我", 42.4, 42.6, 0.9),
            Word("也", 42.6, 42.8, 0.9),
            Word("不清楚", 42.9, 43.6, 0.7),
        ],
    )
    f = next(f for f in run(u).findings if f.clause == "3.5(2)")
    assert (f.start, f.end) == (42.9, 43.6)
    assert f.heard == "不清楚" and f.confidence == pytest.approx(0.7)
    assert f.recommended.startswith("您反映的问题存在一定的特殊性")
    assert "3.5(2)" in run(u).feedback and "00:42" in run(u).feedback


# --- 3.4(a) greeting with the engineer's own name --------------------------------------
GREETINGS = [
    ("你好，我是桌面工程师张伟，您有什么需要咨询的么？", "张伟", "pass"),
    ("你好,我是中面工程师张伟。你有什么需要做行的吗?", "张伟", "pass"),  # Whisper on e01
    ("你好，我是桌面工程师张维，您有什么需要咨询的么？", "张伟", "pass"),  # name homophone
    ("你好，我是桌面工程师李明，您有什么需要咨询的么？", "张伟", "fail"),  # another name
    ("你好，我是桌面工程师李娜，您有什么需要咨询的么？", "张伟", "fail"),  # a colleague's name
    ("你好，我是桌面工程师李娜，您有什么需要咨询的么？", "李娜", "pass"),
    ("喂，您有什么事？", "张伟", "fail"),  # e03
    ("你好，我是张伟", "张伟", "fail"),  # name but most of the greeting missing
]


@pytest.mark.parametrize(("text", "engineer", "verdict"), GREETINGS)
def test_greeting(text: str, engineer: str, verdict: str) -> None:
    result = run(eng(text, start=1.0), engineer=engineer)
    verdicts = [f.verdict for f in result.findings if f.clause == "3.4(a)"]
    assert verdicts == [verdict]


def test_greeting_after_the_window_is_too_late() -> None:
    result = run(eng("喂？", start=1.0), eng("你好，我是桌面工程师张伟，您有什么需要咨询的么？", start=12.0))
    assert [f.verdict for f in result.findings if f.clause == "3.4(a)"] == ["fail"]


def test_wrong_name_is_called_out() -> None:
    f = next(
        f
        for f in run(eng("你好，我是桌面工程师李娜，您有什么需要咨询的么？", 1.0)).findings
        if f.clause == "3.4(a)"
    )
    assert "李娜" in f.message and f.recommended == "你好，我是桌面工程师张伟，您有什么需要咨询的么？"


def test_missing_greeting_is_decided_live_when_the_window_closes() -> None:
    checker = CallChecker(RULES, "张伟", T0)
    assert checker.on_utterance(eng("喂，您有什么事？", start=1.0)) == []
    assert checker.on_time(9.9) == []
    live = checker.on_time(10.0)
    assert [(f.clause, f.verdict) for f in live] == [("3.4(a)", "fail")]
    final = checker.finish(30.0)
    assert sum(1 for f in final.findings if f.clause == "3.4(a)") == 1  # no duplicate at hang-up


def test_full_greeting_passes_at_once() -> None:
    checker = CallChecker(RULES, "张伟", T0)
    live = checker.on_utterance(eng("你好，我是桌面工程师张伟，您有什么需要咨询的么？", start=1.0))
    assert [(f.clause, f.verdict) for f in live] == [("3.4(a)", "pass")]


# --- 3.4(b) closing --------------------------------------------------------------------
CLOSINGS = [
    ("如有相关技术问题请您再和我们联系，谢谢支持我们的工作，再见！", "pass", 1.0),
    ("如有相关技术问题请您再和我们联系，再见", "pass", None),
    ("好的，再见", "fail", None),
    ("", "fail", 0.0),
]


@pytest.mark.parametrize(("text", "verdict", "score"), CLOSINGS)
def test_closing(text: str, verdict: str, score: float | None) -> None:
    utts = [eng("好的我看一下", start=5.0)] + ([eng(text, start=50.0, end=56.0)] if text else [])
    f = next(f for f in run(*utts, duration=58.0).findings if f.clause == "3.4(b)")
    assert f.verdict == verdict
    if score is not None:
        assert f.detail["score"] == pytest.approx(score, abs=0.05)


def test_closing_outside_the_last_seconds_does_not_count() -> None:
    result = run(
        eng("如有相关技术问题请您再和我们联系，谢谢支持我们的工作，再见！", start=5.0), duration=120.0
    )
    assert "3.4(b)" in clauses(result)


# --- 3.3(4) definite time ----------------------------------------------------------------
TIMES = [
    ("我今天下午三点前给您回复", "2026-11-24 15:00"),
    ("我今天向五三点钱给您回复", "2026-11-24 15:00"),  # Whisper on e13
    ("我明天上午十点给您打电话", "2026-11-25 10:00"),
    ("我明天上午10点给您打电话", "2026-11-25 10:00"),
    ("半小时内给您回复", "2026-11-24 10:30"),
    ("两个小时之内给您答复", "2026-11-24 12:00"),
    ("一个半小时内处理好", "2026-11-24 11:30"),
    ("五分钟后给您回电", "2026-11-24 10:05"),
    ("下午四点半给您回复", "2026-11-24 16:30"),
    ("三点十五分给您回复", "2026-11-24 15:15"),
    ("十一点前给您回复", "2026-11-24 11:00"),
    ("今天中午十二点半给您回复", "2026-11-24 12:30"),
    ("晚上八点给您打电话", "2026-11-24 20:00"),
    ("这周五之前给您答复", "2026-11-27 18:00"),
    ("周五下班前给您回复", "2026-11-27 18:00"),
    ("下周一给您回复", "2026-11-30 18:00"),
    ("明天之内给您回复", "2026-11-25 18:00"),
    ("后天之前给您反馈", "2026-11-26 18:00"),
    ("九点给您回复", "2026-11-25 09:00"),  # 09:00 already passed today, no day named
    ("今天下午3点前给您回复", "2026-11-24 15:00"),
    ("我今天下午三點前給您回覆", "2026-11-24 15:00"),  # traditional
    ("明天早上九点给您回复", "2026-11-25 09:00"),
]


@pytest.mark.parametrize(("text", "due"), TIMES)
def test_time_extraction(text: str, due: str) -> None:
    from speech.text import normalize_transcript

    parsed = parse_due_time(normalize_transcript(text), T0)
    assert parsed is not None, text
    assert parsed.due_at == datetime.fromisoformat(due).replace(tzinfo=SH)


@pytest.mark.parametrize(
    "text", ["我尽快给您回复", "稍后给您回复", "回头给您打电话", "我一会儿给您回电", "我给您回复"]
)
def test_vague_promise_is_a_finding(text: str) -> None:
    result = run(eng(text))
    assert "3.3(4)" in clauses(result)
    assert [p.definite for p in result.promises] == [False]


def test_definite_promise_is_relative_to_when_it_was_said() -> None:
    result = run(eng("半小时内给您回复", start=600.0))  # ten minutes into the call
    assert result.promises[0].due_at == "2026-11-24T10:40:00+08:00"
    assert "3.3(4)" in clauses(result, "pass") and "3.3(4)" not in clauses(result)


def test_no_promise_no_finding() -> None:
    assert not [f for f in run(eng("好的我马上帮您看一下")).findings if f.clause == "3.3(4)"]


# --- 3.3(6) complaint ------------------------------------------------------------------------
def test_complaint_with_apology() -> None:
    result = run(
        caller("我要投诉，你们的服务太慢了！", 10.0),
        eng("非常抱歉给您带来不便，我马上记录下来向上级反映。", 14.0),
    )
    f = next(f for f in result.findings if f.clause == "3.3(6)" and f.verdict == "pass")
    assert f.detail["talk_share"] == pytest.approx(0.5, abs=0.01)


def test_complaint_without_apology() -> None:
    result = run(caller("你们什么态度啊", 10.0), eng("这是流程规定的", 14.0))
    assert "3.3(6)" in clauses(result)


def test_apology_too_late_is_a_live_finding() -> None:
    checker = CallChecker(RULES, "张伟", T0)
    checker.on_utterance(caller("我要投诉", 10.0))
    assert [f.verdict for f in checker.on_time(44.0) if f.clause == "3.3(6)"] == ["fail"]


def test_apology_delivered_before_the_late_complaint_leg_still_counts() -> None:
    checker = CallChecker(RULES, "张伟", T0)
    checker.on_utterance(eng("非常抱歉给您带来不便", 12.0))  # engineer leg ahead of the caller leg
    live = checker.on_utterance(caller("我要投诉，太慢了", 10.0))
    assert [(f.clause, f.verdict) for f in live] == [("3.3(6)", "pass")]
    assert not [f for f in checker.finish(40.0).findings if f.clause == "3.3(6)" and f.verdict == "fail"]


def test_apology_before_the_complaint_does_not_answer_it() -> None:
    result = run(eng("不好意思让您久等了", 5.0), caller("你们什么态度", 10.0))
    assert "3.3(6)" in clauses(result)


def test_engineer_talking_over_a_complaint_is_flagged() -> None:
    result = run(
        caller("太慢了", 10.0),
        eng("对不起", 13.5, 14.0),
        eng("我跟您解释一下我们内部的流程是这样的先要提交工单然后再审批", 14.0, 40.0),
    )
    assert "3.3(6)" in clauses(result, "warn")


def test_no_complaint_leaves_the_clause_unchecked() -> None:
    card = run(eng("你好，我是桌面工程师张伟，您有什么需要咨询的么？", 1.0)).scorecard
    assert next(c for c in card.clauses if c.clause == "3.3(6)").checked is False


# --- 3.3(1) manner, 2(3) overtalk, 3.3(2) ring time --------------------------------------------
def test_manner_metrics_and_warnings() -> None:
    fast = eng("这" * 40, 10.0, 12.0)  # 1200 characters a minute
    quiet = LegActivity("engineer", [(10.0, 12.0)], loudness_dbfs=-45.0)
    result = run(fast, activity=[quiet, LegActivity("caller", [(0.0, 1.0)], -20.0)])
    warns = [f.message for f in result.findings if f.clause == "3.3(1)"]
    assert any("语速" in m for m in warns) and any("音量偏低" in m for m in warns)
    assert result.scorecard.metrics["engineer_chars_per_minute"] == pytest.approx(1200.0)


def test_manner_verdict_comes_from_the_rule_file() -> None:
    from speech.qa.rulefile import DEFAULT_RULES, parse_rules

    strict = parse_rules(
        DEFAULT_RULES.read_text(encoding="utf-8").replace('verdict = "warn"  #', 'verdict = "fail"  #'), "x"
    )
    fast = eng("这" * 40, 10.0, 12.0)
    result = check_call([fast], strict, "张伟", T0, 60.0)
    assert [f.verdict for f in result.findings if f.clause == "3.3(1)"] == ["fail"]
    assert next(c for c in result.scorecard.clauses if c.clause == "3.3(1)").score == 0.0


def test_normal_manner_has_no_warning() -> None:
    ok = eng("你好我是桌面工程师张伟您有什么需要咨询的么", 1.0, 5.5)
    result = run(ok, activity=[LegActivity("engineer", [(1.0, 5.5)], -20.0)], duration=6.0)
    assert not [f for f in result.findings if f.clause == "3.3(1)"]


def test_overtalk_and_long_silence() -> None:
    caller_leg = LegActivity("caller", [(0, 4), (10, 14), (20, 24), (30, 34)], -20.0)
    engineer_leg = LegActivity("engineer", [(2, 6), (12, 16), (22, 26), (32, 36), (60, 62)], -20.0)
    result = run(eng("好的", 60.0), activity=[caller_leg, engineer_leg], duration=63.0)
    assert "2(3)" in clauses(result, "warn")
    assert result.scorecard.metrics["overtalk_count"] == 4
    assert result.scorecard.metrics["longest_silence_s"] == pytest.approx(24.0)


@pytest.mark.parametrize(
    ("ring", "verdict", "rings"), [(2.0, "pass", 1), (14.9, "pass", 3), (15.0, "fail", 4)]
)
def test_ring_time(ring: float, verdict: str, rings: int) -> None:
    f = next(f for f in run(eng("好的"), ring_time_s=ring).findings if f.clause == "3.3(2)")
    assert (f.verdict, f.detail["rings"]) == (verdict, rings)


# --- scoring, overrides, written replies ---------------------------------------------------
def test_override_recomputes_the_score() -> None:
    result = run(eng("你好，我是桌面工程师张伟，您有什么需要咨询的么？", 1.0), eng("这个我也不清楚", 20.0))
    before = result.scorecard.overall
    checked = result.scorecard.metrics["checked_clauses"]
    refusal = next(f for f in result.findings if f.clause == "3.5(2)")
    refusal.verdict = "pass"  # a supervisor overrides: it was a quotation
    after = score_findings(result.findings, RULES, checked_clauses=checked).overall
    assert after > before
    assert (
        next(c for c in score_findings(result.findings, RULES, checked).clauses if c.clause == "3.5(2)").score
        == 100.0
    )


def test_bad_call_scores_below_good_call() -> None:
    good = run(
        eng("你好，我是桌面工程师张伟，您有什么需要咨询的么？", 1.0),
        eng("我今天下午三点前给您回复", 20.0),
        eng("如有相关技术问题请您再和我们联系，谢谢支持我们的工作，再见！", 52.0, 58.0),
    )
    bad = run(eng("喂，您有什么事？", 1.0), eng("这个我也不清楚", 20.0), eng("我尽快给您回复", 30.0))
    assert good.scorecard.overall == 100.0
    assert bad.scorecard.overall < good.scorecard.overall - 30
    low = {c.clause: c.score for c in bad.scorecard.clauses if c.checked and c.score <= 50}
    assert set(low) == {"3.4(a)", "3.5(2)", "3.3(4)", "3.4(b)"}


def test_written_reply() -> None:
    result = check_written_reply("您好！这个问题跟我们没关系。\n我们会尽快给您回复。", RULES, T0)
    assert clauses(result) == {"3.5(4)", "3.3(4)"}
    assert "00:" not in result.feedback
    clean = check_written_reply("您好，问题已记录，我明天上午十点前给您答复。", RULES, T0)
    assert clauses(clean) == set() and clean.scorecard.overall == 100.0


# --- the synthetic utterances' own expectations (tests/fixtures/audio/tts/manifest.tsv) --------
def _manifest() -> list[dict[str, str]]:
    with open(TTS / "manifest.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.parametrize("row", _manifest(), ids=lambda r: r["id"])
def test_manifest_expectations(row: dict[str, str]) -> None:
    expect = row["expect"]
    if row["speaker"] == "caller":
        result = run(caller(row["text"], 1.0))
        assert not {c for c in clauses(result) if c.startswith("3.5")}
        if "3.3(6)" in expect:
            assert "3.3(6)" in clauses(result)  # a complaint nobody apologised for
        return
    start = 1.0 if "3.4(a)" in expect else 20.0
    end = 56.0 if "3.4(b)" in expect else None
    result = run(eng(row["text"], start, end), duration=58.0, engineer="李娜" if "李娜" in expect else "张伟")
    fails = {c for c in clauses(result) if c.startswith("3.5") or c in ("3.3(4)",)}
    if expect.startswith("3.5(") and "recommended" not in expect:
        assert expect.split()[0] in fails
    elif "recommended" in expect:
        assert not fails
    elif "definite time" in expect:
        assert "3.3(4)" in clauses(result, "pass") and "3.3(4)" not in fails
    elif "vague" in expect:
        assert "3.3(4)" in fails
    elif "missing greeting" in expect:
        assert "3.4(a)" in clauses(result)
    elif "greeting with name" in expect:
        assert "3.4(a)" in clauses(result, "pass")
    elif "closing" in expect:
        assert "3.4(b)" in clauses(result, "pass")
    elif "apology" in expect:
        assert not fails
