"""A scored call as text for a terminal, or as JSON for programs."""

from __future__ import annotations

import json
from typing import Any

from models.records import CallRecord

SPEAKER_LABEL = {"caller": "客户", "engineer": "工程师"}
VERDICT_LABEL = {"fail": "✗", "pass": "✓", "warn": "!"}


def mmss(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 60:02d}:{s % 60:02d}"


def call_as_json(call: CallRecord) -> str:
    data: dict[str, Any] = call.to_dict()
    return json.dumps(data, ensure_ascii=False, indent=2)


def call_as_text(call: CallRecord) -> str:
    out: list[str] = []
    out.append(f"Call {call.id}  line {call.line}  engineer {call.engineer}  "
               f"started {call.started_at}  {call.duration_s:.1f} s  engine {call.engine}")
    if call.ring_time_s is not None:
        out.append(f"Ring time {call.ring_time_s:.1f} s ({call.rings} rings)")
    out.append("")
    out.append("Transcript")
    for u in call.utterances:
        out.append(f"  {mmss(u.start)}–{mmss(u.end)} {SPEAKER_LABEL.get(u.speaker, u.speaker)}: "
                   f"{u.text}  ({u.confidence:.2f})")
    if not call.utterances:
        out.append("  (no speech recognised)")
    out.append("")
    out.append("Findings")
    for f in sorted(call.findings, key=lambda f: (f.start, f.clause)):
        line = f"  {VERDICT_LABEL.get(f.verdict, f.verdict)} {f.clause:<7} {mmss(f.start)}–{mmss(f.end)} "
        line += f.message or f.rule_id
        if f.heard:
            line += f"  heard「{f.heard}」conf {f.confidence:.2f}"
        out.append(line)
        if f.recommended and f.verdict != "pass":
            out.append(f"      建议改说：{f.recommended}")
    out.append("")
    if call.promises:
        out.append("Promises (3.3(4))")
        for p in call.promises:
            due = p.due_at if p.definite else "no definite time"
            out.append(f"  {mmss(p.start)} 「{p.text}」 → {due}")
        out.append("")
    if call.scorecard:
        out.append(f"Score {call.scorecard.overall:.0f}/100")
        for c in call.scorecard.clauses:
            if c.checked:
                out.append(f"  {c.clause:<7} {c.score:5.0f}  (weight {c.weight:g}, failures {c.failures})")
        out.append("")
    if call.feedback:
        out.append("Feedback for the engineer")
        out.extend("  " + line for line in call.feedback.splitlines())
    return "\n".join(out).rstrip() + "\n"
