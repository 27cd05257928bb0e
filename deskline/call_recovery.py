"""Calls a stopped hotline left behind: still ``live`` in the store when the node starts.

A node that is killed mid-call (power, OOM, kill -9) cannot finish its calls. What it had
already written survives: the recording (its header is rewritten at least every second) and
every utterance and finding the live analysis stored. At the next start each such call is
closed as ``failed`` with its recording and real duration attached, so the console shows it
with what was heard instead of a call that never ends.

The phones are still in the dead call too. A bridged call is stored with both SIP dialogs
(call-id, tags, remote target, route set, our host/port and CSeq), so the restarted node
sends each phone a BYE from them (``RecoveringUserAgent.end_interrupted``), and answers a
BYE the caller or engineer sends for such a dialog with 200 OK instead of 481: both hang up.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import soundfile as sf

from ivr.pyvoip_adapter import SipUserAgent
from ivr.pyvoip_adapter.messages import Dialog, build_response, host_port_of, uri_of

log = logging.getLogger("deskline.recovery")

INTERRUPTED = "interrupted: the hotline stopped during the call"
# Our CSeq may have moved on after the dialog was stored (refreshes): jump well past it.
CSEQ_MARGIN = 1000
# BYE over UDP is resent (RFC 3261 timer E doubling from T1) until answered, within ~32 s.
BYE_RESENDS_S = (0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5)


@dataclass
class InterruptedDialog:
    """One phone's side of a call the last run could not finish."""

    call_id: str  # Deskline's call id
    leg: str  # "caller" or "engineer"
    dialog: Dialog
    answered: threading.Event = field(default_factory=threading.Event)

    @property
    def sip_call_id(self) -> str:
        return self.dialog.call_id


@dataclass
class InterruptedCall:
    call_id: str
    dialogs: list[InterruptedDialog]


def _recording_of(call_id: str, recordings_dir: Path) -> Path | None:
    # Recordings are kept as <recordings_dir>/<date>/<call id>.wav.
    found = sorted(recordings_dir.glob(f"*/{call_id}.wav"))
    return found[0] if found else None


def dialog_from(stored: Any) -> Dialog | None:
    """A ``Dialog`` from its stored fields, or None when they cannot be used."""
    if not isinstance(stored, dict):
        return None
    known = {f.name for f in fields(Dialog)}
    try:
        dialog = Dialog(**{k: v for k, v in stored.items() if k in known})
    except TypeError:
        return None
    if not (isinstance(dialog.call_id, str) and dialog.call_id and isinstance(dialog.local_cseq, int)):
        return None
    return dialog


def recover_interrupted_calls(store: Any, recordings_dir: Path) -> list[InterruptedCall]:
    """Close every call left ``live``; return them with the SIP dialogs still to be ended."""
    recovered: list[InterruptedCall] = []
    for call_id in store.call_ids(status="live"):
        call = store.get_call(call_id)
        if call is None:
            continue
        recording = _recording_of(call_id, recordings_dir)
        if recording is not None:
            call.audio_path = str(recording)
            try:
                call.duration_s = round(sf.info(str(recording)).duration, 3)
            except RuntimeError as e:
                log.warning("call %s: recording %s unreadable (%s)", call_id, recording, e)
        timings = dict(call.sip_timings)
        stored_dialogs = timings.pop("dialogs", None) or {}
        dialogs = []
        for leg, stored in (stored_dialogs.items() if isinstance(stored_dialogs, dict) else []):
            dialog = dialog_from(stored)
            if dialog is None:
                log.warning("call %s: the stored %s dialog is unusable; that phone gets no BYE", call_id, leg)
            else:
                dialogs.append(InterruptedDialog(call_id, str(leg), dialog))
        call.sip_timings = {**timings, "end_reason": INTERRUPTED}
        store.fail_call(call)
        recovered.append(InterruptedCall(call_id, dialogs))
    if recovered:
        log.warning("%d call(s) were interrupted by the last stop and are kept as failed, with their "
                    "recordings and live findings: %s", len(recovered),
                    ", ".join(c.call_id for c in recovered))
    return recovered


