"""The SQLite schema of the store, as an ordered list of migrations.

Each migration moves the database from version ``n - 1`` to ``n``; ``schema_version``
is bumped only after it has run. Migrations are idempotent (``IF NOT EXISTS``;
sqlite-utils' ``enable_fts`` commits part-way, so a single transaction is not possible),
which makes a migration interrupted by a crash safe to run again. Code never edits a
released migration: a schema change is a new migration appended to ``MIGRATIONS``.

Times used for ordering and filtering (``started_utc``, ``due_utc``) are stored as
fixed-width UTC strings (see ``utc_key``) so that string order is time order, whatever
offset the original ISO 8601 value carried.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils


class SchemaError(RuntimeError):
    """The database file cannot be used by this version of Deskline."""


def utc_key(value: str | datetime, *, what: str = "time") -> str:
    """A timezone-aware time as a sortable UTC string, e.g. ``2026-03-02T01:30:00.000000Z``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{what} {value!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise ValueError(f"{what} {value.isoformat()!r} has no timezone offset (e.g. +08:00)")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _v1_core(db: sqlite_utils.Database) -> None:
    # Reviews and disputes are an audit trail: they keep their own copy of what they
    # were about and have no cascading key, so re-saving a call never erases them.
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS calls (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            started_utc TEXT NOT NULL,
            line TEXT NOT NULL DEFAULT '',
            engineer TEXT NOT NULL DEFAULT '',
            caller TEXT NOT NULL DEFAULT '',
            duration_s REAL NOT NULL DEFAULT 0,
            audio_path TEXT NOT NULL DEFAULT '',
            engine TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'done',
            ring_time_s REAL,
            rings INTEGER,
            score REAL,
            flagged_clauses TEXT NOT NULL DEFAULT '',
            feedback TEXT NOT NULL DEFAULT '',
            sip_timings TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    # One index per filter, each ending in the paging key so that a filtered page is
    # an index range scan in (started_utc, id) order.
    db.execute("CREATE INDEX IF NOT EXISTS idx_calls_started ON calls (started_utc, id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_calls_line ON calls (line, started_utc, id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_calls_engineer ON calls (engineer, started_utc, id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_calls_caller ON calls (caller, started_utc)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_calls_status ON calls (status)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS utterances (
            id INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            speaker TEXT NOT NULL,
            start REAL NOT NULL,
            "end" REAL NOT NULL,
            text TEXT NOT NULL,
            search_text TEXT NOT NULL,
            words TEXT NOT NULL DEFAULT '[]',
            confidence REAL NOT NULL DEFAULT 1,
            engine TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_utterances_call ON utterances (call_id, seq)")
    # Chinese has no spaces between words, so ``search_text`` holds the text with one
    # token per character; a phrase query on it is a substring search of any length.
    db["utterances"].enable_fts(["search_text"], create_triggers=True, replace=True)
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS findings (
            id INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            clause TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            verdict TEXT NOT NULL,
            original_verdict TEXT NOT NULL,
            reviewed INTEGER NOT NULL DEFAULT 0,
            start REAL NOT NULL,
            "end" REAL NOT NULL,
            heard TEXT NOT NULL DEFAULT '',
            confidence REAL NOT NULL DEFAULT 1,
            rule_text TEXT NOT NULL DEFAULT '',
            recommended TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}',
            engineer_response TEXT NOT NULL DEFAULT '',
            live INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_findings_call ON findings (call_id, seq)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_findings_clause ON findings (clause, verdict, call_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_findings_rule ON findings (rule_id, reviewed)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS promises (
            id INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            start REAL NOT NULL,
            "end" REAL NOT NULL,
            definite INTEGER NOT NULL,
            due_at TEXT,
            time_phrase TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_promises_call ON promises (call_id, seq)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS callbacks (
            id INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            promise_seq INTEGER NOT NULL,
            engineer TEXT NOT NULL DEFAULT '',
            caller TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            promised_utc TEXT NOT NULL,
            due_at TEXT,
            due_utc TEXT,
            done_at TEXT,
            done_by TEXT NOT NULL DEFAULT '',
            kept_by_call_id TEXT,
            UNIQUE (call_id, promise_seq)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_callbacks_open ON callbacks (caller, done_at, due_utc)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_callbacks_engineer ON callbacks (engineer, due_utc)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS scorecards (
            call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
            overall REAL NOT NULL,
            scorecard TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS engineers (
            name TEXT PRIMARY KEY,
            certified INTEGER NOT NULL DEFAULT 0,
            lines TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('supervisor', 'engineer')),
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS api_tokens (
            token_sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS reviews (
            id INTEGER PRIMARY KEY,
            finding_id INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            clause TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            score_before REAL,
            score_after REAL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_reviews_finding ON reviews (finding_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_reviews_call ON reviews (call_id)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS disputes (
            id INTEGER PRIMARY KEY,
            finding_id INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            clause TEXT NOT NULL,
            engineer TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            resolved_by TEXT NOT NULL DEFAULT '',
            resolved_at TEXT,
            resolution TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_disputes_status ON disputes (status, at)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS tickets (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL,
            line TEXT NOT NULL DEFAULT '',
            caller TEXT NOT NULL DEFAULT '',
            call_id TEXT,
            audio_path TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'open'
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_tickets_status ON tickets (status, created_at)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS written_replies (
            id INTEGER PRIMARY KEY,
            author TEXT NOT NULL,
            written_at TEXT NOT NULL,
            channel TEXT NOT NULL DEFAULT 'web',
            text TEXT NOT NULL,
            score REAL,
            result TEXT NOT NULL DEFAULT '{}'
        )"""
    )


def _add_column(db: sqlite_utils.Database, table: str, column: str, decl: str) -> None:
    have = {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}
    if column not in have:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _v2_accounts_audit(db: sqlite_utils.Database) -> None:
    # Accounts that can be disabled, tokens that can be revoked, sessions the server can end.
    _add_column(db, "users", "disabled", "INTEGER NOT NULL DEFAULT 0")
    _add_column(db, "api_tokens", "revoked_at", "TEXT")
    # The node whose token posted the call ('' = written by this process: serve, analyze).
    _add_column(db, "calls", "node", "TEXT NOT NULL DEFAULT ''")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS sessions (
            id_sha256 TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_utc TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions (user)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            call_id TEXT NOT NULL DEFAULT '',
            client TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_audit_call ON audit_log (call_id, id)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS peaks (
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            buckets INTEGER NOT NULL,
            audio_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            peaks TEXT NOT NULL,
            PRIMARY KEY (call_id, buckets)
        )"""
    )
    # The audit trail is append-only in the database itself, whatever code runs on it:
    # a review, a dispute's reason and an audit entry never change; a dispute is resolved once.
    for table in ("reviews", "audit_log"):
        db.execute(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}"
            f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        )
        db.execute(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}"
            f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        )
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS disputes_resolve_once BEFORE UPDATE ON disputes"
        " WHEN OLD.status != 'open' OR NEW.status != 'resolved' OR NEW.finding_id != OLD.finding_id"
        " OR NEW.call_id != OLD.call_id OR NEW.engineer != OLD.engineer OR NEW.reason != OLD.reason"
        " OR NEW.at != OLD.at"
        " BEGIN SELECT RAISE(ABORT, 'a dispute is resolved once and never changed otherwise'); END"
    )
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS disputes_no_delete BEFORE DELETE ON disputes"
        " BEGIN SELECT RAISE(ABORT, 'disputes are append-only'); END"
    )
    _mask_search_index(db)


def _mask_search_index(db: sqlite_utils.Database) -> None:
    """Utterances stored before masking: take their secrets out of the full-text index
    (the FTS triggers follow the update). Only rows that change are written."""
    from models.masking import mask_text
    from models.store import search_tokens

    rows = db.execute("SELECT id, text FROM utterances").fetchall()
    changed = [
        (" ".join(search_tokens(mask_text(text))), uid) for uid, text in rows if mask_text(text) != text
    ]
    with db.conn:
        db.conn.executemany("UPDATE utterances SET search_text = ? WHERE id = ?", changed)


def _v3_queue_wait(db: sqlite_utils.Database) -> None:
    # Issue 14: how long a caller waited in the line's queue (NULL = not queued).
    _add_column(db, "calls", "queue_wait_s", "REAL")


def _v4_callback_attempts(db: sqlite_utils.Database) -> None:
    # Issue 14: every callback the node dials is an attempt, whatever became of it; the
    # call it made (when the engineer answered) is a stored call with direction "outbound".
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS callback_attempts (
            id INTEGER PRIMARY KEY,
            callback_id INTEGER NOT NULL REFERENCES callbacks(id) ON DELETE CASCADE,
            requested_by TEXT NOT NULL,
            engineer TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL DEFAULT 'dialling',
            call_id TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_callback_attempts ON callback_attempts (callback_id, id)")


Migration = Callable[[sqlite_utils.Database], None]

# Position n-1 holds the migration to version n.
MIGRATIONS: list[Migration] = [_v1_core, _v2_accounts_audit, _v3_queue_wait, _v4_callback_attempts]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database, migrations: list[Migration] | None = None) -> int:
    """Bring ``db`` up to the newest version; return the version it is at afterwards."""
    steps = MIGRATIONS if migrations is None else migrations
    conn = db.conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
    )
    have = current_version(db)
    if have > len(steps):
        raise SchemaError(
            f"database {db.conn.execute('PRAGMA database_list').fetchone()[2] or ':memory:'} is at schema "
            f"version {have}, newer than this Deskline understands ({len(steps)}); upgrade Deskline"
        )
    for version in range(have + 1, len(steps) + 1):
        steps[version - 1](db)
        with conn:
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, datetime.now(UTC).isoformat()),
            )
    return len(steps)
