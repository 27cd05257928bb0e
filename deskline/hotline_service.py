"""Wiring of a running hotline: ivr's Router and CallObserver made of routing, speech and the store.

- ``ConfiguredRouter`` answers "where does this call go" from the line calendars and the
  roster (routing/), with first-contact ownership taken from the caller's open callbacks.
- ``AnalysingObserver`` turns what happens on a call into a stored, checked call: a live
  record at once, each leg's audio into a ``LiveCallAnalyzer``, every finding stored and
  published the moment it is decided, and the scorecard at hang-up.

A call's pipeline (``speech.live_call``): the phone side's audio tap (ivr's ``AudioTap``:
the call's one bounded queue, and the one place dropped frames are counted) calls
``audio`` on its own thread → the call's ``LiveCallAnalyzer`` (per-leg VAD, never waits
for recognition) → the node's ``RecognitionScheduler`` (Whisper windows for every live
leg) → the rules → ``_on_live_event`` → sinks: the store and ``publish`` (the live board,
the console uplink), which get typed events (``speech.events``) as dicts.

Everything runs on the recording's clock; the rules open the greeting window of 3.4(a)
at ``engineer_joined_at`` (the engineer leg's first frame), so nothing is shifted and an
engineer's feedback names the times they hear in the recording.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from deskline.accurate_pass import AccuratePass
from deskline.config import Config
from ivr.contracts import EngineerTarget, LegName, QueuePolicy, RouteDecision
from models.records import CallRecord, Finding
from routing.dispatch import DispatchState, candidates
from routing.hours import LineCalendar
from routing.rings import rings_for
from speech.events import (
    CallEnded,
    CallStarted,
    EngineerAnswered,
    EngineerNoAnswer,
    EngineerRinging,
    FindingDecided,
    LiveEvent,
    UtteranceHeard,
    Voicemail,
)
from speech.live_call import LiveCallAnalyzer
from speech.qa.rulefile import RuleSet
from speech.recognition_scheduler import RecognitionScheduler, SchedulerSettings

log = logging.getLogger("deskline.hotline")

Publish = Callable[[dict[str, Any]], None]


def engineer_uri(sip: str, cfg: Config) -> str:
    """A roster ``sip`` value as a URI: full URIs as they are, bare users at the registrar."""
    if sip.startswith("sip:"):
        return sip
    host = cfg.hotline.registrar or f"{cfg.hotline.bind_ip}:{cfg.hotline.sip_port}"
    return f"sip:{sip}@{host}"


class ConfiguredRouter:
    def __init__(self, cfg: Config, store: Any, dispatch: DispatchState) -> None:
        self.cfg = cfg
        self.store = store
        self.dispatch = dispatch
        self.calendars = {line.id: LineCalendar(line) for line in cfg.lines}

    def _line_for(self, number: str) -> Any:
        for line in self.cfg.lines:
            if number in (line.number, line.id):
                return line
        return self.cfg.lines[0]  # an unknown number reaches the first (main) line

    def _open_tickets(self) -> dict[str, str]:
        """caller → engineer who owns their unresolved request (3.3(5))."""
        owners: dict[str, str] = {}
        try:
            for task in self.store.callbacks(status="open"):
                if task.caller and task.engineer:
                    owners.setdefault(task.caller, task.engineer)
        except Exception:  # ownership is a preference; never fail a call over it
            log.exception("could not read open callbacks for ownership routing")
        return owners

    def route(self, line_number: str, caller: str, now: datetime) -> RouteDecision:
        line = self._line_for(line_number)
        calendar = self.calendars[line.id]
        if now.tzinfo is None:
            now = now.astimezone()
        if not calendar.is_open(now):
            return RouteDecision(line.id, False, calendar.next_opening(now), line.web_url,
                                 timezone=line.timezone)
        owners = self._open_tickets()
        ordered = candidates(self.cfg.roster, line.id, caller, self.dispatch, owners, now)
        targets = [EngineerTarget(e.name, engineer_uri(e.sip, self.cfg)) for e in ordered]
        ring_limit = getattr(line, "ring_limit_s", None) or (
            self.cfg.hotline.max_rings * (self.cfg.hotline.ring_on_s + self.cfg.hotline.ring_off_s))
        return RouteDecision(line.id, True, None, line.web_url, targets, float(ring_limit), line.timezone,
                             queue=self._queue_policy(line), owner=owners.get(caller, ""))

    def _queue_policy(self, line: Any) -> QueuePolicy:
        q = line.queue
        staffed = sum(1 for e in (self.cfg.roster.engineers if self.cfg.roster else [])
                      if e.certified and e.available and line.id in e.lines)
        return QueuePolicy(enabled=q.enabled, max_wait_s=q.max_wait_s, announce_every_s=q.announce_every_s,
                           max_length=q.max_length, menu_timeout_s=q.menu_timeout_s, staffed=staffed)


@dataclass
class _CallState:
    record: CallRecord
    started_at: datetime
    answered: bool = False
    analyzer: LiveCallAnalyzer | None = None  # made at the engineer leg's first frame
    live_findings: list[Finding] = field(default_factory=list)
    stored: bool = False  # the finished call is in the store
    rules: RuleSet | None = None  # this call's own rules (a callback's: ``set_call_rules``)


class AnalysingObserver:
    def __init__(self, cfg: Config, store: Any, rules: RuleSet, engine: str,
                 dispatch: DispatchState, publish: Publish | None = None,
                 model_path: str | None = None, accurate: AccuratePass | None = None,
                 on_call_done: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.on_call_done = on_call_done
        self.accurate = accurate
        self.store = store
        self.rules = rules
        self.engine = engine
        self.model_path = model_path
        self.dispatch = dispatch
        self.publish = publish or (lambda event: None)
        self.calls: dict[str, _CallState] = {}
        self.finished = threading.Condition()
        self.done_ids: list[str] = []
        self._lock = threading.Lock()
        self._scheduler: RecognitionScheduler | None = None

    def _publish(self, event: LiveEvent) -> None:
        self.publish(event.to_dict())

    @property
    def scheduler(self) -> RecognitionScheduler | None:
        """The node's one recognition scheduler (Whisper), made with the first analysed call."""
        if self.engine != "whisper":
            return None
        with self._lock:
            if self._scheduler is None:
                from speech.engines.whisper_engine import WhisperWindowDecoder

                speech = self.cfg.speech
                self._scheduler = RecognitionScheduler(
                    WhisperWindowDecoder(self.model_path, workers=speech.recognition_workers).decode,
                    SchedulerSettings(workers=speech.recognition_workers,
                                      engineer_budget_s=speech.engineer_budget_s,
                                      caller_budget_s=speech.caller_budget_s,
                                      max_backlog_s=speech.max_backlog_s))
            return self._scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()

    # -- CallObserver ---------------------------------------------------------------
    def call_started(self, call_id: str, line_id: str, caller: str, started_at: datetime) -> None:
        # Promises ("今天下午三点前") are read in the line's own time zone.
        zone = ZoneInfo(self.cfg.line(line_id).timezone) if any(
            line.id == line_id for line in self.cfg.lines) else None
        started_at = started_at.astimezone(zone) if started_at.tzinfo or zone else started_at.astimezone()
        record = CallRecord(id=call_id, started_at=started_at.isoformat(), line=line_id, caller=caller,
                            status="live", engine=self.engine)
        with self._lock:
            self.calls[call_id] = _CallState(record, started_at)
        self.store.start_live_call(record)
        self._publish(CallStarted(call_id, line_id, caller, record.started_at))

    def set_call_rules(self, call_id: str, rules: RuleSet) -> None:
        """Check this call with ``rules`` (an outbound callback's, ``RuleSet.for_calls``)."""
        state = self.calls.get(call_id)
        if state is not None:
            state.rules = rules

    def engineer_ringing(self, call_id: str, engineer: EngineerTarget) -> None:
        self._publish(EngineerRinging(call_id, engineer.name))

    def engineer_no_answer(self, call_id: str, engineer: EngineerTarget, rang_s: float) -> None:
        self._publish(EngineerNoAnswer(call_id, engineer.name, round(rang_s, 2)))

    def engineer_answered(self, call_id: str, engineer: EngineerTarget, ring_time_s: float) -> None:
        state = self.calls[call_id]
        rings = rings_for(ring_time_s, self.cfg.hotline.ring_on_s, self.cfg.hotline.ring_off_s)
        state.record.engineer = engineer.name
        state.record.ring_time_s = round(ring_time_s, 3)
        state.record.rings = rings
        # The engineer was reserved by the call when it rang them (routing.dispatch) and is
        # released by the call at hang-up, before the analysis here finishes.
        state.answered = True
        self.store.start_live_call(state.record)
        self._publish(EngineerAnswered(call_id, engineer.name, state.record.ring_time_s, rings))

    def audio(self, call_id: str, leg: LegName, t: float, pcm: np.ndarray) -> None:
        """One frame from the call's audio tap (its own thread): VAD only, recognition is queued."""
        state = self.calls.get(call_id)
        if state is None or not state.answered:
            return
        if state.analyzer is None:
            if leg != "engineer":
                return  # the caller still hears prompts and ringing: not part of the conversation
            state.analyzer = LiveCallAnalyzer(
                call_id, engineer=state.record.engineer, rules=state.rules or self.rules, engine=self.engine,
                started_at=state.started_at, engineer_joined_at=t, model_path=self.model_path,
                roster_names=self.cfg.roster.names() if self.cfg.roster else (),
                on_event=lambda event: self._on_live_event(state, event), scheduler=self.scheduler)
        try:
            state.analyzer.feed(leg, t, pcm)
        except Exception:
            log.exception("call %s: live analysis failed on a frame; the recording goes on", call_id)

    def dialogs_established(self, call_id: str, dialogs: dict[str, dict]) -> None:
        state = self.calls.get(call_id)
        if state is None:
            return
        # Stored with the live call: after a kill -9 the next start ends both phones' calls
        # with a BYE from these (deskline.call_recovery).
        state.record.sip_timings = {**state.record.sip_timings, "dialogs": dialogs}
        self.store.start_live_call(state.record)

    def call_ended(self, call_id: str, recording_path: Path | None, sip_timings: dict, reason: str) -> None:
        state = self.calls.get(call_id)
        if state is None:
            return
        record = state.record
        try:
            self._close_call(state, recording_path, sip_timings, reason)
        except Exception:
            log.exception("call %s: could not close the call normally", call_id)
            if not state.stored:
                # The row must not stay "live" (it would be mislabelled as interrupted at the
                # next start and show as a call that never ends).
                record.status = "failed"
                record.sip_timings = {**sip_timings, "end_reason": reason}
                try:
                    self.store.fail_call(record)
                except Exception:
                    log.exception("call %s: could not store the failed call", call_id)
            if call_id in self.calls:
                self._call_done(call_id)

    def _close_call(self, state: _CallState, recording_path: Path | None, sip_timings: dict,
                    reason: str) -> None:
        record = state.record
        call_id = record.id
        elapsed = datetime.now(state.started_at.tzinfo) - state.started_at
        record.duration_s = round(elapsed.total_seconds(), 3)
        record.audio_path = str(recording_path) if recording_path else ""
        record.sip_timings = {**sip_timings, "end_reason": reason}
        record.queue_wait_s = sip_timings.get("queue_wait_s")
        try:
            if state.analyzer is not None:
                # The rules end where the audio they heard ends (the closing window is its last seconds).
                heard_until = state.analyzer.audio_end_s
                result = state.analyzer.finish(heard_until, ring_time_s=record.ring_time_s)
                record.utterances = sorted(state.analyzer.utterances, key=lambda u: (u.start, u.end))
                record.findings = result.findings
                record.promises = result.promises
                record.scorecard = result.scorecard
                record.feedback = result.feedback
            record.status = "done"
        except Exception:
            # What was analysed live is already stored utterance by utterance and finding by
            # finding: keep it, and the recording, rather than replace it with nothing.
            log.exception("call %s: analysis at hang-up failed; live findings and recording kept", call_id)
            record.status = "failed"
        if record.status == "failed":
            self.store.fail_call(record)
        else:
            self.store.finish_call(record)
        state.stored = True
        self._publish(CallEnded(call_id, reason, record.scorecard.overall if record.scorecard else None))
        if self.accurate is not None and state.analyzer is not None and record.status == "done":
            self.accurate.submit(record, state.analyzer.call_audio(), state.analyzer.engineer_joined_at,
                                 done=lambda _stored: self._call_done(call_id))
        else:
            self._call_done(call_id)

    def _call_done(self, call_id: str) -> None:
        if self.on_call_done is not None:
            try:
                self.on_call_done(call_id)
            except Exception:
                log.exception("call %s: the after-call hook failed; the call is stored", call_id)
        with self.finished:
            self.done_ids.append(call_id)
            self.calls.pop(call_id, None)
            self.finished.notify_all()

    def callback_requested(self, call_id: str, line_id: str, caller: str, owner: str) -> None:
        """The caller chose a callback after the queue's longest wait (ivr.queue_wait): an open
        callback (3.3(4)), for the owner of their open request if they have one."""
        self.store.add_queue_callback(call_id, caller=caller, engineer=owner,
                                      text="排队超时，客户选择工程师回电")

    def voicemail(self, call_id: str, line_id: str, caller: str, wav_path: Path) -> None:
        state = self.calls.get(call_id)
        created = state.record.started_at if state else datetime.now().astimezone().isoformat()
        self.store.add_ticket("voicemail", created_at=created, line=line_id, caller=caller,
                              call_id=call_id, audio_path=str(wav_path), text="语音留言")
        self._publish(Voicemail(call_id, line_id, caller))

    # -- live events ------------------------------------------------------------------
    def _on_live_event(self, state: _CallState, event: LiveEvent) -> None:
        """The sinks of a call's pipeline: the store, then the live board and uplink."""
        if isinstance(event, FindingDecided):
            state.live_findings.append(event.finding)
            self.store.add_live_finding(event.call_id, event.finding)
        elif isinstance(event, UtteranceHeard):
            self.store.add_utterance(event.call_id, event.utterance)
        else:
            return  # partial text is not stored or shown
        self._publish(event)

    def wait_for_calls(self, count: int, timeout: float) -> bool:
        with self.finished:
            return self.finished.wait_for(lambda: len(self.done_ids) >= count, timeout)
