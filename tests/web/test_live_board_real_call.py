"""The live board during a real call: sipp caller → hotline (pyVoIP) → sipp engineer, the
engineer's audio through the live recogniser, the finding pushed over SSE into headless
Chromium while both parties are still on the line.

The call is ``deskline demo --scenario bad``: the engineer greets with their name, hears
the caller's problem and answers 「这个问题我们不管」 (3.5(1)), then promises a time and
closes. Roughly 13 s of conversation follow the refusal; the alert must arrive in them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from deskline.commands.demo import DEMO_SUPERVISOR, DemoRig
from tests.web.conftest import sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[DemoRig]:
    running = DemoRig(tmp_path).start()
    yield running
    running.stop()


def test_live_board_shows_a_real_calls_refusal_while_it_runs(browser: Browser, rig: DemoRig) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=rig.console.url.rstrip("/"))
    page.goto("/login")
    page.fill("input[name=name]", DEMO_SUPERVISOR[0])
    page.fill("input[name=password]", DEMO_SUPERVISOR[1])
    page.click("button[type=submit]")
    page.wait_for_url("**/calls")
    page.goto("/live")
    page.wait_for_function("document.body.dataset.sse === 'open'")
    expect(page.locator("#no-live")).to_be_visible()

    call = rig.place_call("bad")
    placed = time.monotonic()
    try:
        row = page.locator("#live-calls tbody tr")
        expect(row).to_have_count(1, timeout=15_000)
        expect(row).to_contain_text("13800138000")
        expect(row).to_contain_text("张伟", timeout=20_000)  # after the greeting prompt and 2 s of ringing
        expect(row.locator(".tag.fail", has_text="3.5(1)")).to_have_count(1, timeout=int(call.talk_s * 1000))
        alert_after_s = time.monotonic() - placed
        assert call.running(), "the alert must arrive while the call is still in progress"
        alert = page.locator("#alerts li", has_text="3.5(1)")
        expect(alert).to_contain_text("张伟")
        expect(alert.locator(".recommended")).to_contain_text("这种情况的确很特殊")
        # The good parts of the call are not alerted as problems.
        expect(page.locator("#alerts li.fail", has_text="3.4(a)")).to_have_count(0)

        call.wait()
        expect(row).to_have_count(0, timeout=30_000)
        expect(page.locator("#no-live")).to_be_visible()
    finally:
        call.close()
        page.close()

    stored = rig.wait_scored()
    refusals = [f for f in stored.findings if f.clause == "3.5(1)" and f.verdict == "fail"]
    assert len(refusals) == 1 and "不管" in refusals[0].heard
    # The refusal is said about 20 s into the call (greeting prompt, ringing, greeting, the
    # caller's problem); the alert came within a few seconds of it, before hang-up.
    assert refusals[0].start < alert_after_s < stored.duration_s, (refusals[0], alert_after_s)
    # The configured console confines recordings to recordings_dir; the node's own are inside it.
    with httpx.Client(base_url=rig.console.url.rstrip("/"), timeout=10) as client:
        sign_in(client, *DEMO_SUPERVISOR)
        audio = client.get(f"/api/calls/{stored.id}/audio")
        assert audio.status_code == 200 and audio.content == Path(stored.audio_path).read_bytes()
