"""The SQLite store: every call, its transcript, findings, score, and the work around it.

One ``Store`` per database file, safe to share between threads (the console's request
threads and the hotline's call threads): one connection, one lock, WAL mode so readers
in other processes are not blocked by a writer. The schema lives in ``models.schema``.

Calls come in two ways: whole (``save_call``, e.g. a hotline node posting a finished
call, or ``deskline analyze --save``) or live (``start_live_call``, then
``add_utterance`` / ``add_live_finding`` as they happen, each committed at once so a
crash loses nothing already heard, then ``finish_call``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from models.masking import mask_text
from models.records import CallRecord, Finding, Promise, Scorecard, Utterance, Word
from models.schema import migrate, utc_key

Role = Literal["supervisor", "engineer"]
ROLES: tuple[str, ...] = ("supervisor", "engineer")
VERDICTS: tuple[str, ...] = ("fail", "pass", "warn")
CallbackState = Literal["due", "overdue", "kept", "open_vague"]

# One search token per CJK character, one per run of Latin letters or digits.
_SEARCH_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[0-9a-z]+")


class NotFound(LookupError):
    """A record asked for by id does not exist."""


def search_tokens(text: str) -> list[str]:
    return _SEARCH_TOKEN.findall(text.lower())


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class CallSummary:
    """One row of the calls list: what a supervisor scans, without the transcript."""

    id: str
    started_at: str
    line: str
    engineer: str
    caller: str
    duration_s: float
    ring_time_s: float | None
    rings: int | None
    score: float | None
    flagged_clauses: list[str]
    status: str


@dataclass
class Page:
    """A page of calls, newest first; pass ``next_cursor`` as ``after=`` for the next page."""

    items: list[CallSummary]
    next_cursor: str | None = None


@dataclass
class StoredFinding:
    """A finding as stored: the record plus its id and review state."""

    id: int
    call_id: str
    finding: Finding
    original_verdict: str
    reviewed: bool = False
    engineer_response: str = ""  # "", "acknowledged" or "disputed"
    live: bool = False


@dataclass
class Review:
    id: int
    finding_id: int
    call_id: str
    rule_id: str
    clause: str
    reviewer: str
    at: str
    action: str  # "confirm" or "override"
    before: str
    after: str
    comment: str
    score_before: float | None
    score_after: float | None


@dataclass
class Dispute:
    id: int
    finding_id: int
    call_id: str
    rule_id: str
    clause: str
    engineer: str
    reason: str
    at: str
    status: str  # "open" or "resolved"
    resolved_by: str = ""
    resolved_at: str | None = None
    resolution: str = ""


@dataclass
class CallbackTask:
    """A promise made on a call (3.3(4)), as a task with its state at a moment."""

    id: int
    call_id: str
    engineer: str
    caller: str
    text: str
    due_at: str | None
    done_at: str | None
    done_by: str
    kept_by_call_id: str | None
    state: CallbackState


@dataclass
class RulePrecision:
    rule_id: str
    clause: str
    reviewed: int
    confirmed: int
    overturned: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass
class User:
    name: str
    role: Role
    password_hash: str
    created_at: str = ""
    disabled: bool = False

    def __post_init__(self) -> None:
        self.disabled = bool(self.disabled)


@dataclass
class ApiToken:
    """A node's bearer token as stored: only a digest of it, and the node it names."""

    token_sha256: str
    name: str
    created_at: str
    revoked_at: str | None = None


@dataclass
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    call_id: str = ""
    client: str = ""


class Conflict(ValueError):
    """The change contradicts what is stored (e.g. an existing user, a resolved dispute)."""


@dataclass
class Ticket:
    id: int
    kind: str
    created_at: str
    line: str = ""
    caller: str = ""
    call_id: str | None = None
    audio_path: str = ""
    text: str = ""
    status: str = "open"


@dataclass
class WrittenReply:
    id: int
    author: str
    written_at: str
    channel: str
    text: str
    score: float | None
    result: dict[str, Any] = field(default_factory=dict)


