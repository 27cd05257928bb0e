"""/metrics: a bearer token when one is configured, else loopback clients only."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deskline.config import load_config
from deskline.console_runtime import build_app
from models.store import Store
from tests.web.conftest import SECRET
from web.app import create_app

TOKEN = "scrape-token-4f9a1c"


def scrape(app, address: str = "10.1.2.3", **headers: str | bytes):  # noqa: ANN001, ANN201
    return TestClient(app, client=(address, 5000)).get("/metrics", headers=headers)


def test_a_configured_token_is_required(store: Store) -> None:
    app = create_app(store, secret_key=SECRET, metrics_token=TOKEN)
    ok = scrape(app, Authorization=f"Bearer {TOKEN}")
    assert ok.status_code == 200 and "deskline_calls_stored 2.0" in ok.text
    assert scrape(app, Authorization=f"bearer {TOKEN}").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer 令牌".encode()}):
        r = scrape(app, **headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer" and "metrics_token" in r.json()["detail"]
    # With a token, being on this machine is not enough.
    assert scrape(app, "127.0.0.1").status_code == 401


def test_without_a_token_other_machines_get_403(store: Store) -> None:
    app = create_app(store, secret_key=SECRET)
    for address in ("10.1.2.3", "192.168.0.8", "2001:db8::1", "testclient"):
        r = scrape(app, address)
        assert r.status_code == 403, address
        assert "set [console] metrics_token" in r.json()["detail"]
    # A bearer header does not help when no token is configured.
    assert scrape(app, Authorization="Bearer anything").status_code == 403


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_loopback_clients_are_served(store: Store, address: str) -> None:
    r = scrape(create_app(store, secret_key=SECRET), address)
    assert r.status_code == 200 and "deskline_calls_stored 2.0" in r.text


def test_the_configured_console_passes_the_token(tmp_path: Path, store: Store) -> None:
    config = tmp_path / "deskline.toml"
    config.write_text(
        f'[console]\nsecret_key = "{SECRET}"\nmetrics_token = "{TOKEN}"\n'
        '[[lines]]\nid = "hq"\ncalendar = "hq"\n',
        encoding="utf-8",
    )
    app = build_app(load_config(config), store)
    assert scrape(app, "127.0.0.1").status_code == 401
    assert scrape(app, "127.0.0.1", Authorization=f"Bearer {TOKEN}").status_code == 200


def test_a_nodes_gauges_are_read_at_scrape_time(store: Store) -> None:
    backlog = {"n": 3.0}

    def gauges() -> dict[str, tuple[str, float]]:
        return {"recognition_backlog_segments": ("Speech segments waiting for recognition", backlog["n"]),
                "sip_refused_busy_total": ("INVITEs refused with 503", 490)}

    app = create_app(store, secret_key=SECRET, metrics_token=TOKEN, node_gauges=gauges)
    first = scrape(app, Authorization=f"Bearer {TOKEN}").text
    assert "deskline_recognition_backlog_segments 3.0" in first
    assert "deskline_sip_refused_busy_total 490.0" in first
    backlog["n"] = 0.0
    assert "deskline_recognition_backlog_segments 0.0" in scrape(app, Authorization=f"Bearer {TOKEN}").text
