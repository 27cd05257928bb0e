"""Schema versions: a new file is created at the newest version, old files are migrated,
and a file from a newer Deskline is refused with a clear message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from models.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError, current_version, migrate, utc_key
from models.store import Store


def test_new_store_is_at_newest_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    assert current_version(store.db) == SCHEMA_VERSION
    assert {
        "calls",
        "utterances",
        "findings",
        "promises",
        "callbacks",
        "scorecards",
        "engineers",
        "users",
        "reviews",
        "disputes",
        "tickets",
        "utterances_fts",
    } <= set(store.db.table_names())


def test_old_database_is_migrated_in_order(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "b.db")
    assert migrate(db, MIGRATIONS[:1]) == 1
    applied: list[int] = []

    def v2(d: sqlite_utils.Database) -> None:
        applied.append(current_version(d))
        d.execute("ALTER TABLE calls ADD COLUMN queue TEXT NOT NULL DEFAULT ''")

    assert migrate(db, [*MIGRATIONS[:1], v2]) == 2
    assert applied == [1]
    assert "queue" in db["calls"].columns_dict
    assert migrate(db, [*MIGRATIONS[:1], v2]) == 2  # nothing left to do
    assert applied == [1]


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this Deskline"):
        Store(path)


def test_interrupted_migration_can_run_again(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "d.db")
    MIGRATIONS[0](db)  # ran, but the crash came before the version was recorded
    assert migrate(db) == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-03-02T09:15:00+08:00", "2026-03-02T01:15:00.000000Z"),
        ("2026-03-02T01:15:00.5+00:00", "2026-03-02T01:15:00.500000Z"),
        ("2026-03-01T20:15:00-05:00", "2026-03-02T01:15:00.000000Z"),
    ],
)
def test_utc_key_orders_by_instant(value: str, key: str) -> None:
    assert utc_key(value) == key
