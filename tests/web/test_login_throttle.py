"""Sign-in throttling: five failures in five minutes for an account from one address (or twenty
from one address for any accounts), then 429 for that client only."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from models.store import Store
from tests.web.conftest import PASSWORDS, SECRET, real_or_points_scorer
from web.app import create_app
from web.throttle import LoginThrottle, Throttled


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_at(store: Store, clock: FakeClock) -> Iterator[Callable[[str], TestClient]]:
    """TestClients of one app, each from its own client address."""
    app = create_app(
        store, secret_key=SECRET, scorer=real_or_points_scorer(), login_throttle=LoginThrottle(clock=clock)
    )
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        clients.append(TestClient(app, client=(address, 50000)))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


def attempt(client: TestClient, name: str, password: str) -> httpx.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    return client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token}, follow_redirects=False
    )


def fail_times(client: TestClient, name: str, n: int) -> None:
    for _ in range(n):
        assert attempt(client, name, "wrong-password").status_code == 401


def test_five_failures_then_the_right_password_is_refused_with_retry_after(client_at) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    fail_times(client, "张伟", 5)
    r = attempt(client, "张伟", PASSWORDS["张伟"])
    assert r.status_code == 429
    assert r.headers["retry-after"] == "300"
    assert "登录失败次数过多，请 300 秒后再试" in r.text and 'id="login-error"' in r.text
    assert client.get("/api/me").status_code == 401  # not signed in


def test_after_the_window_the_right_password_works(client_at, clock: FakeClock) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    fail_times(client, "张伟", 5)
    clock.advance(299.5)
    r = attempt(client, "张伟", PASSWORDS["张伟"])
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    clock.advance(0.5)
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 303
    assert client.get("/api/me").json()["name"] == "张伟"


def test_failures_spread_beyond_the_window_do_not_add_up(client_at, clock: FakeClock) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    for _ in range(8):
        fail_times(client, "张伟", 1)
        clock.advance(61)  # five failures never fall within 300 s
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 303


def test_an_attacker_elsewhere_cannot_lock_out_the_real_user(client_at) -> None:  # noqa: ANN001
    attacker = client_at("10.0.0.1")
    fail_times(attacker, "张伟", 5)
    # The attacker is throttled for that account ...
    assert attempt(attacker, "张伟", PASSWORDS["张伟"]).status_code == 429
    # ... the real user, from their own address, signs in as usual, repeatably.
    for _ in range(3):
        real = client_at("10.0.0.2")
        assert attempt(real, "张伟", PASSWORDS["张伟"]).status_code == 303
        assert real.get("/api/me").json()["name"] == "张伟"


def test_spraying_names_from_one_address_is_throttled(client_at) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    for i in range(20):  # the address's limit is four times an account's
        fail_times(client, f"user-{i}", 1)
    assert attempt(client, "f", "x").status_code == 429
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 429
    assert attempt(client_at("10.0.0.2"), "张伟", PASSWORDS["张伟"]).status_code == 303


def test_success_resets_the_count(client_at) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    fail_times(client, "张伟", 4)
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 303
    # Without the reset this would be failures six to nine, and the sign-in would be refused.
    fail_times(client, "张伟", 4)
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 303


def test_signing_in_to_ones_own_account_keeps_the_address_count(client_at) -> None:  # noqa: ANN001
    client = client_at("10.0.0.1")
    for i in range(19):
        fail_times(client, f"user-{i}", 1)
    assert attempt(client, "张伟", PASSWORDS["张伟"]).status_code == 303
    fail_times(client, "c", 1)
    assert attempt(client, "d", "x").status_code == 429


def test_parallel_attempts_cannot_slip_past_the_limit(clock: FakeClock) -> None:
    throttle = LoginThrottle(clock=clock)
    admitted: list[bool] = []
    barrier = threading.Barrier(20)

    def guess(i: int) -> None:
        barrier.wait()
        try:
            throttle.begin("张伟", "10.0.1.1")
        except Throttled:
            admitted.append(False)
        else:
            admitted.append(True)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted.count(True) == 5


def test_memory_is_bounded(clock: FakeClock) -> None:
    throttle = LoginThrottle(clock=clock, max_keys=100)
    for i in range(1000):
        throttle.begin(f"user-{i}", f"10.{i // 256}.{i % 256}.1")
    assert throttle.tracked_keys() == 100
    clock.advance(300)
    throttle.begin("late", "10.9.9.9")
    assert throttle.tracked_keys() == 2  # the old entries expired


def served_console(store: Store, trusted_proxies: list[str]) -> Iterator[str]:
    from deskline.console_runtime import ConsoleServer
    from ivr.sipp_peers import free_tcp_port

    app = create_app(store, secret_key=SECRET, scorer=real_or_points_scorer())
    server = ConsoleServer(app, "127.0.0.1", free_tcp_port(), trusted_proxies=trusted_proxies)
    server.start()
    try:
        yield server.url.rstrip("/")
    finally:
        server.stop()


def http_attempt(base: str, name: str, password: str, forwarded_for: str) -> int:
    with httpx.Client(base_url=base, headers={"X-Forwarded-For": forwarded_for}, timeout=30) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        r = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
        return r.status_code


def test_made_up_forwarded_for_gives_no_fresh_address(store: Store) -> None:
    """Real uvicorn on loopback, no trusted proxy: X-Forwarded-For is not believed."""
    for base in served_console(store, []):
        for i in range(5):
            assert http_attempt(base, "张伟", "wrong-password", f"203.0.113.{i}") == 401
        assert http_attempt(base, "张伟", PASSWORDS["张伟"], "203.0.113.99") == 429


def test_a_trusted_proxy_reports_the_real_client(store: Store) -> None:
    """With the proxy configured, its X-Forwarded-For names the client the throttle counts."""
    for base in served_console(store, ["127.0.0.1"]):
        for _ in range(5):
            assert http_attempt(base, "张伟", "wrong-password", "203.0.113.1") == 401
        assert http_attempt(base, "张伟", PASSWORDS["张伟"], "203.0.113.1") == 429
        assert http_attempt(base, "张伟", PASSWORDS["张伟"], "198.51.100.7") in (200, 303)
