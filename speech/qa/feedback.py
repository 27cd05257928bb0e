"""After-call feedback for the engineer, in Chinese: what went well, then each point in time order."""

from __future__ import annotations

from collections.abc import Sequence

from models.records import Finding


def mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


def feedback_text(
    findings: Sequence[Finding], ring_time_s: float | None = None, written: bool = False
) -> str:
    lines: list[str] = []
    good = [f for f in findings if f.verdict == "pass"]
    if good:
        lines.append("做得好：" + "；".join(f"{f.message}（{f.clause}）" for f in good))
    for f in sorted((f for f in findings if f.verdict != "pass"), key=lambda f: f.start):
        where = "" if written else f"{mmss(f.start)} "
        text = f"{where}{f.message}（{f.clause}）"
        if f.kind == "must_not_say":
            text = f"{where}您说了「{f.heard}」（{f.clause}）"
        if f.recommended:
            text += f"，建议改说：{f.recommended}"
        elif f.verdict == "warn":
            text += "，请注意"
        lines.append(text)
    if not lines:
        lines.append("本次通话没有发现问题。")
    return "\n".join(lines)
