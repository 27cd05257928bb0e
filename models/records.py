"""The records a call produces, shared by every part of Deskline.

Times inside a call (``start``, ``end``) are seconds from the start of the call's
recording. Absolute times (``started_at``, ``due_at``) are timezone-aware ISO 8601
strings so that they survive JSON and SQLite unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Speaker = Literal["caller", "engineer"]
# fail: the call broke the clause; pass: the clause was checked and met;
# warn: something a supervisor should look at but that does not cost points.
Verdict = Literal["fail", "pass", "warn"]


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Word:
    text: str
    start: float
    end: float
    confidence: float = 1.0


@dataclass
class Utterance:
    """One stretch of speech on one leg, as the recogniser finally heard it."""

    speaker: Speaker
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    confidence: float = 1.0
    engine: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Utterance:
        u = _from_dict(cls, data)
        u.words = [w if isinstance(w, Word) else _from_dict(Word, w) for w in u.words]
        return u


@dataclass
class Finding:
    """One decision a rule made about the call, with its evidence."""

    clause: str  # clause id in the service standard, e.g. "3.5(2)"
    rule_id: str  # id of the rule in the rule file, e.g. "forbidden.dont_know"
    kind: str  # rule kind, e.g. "must_not_say"
    verdict: Verdict
    start: float
    end: float
    heard: str = ""  # the words heard (or "" when the finding is about something missing)
    confidence: float = 1.0  # ASR confidence of the evidence (1.0 for measurements)
    rule_text: str = ""  # what the standard requires, in the standard's words
    recommended: str = ""  # the standard's recommended wording, for a forbidden phrase
    message: str = ""  # one line for people: what happened
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return _from_dict(cls, data)


@dataclass
class Promise:
    """A follow-up the engineer promised (3.3(4)); becomes a callback task."""

    text: str  # the words of the promise as heard
    start: float
    end: float
    definite: bool  # False for a vague promise ("尽快", "稍后")
    due_at: str | None = None  # ISO 8601, absolute, when definite
    time_phrase: str = ""  # the part of the text that named the time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Promise:
        return _from_dict(cls, data)


@dataclass
class ClauseScore:
    clause: str
    score: float  # 0..100
    weight: float
    checked: bool = True  # False when nothing in the call exercised this clause
    failures: int = 0


@dataclass
class Scorecard:
    overall: float  # 0..100, weighted mean of the checked clauses
    clauses: list[ClauseScore] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # speaking rate, loudness, overtalk, ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        sc = _from_dict(cls, data)
        sc.clauses = [c if isinstance(c, ClauseScore) else _from_dict(ClauseScore, c) for c in sc.clauses]
        return sc


@dataclass
class CallRecord:
    """Everything stored about one call."""

    id: str
    started_at: str  # ISO 8601 with offset
    line: str = "hq"
    engineer: str = ""  # roster name
    caller: str = ""  # caller id (SIP URI user part or number), "" for a file
    duration_s: float = 0.0
    audio_path: str = ""
    engine: str = ""
    status: Literal["live", "done", "failed"] = "done"
    ring_time_s: float | None = None
    rings: int | None = None
    queue_wait_s: float | None = None  # seconds in the line's queue before the answering engineer rang
    utterances: list[Utterance] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    scorecard: Scorecard | None = None
    feedback: str = ""
    sip_timings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        c = _from_dict(cls, data)
        c.utterances = [Utterance.from_dict(u) if isinstance(u, dict) else u for u in c.utterances]
        c.findings = [Finding.from_dict(f) if isinstance(f, dict) else f for f in c.findings]
        c.promises = [Promise.from_dict(p) if isinstance(p, dict) else p for p in c.promises]
        if isinstance(c.scorecard, dict):
            c.scorecard = Scorecard.from_dict(c.scorecard)
        return c