def _encode_cursor(started_utc: str, call_id: str) -> str:
    raw = json.dumps([started_utc, call_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_utc, call_id = json.loads(raw)
        if not isinstance(started_utc, str) or not isinstance(call_id, str):
            raise ValueError
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"after={cursor!r} is not a cursor returned by a previous page") from exc
    return started_utc, call_id


def _flagged(findings: list[Finding]) -> str:
    return ",".join(sorted({f.clause for f in findings if f.verdict == "fail"}))


class Store:
    """The Deskline database. ``Store(path)`` creates or migrates the file."""

    # 3.3(4): the shortest conversation that keeps a callback promise (``keeps_callbacks``);
    # the hotline sets it from ``[hotline] callback_min_talk_s``.
    callback_min_talk_s: float = 30.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by threads under a lock: SQLite serialises writers anyway.
        if str(path) != ":memory:" and not self.path.exists():
            # Password hashes and transcripts: readable by the owner only (SQLite gives the
            # -wal and -shm files the database file's permissions).
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif str(path) != ":memory:" and self.path.stat().st_mode & 0o077 and os.access(self.path, os.W_OK):
            try:  # a store made world-readable by an older version
                self.path.chmod(0o600)
            except OSError:
                pass
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            self.db.enable_wal()
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(self.db)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success and rolled back on error."""
        with self._lock:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # ---- calls -------------------------------------------------------------------

    def save_call(self, call: CallRecord) -> None:
        """Store the whole call (insert or replace), with its children and callbacks."""
        with self._write() as conn:
            self._write_call(conn, call)

    def start_live_call(self, call: CallRecord) -> None:
        call.status = "live"
        with self._write() as conn:
            self._upsert_call_row(conn, call)

    def add_utterance(self, call_id: str, utt: Utterance) -> None:
        with self._write() as conn:
            self._require_call(conn, call_id)
            seq = conn.execute(
                "SELECT coalesce(max(seq), -1) + 1 FROM utterances WHERE call_id = ?", (call_id,)
            ).fetchone()[0]
            self._insert_utterance(conn, call_id, seq, utt)

    def add_live_finding(self, call_id: str, finding: Finding) -> int:
        """Store a finding the moment the live pipeline makes it; return its id."""
        with self._write() as conn:
            self._require_call(conn, call_id)
            seq = conn.execute(
                "SELECT coalesce(max(seq), -1) + 1 FROM findings WHERE call_id = ?", (call_id,)
            ).fetchone()[0]
            return self._insert_finding(conn, call_id, seq, finding, live=True)

    def fail_call(self, call: CallRecord) -> None:
        """The call ended but was not analysed to the end: its row (status, duration,
        recording, SIP timings) is updated and what was analysed live stays as it is."""
        call.status = "failed"
        with self._write() as conn:
            self._upsert_call_row(conn, call)

    def finish_call(self, call: CallRecord) -> None:
        """The call has ended: its final transcript, findings and scorecard replace the live ones."""
        if call.status != "failed":
            call.status = "done"
        self.save_call(call)

    def get_call(self, call_id: str) -> CallRecord | None:
        rows = self._rows("SELECT * FROM calls WHERE id = ?", (call_id,))
        if not rows:
            return None
        row = rows[0]
        card = self._rows("SELECT scorecard FROM scorecards WHERE call_id = ?", (call_id,))
        return CallRecord(
            id=row["id"],
            started_at=row["started_at"],
            line=row["line"],
            engineer=row["engineer"],
            caller=row["caller"],
            duration_s=row["duration_s"],
            audio_path=row["audio_path"],
            engine=row["engine"],
            status=row["status"],
            ring_time_s=row["ring_time_s"],
            rings=row["rings"],
            utterances=self._utterances(call_id),
            findings=[sf.finding for sf in self.findings(call_id)],
            promises=self._promises(call_id),
            scorecard=Scorecard.from_dict(json.loads(card[0]["scorecard"])) if card else None,
            feedback=row["feedback"],
            sip_timings=json.loads(row["sip_timings"]),
        )

    def call_summary(self, call_id: str) -> CallSummary | None:
        rows = self._rows("SELECT * FROM calls WHERE id = ?", (call_id,))
        return self._summary(rows[0]) if rows else None

    def list_calls(
        self,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        line: str | None = None,
        engineer: str | None = None,
        clause: str | None = None,
        score_min: float | None = None,
        score_max: float | None = None,
        text: str | None = None,
        status: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Calls newest first, filtered; keyset-paged on (started time, id)."""
        sql, params = self.list_calls_query(
            since=since,
            until=until,
            line=line,
            engineer=engineer,
            clause=clause,
            score_min=score_min,
            score_max=score_max,
            text=text,
            status=status,
            limit=limit,
            after=after,
        )
        rows = self._rows(sql, params)
        items = [self._summary(r) for r in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = _encode_cursor(last["started_utc"], last["id"])
        return Page(items=items, next_cursor=cursor)

    def call_ids(self, *, status: str | None = None, since: str | datetime | None = None) -> list[str]:
        """Every matching call id, newest first, read page by page on the list's keyset."""
        ids: list[str] = []
        cursor = None
        while True:
            page = self.list_calls(status=status, since=since, limit=500, after=cursor)
            ids += [c.id for c in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    def list_calls_query(
        self,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        line: str | None = None,
        engineer: str | None = None,
        clause: str | None = None,
        score_min: float | None = None,
        score_max: float | None = None,
        text: str | None = None,
        status: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[str, list[Any]]:
        """The SQL ``list_calls`` runs (public so that tests can ``EXPLAIN QUERY PLAN`` it)."""
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("started_utc >= ?")
            params.append(utc_key(since, what="since"))
        if until is not None:
            where.append("started_utc < ?")
            params.append(utc_key(until, what="until"))
        if line:
            where.append("line = ?")
            params.append(line)
        if engineer:
            where.append("engineer = ?")
            params.append(engineer)
        if status:
            where.append("status = ?")
            params.append(status)
        if clause:
            where.append("id IN (SELECT call_id FROM findings WHERE clause = ? AND verdict = 'fail')")
            params.append(clause)
        if score_min is not None:
            where.append("score >= ?")
            params.append(float(score_min))
        if score_max is not None:
            where.append("score <= ?")
            params.append(float(score_max))
        if text is not None:
            tokens = search_tokens(text)
            if not tokens:
                raise ValueError(
                    f"text search {text!r} has no Chinese characters, letters or digits to look for"
                )
            where.append(
                "id IN (SELECT call_id FROM utterances WHERE id IN "
                "(SELECT rowid FROM utterances_fts WHERE utterances_fts MATCH ?))"
            )
            params.append('"' + " ".join(tokens) + '"')
        if after:
            started_utc, call_id = _decode_cursor(after)
            where.append("(started_utc, id) < (?, ?)")
            params.extend([started_utc, call_id])
        sql = "SELECT * FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_utc DESC, id DESC LIMIT ?"
        params.append(limit + 1)
        return sql, params

    def count_calls(self, *, status: str | None = None) -> int:
        if status:
            return self._rows("SELECT count(*) AS n FROM calls WHERE status = ?", (status,))[0]["n"]
        return self._rows("SELECT count(*) AS n FROM calls")[0]["n"]

    def call_engineer(self, call_id: str) -> str | None:
        """The engineer who took the call, or None when there is no such call."""
        rows = self._rows("SELECT engineer FROM calls WHERE id = ?", (call_id,))
        return rows[0]["engineer"] if rows else None

    # ---- findings, reviews, disputes ------------------------------------------------

    def findings(self, call_id: str) -> list[StoredFinding]:
        rows = self._rows("SELECT * FROM findings WHERE call_id = ? ORDER BY start, seq", (call_id,))
        return [self._stored_finding(r) for r in rows]

    def get_finding(self, finding_id: int) -> StoredFinding | None:
        rows = self._rows("SELECT * FROM findings WHERE id = ?", (finding_id,))
        return self._stored_finding(rows[0]) if rows else None

    def review_finding(
        self,
        finding_id: int,
        *,
        reviewer: str,
        verdict: str,
        comment: str = "",
        scorecard: Scorecard | None = None,
    ) -> Review:
        """A supervisor confirms (same verdict) or overrides a finding; kept in the audit trail.

        ``scorecard`` is the call's score recomputed with the new verdict (the caller scores,
        the store only keeps the result).
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        with self._write() as conn:
            row = conn.execute(
                "SELECT call_id, rule_id, clause, verdict FROM findings WHERE id = ?", (finding_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"finding {finding_id} does not exist")
            call_id, rule_id, clause, before = row
            score_before = conn.execute("SELECT score FROM calls WHERE id = ?", (call_id,)).fetchone()[0]
            conn.execute("UPDATE findings SET verdict = ?, reviewed = 1 WHERE id = ?", (verdict, finding_id))
            score_after = score_before
            if scorecard is not None:
                self._write_scorecard(conn, call_id, scorecard)
                score_after = scorecard.overall
            flagged = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT clause FROM findings WHERE call_id = ? AND verdict = 'fail'"
                    " ORDER BY clause",
                    (call_id,),
                )
            ]
            conn.execute("UPDATE calls SET flagged_clauses = ? WHERE id = ?", (",".join(flagged), call_id))
            at = _now_iso()
            action = "confirm" if verdict == before else "override"
            cur = conn.execute(
                "INSERT INTO reviews (finding_id, call_id, rule_id, clause, reviewer, at, action, before,"
                " after, comment, score_before, score_after) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    finding_id,
                    call_id,
                    rule_id,
                    clause,
                    reviewer,
                    at,
                    action,
                    before,
                    verdict,
                    comment,
                    score_before,
                    score_after,
                ),
            )
            return Review(
                cur.lastrowid or 0,
                finding_id,
                call_id,
                rule_id,
                clause,
                reviewer,
                at,
                action,
                before,
                verdict,
                comment,
                score_before,
                score_after,
            )

    def reviews(self, *, call_id: str | None = None, finding_id: int | None = None) -> list[Review]:
        where, params = [], []
        if call_id is not None:
            where.append("call_id = ?")
            params.append(call_id)
        if finding_id is not None:
            where.append("finding_id = ?")
            params.append(finding_id)
        sql = "SELECT * FROM reviews" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [Review(**r) for r in self._rows(sql, params)]

    def rule_precision(self) -> list[RulePrecision]:
        """Per rule, how often supervisors upheld its reviewed findings (latest review counts)."""
        rows = self._rows(
            """SELECT rule_id, clause, count(*) AS reviewed,
                      sum(verdict = original_verdict) AS confirmed,
                      sum(verdict != original_verdict) AS overturned
               FROM findings WHERE reviewed = 1 GROUP BY rule_id, clause ORDER BY rule_id"""
        )
        return [RulePrecision(**r) for r in rows]

    def acknowledge_finding(self, finding_id: int, *, engineer: str) -> None:
        with self._write() as conn:
            self._finding_of(conn, finding_id, engineer)
            conn.execute("UPDATE findings SET engineer_response = 'acknowledged' WHERE id = ?", (finding_id,))

    def dispute_finding(self, finding_id: int, *, engineer: str, reason: str) -> Dispute:
        reason = reason.strip()
        if not reason:
            raise ValueError("a dispute needs a reason")
        with self._write() as conn:
            call_id, rule_id, clause = self._finding_of(conn, finding_id, engineer)
            # One dispute per finding: a second would reopen what a supervisor decided.
            if conn.execute("SELECT 1 FROM disputes WHERE finding_id = ?", (finding_id,)).fetchone():
                raise Conflict(f"finding {finding_id} has already been disputed")
            conn.execute("UPDATE findings SET engineer_response = 'disputed' WHERE id = ?", (finding_id,))
            at = _now_iso()
            cur = conn.execute(
                "INSERT INTO disputes (finding_id, call_id, rule_id, clause, engineer, reason, at)"
                " VALUES (?,?,?,?,?,?,?)",
                (finding_id, call_id, rule_id, clause, engineer, reason, at),
            )
            return Dispute(
                cur.lastrowid or 0, finding_id, call_id, rule_id, clause, engineer, reason, at, "open"
            )

    def disputes(self, *, status: str | None = "open") -> list[Dispute]:
        if status:
            rows = self._rows("SELECT * FROM disputes WHERE status = ? ORDER BY at, id", (status,))
        else:
            rows = self._rows("SELECT * FROM disputes ORDER BY at, id")
        return [Dispute(**r) for r in rows]

    def resolve_dispute(self, dispute_id: int, *, by: str, resolution: str = "") -> None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, resolved_by FROM disputes WHERE id = ?", (dispute_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"dispute {dispute_id} does not exist")
            if row[0] != "open":
                raise Conflict(f"dispute {dispute_id} was already resolved by {row[1]}")
            conn.execute(
                "UPDATE disputes SET status = 'resolved', resolved_by = ?, resolved_at = ?, resolution = ?"
                " WHERE id = ?",
                (by, _now_iso(), resolution, dispute_id),
            )

    def findings_by_clause(self, *, verdict: str = "fail") -> dict[str, int]:
        rows = self._rows(
            "SELECT clause, count(*) AS n FROM findings WHERE verdict = ? GROUP BY clause", (verdict,)
        )
        return {r["clause"]: r["n"] for r in rows}

    # ---- callbacks (3.3(4)) ----------------------------------------------------------

    def callbacks(
        self,
        *,
        engineer: str | None = None,
        state: CallbackState | None = None,
        status: Literal["open", "done"] | None = None,
        now: datetime | None = None,
    ) -> list[CallbackTask]:
        """Callback tasks, soonest due first; ``status`` "open" = not yet done, "done" = kept."""
        if status not in (None, "open", "done"):
            raise ValueError(f"status must be 'open' or 'done', got {status!r}")
        now_key = utc_key(now or datetime.now(UTC), what="now")
        where: list[str] = []
        params: list[Any] = []
        if engineer:
            where.append("engineer = ?")
            params.append(engineer)
        if status:
            where.append("done_at IS NULL" if status == "open" else "done_at IS NOT NULL")
        sql = "SELECT * FROM callbacks" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY coalesce(due_utc, promised_utc), id"
        tasks = [self._callback(r, now_key) for r in self._rows(sql, params)]
        return [t for t in tasks if state is None or t.state == state]

    def get_callback(self, callback_id: int, now: datetime | None = None) -> CallbackTask | None:
        rows = self._rows("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
        now_key = utc_key(now or datetime.now(UTC), what="now")
        return self._callback(rows[0], now_key) if rows else None

    # A callback chosen in the queue is kept beside the call's own promises (seq 0, 1, …),
    # which the call's analysis rewrites; this one it leaves alone.
    QUEUE_CALLBACK_SEQ = -1

    def add_queue_callback(self, call_id: str, *, caller: str, engineer: str = "", text: str = "") -> None:
        """An open callback the caller asked for in the queue (DTMF 2); the live call's row exists."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO callbacks (call_id, promise_seq, engineer, caller, text, promised_utc)"
                " VALUES (?,?,?,?,?,?)",
                (call_id, self.QUEUE_CALLBACK_SEQ, engineer, caller, text, utc_key(datetime.now(UTC))),
            )

    def mark_callback_done(self, callback_id: int, *, by: str, at: str | None = None) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE callbacks SET done_at = ?, done_by = ? WHERE id = ? AND done_at IS NULL",
                (at or _now_iso(), by, callback_id),
            )
            if (
                cur.rowcount == 0
                and conn.execute("SELECT 1 FROM callbacks WHERE id = ?", (callback_id,)).fetchone() is None
            ):
                raise NotFound(f"callback {callback_id} does not exist")

    # ---- callback attempts (issue 14: callbacks the node dials) ------------------------

    def add_callback_attempt(self, callback_id: int, *, requested_by: str, engineer: str,
                             started_at: str | None = None) -> int:
        """A callback the node starts dialling; its outcome is filled in by ``finish_callback_attempt``."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM callbacks WHERE id = ?", (callback_id,)).fetchone() is None:
                raise NotFound(f"callback {callback_id} does not exist")
            cur = conn.execute(
                "INSERT INTO callback_attempts (callback_id, requested_by, engineer, started_at)"
                " VALUES (?,?,?,?)",
                (callback_id, requested_by, engineer, started_at or _now_iso()),
            )
            return cur.lastrowid or 0

    def finish_callback_attempt(self, attempt_id: int, *, outcome: str, call_id: str = "",
                                detail: str = "", ended_at: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE callback_attempts SET outcome = ?, call_id = ?, detail = ?, ended_at = ?"
                " WHERE id = ?",
                (outcome, call_id, detail[:300], ended_at or _now_iso(), attempt_id),
            )

    def callback_attempts(self, callback_id: int | None = None) -> list[dict[str, Any]]:
        """Attempts, newest first (of one callback, or all)."""
        if callback_id is None:
            return self._rows("SELECT * FROM callback_attempts ORDER BY id DESC")
        return self._rows("SELECT * FROM callback_attempts WHERE callback_id = ? ORDER BY id DESC",
                          (callback_id,))

    # ---- people ---------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        """Create or replace a user (the hash is made by ``web.users``)."""
        self._check_user(name, role)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET role = excluded.role,"
                " password_hash = excluded.password_hash",
                (name, role, password_hash, _now_iso()),
            )
            conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def create_user(self, name: str, role: str, password_hash: str) -> None:
        """Create a user; Conflict if the name is taken (never replaces anyone silently)."""
        self._check_user(name, role)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"user {name!r} already exists (set-role / passwd change an existing user)")
            conn.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)",
                (name, role, password_hash, _now_iso()),
            )

    @staticmethod
    def _check_user(name: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not name.strip():
            raise ValueError("a user needs a name")

    def get_user(self, name: str) -> User | None:
        rows = self._rows("SELECT * FROM users WHERE name = ?", (name,))
        return User(**rows[0]) if rows else None

    def list_users(self) -> list[User]:
        return [User(**r) for r in self._rows("SELECT * FROM users ORDER BY name")]

    def set_password_hash(self, name: str, password_hash: str, *, end_sessions: bool = False) -> None:
        """A new hash; ``end_sessions`` for a password change (not for a rehash at sign-in)."""
        with self._write() as conn:
            self._require_user(conn, name)
            conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
            if end_sessions:
                conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role; their open sessions end (they sign in again as what they are now)."""
        self._check_user(name, role)
        with self._write() as conn:
            self._require_user(conn, name)
            conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
            conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (or enable again) a user; disabling ends their sessions at once."""
        with self._write() as conn:
            self._require_user(conn, name)
            conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
            conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def delete_user(self, name: str) -> None:
        """Remove the account and its sessions; the calls, reviews and disputes that name it stay."""
        with self._write() as conn:
            self._require_user(conn, name)
            conn.execute("DELETE FROM sessions WHERE user = ?", (name,))
            conn.execute("DELETE FROM users WHERE name = ?", (name,))

    @staticmethod
    def _require_user(conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
            raise NotFound(f"no user {name!r}")

    # ---- sessions (server-side: ending one takes effect on the next request) ---------------

    def add_session(self, id_sha256: str, user: str, expires_utc: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_utc < ?", (utc_key(datetime.now(UTC)),))
            conn.execute(
                "INSERT INTO sessions (id_sha256, user, created_at, expires_utc) VALUES (?,?,?,?)",
                (id_sha256, user, _now_iso(), expires_utc),
            )

    def session_user(self, id_sha256: str) -> User | None:
        """The enabled user of a live session, or None (ended, expired, disabled, deleted)."""
        rows = self._rows(
            "SELECT u.* FROM sessions s JOIN users u ON u.name = s.user"
            " WHERE s.id_sha256 = ? AND s.expires_utc > ? AND u.disabled = 0",
            (id_sha256, utc_key(datetime.now(UTC))),
        )
        return User(**rows[0]) if rows else None

    def end_session(self, id_sha256: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (id_sha256,))

    def session_count(self, user: str) -> int:
        return self._rows("SELECT count(*) AS n FROM sessions WHERE user = ?", (user,))[0]["n"]

    # ---- node tokens ----------------------------------------------------------------------

    def add_api_token(self, name: str, token_sha256: str) -> None:
        if not name.strip():
            raise ValueError("a token names its node")
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_tokens (token_sha256, name, created_at) VALUES (?,?,?)",
                (token_sha256, name, _now_iso()),
            )

    def api_token_name(self, token_sha256: str) -> str | None:
        rows = self._rows(
            "SELECT name FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL", (token_sha256,)
        )
        return rows[0]["name"] if rows else None

    def api_tokens(self) -> list[ApiToken]:
        return [ApiToken(**r) for r in self._rows("SELECT * FROM api_tokens ORDER BY name, created_at")]

    def revoke_api_tokens(self, *, node: str | None = None, digest_prefix: str | None = None) -> int:
        """Revoke every live token of ``node``, or the one whose digest starts with
        ``digest_prefix`` (as ``deskline token list`` shows it); return how many."""
        if bool(node) == bool(digest_prefix):
            raise ValueError("name a node or a token id, not both")
        with self._write() as conn:
            if node:
                cur = conn.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                    (_now_iso(), node),
                )
            else:
                assert digest_prefix is not None
                like = digest_prefix.lower().replace("%", "").replace("_", "") + "%"
                matches = conn.execute(
                    "SELECT count(*) FROM api_tokens WHERE token_sha256 LIKE ?", (like,)
                ).fetchone()[0]
                if matches > 1:
                    raise Conflict(f"token id {digest_prefix!r} matches {matches} tokens; give more of it")
                cur = conn.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE token_sha256 LIKE ? AND revoked_at IS NULL",
                    (_now_iso(), like),
                )
            return cur.rowcount

    # ---- audit log --------------------------------------------------------------------------

    def audit(self, actor: str, action: str, call_id: str = "", client: str = "") -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, call_id, client) VALUES (?,?,?,?,?)",
                (datetime.now(UTC).isoformat(timespec="milliseconds"), actor, action, call_id, client),
            )

    def audit_log(self, *, call_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
        if call_id is None:
            rows = self._rows("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._rows(
                "SELECT * FROM audit_log WHERE call_id = ? ORDER BY id DESC LIMIT ?", (call_id, limit)
            )
        return [AuditEntry(**r) for r in rows]

    # ---- calls' owners and stored peaks -------------------------------------------------------

    def call_node(self, call_id: str) -> str | None:
        """The node that posted the call ('' for one written here), None if there is no such call."""
        rows = self._rows("SELECT node FROM calls WHERE id = ?", (call_id,))
        return rows[0]["node"] if rows else None

    def save_node_call(self, call: CallRecord, node: str) -> None:
        """A call posted by ``node``: a new one, or an update of one that node posted before."""
        with self._write() as conn:
            row = conn.execute("SELECT node FROM calls WHERE id = ?", (call.id,)).fetchone()
            if row is not None and row[0] != node:
                raise Conflict(
                    f"call {call.id!r} was stored by another node; a node updates only its own calls"
                )
            self._write_call(conn, call)
            conn.execute("UPDATE calls SET node = ? WHERE id = ?", (node, call.id))

    def stored_peaks(
        self, call_id: str, buckets: int, audio_path: str, size: int, mtime_ns: int
    ) -> str | None:
        rows = self._rows(
            "SELECT peaks FROM peaks WHERE call_id = ? AND buckets = ? AND audio_path = ? AND size = ?"
            " AND mtime_ns = ?",
            (call_id, buckets, audio_path, size, mtime_ns),
        )
        return rows[0]["peaks"] if rows else None

    def store_peaks(
        self, call_id: str, buckets: int, audio_path: str, size: int, mtime_ns: int, peaks: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO peaks (call_id, buckets, audio_path, size, mtime_ns, peaks)"
                " VALUES (?,?,?,?,?,?)",
                (call_id, buckets, audio_path, size, mtime_ns, peaks),
            )

    def upsert_engineer(self, name: str, *, certified: bool = True, lines: list[str] | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO engineers (name, certified, lines) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE"
                " SET certified = excluded.certified, lines = excluded.lines",
                (name, int(certified), ",".join(lines or [])),
            )

    def engineer_names(self) -> list[str]:
        """Everyone who is on the roster or has taken a call."""
        rows = self._rows(
            "SELECT name FROM engineers UNION SELECT DISTINCT engineer FROM calls WHERE engineer != ''"
        )
        return sorted(r["name"] for r in rows)

    def line_names(self) -> list[str]:
        return [r["line"] for r in self._rows("SELECT DISTINCT line FROM calls ORDER BY line")]

    # ---- tickets and written replies ------------------------------------------------

    def add_ticket(
        self,
        kind: str,
        *,
        created_at: str,
        line: str = "",
        caller: str = "",
        call_id: str | None = None,
        audio_path: str = "",
        text: str = "",
    ) -> int:
        utc_key(created_at, what="created_at")
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO tickets (kind, created_at, line, caller, call_id, audio_path, text)"
                " VALUES (?,?,?,?,?,?,?)",
                (kind, created_at, line, caller, call_id, audio_path, text),
            )
            return cur.lastrowid or 0

    def count_tickets_since(self, kind: str, caller: str, since: datetime, *, limit: int = 1000) -> int:
        """How many ``kind`` tickets from ``caller`` were created at or after ``since`` (counted
        among the caller's latest ``limit``: enough for any per-hour cap)."""
        since_key = utc_key(since, what="since")
        rows = self._rows(
            "SELECT created_at FROM tickets WHERE kind = ? AND caller = ? ORDER BY id DESC LIMIT ?",
            (kind, caller, limit),
        )
        return sum(1 for r in rows if utc_key(r["created_at"]) >= since_key)

    def tickets(self, *, status: str | None = None) -> list[Ticket]:
        if status:
            rows = self._rows("SELECT * FROM tickets WHERE status = ? ORDER BY created_at DESC", (status,))
        else:
            rows = self._rows("SELECT * FROM tickets ORDER BY created_at DESC")
        return [Ticket(**r) for r in rows]

    def add_written_reply(
        self,
        *,
        author: str,
        written_at: str,
        channel: str,
        text: str,
        score: float | None,
        result: dict[str, Any],
    ) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO written_replies (author, written_at, channel, text, score, result)"
                " VALUES (?,?,?,?,?,?)",
                (author, written_at, channel, text, score, json.dumps(result, ensure_ascii=False)),
            )
            return cur.lastrowid or 0

    def written_replies(self, *, author: str | None = None, limit: int = 50) -> list[WrittenReply]:
        sql = "SELECT * FROM written_replies"
        params: list[Any] = []
        if author:
            sql += " WHERE author = ?"
            params.append(author)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = self._rows(sql, params)
        return [WrittenReply(**{**r, "result": json.loads(r["result"])}) for r in rows]

    # ---- trends ---------------------------------------------------------------------

    def daily_scores(
        self, *, since: str | datetime, until: str | datetime, engineer: str | None = None
    ) -> list[dict[str, Any]]:
        """Average score per local day (the call's own date) and engineer."""
        sql = (
            "SELECT substr(started_at, 1, 10) AS day, engineer, avg(score) AS score, count(*) AS calls"
            " FROM calls WHERE started_utc >= ? AND started_utc < ? AND score IS NOT NULL"
        )
        params: list[Any] = [utc_key(since, what="since"), utc_key(until, what="until")]
        if engineer:
            sql += " AND engineer = ?"
            params.append(engineer)
        sql += " GROUP BY day, engineer ORDER BY day, engineer"
        return self._rows(sql, params)

    def daily_clause_failures(
        self, *, since: str | datetime, until: str | datetime, engineer: str | None = None
    ) -> list[dict[str, Any]]:
        """Failed findings per local day and clause."""
        sql = (
            "SELECT substr(c.started_at, 1, 10) AS day, f.clause AS clause, count(*) AS failures"
            " FROM findings f JOIN calls c ON c.id = f.call_id"
            " WHERE c.started_utc >= ? AND c.started_utc < ? AND f.verdict = 'fail'"
        )
        params: list[Any] = [utc_key(since, what="since"), utc_key(until, what="until")]
        if engineer:
            sql += " AND c.engineer = ?"
            params.append(engineer)
        sql += " GROUP BY day, clause ORDER BY day, clause"
        return self._rows(sql, params)

    def ring_times(self, *, since: str | datetime, until: str | datetime) -> dict[str, list[float]]:
        """Every measured ring time, per line."""
        rows = self._rows(
            "SELECT line, ring_time_s FROM calls WHERE started_utc >= ? AND started_utc < ?"
            " AND ring_time_s IS NOT NULL ORDER BY line",
            (utc_key(since, what="since"), utc_key(until, what="until")),
        )
        out: dict[str, list[float]] = {}
        for r in rows:
            out.setdefault(r["line"], []).append(r["ring_time_s"])
        return out

    # ---- internals ------------------------------------------------------------------

    def _require_call(self, conn: sqlite3.Connection, call_id: str) -> None:
        if conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone() is None:
            raise NotFound(f"call {call_id!r} does not exist (start_live_call first)")

    def _finding_of(self, conn: sqlite3.Connection, finding_id: int, engineer: str) -> tuple[str, str, str]:
        row = conn.execute(
            "SELECT f.call_id, f.rule_id, f.clause, c.engineer"
            " FROM findings f JOIN calls c ON c.id = f.call_id WHERE f.id = ?",
            (finding_id,),
        ).fetchone()
        # Another engineer's finding is "not found" for this engineer, not "forbidden".
        if row is None or row[3] != engineer:
            raise NotFound(f"finding {finding_id} does not exist")
        return row[0], row[1], row[2]

    def _upsert_call_row(self, conn: sqlite3.Connection, call: CallRecord) -> None:
        if not call.id:
            raise ValueError("a call needs an id")
        started_utc = utc_key(call.started_at, what=f"call {call.id} started_at")
        conn.execute(
            """INSERT INTO calls (id, started_at, started_utc, line, engineer, caller, duration_s, audio_path,
                   engine, status, ring_time_s, rings, score, flagged_clauses, feedback, sip_timings)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(id) DO UPDATE SET started_at = excluded.started_at,
                   started_utc = excluded.started_utc,
                   line = excluded.line, engineer = excluded.engineer, caller = excluded.caller,
                   duration_s = excluded.duration_s, audio_path = excluded.audio_path,
                   engine = excluded.engine,
                   status = excluded.status, ring_time_s = excluded.ring_time_s, rings = excluded.rings,
                   score = excluded.score, flagged_clauses = excluded.flagged_clauses,
                   feedback = excluded.feedback, sip_timings = excluded.sip_timings""",
            (
                call.id,
                call.started_at,
                started_utc,
                call.line,
                call.engineer,
                call.caller,
                call.duration_s,
                call.audio_path,
                call.engine,
                call.status,
                call.ring_time_s,
                call.rings,
                call.scorecard.overall if call.scorecard else None,
                _flagged(call.findings),
                call.feedback,
                json.dumps(call.sip_timings, ensure_ascii=False, default=str),
            ),
        )
        if call.queue_wait_s is not None:
            conn.execute("UPDATE calls SET queue_wait_s = ? WHERE id = ?", (call.queue_wait_s, call.id))

    def _write_call(self, conn: sqlite3.Connection, call: CallRecord) -> None:
        self._upsert_call_row(conn, call)
        conn.execute("DELETE FROM utterances WHERE call_id = ?", (call.id,))
        for seq, utt in enumerate(call.utterances):
            self._insert_utterance(conn, call.id, seq, utt)
        # A supervisor's review survives a re-save of the same call: a new finding from the
        # same rule at the same moment takes over the reviewed verdict and the response.
        kept = {
            (r[0], round(r[1], 2)): r[2:]
            for r in conn.execute(
                "SELECT rule_id, start, verdict, original_verdict, engineer_response FROM findings"
                " WHERE call_id = ? AND (reviewed = 1 OR engineer_response != '')",
                (call.id,),
            )
        }
        old_ids = {
            (r[0], round(r[1], 2)): r[2]
            for r in conn.execute("SELECT rule_id, start, id FROM findings WHERE call_id = ?", (call.id,))
        }
        # A reviewed, acknowledged or disputed finding is never erased by a re-save that lacks it:
        # the supervisor's and the engineer's decisions about it must keep what they were about.
        incoming = {(f.rule_id, round(f.start, 2)) for f in call.findings}
        decided = [old_ids[key] for key in kept if key not in incoming and key in old_ids]
        conn.execute(
            f"DELETE FROM findings WHERE call_id = ? AND id NOT IN ({','.join('?' * len(decided))})",
            (call.id, *decided),
        )
        # Findings that keep an old id go in first, so a fresh id can never take theirs.
        planned = [
            (old_ids.pop((f.rule_id, round(f.start, 2)), None), seq, f) for seq, f in enumerate(call.findings)
        ]
        for old_id, seq, finding in sorted(planned, key=lambda p: p[0] is None):
            key = (finding.rule_id, round(finding.start, 2))
            fid = self._insert_finding(conn, call.id, seq, finding, live=False, finding_id=old_id)
            if key in kept:
                verdict, original, response = kept[key]
                conn.execute(
                    "UPDATE findings SET verdict = ?, original_verdict = ?, reviewed = 1,"
                    " engineer_response = ? WHERE id = ?",
                    (verdict, original, response, fid),
                )
        conn.execute("DELETE FROM promises WHERE call_id = ?", (call.id,))
        for seq, promise in enumerate(call.promises):
            self._insert_promise(conn, call, seq, promise)
        conn.execute(
            "DELETE FROM callbacks WHERE call_id = ? AND promise_seq >= ?", (call.id, len(call.promises))
        )
        if call.scorecard is not None:
            self._write_scorecard(conn, call.id, call.scorecard)
        else:
            conn.execute("DELETE FROM scorecards WHERE call_id = ?", (call.id,))
        self._keep_callbacks_by(conn, call)

    def _insert_utterance(self, conn: sqlite3.Connection, call_id: str, seq: int, utt: Utterance) -> None:
        conn.execute(
            'INSERT INTO utterances (call_id, seq, speaker, start, "end", text, search_text, words,'
            " confidence, engine) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                call_id,
                seq,
                utt.speaker,
                utt.start,
                utt.end,
                utt.text,
                # Secrets and personal numbers never reach the search index.
                " ".join(search_tokens(mask_text(utt.text))),
                json.dumps([w.__dict__ for w in utt.words], ensure_ascii=False),
                utt.confidence,
                utt.engine,
            ),
        )

    def _insert_finding(
        self,
        conn: sqlite3.Connection,
        call_id: str,
        seq: int,
        f: Finding,
        *,
        live: bool,
        finding_id: int | None = None,
    ) -> int:
        if f.verdict not in VERDICTS:
            raise ValueError(
                f"finding {f.rule_id}: verdict must be one of {', '.join(VERDICTS)}, got {f.verdict!r}"
            )
        cur = conn.execute(
            "INSERT INTO findings (id, call_id, seq, clause, rule_id, kind, verdict, original_verdict,"
            ' start, "end", heard, confidence, rule_text, recommended, message, detail, live)'
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                finding_id,
                call_id,
                seq,
                f.clause,
                f.rule_id,
                f.kind,
                f.verdict,
                f.verdict,
                f.start,
                f.end,
                f.heard,
                f.confidence,
                f.rule_text,
                f.recommended,
                f.message,
                json.dumps(f.detail, ensure_ascii=False, default=str),
                int(live),
            ),
        )
        return cur.lastrowid or 0

    def _insert_promise(self, conn: sqlite3.Connection, call: CallRecord, seq: int, p: Promise) -> None:
        conn.execute(
            'INSERT INTO promises (call_id, seq, text, start, "end", definite, due_at, time_phrase)'
            " VALUES (?,?,?,?,?,?,?,?)",
            (call.id, seq, p.text, p.start, p.end, int(p.definite), p.due_at, p.time_phrase),
        )
        due_utc = utc_key(p.due_at, what=f"promise due_at in call {call.id}") if p.due_at else None
        conn.execute(
            """INSERT INTO callbacks (call_id, promise_seq, engineer, caller, text, promised_utc, due_at,
                   due_utc)
               VALUES (?,?,?,?,?,?,?,?)
               ON CONFLICT(call_id, promise_seq) DO UPDATE SET engineer = excluded.engineer,
                   caller = excluded.caller, text = excluded.text, promised_utc = excluded.promised_utc,
                   due_at = excluded.due_at, due_utc = excluded.due_utc""",
            (call.id, seq, call.engineer, call.caller, p.text, utc_key(call.started_at), p.due_at, due_utc),
        )

    def _keep_callbacks_by(self, conn: sqlite3.Connection, call: CallRecord) -> None:
        """Which open promises ``call`` keeps (3.3(4): a solution within the promised time).

        A callback the node dialled (``sip_timings["callback_id"]``) keeps exactly that
        callback, when the customer answered before its due time and the conversation
        lasted ``callback_min_talk_s``; an attempt that did not connect keeps nothing.
        Any other call (the customer calling in, an imported recording) keeps the earlier
        promises of the same caller owed by the engineer who talked in it (3.3(5): the
        owner gives the solution; a colleague answering does not keep the owner's promise).
        """
        timings = call.sip_timings or {}
        if timings.get("callback_id") is not None:
            self._keep_dialled_callback(conn, call, timings)
            return
        if not call.caller or not self.keeps_callbacks(call):
            return
        started_utc = utc_key(call.started_at)
        conn.execute(
            """UPDATE callbacks SET done_at = ?, done_by = ?, kept_by_call_id = ?
               WHERE caller = ? AND engineer = ? AND done_at IS NULL AND call_id != ? AND promised_utc < ?
                 AND (due_utc IS NULL OR due_utc >= ?)""",
            (call.started_at, call.engineer, call.id, call.caller, call.engineer, call.id, started_utc,
             started_utc),
        )

    def _keep_dialled_callback(self, conn: sqlite3.Connection, call: CallRecord, timings: dict) -> None:
        answered = timings.get("customer_answered_at")
        if timings.get("outcome") != "connected" or not answered or not self.keeps_callbacks(call):
            return
        try:
            callback_id = int(timings["callback_id"])
            answered_utc = utc_key(str(answered), what="customer_answered_at")
        except (TypeError, ValueError):
            return  # a record with nonsense timings proves no callback
        conn.execute(
            """UPDATE callbacks SET done_at = ?, done_by = ?, kept_by_call_id = ?
               WHERE id = ? AND done_at IS NULL AND (due_utc IS NULL OR due_utc >= ?)""",
            (answered, call.engineer, call.id, callback_id, answered_utc),
        )

    def keeps_callbacks(self, call: CallRecord) -> bool:
        """Whether ``call`` is a real conversation that keeps a promise to call back (3.3(4)).

        Only a call an engineer talked in for at least ``callback_min_talk_s``: a hotline call
        counts its time bridged to the engineer (``sip_timings["talk_s"]``); a call recorded
        elsewhere (an outbound callback, ``deskline analyze``) counts its whole length. Any
        call from the number (a one-second, unanswered or spoofed one) keeps nothing.
        """
        if not call.engineer:
            return False
        talk_s = (call.sip_timings or {}).get("talk_s")
        if talk_s is None:
            talk_s = call.duration_s or 0.0
        try:
            return float(talk_s) >= self.callback_min_talk_s
        except (TypeError, ValueError):
            return False  # a record with nonsense timings proves no conversation

    def _write_scorecard(self, conn: sqlite3.Connection, call_id: str, card: Scorecard) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO scorecards (call_id, overall, scorecard) VALUES (?,?,?)",
            (call_id, card.overall, json.dumps(card.to_dict(), ensure_ascii=False, default=str)),
        )
        conn.execute("UPDATE calls SET score = ? WHERE id = ?", (card.overall, call_id))

    def _utterances(self, call_id: str) -> list[Utterance]:
        rows = self._rows(
            'SELECT speaker, start, "end", text, words, confidence, engine FROM utterances'
            " WHERE call_id = ? ORDER BY seq",
            (call_id,),
        )
        return [
            Utterance(
                speaker=r["speaker"],
                start=r["start"],
                end=r["end"],
                text=r["text"],
                words=[Word(**w) for w in json.loads(r["words"])],
                confidence=r["confidence"],
                engine=r["engine"],
            )
            for r in rows
        ]

    def _promises(self, call_id: str) -> list[Promise]:
        rows = self._rows(
            'SELECT text, start, "end", definite, due_at, time_phrase FROM promises'
            " WHERE call_id = ? ORDER BY seq",
            (call_id,),
        )
        return [Promise(**{**r, "definite": bool(r["definite"])}) for r in rows]

    @staticmethod
    def _stored_finding(r: dict[str, Any]) -> StoredFinding:
        finding = Finding(
            clause=r["clause"],
            rule_id=r["rule_id"],
            kind=r["kind"],
            verdict=r["verdict"],
            start=r["start"],
            end=r["end"],
            heard=r["heard"],
            confidence=r["confidence"],
            rule_text=r["rule_text"],
            recommended=r["recommended"],
            message=r["message"],
            detail=json.loads(r["detail"]),
        )
        return StoredFinding(
            id=r["id"],
            call_id=r["call_id"],
            finding=finding,
            original_verdict=r["original_verdict"],
            reviewed=bool(r["reviewed"]),
            engineer_response=r["engineer_response"],
            live=bool(r["live"]),
        )

    @staticmethod
    def _summary(r: dict[str, Any]) -> CallSummary:
        return CallSummary(
            id=r["id"],
            started_at=r["started_at"],
            line=r["line"],
            engineer=r["engineer"],
            caller=r["caller"],
            duration_s=r["duration_s"],
            ring_time_s=r["ring_time_s"],
            rings=r["rings"],
            score=r["score"],
            flagged_clauses=[c for c in r["flagged_clauses"].split(",") if c],
            status=r["status"],
        )

    @staticmethod
    def _callback(r: dict[str, Any], now_key: str) -> CallbackTask:
        state: CallbackState
        if r["done_at"]:
            state = "kept"
        elif r["due_utc"] is None:
            state = "open_vague"
        elif r["due_utc"] < now_key:
            state = "overdue"
        else:
            state = "due"
        return CallbackTask(
            id=r["id"],
            call_id=r["call_id"],
            engineer=r["engineer"],
            caller=r["caller"],
            text=r["text"],
            due_at=r["due_at"],
            done_at=r["done_at"],
            done_by=r["done_by"],
            kept_by_call_id=r["kept_by_call_id"],
            state=state,
        )
