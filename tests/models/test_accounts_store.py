"""The store's accounts, sessions, node tokens, audit log and the v1 → v2 migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from models.records import CallRecord
from models.schema import MIGRATIONS, migrate, utc_key
from models.store import Conflict, NotFound, Store, search_tokens


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db")


def later(hours: float) -> str:
    return utc_key(datetime.now(UTC) + timedelta(hours=hours))


def test_create_user_refuses_an_existing_name(store: Store) -> None:
    store.create_user("张伟", "engineer", "$argon2id$a")
    with pytest.raises(Conflict, match="already exists"):
        store.create_user("张伟", "supervisor", "$argon2id$b")
    user = store.get_user("张伟")
    assert (user.role, user.password_hash) == ("engineer", "$argon2id$a")


def test_sessions_end_with_expiry_disable_delete_and_role_change(store: Store) -> None:
    store.create_user("张伟", "engineer", "h")
    store.add_session("old", "张伟", later(-1))
    store.add_session("s1", "张伟", later(12))
    assert store.session_user("old") is None  # expired
    assert store.session_user("s1").name == "张伟"
    store.set_role("张伟", "supervisor")
    assert store.session_user("s1") is None
    store.add_session("s2", "张伟", later(12))
    store.set_disabled("张伟", True)
    assert store.session_user("s2") is None
    store.set_disabled("张伟", False)
    store.add_session("s3", "张伟", later(12))
    store.set_password_hash("张伟", "h2")  # a rehash at sign-in keeps the session
    assert store.session_user("s3") is not None
    store.set_password_hash("张伟", "h3", end_sessions=True)
    assert store.session_user("s3") is None
    store.add_session("s4", "张伟", later(12))
    store.delete_user("张伟")
    assert store.session_user("s4") is None and store.session_count("张伟") == 0
    with pytest.raises(NotFound):
        store.set_role("张伟", "engineer")


def test_token_revocation_by_node_and_by_id(store: Store) -> None:
    store.add_api_token("node-a", "aa11" + "0" * 60)
    store.add_api_token("node-a", "aa22" + "0" * 60)
    store.add_api_token("node-b", "bb11" + "0" * 60)
    with pytest.raises(Conflict, match="matches 2 tokens"):
        store.revoke_api_tokens(digest_prefix="aa")
    assert store.revoke_api_tokens(digest_prefix="aa11") == 1
    assert store.api_token_name("aa11" + "0" * 60) is None
    assert store.api_token_name("aa22" + "0" * 60) == "node-a"
    assert store.revoke_api_tokens(node="node-a") == 1
    assert store.api_token_name("bb11" + "0" * 60) == "node-b"
    assert [t.revoked_at is not None for t in store.api_tokens()] == [True, True, False]


def test_a_v1_store_migrates_keeping_users_and_calls(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    assert migrate(db, MIGRATIONS[:1]) == 1
    db.execute("INSERT INTO users VALUES ('张伟', 'engineer', 'h', '2026-01-01')")
    db.execute(
        "INSERT INTO calls (id, started_at, started_utc) VALUES ('c1', '2026-03-02T09:00:00+08:00', 'x')"
    )
    for seq, text in enumerate(["新密码是Qx81kd", "手机13912345678", "请重启电脑"]):
        db.execute(
            "INSERT INTO utterances (call_id, seq, speaker, start, \"end\", text, search_text)"
            " VALUES ('c1', ?, 'caller', 0, 1, ?, ?)",
            (seq, text, " ".join(search_tokens(text))),
        )
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    assert store.get_user("张伟").disabled is False
    # Secrets indexed by the old version are out of the search index after the migration.
    assert store.list_calls(text="Qx81kd").items == [] and store.list_calls(text="13912345678").items == []
    assert [c.id for c in store.list_calls(text="重启电脑").items] == ["c1"]
    assert store.call_node("c1") == ""
    store.save_node_call(CallRecord(id="c2", started_at="2026-03-02T10:00:00+08:00"), "node-a")
    assert store.call_node("c2") == "node-a"
    with pytest.raises(Conflict):
        store.save_node_call(CallRecord(id="c1", started_at="2026-03-02T09:00:00+08:00"), "node-a")


def test_audit_log_is_newest_first(store: Store) -> None:
    store.audit("张伟", "open", "c1", "10.0.0.1")
    store.audit("王主管", "play", "c1")
    store.audit("王主管", "open", "c2")
    assert [(e.actor, e.action) for e in store.audit_log(call_id="c1")] == [
        ("王主管", "play"),
        ("张伟", "open"),
    ]
    assert len(store.audit_log()) == 3
