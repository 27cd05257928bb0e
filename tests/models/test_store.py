"""The store keeps a call whole, pages and filters it, and keeps the review trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.records import CallRecord, ClauseScore, Finding, Promise, Scorecard, Utterance, Word
from models.store import NotFound, Store

CST = timezone(timedelta(hours=8))


def make_call(call_id: str = "c1", **overrides: object) -> CallRecord:
    call = CallRecord(
        id=call_id,
        started_at="2026-03-02T09:15:00+08:00",
        line="hq",
        engineer="张伟",
        caller="13800001111",
        duration_s=42.5,
        audio_path="/var/rec/c1.wav",
        engine="vosk",
        ring_time_s=6.2,
        rings=2,
        utterances=[
            Utterance(
                "engineer",
                0.5,
                3.0,
                "你好我是桌面工程师张伟您有什么需要咨询的么",
                words=[Word("你好", 0.5, 0.9, 0.9)],
                confidence=0.9,
                engine="vosk",
            ),
            Utterance("caller", 3.5, 6.0, "我的打印机打不出来", confidence=0.8),
            Utterance("engineer", 6.5, 9.0, "这个我不知道", confidence=0.7),
        ],
        findings=[
            Finding("3.3(2)", "greeting.standard", "must_say_in_window", "pass", 0.5, 3.0, heard="你好我是"),
            Finding(
                "3.5(2)",
                "forbidden.dont_know",
                "must_not_say",
                "fail",
                6.5,
                9.0,
                heard="我不知道",
                confidence=0.7,
                recommended="这个问题我需要查询一下",
                detail={"matched": "不知道"},
            ),
        ],
        promises=[
            Promise(
                "我明天上午十点前给您回电话", 10.0, 12.0, True, "2026-03-03T10:00:00+08:00", "明天上午十点"
            )
        ],
        scorecard=Scorecard(80.0, [ClauseScore("3.5(2)", 0.0, 1.0, failures=1)], {"cpm": 210}),
        feedback="问候规范；避免说“我不知道”。",
        sip_timings={"invite_to_answer_s": 6.2},
    )
    return replace(call, **overrides)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "deskline.db")
    yield s
    s.close()


def test_round_trip_keeps_every_field(store: Store) -> None:
    call = make_call()
    store.save_call(call)
    assert store.get_call("c1") == call
    assert store.get_call("nope") is None


def test_save_twice_replaces_children(store: Store) -> None:
    store.save_call(make_call())
    shorter = make_call(utterances=make_call().utterances[:1], findings=[], promises=[], scorecard=None)
    store.save_call(shorter)
    got = store.get_call("c1")
    assert got == shorter
    assert store.count_calls() == 1
    assert store.callbacks() == []


def test_database_is_in_wal_mode(store: Store) -> None:
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_live_call_is_stored_piece_by_piece(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = Store(path)
    call = make_call(utterances=[], findings=[], promises=[], scorecard=None)
    store.start_live_call(call)
    store.add_utterance("c1", Utterance("engineer", 6.5, 9.0, "这个我不知道"))
    fid = store.add_live_finding("c1", make_call().findings[1])
    # A second connection (another process after a crash) already sees both.
    other = Store(path)
    assert other.get_call("c1").status == "live"
    assert [u.text for u in other.get_call("c1").utterances] == ["这个我不知道"]
    assert other.get_finding(fid).live is True
    assert other.list_calls(status="live").items[0].id == "c1"
    store.finish_call(make_call())
    done = other.get_call("c1")
    assert done.status == "done" and len(done.findings) == 2
    # The final pass found the same live finding again: it keeps its id.
    assert any(sf.id == fid for sf in other.findings("c1"))
    with pytest.raises(NotFound, match="call 'ghost' does not exist"):
        store.add_live_finding("ghost", make_call().findings[0])


def test_bad_input_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ValueError, match="no timezone offset"):
        store.save_call(make_call(started_at="2026-03-02T09:15:00"))
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        store.save_call(make_call(started_at="yesterday"))
    bad = Finding("3.5(2)", "x", "must_not_say", "maybe", 0, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="verdict must be one of"):
        store.save_call(make_call(findings=[bad]))
    assert store.count_calls() == 0  # nothing half-written
    with pytest.raises(ValueError, match="not a cursor"):
        store.list_calls(after="garbage!")
    with pytest.raises(ValueError, match="no Chinese characters"):
        store.list_calls(text="  ,, ")


def test_filters(store: Store) -> None:
    base = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
    for i in range(6):
        store.save_call(
            make_call(
                f"c{i}",
                started_at=(base + timedelta(days=i)).isoformat(),
                line="hq" if i % 2 else "region",
                engineer="张伟" if i < 3 else "李娜",
                findings=[] if i % 3 else make_call().findings,
                scorecard=Scorecard(50.0 + 10 * i),
                utterances=[Utterance("caller", 0, 1, "打印机坏了" if i == 4 else "密码忘了")],
            )
        )
    ids = lambda page: [c.id for c in page.items]  # noqa: E731
    assert ids(store.list_calls()) == ["c5", "c4", "c3", "c2", "c1", "c0"]
    assert ids(store.list_calls(line="hq")) == ["c5", "c3", "c1"]
    assert ids(store.list_calls(engineer="李娜")) == ["c5", "c4", "c3"]
    assert ids(store.list_calls(clause="3.5(2)")) == ["c3", "c0"]
    assert ids(store.list_calls(score_min=60, score_max=80)) == ["c3", "c2", "c1"]
    assert ids(store.list_calls(since="2026-03-03T00:00:00+08:00", until=base + timedelta(days=3))) == [
        "c2",
        "c1",
    ]
    assert ids(store.list_calls(text="打印")) == ["c4"]
    assert ids(store.list_calls(text="印机坏")) == ["c4"]
    assert ids(store.list_calls(text="坏印")) == []
    first = store.list_calls(limit=4)
    assert ids(first) == ["c5", "c4", "c3", "c2"] and first.next_cursor
    second = store.list_calls(limit=4, after=first.next_cursor)
    assert ids(second) == ["c1", "c0"] and second.next_cursor is None
    summary = store.list_calls(engineer="张伟", limit=1).items[0]
    assert summary.flagged_clauses == [] and summary.rings == 2 and summary.ring_time_s == 6.2
    assert store.list_calls(clause="3.5(2)").items[0].flagged_clauses == ["3.5(2)"]


def test_review_keeps_an_audit_trail_and_survives_resave(store: Store) -> None:
    store.save_call(make_call())
    fail = next(sf for sf in store.findings("c1") if sf.finding.verdict == "fail")
    review = store.review_finding(
        fail.id, reviewer="王主管", verdict="pass", comment="说的是“不知道怎么了”", scorecard=Scorecard(100.0)
    )
    assert (review.before, review.after, review.action) == ("fail", "pass", "override")
    assert (review.score_before, review.score_after) == (80.0, 100.0)
    got = store.get_finding(fail.id)
    assert got.finding.verdict == "pass" and got.original_verdict == "fail" and got.reviewed
    assert store.call_summary("c1").score == 100.0 and store.call_summary("c1").flagged_clauses == []
    store.save_call(make_call())  # a node re-posts the call
    again = store.get_finding(fail.id)
    assert again.finding.verdict == "pass" and again.reviewed
    assert [r.id for r in store.reviews(call_id="c1")] == [review.id]
    precision = {p.rule_id: p for p in store.rule_precision()}
    assert (
        precision["forbidden.dont_know"].overturned == 1 and precision["forbidden.dont_know"].precision == 0.0
    )
    with pytest.raises(NotFound):
        store.review_finding(99999, reviewer="x", verdict="pass")
    with pytest.raises(ValueError, match="verdict must be one of"):
        store.review_finding(fail.id, reviewer="x", verdict="ok")


def test_disputes_only_by_the_calls_engineer(store: Store) -> None:
    store.save_call(make_call())
    fid = store.findings("c1")[1].id
    with pytest.raises(NotFound):
        store.dispute_finding(fid, engineer="李娜", reason="不是我的")
    with pytest.raises(ValueError, match="needs a reason"):
        store.dispute_finding(fid, engineer="张伟", reason=" ")
    d = store.dispute_finding(fid, engineer="张伟", reason="客户说的")
    assert [x.id for x in store.disputes()] == [d.id]
    assert store.get_finding(fid).engineer_response == "disputed"
    store.resolve_dispute(d.id, by="王主管", resolution="维持")
    assert store.disputes() == [] and store.disputes(status="resolved")[0].resolved_by == "王主管"


def test_callbacks_due_overdue_and_kept(store: Store) -> None:
    store.save_call(make_call())  # promise due 2026-03-03 10:00 +08:00
    before_due = datetime(2026, 3, 3, 9, 0, tzinfo=CST)
    after_due = datetime(2026, 3, 3, 11, 0, tzinfo=CST)
    assert [t.state for t in store.callbacks(now=before_due)] == ["due"]
    assert [t.state for t in store.callbacks(now=after_due)] == ["overdue"]
    # A call from someone else does not keep it; a call to the same caller before the due time does.
    store.save_call(
        make_call("c2", caller="13900000000", started_at="2026-03-03T09:30:00+08:00", promises=[])
    )
    assert store.callbacks(now=after_due)[0].state == "overdue"
    store.save_call(make_call("c3", started_at="2026-03-03T09:40:00+08:00", promises=[]))
    task = store.callbacks(now=after_due)[0]
    assert task.state == "kept" and task.kept_by_call_id == "c3"


def test_callback_marked_done_by_hand(store: Store) -> None:
    store.save_call(make_call())
    task = store.callbacks()[0]
    store.mark_callback_done(task.id, by="张伟")
    assert store.get_callback(task.id).state == "kept"
    with pytest.raises(NotFound):
        store.mark_callback_done(424242, by="张伟")


def test_users_and_tokens(store: Store) -> None:
    store.add_user("张伟", "engineer", "$argon2id$x")
    assert store.get_user("张伟").role == "engineer"
    with pytest.raises(ValueError, match="role must be one of"):
        store.add_user("x", "admin", "h")
    store.add_api_token("node1", "ab" * 32)
    assert store.api_token_name("ab" * 32) == "node1" and store.api_token_name("cd" * 32) is None


def test_queue_wait_and_a_callback_chosen_in_the_queue(tmp_path):
    """Issue 14: the queue wait is a column of the call; the callback chosen in the queue is an
    open callback that the call's own analysis (its promises) does not overwrite."""
    from models.records import CallRecord
    from models.store import Store

    store = Store(tmp_path / "d.db")
    call = CallRecord(id="q1", started_at="2026-12-02T10:00:00+08:00", line="hq", caller="13800138000",
                      status="live", queue_wait_s=42.5)
    store.start_live_call(call)
    store.add_queue_callback("q1", caller="13800138000", engineer="张伟", text="排队超时")
    call.status = "done"
    store.finish_call(call)
    assert store.db.execute("SELECT queue_wait_s FROM calls WHERE id = 'q1'").fetchone()[0] == 42.5
    [task] = store.callbacks(status="open")
    assert (task.caller, task.engineer) == ("13800138000", "张伟")
