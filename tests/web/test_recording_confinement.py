"""Recordings are served only from inside the recordings directories (symlinks resolved)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deskline.config import load_config
from deskline.console_runtime import build_app
from models.store import Store
from tests.web.conftest import SECRET, real_or_points_scorer, sign_in, zhangwei_call
from web.app import create_app

OUTSIDE = "outside the recordings directory"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


def supervisor(app) -> TestClient:  # noqa: ANN001
    client = TestClient(app)
    sign_in(client, "王主管")
    return client


def confined_app(store: Store, roots: list[Path]):  # noqa: ANN201
    return create_app(store, secret_key=SECRET, scorer=real_or_points_scorer(), audio_roots=roots)


def test_a_recording_inside_the_root_is_served(store: Store, root: Path, call_wav: Path) -> None:
    inside = root / "call-in.wav"
    shutil.copyfile(call_wav, inside)
    store.save_call(zhangwei_call(inside, call_id="call-in"))
    client = supervisor(confined_app(store, [root]))
    audio = client.get("/api/calls/call-in/audio")
    assert audio.status_code == 200 and audio.content == call_wav.read_bytes()
    peaks = client.get("/api/calls/call-in/peaks")
    assert peaks.status_code == 200 and set(peaks.json()["channels"]) == {"caller", "engineer"}


def test_a_recording_outside_the_roots_is_404_and_logged(
    store: Store, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # call-zw-1 (from conftest) names a real .wav in another temporary folder.
    client = supervisor(confined_app(store, [root]))
    with caplog.at_level(logging.WARNING, logger="web.recordings"):
        for kind in ("audio", "peaks"):
            r = client.get(f"/api/calls/call-zw-1/{kind}")
            assert r.status_code == 404 and OUTSIDE in r.json()["detail"], kind
    assert "call-zw-1" in caplog.text and "outside the recordings directories" in caplog.text


def test_dot_dot_does_not_climb_out(store: Store, root: Path, call_wav: Path) -> None:
    shutil.copyfile(call_wav, root.parent / "elsewhere.wav")
    store.save_call(
        replace(zhangwei_call(call_wav, call_id="call-dots"), audio_path=str(root / ".." / "elsewhere.wav"))
    )
    client = supervisor(confined_app(store, [root]))
    for kind in ("audio", "peaks"):
        r = client.get(f"/api/calls/call-dots/{kind}")
        assert r.status_code == 404 and OUTSIDE in r.json()["detail"], kind


def test_a_symlink_inside_the_root_pointing_outside_is_404(store: Store, root: Path, call_wav: Path) -> None:
    link = root / "call-link.wav"
    link.symlink_to(call_wav)
    store.save_call(zhangwei_call(link, call_id="call-link"))
    client = supervisor(confined_app(store, [root]))
    for kind in ("audio", "peaks"):
        r = client.get(f"/api/calls/call-link/{kind}")
        assert r.status_code == 404 and OUTSIDE in r.json()["detail"], kind


def test_a_symlinked_root_still_serves_its_recordings(
    store: Store, root: Path, tmp_path: Path, call_wav: Path
) -> None:
    shutil.copyfile(call_wav, root / "call-in.wav")
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    store.save_call(zhangwei_call(root / "call-in.wav", call_id="call-in"))
    client = supervisor(confined_app(store, [alias]))
    assert client.get("/api/calls/call-in/audio").status_code == 200


def test_no_roots_means_no_confinement_but_empty_roots_serve_nothing(store: Store) -> None:
    assert supervisor(confined_app(store, None)).get("/api/calls/call-zw-1/audio").status_code == 200
    assert supervisor(confined_app(store, [])).get("/api/calls/call-zw-1/audio").status_code == 404


def test_the_configured_console_always_confines(tmp_path: Path, store: Store, call_wav: Path) -> None:
    config = tmp_path / "deskline.toml"
    config.write_text(
        '[hotline]\nrecordings_dir = "rec"\n'
        f'[console]\nsecret_key = "{SECRET}"\naudio_dirs = ["node-a"]\n'
        '[[lines]]\nid = "hq"\ncalendar = "hq"\n',
        encoding="utf-8",
    )
    cfg = load_config(config)
    for folder, call_id in (("rec", "call-rec"), ("node-a", "call-node-a")):
        (tmp_path / folder).mkdir()
        shutil.copyfile(call_wav, tmp_path / folder / f"{call_id}.wav")
        store.save_call(zhangwei_call(tmp_path / folder / f"{call_id}.wav", call_id=call_id))
    client = supervisor(build_app(cfg, store))
    assert client.get("/api/calls/call-rec/audio").status_code == 200
    assert client.get("/api/calls/call-node-a/audio").status_code == 200
    r = client.get("/api/calls/call-zw-1/audio")
    assert r.status_code == 404 and OUTSIDE in r.json()["detail"]
