"""What a running call tells the outside, as typed events: one dataclass per kind.

The live analysis (``speech.live_call``) emits ``UtteranceHeard`` and ``FindingDecided``;
the hotline's observer adds the call's progress (started, ringing, answered, ended,
re-scored, voicemail) and the node's recognition backlog. ``to_dict`` is the one place an
event becomes the JSON-ready dict the live board, the SSE stream and the console uplink
read (``{"type": ..., "call_id": ..., ...}``, the shape they have always read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from models.records import Finding, Utterance


@dataclass(frozen=True)
class LiveEvent:
    type: ClassVar[str] = ""
    call_id: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for name, value in vars(self).items():
            out[name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @property
    def kind(self) -> str:
        return self.type

    @property
    def payload(self) -> dict[str, Any]:
        """The record the event carries (utterance, finding), else the event's fields."""
        body = self.to_dict()
        del body["type"]
        return body


@dataclass(frozen=True)
class CallStarted(LiveEvent):
    type: ClassVar[str] = "call_started"
    line: str
    caller: str
    started_at: str


@dataclass(frozen=True)
class EngineerRinging(LiveEvent):
    type: ClassVar[str] = "engineer_ringing"
    engineer: str


@dataclass(frozen=True)
class EngineerNoAnswer(LiveEvent):
    type: ClassVar[str] = "engineer_no_answer"
    engineer: str
    rang_s: float


@dataclass(frozen=True)
class EngineerAnswered(LiveEvent):
    type: ClassVar[str] = "engineer_answered"
    engineer: str
    ring_time_s: float
    rings: int


@dataclass(frozen=True)
class UtteranceHeard(LiveEvent):
    """A final utterance of either leg, times on the recording's clock."""

    type: ClassVar[str] = "utterance"
    utterance: Utterance

    @property
    def payload(self) -> dict[str, Any]:
        return self.utterance.to_dict()


@dataclass(frozen=True)
class FindingDecided(LiveEvent):
    """A rule decided, times on the recording's clock."""

    type: ClassVar[str] = "finding"
    finding: Finding

    @property
    def payload(self) -> dict[str, Any]:
        return self.finding.to_dict()


@dataclass(frozen=True)
class PartialHeard(LiveEvent):
    """Text a streaming engine (Vosk) has so far for speech still going on."""

    type: ClassVar[str] = "partial"
    speaker: str
    text: str


@dataclass(frozen=True)
class CallEnded(LiveEvent):
    type: ClassVar[str] = "call_ended"
    reason: str
    score: float | None


@dataclass(frozen=True)
class CallRescored(LiveEvent):
    type: ClassVar[str] = "call_rescored"
    engine: str
    score: float | None


@dataclass(frozen=True)
class Voicemail(LiveEvent):
    type: ClassVar[str] = "voicemail"
    line: str
    caller: str
