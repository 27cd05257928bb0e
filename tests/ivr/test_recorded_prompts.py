"""The recorded announcements: which words say a time, the shipped set, site overrides."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf

from deskline.config import ConfigError, load_config
from deskline.hotline_runtime import prompts_for
from ivr.recorded_prompts import SHIPPED, PromptError, RecordedPrompts, spoken_time_ids

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("when", "now", "words"),
    [
        (at(26, 8, 30), at(25, 19), ["tomorrow", "period_morning", "hour_8", "half"]),
        (at(26, 9), at(25, 23, 59), ["tomorrow", "period_morning", "hour_9"]),
        (at(25, 13, 30), at(25, 12, 40), ["today", "period_afternoon", "hour_1", "half"]),
        (at(25, 12), at(25, 11), ["today", "period_noon", "hour_12"]),
        (at(25, 18, 45), at(25, 9), ["today", "period_evening", "hour_6", "minute_45"]),
        (at(26, 5, 5), at(25, 22), ["tomorrow", "period_dawn", "hour_5", "minute_5"]),
        (at(26, 0, 0), at(25, 22), ["tomorrow", "period_dawn", "hour_0"]),
        # The National Day week: the line opens again on Thursday 8 October.
        (datetime(2026, 10, 8, 8, 30, tzinfo=SH), datetime(2026, 10, 1, 10, tzinfo=SH),
         ["month_10", "day_8", "weekday_4", "period_morning", "hour_8", "half"]),
        (at(30, 9), at(27, 19), ["month_11", "day_30", "weekday_1", "period_morning", "hour_9"]),
        # Across a year's end the date is said in full.
        (datetime(2027, 1, 4, 8, 30, tzinfo=SH), datetime(2026, 12, 31, 19, tzinfo=SH),
         ["month_1", "day_4", "weekday_1", "period_morning", "hour_8", "half"]),
    ],
)
def test_spoken_time(when: datetime, now: datetime, words: list[str]) -> None:
    assert spoken_time_ids(when, now) == words


def test_today_and_tomorrow_are_the_lines_days_not_the_servers() -> None:
    # 23:30 in UTC is already the next morning in Shanghai: 09:00 there is "today".
    now_utc = datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert spoken_time_ids(at(26, 9), now_utc)[0] == "today"


def test_every_time_of_a_year_has_its_recordings() -> None:
    prompts = RecordedPrompts()
    now = at(1, 0, month=1)
    when = now
    while when < now + timedelta(days=366):
        for word in spoken_time_ids(when, now - timedelta(days=3)):
            assert prompts.clip(word).size > 0, word
        when += timedelta(minutes=7, hours=5)


def test_manifest_lists_every_shipped_recording() -> None:
    with (SHIPPED / "manifest.tsv").open(encoding="utf-8") as f:
        rows = {row["id"]: row["text"] for row in csv.DictReader(f, delimiter="\t")}
    files = {p.stem for p in SHIPPED.glob("*.flac")}
    assert files == set(rows)
    assert rows["day_21"] == "二十一日" and rows["hour_2"] == "两点" and rows["minute_5"] == "零五分"
    for path in SHIPPED.glob("*.flac"):
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (8000, 1), path.name


def test_after_hours_prompt_is_built_in_order() -> None:
    prompts = RecordedPrompts()
    pcm = prompts.after_hours("hq", at(26, 8, 30), "https://desk.example.com", at(25, 19))
    pieces = ["after_hours", "opens_at", "tomorrow", "period_morning", "hour_8", "half", "opens_end",
              "web_service", "leave_message"]
    position = 0
    for piece in pieces:
        clip = prompts.clip(piece)
        found = _find(pcm, clip, position)
        assert found >= position, piece
        position = found + len(clip)
    unknown = prompts.after_hours("hq", None, "", at(25, 19))
    assert _find(unknown, prompts.clip("opening_unknown"), 0) >= 0


def _find(haystack: np.ndarray, needle: np.ndarray, start: int) -> int:
    """Where ``needle`` sits, sample-exact, at or after ``start``; -1 if nowhere."""
    candidates = np.flatnonzero(haystack[start:len(haystack) - len(needle) + 1] == needle[0]) + start
    for c in candidates:
        if np.array_equal(haystack[c:c + len(needle)], needle):
            return int(c)
    return -1


def test_line_greetings_and_the_generic_one() -> None:
    prompts = RecordedPrompts()
    assert prompts.greeting("hq") is prompts.clip("greeting_hq")
    assert prompts.greeting("regional") is prompts.clip("greeting_regional")
    assert prompts.greeting("branch-7") is prompts.clip("greeting")


def test_site_recording_replaces_the_shipped_one(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "greeting_hq.wav", (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16), 16000)
    prompts = RecordedPrompts(tmp_path)
    assert len(prompts.greeting("hq")) == 8000  # resampled to the phone's 8 kHz
    assert prompts.greeting("regional") is prompts.clip("greeting_regional")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable audio file"), (b"RIFF\x10\x00\x00\x00WAVEfmt ", "not a readable audio file"),
     (b"hello, not audio", "not a readable audio file")],
)
def test_broken_site_recording_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "greeting_hq.wav").write_bytes(content)
    with pytest.raises(PromptError, match=message) as e:
        RecordedPrompts(tmp_path)
    assert "greeting_hq.wav" in str(e.value)


def test_config_with_a_broken_prompt_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "next_engineer.wav").write_bytes(b"garbage")
    config = tmp_path / "deskline.toml"
    config.write_text('[hotline]\nprompts_dir = "prompts"\n\n[[lines]]\nid = "hq"\ncalendar = "hq"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"prompts_dir: .*next_engineer\.wav: not a readable audio file"):
        prompts_for(load_config(config))
    config.write_text('[hotline]\nprompts_dir = "nowhere"\n\n[[lines]]\nid = "hq"\ncalendar = "hq"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="prompts_dir is not a directory"):
        prompts_for(load_config(config))


@pytest.mark.parametrize(("ahead", "wait_s", "first", "said"), [
    (0, 30, True, ["queue_hold", "queue_next", "queue_wait", "count_1", "queue_minutes"]),
    (2, 300, False, ["queue_ahead", "count_2", "queue_callers", "queue_wait", "count_5", "queue_minutes"]),
    (75, 9000, False, ["queue_ahead", "count_60", "queue_callers", "queue_wait", "count_60",
                       "queue_minutes"]),
])
def test_queue_announcement_fragments(ahead, wait_s, first, said):
    """"您前面还有 两 位客户在等待。预计等待时间约 五 分钟。": whole minutes, at least one, at most 60."""
    from ivr.recorded_prompts import RecordedPrompts

    prompts = RecordedPrompts()
    ids = [p for p in prompts.queue_position_ids(ahead, wait_s, first) if isinstance(p, str)]
    assert ids == said
    assert len(prompts.queue_position(ahead, wait_s, first)) > 8000
