"""Synthetic call lists for scale tests and the paging benchmark (written straight into SQLite).

Manifest of what ``fill_synthetic_calls(store, n)`` writes:
- ``n`` calls ``call-000000`` …, one every 5 minutes from 2025-01-01 08:30 +08:00, lines
  hq / region-east / region-west in turn, 40 engineers 工程师00 … 工程师39 in turn, ring
  time 3–22 s, 1–5 rings, score 40–100, duration 60–359 s;
- a failed finding on every 5th call, clauses 3.3(2), 3.3(4), 3.5(2), 2(3) in turn;
- one caller utterance per call: 电脑蓝屏 on every 1000th call, 打印机卡纸 otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models.schema import utc_key
from models.store import Store

N_CALLS = 100_000
CST = timezone(timedelta(hours=8))
LINES = ["hq", "region-east", "region-west"]
ENGINEERS = [f"工程师{i:02d}" for i in range(40)]
CLAUSES = ["3.3(2)", "3.3(4)", "3.5(2)", "2(3)"]


def fill_synthetic_calls(store: Store, n: int = N_CALLS) -> None:
    base = datetime(2025, 1, 1, 8, 30, tzinfo=CST)
    calls, findings, utterances = [], [], []
    for i in range(n):
        started = base + timedelta(minutes=5 * i)
        cid = f"call-{i:06d}"
        calls.append(
            (
                cid,
                started.isoformat(),
                utc_key(started),
                LINES[i % 3],
                ENGINEERS[i % 40],
                f"138{i:08d}",
                60.0 + i % 300,
                3.0 + i % 20,
                1 + i % 5,
                40.0 + i % 61,
            )
        )
        if i % 5 == 0:
            findings.append((cid, 0, CLAUSES[i % 4], "rule.x", "must_not_say", "fail", "fail", 1.0, 2.0))
        utterances.append(
            (
                cid,
                0,
                "caller",
                0.0,
                2.0,
                "电脑蓝屏" if i % 1000 == 0 else "打印机卡纸",
                "电 脑 蓝 屏" if i % 1000 == 0 else "打 印 机 卡 纸",
            )
        )
    conn = store.db.conn
    with conn:
        conn.executemany(
            "INSERT INTO calls (id, started_at, started_utc, line, engineer, caller, duration_s, ring_time_s,"
            " rings, score) VALUES (?,?,?,?,?,?,?,?,?,?)",
            calls,
        )
        conn.executemany(
            "INSERT INTO findings (call_id, seq, clause, rule_id, kind, verdict, original_verdict, start,"
            ' "end")'
            " VALUES (?,?,?,?,?,?,?,?,?)",
            findings,
        )
        conn.executemany(
            'INSERT INTO utterances (call_id, seq, speaker, start, "end", text, search_text)'
            " VALUES (?,?,?,?,?,?,?)",
            utterances,
        )
    conn.execute("ANALYZE")
