"""Console test data: a real stereo call recording, a store with users and calls, clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from models.records import CallRecord, ClauseScore, Finding, Promise, Scorecard, Utterance
from models.store import Store
from web.app import create_app
from web.users import add_user

# Debian's chromium, driven by Playwright (its own browser downloads are not reachable here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SECRET = "test-secret-key-0123456789abcdef"
PASSWORDS = {"王主管": "supervisor-pass", "张伟": "zhangwei-pass", "李娜": "lina-pass-123"}
# (utterance id, speaker, start in seconds) of the assembled call, caller left / engineer right.
CALL_LAYOUT = [("e01", "engineer", 0.5), ("c01", "caller", 5.5), ("e04", "engineer", 9.5)]
TEXTS = {
    "e01": "你好我是桌面工程师张伟您有什么需要咨询的么",
    "c01": "我的电脑开不了机了屏幕一直是黑的",
    "e04": "这个问题我们不管",
}


def points_scorer(findings: list[Finding]) -> Scorecard:
    """Stand-in for speech.qa.scoring while it is not importable: 100 minus 20 per failure."""
    fails = sum(f.verdict == "fail" for f in findings)
    return Scorecard(overall=max(0.0, 100.0 - 20.0 * fails))


def real_or_points_scorer() -> Callable[[list[Finding]], Scorecard] | None:
    try:
        import speech.qa.rulefile  # noqa: F401
        import speech.qa.scoring  # noqa: F401
    except ImportError:
        return points_scorer
    return None  # the app then uses score_findings with the shipped rules


@pytest.fixture(scope="session")
def call_wav(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Path:
    parts = {}
    for uid, _speaker, _start in CALL_LAYOUT:
        data, rate = sf.read(audio_dir / "tts" / f"{uid}.wav", dtype="float32")
        assert rate == 8000
        parts[uid] = data
    length = max(int(start * 8000) + len(parts[uid]) for uid, _s, start in CALL_LAYOUT) + 4000
    stereo = np.zeros((length, 2), dtype=np.float32)
    for uid, speaker, start in CALL_LAYOUT:
        col = 0 if speaker == "caller" else 1
        a = int(start * 8000)
        stereo[a : a + len(parts[uid]), col] = parts[uid]
    path = tmp_path_factory.mktemp("rec") / "call-zw-1.wav"
    sf.write(path, stereo, 8000, subtype="PCM_16")
    return path


def utterances() -> list[Utterance]:
    out = []
    for uid, speaker, start in CALL_LAYOUT:
        info = sf.info(Path(__file__).parents[1] / "fixtures" / "audio" / "tts" / f"{uid}.wav")
        out.append(
            Utterance(
                speaker, start, round(start + info.duration, 2), TEXTS[uid], confidence=0.92, engine="vosk"
            )
        )
    return out


def zhangwei_call(wav: Path, call_id: str = "call-zw-1") -> CallRecord:
    return CallRecord(
        id=call_id,
        started_at="2026-03-02T09:15:00+08:00",
        line="hq",
        engineer="张伟",
        caller="13800001111",
        duration_s=sf.info(wav).duration,
        audio_path=str(wav),
        engine="vosk",
        ring_time_s=6.2,
        rings=2,
        utterances=utterances(),
        findings=[
            Finding(
                "3.4(a)",
                "greeting.opening",
                "must_say_in_window",
                "pass",
                0.5,
                5.2,
                heard="你好我是桌面工程师张伟您有什么需要咨询的么",
                confidence=0.92,
                rule_text="开始用语：你好，我是(桌面工程师)***，您有什么需要咨询的么？",
                message="开始用语规范，报了姓名",
            ),
            Finding(
                "3.5(1)",
                "forbidden.not_our_job",
                "must_not_say",
                "fail",
                9.5,
                11.1,
                heard="我们不管",
                confidence=0.88,
                rule_text="非职权范围能解决的问题，不得说“我们不管”",
                recommended="这种情况的确很特殊，我帮您反映一下，会有相关部门与您联系。",
                message="说了“我们不管”",
            ),
        ],
        promises=[
            Promise(
                "我今天下午三点前给您回复", 12.0, 13.0, True, "2026-03-02T15:00:00+08:00", "今天下午三点前"
            )
        ],
        scorecard=Scorecard(
            80.0, [ClauseScore("3.4(a)", 100.0, 1.0), ClauseScore("3.5(1)", 0.0, 1.0, failures=1)]
        ),
        feedback="开始用语规范；避免说“我们不管”，改用推荐话术。",
    )


def lina_call(wav: Path) -> CallRecord:
    return CallRecord(
        id="call-ln-1",
        started_at="2026-03-02T10:00:00+08:00",
        line="region",
        engineer="李娜",
        caller="13900002222",
        duration_s=20.0,
        audio_path=str(wav),
        ring_time_s=18.0,
        rings=4,
        utterances=[Utterance("engineer", 0.5, 3.0, "这个我也不清楚")],
        findings=[
            Finding(
                "3.5(2)",
                "forbidden.dont_know",
                "must_not_say",
                "fail",
                0.5,
                3.0,
                heard="不清楚",
                recommended="这个问题我需要查询一下，稍后给您答复。",
            )
        ],
        scorecard=Scorecard(70.0),
    )


@pytest.fixture
def store(tmp_path: Path, call_wav: Path) -> Iterator[Store]:
    s = Store(tmp_path / "console.db")
    add_user(s, "王主管", "supervisor", PASSWORDS["王主管"])
    add_user(s, "张伟", "engineer", PASSWORDS["张伟"])
    add_user(s, "李娜", "engineer", PASSWORDS["李娜"])
    s.save_call(zhangwei_call(call_wav))
    s.save_call(lina_call(call_wav))
    yield s
    s.close()


@pytest.fixture
def app(store: Store):  # noqa: ANN201
    return create_app(store, secret_key=SECRET, scorer=real_or_points_scorer())


def sign_in(client: TestClient, name: str, password: str | None = None) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"name": name, "password": password or PASSWORDS[name], "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/written")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def as_user(app) -> Callable[[str], tuple[TestClient, str]]:  # noqa: ANN001
    clients: list[TestClient] = []

    def make(name: str) -> tuple[TestClient, str]:
        client = TestClient(app)
        clients.append(client)
        return client, sign_in(client, name)

    yield make
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