class RecoveringUserAgent(SipUserAgent):
    """The node's user agent, which also ends the dialogs of calls the last run left open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupted: dict[str, InterruptedDialog] = {}  # SIP Call-ID -> dialog
        self._resender: threading.Thread | None = None
        self._stopping = threading.Event()

    def adopt(self, calls: list[InterruptedCall]) -> None:
        """Take over these dialogs (before ``start``, so that no BYE for them gets a 481)."""
        for call in calls:
            for dialog in call.dialogs:
                self.interrupted[dialog.sip_call_id] = dialog

    def route_request(self, request: Any, source: tuple[str, int]) -> None:
        orphan = self.interrupted.get(request.headers.get("Call-ID", ""))
        if orphan is not None and request.headers.get("Call-ID") not in self.legs:
            if request.method == "BYE":
                # The phone hangs up the call we could not finish: agree, so it stops.
                self.send(build_response(request, 200, "OK"), source)
                orphan.answered.set()
                log.info("call %s: the %s hung up the interrupted call", orphan.call_id, orphan.leg)
                return
            if request.method == "ACK":
                return
        super().route_request(request, source)

    def route_response(self, response: Any, source: tuple[str, int]) -> None:
        orphan = self.interrupted.get(response.headers.get("Call-ID", ""))
        if orphan is not None and response.cseq_method == "BYE" and response.status_code >= 200:
            orphan.answered.set()
            log.info("call %s: the %s's phone answered our BYE with %s", orphan.call_id, orphan.leg,
                     response.status_code)
            return
        super().route_response(response, source)

    def end_interrupted(self) -> None:
        """Send every adopted dialog its BYE (resent until answered), in the background."""
        pending = [d for d in self.interrupted.values() if not d.answered.is_set()]
        if not pending:
            return
        self._resender = threading.Thread(target=self._send_byes, args=(pending,),
                                          name="BYE to interrupted calls", daemon=True)
        self._resender.start()

    def _send_byes(self, pending: list[InterruptedDialog]) -> None:
        requests: list[tuple[InterruptedDialog, bytes, tuple[str, int]]] = []
        for orphan in pending:
            d = orphan.dialog
            # Our host and port are this run's (the same config, the same address).
            d.local_host, d.local_port = self.local_host, self.local_port
            d.local_cseq += CSEQ_MARGIN
            try:
                target = uri_of(d.route_set[0]) if d.route_set else d.remote_target
                addr = host_port_of(target)
                if not 0 < addr[1] < 65536:
                    raise ValueError(f"port {addr[1]} out of range")
                bye = d.request("BYE")
            except (ValueError, TypeError, IndexError) as e:
                log.warning("call %s: cannot send the %s a BYE (%s)", orphan.call_id, orphan.leg, e)
                continue
            log.info("call %s: BYE to the %s at %s:%s (interrupted call)", orphan.call_id, orphan.leg, *addr)
            requests.append((orphan, bye, addr))
        started = time.monotonic()
        for at in BYE_RESENDS_S:
            if self._stopping.wait(max(0.0, started + at - time.monotonic())):
                return
            waiting = [(o, bye, addr) for o, bye, addr in requests if not o.answered.is_set()]
            if not waiting:
                return
            for _orphan, bye, addr in waiting:
                self.send(bye, addr)
        self._stopping.wait(4.0)  # time for the answer to the last one
        for orphan, _bye, _addr in requests:
            if not orphan.answered.is_set():
                log.warning("call %s: the %s's phone never answered our BYE", orphan.call_id, orphan.leg)

    def stop(self) -> None:
        self._stopping.set()
        if self._resender is not None:
            self._resender.join(timeout=2)
        super().stop()
