"""The console in headless Chromium: sign in, open a call, jump to a finding, override it,
an engineer's dispute, and a live alert pushed while the board is open.

Also saves the call page screenshot the README shows (docs/console-call-page.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from deskline.console_runtime import ConsoleServer
from ivr.sipp_peers import free_tcp_port
from models.store import Store
from tests.web.conftest import PASSWORDS, SECRET, real_or_points_scorer
from web.app import create_app
from web.live import LiveHub

SCREENSHOT = Path(__file__).parents[2] / "docs" / "console-call-page.png"

pytestmark = pytest.mark.slow




@pytest.fixture
def hub() -> LiveHub:
    return LiveHub()


@pytest.fixture
def server(store: Store, hub: LiveHub) -> Iterator[str]:
    app = create_app(store, secret_key=SECRET, live_events=hub, scorer=real_or_points_scorer())
    console = ConsoleServer(app, "127.0.0.1", free_tcp_port())
    console.start()
    yield console.url.rstrip("/")
    console.stop()


def signed_in(browser: Browser, base: str, name: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, base_url=base)
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url("**/calls" if name == "王主管" else "**/me")
    return page


def audio_time(page: Page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def test_open_call_jump_to_finding_and_override(browser: Browser, server: str) -> None:
    page = signed_in(browser, server, "王主管")
    page.click("a[href='/calls/call-zw-1']")
    page.wait_for_url("**/calls/call-zw-1")
    page.wait_for_function("document.body.dataset.peaksLoaded === '1'")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    fail = page.locator("article.finding.fail")
    expect(fail).to_have_count(1)
    fail.locator("button.seek").click()
    assert audio_time(page) == pytest.approx(9.5, abs=0.05)
    expect(fail).to_have_class("finding fail active")
    # A click on the waveform at the greeting's mark jumps to the greeting's start.
    box = page.locator("#waveform").bounding_box()
    duration = page.evaluate("document.getElementById('player').duration")
    page.mouse.click(box["x"] + box["width"] * (2.0 / duration), box["y"] + box["height"] / 2)
    assert audio_time(page) == pytest.approx(0.5, abs=0.05)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = page.locator("#overall-score").inner_text()
    form = fail.locator("form.review-form")
    form.locator("select[name=verdict]").select_option("pass")
    form.locator("input[name=comment]").fill("客户原话，不是工程师说的")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("#audit-trail")).to_contain_text("客户原话，不是工程师说的")
    after = page.locator("#overall-score").inner_text()
    assert float(after.rstrip("分")) > float(before.rstrip("分"))
    expect(page.locator("article.finding.fail")).to_have_count(0)
    page.close()


def test_engineer_disputes_and_supervisor_sees_it(browser: Browser, server: str) -> None:
    eng = signed_in(browser, server, "张伟")
    expect(eng.locator("#latest-feedback")).to_contain_text("建议话术")
    eng.click("#latest-feedback a[href='/calls/call-zw-1']")
    card = eng.locator("article.finding.fail")
    card.locator("input[name=reason]").fill("我说的是“我们不管价格”，是在解释报价")
    card.locator("form.dispute-form button").click()
    eng.wait_for_load_state()
    expect(eng.locator("article.finding.fail")).to_contain_text("已申诉")
    # Another engineer's call is simply not there.
    assert eng.goto(f"{server}/calls/call-ln-1").status == 404
    eng.close()
    sup = signed_in(browser, server, "王主管")
    sup.goto("/disputes")
    expect(sup.locator("#disputes")).to_contain_text("我说的是“我们不管价格”")
    sup.close()


def test_live_board_receives_a_finding(browser: Browser, server: str, hub: LiveHub) -> None:
    page = signed_in(browser, server, "王主管")
    page.goto("/live")
    page.wait_for_function("document.body.dataset.sse === 'open'")
    hub.publish(
        {
            "type": "call_started",
            "call_id": "live-42",
            "line": "hq",
            "caller": "13800001111",
            "started_at": "2026-03-02T09:15:00+08:00",
        }
    )
    hub.publish({"type": "engineer_answered", "call_id": "live-42", "engineer": "张伟", "ring_time_s": 4.1})
    expect(page.locator("#live-live-42")).to_contain_text("张伟")
    hub.publish(
        {
            "type": "finding",
            "call_id": "live-42",
            "finding": {
                "clause": "3.5(1)",
                "rule_id": "forbidden.not_our_job",
                "verdict": "fail",
                "start": 9.5,
                "end": 11.1,
                "heard": "我们不管",
                "message": "说了“我们不管”",
                "recommended": "这种情况的确很特殊，我帮您反映一下",
            },
        }
    )
    alert = page.locator("#alerts li").first
    expect(alert).to_contain_text("3.5(1)")
    expect(alert).to_contain_text("张伟")
    expect(alert).to_contain_text("这种情况的确很特殊")
    expect(page.locator("#live-live-42")).to_contain_text("3.5(1)")
    hub.publish({"type": "call_ended", "call_id": "live-42"})
    expect(page.locator("#live-live-42")).to_have_count(0)
    page.close()


def test_pages_work_under_the_content_security_policy(browser: Browser, server: str) -> None:
    """Every page and the docs render in Chromium with no CSP violation and no script error."""
    page = signed_in(browser, server, "王主管")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    pages = ("/calls", "/calls/call-zw-1", "/live", "/disputes", "/rules", "/trends", "/hours", "/written")
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("load")
    page.goto("/calls/call-zw-1")
    expect(page.locator("#player")).to_be_visible()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Deskline console", timeout=30_000)
    assert not problems, problems
