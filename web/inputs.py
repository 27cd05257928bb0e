"""Typed, bounded input for the API and the forms: what the console accepts, and nothing else.

Every number is finite (JSON as Python parses it allows ``Infinity`` and ``NaN``, and one
such value stored would break every page that sums or sorts it); every id fits SQLite's
64-bit integer; every time is an ISO 8601 string with an offset, within ``EARLIEST`` ..
``LATEST`` (a number is never taken for a time); every text and list has a cap, so one
request cannot fill the memory of the console or the disk of the store.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from models.records import CallRecord, Finding, Promise, Scorecard, Utterance, Word

SQLITE_INT_MAX = 2**63 - 1
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)

# Caps: far above any real call (a 2-hour call has about 2 000 utterances).
MAX_UTTERANCES = 20_000
MAX_WORDS = 500
MAX_FINDINGS = 2_000
MAX_PROMISES = 200
MAX_CLAUSES = 200
MAX_TEXT = 2_000  # one utterance, one finding message, one review comment
MAX_SEARCH = 200  # a full-text search term
MAX_NAME = 200  # ids, names, line ids, engines
MAX_PATH = 4_096
MAX_DICT_ENTRIES = 100
MAX_CALL_SECONDS = 7 * 24 * 3600.0


def check_plain_json(value: Any, depth: int = 0) -> Any:
    """Free-form JSON (a finding's detail, scorecard metrics): finite numbers, not too deep."""
    if depth > 20:
        raise ValueError("is nested more than 20 levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must not contain Infinity or NaN")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SQLITE_INT_MAX:
        raise ValueError("contains an integer out of range")
    if isinstance(value, dict):
        for item in value.values():
            check_plain_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_plain_json(item, depth + 1)
    return value


PlainJson = Annotated[Any, AfterValidator(check_plain_json)]
Seconds = Annotated[float, Field(ge=0, le=MAX_CALL_SECONDS, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
RecordId = Annotated[int, Field(ge=1, le=SQLITE_INT_MAX)]
# No control characters (a NUL byte in a path or name breaks files and logs).
Name = Annotated[str, StringConstraints(max_length=MAX_NAME, pattern=r"^[^\x00-\x1f\x7f]*$")]
CallId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00-\x1f\x7f/]+$")]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
AudioPath = Annotated[str, StringConstraints(max_length=MAX_PATH, pattern=r"^[^\x00]*$")]

CallIdPath = Annotated[str, Path(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00-\x1f\x7f/]+$")]
RecordIdPath = Annotated[int, Path(ge=1, le=SQLITE_INT_MAX)]


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _time_text(value: Any) -> Any:
    # Pydantic would read 0, 0.5 or "5" as seconds since 1970; a time here is always written out.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        raise ValueError("must be an ISO 8601 time string with an offset, e.g. 2026-03-02T09:30:00+08:00")
    return value


def _time_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a timezone offset, e.g. 2026-03-02T09:30:00+08:00")
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def _day_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        raise ValueError("must be an ISO 8601 date, e.g. 2026-03-02")
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
    return value


_TIME_SCHEMA = {"type": "string", "format": "date-time", "example": "2026-03-02T09:30:00+08:00"}
Time = Annotated[
    datetime, BeforeValidator(_time_text), AfterValidator(_time_in_range), WithJsonSchema(_TIME_SCHEMA)
]
Day = Annotated[
    date,
    BeforeValidator(_day_text),
    AfterValidator(_day_in_range),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-03-02"}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class WordIn(Strict):
    text: Annotated[str, StringConstraints(max_length=100)]
    start: Seconds
    end: Seconds
    confidence: Unit = 1.0


class UtteranceIn(Strict):
    speaker: Literal["caller", "engineer"]
    start: Seconds
    end: Seconds
    text: Text
    words: list[WordIn] = Field(default_factory=list, max_length=MAX_WORDS)
    confidence: Unit = 1.0
    engine: Name = ""


class FindingIn(Strict):
    clause: Name
    rule_id: Name
    kind: Name
    verdict: Literal["fail", "pass", "warn"]
    start: Seconds
    end: Seconds
    heard: Text = ""
    confidence: Unit = 1.0
    rule_text: Text = ""
    recommended: Text = ""
    message: Text = ""
    detail: dict[Name, PlainJson] = Field(default_factory=dict, max_length=MAX_DICT_ENTRIES)


class PromiseIn(Strict):
    text: Text
    start: Seconds
    end: Seconds
    definite: bool
    due_at: Time | None = None
    time_phrase: Text = ""


class ClauseScoreIn(Strict):
    clause: Name
    score: Score
    weight: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    checked: bool = True
    failures: Annotated[int, Field(ge=0, le=MAX_FINDINGS)] = 0


class ScorecardIn(Strict):
    overall: Score
    clauses: list[ClauseScoreIn] = Field(default_factory=list, max_length=MAX_CLAUSES)
    metrics: dict[Name, PlainJson] = Field(default_factory=dict, max_length=MAX_DICT_ENTRIES)


class SipTimingsIn(BaseModel):
    """What the SIP side measured (the caller leg, each engineer attempt, ...): free-form JSON
    with finite numbers; ``end_reason``, which pages read as text, must be text."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    end_reason: Text = ""

    def plain(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if len(data) > MAX_DICT_ENTRIES:
            raise ValueError(f"sip_timings has {len(data)} entries, at most {MAX_DICT_ENTRIES}")
        for key, value in data.items():
            try:
                check_plain_json(value)
            except ValueError as exc:
                raise ValueError(f"sip_timings.{key} {exc}") from None
        return data


class CallIn(Strict):
    """A finished (or failed) call as a hotline node posts it."""

    id: CallId
    started_at: Time
    line: Name = "hq"
    engineer: Name = ""
    caller: Name = ""
    duration_s: Seconds = 0.0
    audio_path: AudioPath = ""
    engine: Name = ""
    status: Literal["live", "done", "failed"] = "done"
    ring_time_s: Seconds | None = None
    rings: Annotated[int, Field(ge=0, le=1000)] | None = None
    utterances: list[UtteranceIn] = Field(default_factory=list, max_length=MAX_UTTERANCES)
    findings: list[FindingIn] = Field(default_factory=list, max_length=MAX_FINDINGS)
    promises: list[PromiseIn] = Field(default_factory=list, max_length=MAX_PROMISES)
    scorecard: ScorecardIn | None = None
    feedback: Text = ""
    sip_timings: SipTimingsIn = Field(default_factory=SipTimingsIn)

    def record(self) -> CallRecord:
        """The store's record of this call (raises ValueError for a bad sip_timings entry)."""
        return CallRecord(
            id=self.id,
            started_at=self.started_at.isoformat(),
            line=self.line,
            engineer=self.engineer,
            caller=self.caller,
            duration_s=self.duration_s,
            audio_path=self.audio_path,
            engine=self.engine,
            status=self.status,
            ring_time_s=self.ring_time_s,
            rings=self.rings,
            utterances=[
                Utterance(
                    **{**u.model_dump(exclude={"words"}), "words": [Word(**w.model_dump()) for w in u.words]}
                )
                for u in self.utterances
            ],
            findings=[Finding(**f.model_dump()) for f in self.findings],
            promises=[
                Promise(**{**p.model_dump(), "due_at": p.due_at.isoformat() if p.due_at else None})
                for p in self.promises
            ],
            scorecard=Scorecard.from_dict(self.scorecard.model_dump()) if self.scorecard else None,
            feedback=self.feedback,
            sip_timings=self.sip_timings.plain(),
        )


class ErrorOut(BaseModel):
    """Every error answer of the API: ``detail`` says what is wrong, in one line."""

    detail: str
    errors: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad request"},
    401: {"model": ErrorOut, "description": "Not signed in, or an unknown or revoked API token"},
    403: {"model": ErrorOut, "description": "Not allowed for this account, or a missing X-CSRF-Token"},
    404: {"model": ErrorOut, "description": "No such record (or not this engineer's)"},
    409: {"model": ErrorOut, "description": "Conflicts with what is stored (e.g. already resolved)"},
    413: {"model": ErrorOut, "description": "The request body is too large"},
    422: {"model": ErrorOut, "description": "Bad input: detail names the field and the problem"},
    429: {"model": ErrorOut, "description": "Too many requests; see Retry-After"},
}
