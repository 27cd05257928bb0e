"""The after-call pass: a finished call re-transcribed and re-scored with the accurate engine.

The live engine has to keep up with the phone in 20 ms steps; after hang-up there is time
for the accurate engine (``[speech] accurate_engine``, e.g. Whisper) to hear each leg as a
whole. The live result is stored first, so the console has the call at once and a
failure here loses nothing; the accurate result then replaces it. Calls are re-scored one
at a time on one worker thread: recognition is CPU-bound, and the phone side must keep
its share of the two cores. The audio is the whole recording's clock (silence before the
engineer answered): results are stored as they come, with no shifting, and the greeting
window opens where the engineer joined.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from models.records import CallRecord
from speech.audio import CallAudio
from speech.call_analysis import analyze_call
from speech.events import CallRescored
from speech.qa.rulefile import RuleSet

log = logging.getLogger("deskline.accurate")


@dataclass
class _Job:
    record: CallRecord
    audio: CallAudio  # both legs on the recording's clock
    engineer_joined_at: float  # where the conversation starts on that clock
    done: Callable[[CallRecord], None]


def call_direction(record: CallRecord) -> str:
    """"outbound" for a callback the node placed, else "inbound" (which rules check it)."""
    return "outbound" if (record.sip_timings or {}).get("direction") == "outbound" else "inbound"


class AccuratePass:
    def __init__(self, engine: str, rules: RuleSet, store: Any, *, model_path: str | None = None,
                 roster_names: Sequence[str] = (),
                 publish: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.engine = engine
        self.rules = rules
        self.store = store
        self.model_path = model_path
        self.roster_names = tuple(roster_names)
        self.publish = publish or (lambda event: None)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="accurate-pass", daemon=True)
        self._worker.start()

    def submit(self, record: CallRecord, audio: CallAudio, engineer_joined_at: float,
               done: Callable[[CallRecord], None]) -> None:
        """Queue a stored call; ``done`` gets the record that ends up stored."""
        self._jobs.put(_Job(record, audio, engineer_joined_at, done))

    def stop(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=600)

    def rescore(self, record: CallRecord, audio: CallAudio, engineer_joined_at: float) -> CallRecord:
        fresh = analyze_call(
            audio, engineer=record.engineer, rules=self.rules.for_calls(call_direction(record)),
            engine=self.engine,
            started_at=datetime.fromisoformat(record.started_at), line=record.line,
            model_path=self.model_path, roster_names=self.roster_names, call_id=record.id,
            ring_time_s=record.ring_time_s, engineer_joined_at=engineer_joined_at)
        return replace(
            record,
            engine=f"{record.engine}→{self.engine}",
            utterances=fresh.utterances,
            findings=fresh.findings,
            promises=fresh.promises,
            scorecard=fresh.scorecard,
            feedback=fresh.feedback,
        )

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            stored = job.record
            try:
                stored = self.rescore(job.record, job.audio, job.engineer_joined_at)
                self.store.finish_call(stored)
                score = stored.scorecard.overall if stored.scorecard else None
                self.publish(CallRescored(stored.id, self.engine, score).to_dict())
                log.info("call %s re-scored with %s", stored.id, self.engine)
            except Exception:
                stored = job.record
                log.exception("call %s: the %s pass failed; the live result stays", job.record.id,
                              self.engine)
            finally:
                job.done(stored)
