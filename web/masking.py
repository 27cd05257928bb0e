"""Masking applied to what the console shows and returns (see ``models.masking``).

No console role needs the spoken secrets: supervisors judge the service, engineers read
their feedback; the recording (access audited) keeps the original.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.masking import mask_text
from models.records import CallRecord, Utterance


def mask_utterance(utt: Utterance) -> Utterance:
    text = mask_text(utt.text)
    if text == utt.text:
        return utt
    # Word timings would spell the secret out again, one word at a time.
    return dataclasses.replace(utt, text=text, words=[])


def mask_call(call: CallRecord) -> CallRecord:
    """A copy of ``call`` to show: transcript, evidence and promises masked."""
    return dataclasses.replace(
        call,
        utterances=[mask_utterance(u) for u in call.utterances],
        findings=[dataclasses.replace(f, heard=mask_text(f.heard)) for f in call.findings],
        promises=[dataclasses.replace(p, text=mask_text(p.text)) for p in call.promises],
        feedback=mask_text(call.feedback),
    )


def mask_call_payload(data: dict[str, Any]) -> dict[str, Any]:
    """The API's call dict with the same masking as ``mask_call``."""
    for utt in data.get("utterances", []):
        masked = mask_text(utt.get("text", ""))
        if masked != utt.get("text", ""):
            utt["text"], utt["words"] = masked, []
    for finding in data.get("findings", []):
        finding["heard"] = mask_text(finding.get("heard", ""))
    for promise in data.get("promises", []):
        promise["text"] = mask_text(promise.get("text", ""))
    data["feedback"] = mask_text(data.get("feedback", ""))
    return data


def mask_finding_payload(data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data.get("heard"), str):
        data["heard"] = mask_text(data["heard"])
    return data


def mask_live_event(event: dict[str, Any]) -> dict[str, Any]:
    """A live event (or a live call with its findings) as the board may show it."""
    out = dict(event)
    if isinstance(out.get("finding"), dict):
        out["finding"] = mask_finding_payload(dict(out["finding"]))
    if isinstance(out.get("findings"), list):
        out["findings"] = [
            mask_finding_payload(dict(f)) if isinstance(f, dict) else f for f in out["findings"]
        ]
    utt = out.get("utterance")
    if isinstance(utt, dict) and isinstance(utt.get("text"), str):
        masked = mask_text(utt["text"])
        if masked != utt["text"]:
            out["utterance"] = {**utt, "text": masked, "words": []}
    return out
