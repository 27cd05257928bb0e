"""What the console's pages and API share: the store, rules, live hub, calendars, and
the few operations that are more than one store call (review with rescoring, written
replies, trends, hours)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from models.records import Finding, Scorecard
from models.store import Review, Store, StoredFinding
from routing.rings import within_limit
from web.live import LiveHub

Scorer = Callable[[list[Finding]], Scorecard]
# Ring-time bins for the distribution chart; 15 s is three rings (3.3(2)).
RING_BINS = [0.0, 5.0, 10.0, 15.0, 20.0, 30.0]


class ScoringUnavailable(RuntimeError):
    """The rule set or the scorer could not be loaded, so a score cannot be recomputed."""


def plain(obj: Any) -> Any:
    """Dataclasses, dates and containers as JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [plain(v) for v in obj]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):  # datetime.time
        return obj.isoformat()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


@dataclass
class Console:
    store: Store
    hub: LiveHub
    rules: Any = None
    calendars: dict[str, Any] = field(default_factory=dict)
    scorer: Scorer | None = None

    def _rules(self) -> Any:
        if self.rules is None:
            try:
                from speech.qa.rulefile import load_rules
            except ImportError as exc:
                raise ScoringUnavailable(f"the rule file loader is not available: {exc}") from exc
            self.rules = load_rules(None)
        return self.rules

    def rescore(self, findings: list[Finding], previous: Scorecard | None) -> Scorecard:
        if self.scorer is not None:
            card = self.scorer(findings)
        else:
            try:
                from speech.qa.scoring import score_findings
            except ImportError as exc:
                raise ScoringUnavailable(f"the scorer is not available: {exc}") from exc
            # Score exactly the clauses the call exercised, as recorded when it was scored.
            checked = previous.metrics.get("checked_clauses") if previous is not None else None
            card = score_findings(findings, self._rules(), checked_clauses=checked)
        if previous is not None:
            # Measurements (speaking rate, loudness, ...) do not change with a review.
            card.metrics = {**previous.metrics, **card.metrics}
        return card

    def review(self, finding_id: int, *, reviewer: str, verdict: str, comment: str) -> Review:
        """Confirm or override a finding, recompute the call's score, keep the audit record."""
        target = self.store.get_finding(finding_id)
        if target is None:
            from models.store import NotFound

            raise NotFound(f"finding {finding_id} does not exist")
        call = self.store.get_call(target.call_id)
        assert call is not None  # a finding always belongs to a stored call
        findings = [
            dataclasses.replace(sf.finding, verdict=verdict) if sf.id == finding_id else sf.finding
            for sf in self.store.findings(target.call_id)
        ]
        card = self.rescore(findings, call.scorecard)
        return self.store.review_finding(
            finding_id, reviewer=reviewer, verdict=verdict, comment=comment, scorecard=card
        )

    def check_written_reply(self, text: str, written_at: datetime) -> Any:
        try:
            from speech.qa.checker import check_written_reply
        except ImportError as exc:
            raise ScoringUnavailable(f"the written-reply checker is not available: {exc}") from exc
        return check_written_reply(text, self._rules(), written_at)

    def zone(self, line: str | None = None) -> tzinfo:
        """The time zone dates are shown and filtered in: the line's, else the first line's
        (the console's own host zone only when no line is configured)."""
        calendar = self.calendars.get(line) if line else None
        if calendar is None and self.calendars:
            calendar = self.calendars[sorted(self.calendars)[0]]
        zone = getattr(calendar, "zone", None)
        return zone if zone is not None else datetime.now().astimezone().tzinfo or UTC

    def today(self, line: str | None = None) -> date:
        return datetime.now(self.zone(line)).date()

    def hours(self, start: date, days: int) -> list[dict[str, Any]]:
        """Each line's schedule for ``days`` days from ``start``, as plain data."""
        out = []
        for line_id, calendar in sorted(self.calendars.items()):
            line = getattr(calendar, "line", None)
            out.append(
                {
                    "line": line_id,
                    "name": getattr(line, "name", line_id),
                    "days": [day_payload(calendar.day_schedule(start + timedelta(d))) for d in range(days)],
                }
            )
        return out

    def trends(self, since: datetime, until: datetime, engineer: str | None = None) -> dict[str, Any]:
        scores: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.daily_scores(since=since, until=until, engineer=engineer):
            scores.setdefault(row["engineer"], []).append(
                {"day": row["day"], "score": round(row["score"], 1), "calls": row["calls"]}
            )
        clauses: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.daily_clause_failures(since=since, until=until, engineer=engineer):
            clauses.setdefault(row["clause"], []).append({"day": row["day"], "failures": row["failures"]})
        ring = {}
        for line, times in self.store.ring_times(since=since, until=until).items():
            counts = [0] * len(RING_BINS)
            for t in times:
                counts[max((i for i, edge in enumerate(RING_BINS) if t >= edge), default=0)] += 1
            ring[line] = {
                "bins": RING_BINS,
                "counts": counts,
                # The same definition as the rule and the scorecard (routing.rings): 15.0 s is ring 4.
                "over_three_rings": sum(not within_limit(t) for t in times),
                "calls": len(times),
            }
        return {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "score_by_engineer": scores,
            "failures_by_clause": clauses,
            "ring_time_by_line": ring,
        }


def _hhmm(t: time) -> str:
    return "24:00" if t >= time(23, 59, 59) else t.strftime("%H:%M")


def day_payload(schedule: Any) -> dict[str, Any]:
    """A ``routing.hours.DaySchedule`` as JSON: the day, its open ranges, and why."""
    day = schedule.day
    return {
        "date": day.isoformat(),
        "weekday": day.isoweekday(),
        "ranges": [f"{_hhmm(a)}-{_hhmm(b)}" for a, b in schedule.ranges],
        "reason": schedule.reason,
        "holiday_name": schedule.holiday_name,
        "label": schedule.describe(),
    }


def finding_payload(sf: StoredFinding) -> dict[str, Any]:
    return {
        "id": sf.id,
        "call_id": sf.call_id,
        **sf.finding.to_dict(),
        "original_verdict": sf.original_verdict,
        "reviewed": sf.reviewed,
        "engineer_response": sf.engineer_response,
        "live": sf.live,
    }
