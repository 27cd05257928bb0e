"""``deskline user ...`` and ``deskline token ...`` against a real store: accounts are never
replaced silently, passwords never come from argv, weak ones are refused, and every change
that takes a right away ends the user's sessions (checked through the real console app)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deskline.cli import main
from models.store import Store
from web.app import create_app
from web.users import authenticate

STRONG = "Qm7#vL2p!xR9-desk"
OTHER = "Zt4$gK8w@nB3-line"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "console.db"


def run(db: Path, *argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    return main([*argv, "--db", str(db)])


def test_add_takes_the_password_from_stdin_and_never_replaces(db, monkeypatch, capsys) -> None:  # noqa: ANN001
    assert (
        run(db, "user", "add", "王主管", "--role", "supervisor", stdin=STRONG + "\n", monkeypatch=monkeypatch)
        == 0
    )
    assert "added" in capsys.readouterr().out
    assert (
        run(db, "user", "add", "王主管", "--role", "supervisor", stdin=OTHER + "\n", monkeypatch=monkeypatch)
        == 2
    )
    err = capsys.readouterr().err
    assert "already exists" in err and "nothing changed" in err
    store = Store(db)
    assert authenticate(store, "王主管", STRONG) is not None
    assert authenticate(store, "王主管", OTHER) is None


@pytest.mark.parametrize("weak", ["11111111", "password", "        ", "password12", "deskline2026"])
def test_weak_passwords_are_refused(db, monkeypatch, capsys, weak: str) -> None:  # noqa: ANN001
    assert (
        run(db, "user", "add", "王主管", "--role", "supervisor", stdin=weak + "\n", monkeypatch=monkeypatch)
        == 2
    )
    assert "password" in capsys.readouterr().err
    assert Store(db).get_user("王主管") is None


def test_password_on_the_command_line_is_refused(db, monkeypatch, capsys) -> None:  # noqa: ANN001
    argv = ("user", "add", "王主管", "--role", "supervisor", "--password", STRONG)
    assert run(db, *argv, stdin=STRONG + "\n", monkeypatch=monkeypatch) == 2
    assert "not taken on the command line" in capsys.readouterr().err
    assert Store(db).get_user("王主管") is None


def test_prompt_asks_twice_and_refuses_a_mismatch(db, monkeypatch, capsys) -> None:  # noqa: ANN001
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([STRONG, OTHER])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", Tty(""))
    assert main(["user", "add", "王主管", "--role", "supervisor", "--db", str(db)]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter([STRONG, STRONG])
    assert main(["user", "add", "王主管", "--role", "supervisor", "--db", str(db)]) == 0
    assert authenticate(Store(db), "王主管", STRONG) is not None


def test_no_terminal_and_no_stdin_is_one_line_not_a_traceback(db: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deskline.cli",
            "user",
            "add",
            "王主管",
            "--role",
            "supervisor",
            "--db",
            str(db),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "EOFError" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "no password" in proc.stderr


def signed_in(app, name: str, password: str) -> TestClient:  # noqa: ANN001
    import re

    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    assert client.get("/api/me").status_code == 200
    return client


@pytest.mark.parametrize(
    ("argv", "stdin", "after"),
    [
        (("user", "set-role", "张伟", "engineer"), "", {"/api/me": 401}),
        (("user", "passwd", "张伟"), OTHER + "\n", {"/api/me": 401}),
        (("user", "disable", "张伟"), "", {"/api/me": 401}),
        (("user", "delete", "张伟"), "", {"/api/me": 401}),
    ],
)
def test_changes_end_open_sessions_at_once(db, monkeypatch, capsys, argv, stdin, after) -> None:  # noqa: ANN001
    # 张伟 is on the shipped roster, so he may be made an engineer.
    assert (
        run(db, "user", "add", "张伟", "--role", "supervisor", stdin=STRONG + "\n", monkeypatch=monkeypatch)
        == 0
    )
    store = Store(db)
    app = create_app(store, secret_key="cli-test-secret-0123456789abcdef")
    client = signed_in(app, "张伟", STRONG)
    assert client.get("/api/me").json() == {"name": "张伟", "role": "supervisor"}
    assert run(db, *argv, stdin=stdin, monkeypatch=monkeypatch) == 0, capsys.readouterr().err
    for path, status in after.items():
        assert client.get(path).status_code == status
    assert store.session_count("张伟") == 0


def test_user_list_and_disabled_user_cannot_sign_in(db, monkeypatch, capsys) -> None:  # noqa: ANN001
    assert (
        run(db, "user", "add", "王主管", "--role", "supervisor", stdin=STRONG + "\n", monkeypatch=monkeypatch)
        == 0
    )
    assert run(db, "user", "disable", "王主管", monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    assert run(db, "user", "list", monkeypatch=monkeypatch) == 0
    assert "王主管\tsupervisor\tdisabled" in capsys.readouterr().out
    assert authenticate(Store(db), "王主管", STRONG) is None
    assert run(db, "user", "enable", "王主管", monkeypatch=monkeypatch) == 0
    assert authenticate(Store(db), "王主管", STRONG) is not None


def test_token_create_list_revoke(db, monkeypatch, capsys) -> None:  # noqa: ANN001
    assert run(db, "token", "create", "node-a", monkeypatch=monkeypatch) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    app = create_app(Store(db), secret_key="cli-test-secret-0123456789abcdef")
    client = TestClient(app)
    event = {"type": "call_started", "call_id": "c1"}
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/live/events", json=event, headers=headers).status_code == 202
    assert run(db, "token", "list", monkeypatch=monkeypatch) == 0
    listed = capsys.readouterr().out
    assert "node-a\tactive" in listed and token not in listed
    assert run(db, "token", "revoke", "node-a", monkeypatch=monkeypatch) == 0
    assert client.post("/api/live/events", json=event, headers=headers).status_code == 401
    assert run(db, "token", "revoke", "node-a", monkeypatch=monkeypatch) == 2  # nothing left to revoke
