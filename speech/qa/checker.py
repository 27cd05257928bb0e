"""Hold a call to the rules, live: utterances and the clock in, findings out when decided.

``CallChecker`` is fed final utterances of both legs (roughly in time order) and the
call clock. Each rule kind decides as early as it can: a forbidden phrase at the
utterance that contains it, a missing greeting when its window closes, a missing
apology when the complaint's window closes; the closing phrase, the manner measures
and the ring time at hang-up (``finish``). ``finish`` returns every finding once,
the ones already emitted live included, plus promises, scorecard and feedback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from statistics import mean, pstdev
from typing import Any

from models.records import Finding, Promise, Scorecard, Utterance
from routing.rings import rings_for  # the one definition of rings (the record's, the console's)
from speech.activity import LegActivity
from speech.lexicon import Lexicon, load_lexicon
from speech.qa.feedback import feedback_text
from speech.qa.matching import Match, best_similarity, find_phrase
from speech.qa.patterns import Tokens, tokenize
from speech.qa.rulefile import Rule, RuleSet
from speech.qa.scoring import score_findings
from speech.qa.timeparse import parse_due_time, time_text
from speech.text import normalize_transcript


@dataclass
class CheckResult:
    findings: list[Finding]
    promises: list[Promise]
    scorecard: Scorecard
    feedback: str


@dataclass
class _Heard:
    utt: Utterance
    norm: str  # normalised text (simplified, no punctuation)
    tokens: Tokens  # the same characters with their pinyin and clause breaks, for patterns


def _span_of(heard: _Heard, match: Match) -> tuple[float, float, float]:
    """Audio span and confidence of a character match, from word times where there are any."""
    u = heard.utt
    if not heard.norm:
        return u.start, u.end, u.confidence
    words = [w for w in u.words if normalize_transcript(w.text)]
    if words:
        # Map character offsets onto words by their normalised lengths.
        pos, hit = 0, []
        for w in words:
            n = len(normalize_transcript(w.text))
            if pos < match.end and pos + n > match.start:
                hit.append(w)
            pos += n
        if hit:
            return hit[0].start, hit[-1].end, min(w.confidence for w in hit)
    # No word times: interpolate linearly over the utterance.
    length = len(heard.norm)
    dur = u.end - u.start
    return (u.start + dur * match.start / length, u.start + dur * match.end / length, u.confidence)


def _clause_text(tokens: Tokens) -> str:
    """The characters of ``tokens`` with "#" at each clause break."""
    return "".join("#" if c < 0 else tokens.text[c] for c in tokens.chars)


def _name_found(text: str, name: str, threshold: float, roster: Sequence[str] = ()) -> Match | None:
    """Where ``name`` was said, unless the same words are nearer to another roster name."""
    found = find_phrase(text, name, threshold)
    if not found:
        return None
    best = found[0]
    for other in roster:
        if other == name or len(other) != len(name):
            continue
        rival = find_phrase(text[best.start:best.end], other, 0.0)
        if rival and rival[0].score > best.score:
            return None
    return best


class CallChecker:
    def __init__(
        self,
        rules: RuleSet,
        engineer_name: str,
        call_started_at: datetime,
        roster_names: Sequence[str] = (),
        engineer_joined_at: float = 0.0,
        lexicon: Lexicon | None | str = "default",
    ) -> None:
        if call_started_at.tzinfo is None:
            raise ValueError("call_started_at must be timezone-aware")
        # A rule set not chosen for a direction checks a call someone placed to the hotline.
        self.rules = rules if rules.direction else rules.for_calls("inbound")
        self.engineer = engineer_name
        self.started_at = call_started_at
        self.roster = [n for n in roster_names if n != engineer_name]
        # The lexicon step (speech/lexicon.py) rewrites misheard service words and roster
        # names before the rules read the engineer's side; the utterance keeps the raw text.
        self.lexicon: Lexicon | None = load_lexicon() if lexicon == "default" else lexicon  # type: ignore[assignment]
        self._names = tuple(dict.fromkeys([engineer_name, *roster_names]))
        self.joined_at = engineer_joined_at
        self.heard: list[_Heard] = []
        self.findings: list[Finding] = []
        self.promises: list[Promise] = []
        self.clock = 0.0
        self._greeting_done = False
        self._greeting_failed: Finding | None = None  # a failed greeting a late one may explain
        self._complaints: list[dict[str, Any]] = []  # open complaint episodes
        self._ctx = rules.context

    # -- helpers ----------------------------------------------------------------------
    def _emit(
        self,
        out: list[Finding],
        rule: Rule,
        verdict: str,
        start: float,
        end: float,
        *,
        heard: str = "",
        confidence: float = 1.0,
        message: str = "",
        recommended: str | None = None,
        **detail: Any,
    ) -> None:
        f = Finding(
            clause=rule.clause,
            rule_id=rule.id,
            kind=rule.kind,
            verdict=verdict,  # type: ignore[arg-type]
            start=round(start, 2),
            end=round(end, 2),
            heard=heard,
            confidence=round(confidence, 3),
            rule_text=rule.text,
            recommended=(rule.recommended if recommended is None else recommended),
            message=message,
            detail=detail,
        )
        self.findings.append(f)
        out.append(f)

    def _engineer(self) -> list[_Heard]:
        return [h for h in self.heard if h.utt.speaker == "engineer"]

    def _in_context(self, text: str, match: Match) -> str:
        """Why a forbidden phrase at ``match`` is not a violation ("" if it is one)."""
        back = int(self._ctx.get("look_back_chars", 3))
        ahead = int(self._ctx.get("look_ahead_chars", 8))
        before = text[max(0, match.start - back - 2) : match.start]
        after = text[match.end : match.end + ahead]
        for neg in self._ctx.get("negation_before", []):
            if before.endswith(normalize_transcript(neg)):
                return "negated"
        for q in self._ctx.get("quote_before", []):
            qn = normalize_transcript(q)
            if qn and qn in text[max(0, match.start - back) : match.start]:
                return "quoting the customer"
        for c in self._ctx.get("conditional_after", []):
            cn = normalize_transcript(c)
            # "您不知道密码的话" – a conditional about the customer's situation
            if (
                cn
                and cn in after
                and any(
                    normalize_transcript(q) in text[: match.start] for q in self._ctx.get("quote_before", [])
                )
            ):
                return "conditional about the customer"
        return ""

    # -- rule kinds, per utterance ---------------------------------------------------
    def _excused(self, rule: Rule, h: _Heard, start: int, end: int) -> str:
        """Why a forbidden match at characters [start, end) is not a violation ("" if it is one)."""
        for c in rule.compiled.get("unless", []):
            if c.holds(h.tokens, start, end):
                return f"unless: {c.source}"
        if rule.get("context", True):
            for c in self.rules.context_unless:
                if c.holds(h.tokens, start, end):
                    return f"context: {c.source}"
            # Rule files of the first format describe context as word lists.
            if any(k in self._ctx for k in ("negation_before", "quote_before", "conditional_after")):
                return self._in_context(h.norm, Match(start, end, 1.0, h.norm[start:end]))
        return ""

    def _forbidden_matches(self, rule: Rule, h: _Heard) -> list[tuple[Match, str]]:
        """(match, what it matched: a pattern or a phrase) of one rule in one utterance."""
        found: list[tuple[Match, str]] = []
        for pattern in rule.compiled.get("patterns", []):
            for a, b in pattern.find(h.tokens):
                found.append((Match(a, b, 1.0, h.tokens.text[a:b]), pattern.source))
        for phrase in rule.get("phrases", []):
            for m in find_phrase(h.norm, phrase, float(rule.get("threshold", 0.9))):
                found.append((m, phrase))
        return found

    def _forbidden(self, h: _Heard, out: list[Finding]) -> None:
        for rule in self.rules.of_kind("must_not_say"):
            allowed_spans = []
            for a in rule.get("allowed", []):
                allowed_spans += [(m.start, m.end) for m in find_phrase(h.norm, a, 0.85)]
            for m, what in self._forbidden_matches(rule, h):
                if any(a <= m.start and m.end <= b for a, b in allowed_spans):
                    continue
                if self._excused(rule, h, m.start, m.end):
                    continue
                start, end, conf = _span_of(h, m)
                if any(
                    f.rule_id == rule.id and f.start < end + 0.05 and start < f.end + 0.05
                    and f.detail.get("utterance") == h.utt.text
                    for f in self.findings
                ):
                    continue  # two patterns of one rule on the same words
                self._emit(
                    out,
                    rule,
                    "fail",
                    start,
                    end,
                    heard=m.text,
                    confidence=conf * m.score,
                    message=f"说了「{m.text}」",
                    phrase=what,
                    match_score=round(m.score, 3),
                    utterance=h.utt.text,
                )

    def _commitment(self, rule: Rule, h: _Heard) -> Match | None:
        for pattern in rule.compiled.get("commitments", []):
            for a, b in pattern.find(h.tokens):
                return Match(a, b, 1.0, h.tokens.text[a:b])
        threshold = float(rule.get("threshold", 0.85))
        return next(
            (m for p in rule.get("promise_phrases", []) for m in find_phrase(h.norm, p, threshold)), None
        )

    def _vague_word(self, rule: Rule, h: _Heard) -> Match | None:
        for pattern in rule.compiled.get("vague", []):
            for a, b in pattern.find(h.tokens):
                return Match(a, b, 1.0, h.tokens.text[a:b])
        return next((m for p in rule.get("vague_phrases", []) for m in find_phrase(h.norm, p, 1.0)), None)

    def _promise(self, h: _Heard, out: list[Finding]) -> None:
        for rule in self.rules.of_kind("definite_time"):
            trigger = self._commitment(rule, h)
            if trigger is None:
                continue  # "马上" or "您稍等" alone is not a promise: a commitment needs a verb
            holds = [(a, b) for p in rule.compiled.get("not_promise", []) for a, b in p.find(h.tokens)]
            if any(a <= trigger.start < b for a, b in holds) or (
                holds and not self._commitment_outside(rule, h, holds)
            ):
                continue
            vague = self._vague_word(rule, h)
            said_at = self.started_at + timedelta(seconds=h.utt.start)
            hh, mm = (int(x) for x in str(rule.get("end_of_day", "18:00")).split(":"))
            parsed = parse_due_time(time_text(h.utt.text), said_at, time(hh, mm))
            promise = Promise(
                text=h.utt.text,
                start=h.utt.start,
                end=h.utt.end,
                definite=parsed is not None,
                due_at=parsed.due_at.isoformat() if parsed else None,
                time_phrase=parsed.phrase if parsed else (vague.text if vague else ""),
            )
            self.promises.append(promise)
            # The finding points at the commitment's words (the whole utterance without word times).
            at, until, _conf = _span_of(h, trigger) if h.utt.words else (h.utt.start, h.utt.end, 0.0)
            if parsed:
                self._emit(
                    out,
                    rule,
                    "pass",
                    at,
                    until,
                    heard=h.utt.text,
                    confidence=h.utt.confidence,
                    message=f"承诺了确切时间：{parsed.due_at:%m-%d %H:%M}（{parsed.phrase}）",
                    recommended="",
                    due_at=promise.due_at,
                    time_kind=parsed.kind,
                    commitment=trigger.text,
                )
            else:
                what = f"「{vague.text}」" if vague else "没有时间"
                self._emit(
                    out,
                    rule,
                    "fail",
                    at,
                    until,
                    heard=h.utt.text,
                    confidence=h.utt.confidence,
                    message=f"承诺回复但{what}，没有给出确切时间",
                    time_kind="vague",
                    commitment=trigger.text,
                )

    def _commitment_outside(self, rule: Rule, h: _Heard, holds: list[tuple[int, int]]) -> bool:
        """A commitment outside the in-call hold phrases ("您稍等，我明天上午十点给您回电")."""
        for pattern in rule.compiled.get("commitments", []):
            for a, _b in pattern.find(h.tokens):
                if not any(x <= a < y for x, y in holds):
                    return True
        return False

    def _complaint_start(self, h: _Heard, out: list[Finding]) -> None:
        for rule in self.rules.of_kind("complaint"):
            threshold = float(rule.get("threshold", 0.9))
            m = next(
                (m for p in rule.get("complaint_phrases") for m in find_phrase(h.norm, p, threshold)), None
            )
            if m is None:
                continue
            if any(c["rule"] is rule and c["open"] for c in self._complaints):
                continue
            self._complaints.append(
                {
                    "rule": rule,
                    "start": h.utt.start,
                    "heard": h.utt.text,
                    "open": True,
                    "deadline": h.utt.end + float(rule.get("window_s")),
                }
            )
            # The legs arrive slightly out of order: an apology already heard after the
            # complaint started (the caller's leg was late) answers it.
            for earlier in self._engineer():
                if earlier.utt.start >= h.utt.start and earlier.norm:
                    self._apology(earlier, out)

    def _apology(self, h: _Heard, out: list[Finding]) -> None:
        for c in self._complaints:
            if not c["open"] or h.utt.start < c["start"]:
                continue
            rule: Rule = c["rule"]
            threshold = float(rule.get("threshold", 0.9))
            m = next(
                (m for p in rule.get("apology_phrases") for m in find_phrase(h.norm, p, threshold)), None
            )
            if m is None:
                continue
            c["open"] = False
            start, end, conf = _span_of(h, m)
            self._emit(
                out,
                rule,
                "pass",
                start,
                end,
                heard=h.utt.text,
                confidence=conf,
                recommended="",
                message=f"客户投诉（「{c['heard']}」）后致歉",
                complaint_at=c["start"],
                complaint=c["heard"],
            )

    def _greeting_parts(self, rule: Rule, text: str) -> tuple[list[str], list[float]]:
        """Similarity of each greeting part; the last part may be said in an accepted wording."""
        parts = list(rule.get("parts"))
        sims = [best_similarity(text, p)[0] for p in parts]
        if parts and rule.get("ask_wordings"):
            sims[-1] = max([sims[-1]] + [best_similarity(text, w)[0] for w in rule.get("ask_wordings")])
        return parts, sims

    def _name_said(self, heard: list[_Heard]) -> str:
        """The name after 我是 / 工程师 in the greeting, as heard ("" if none)."""
        for h in heard:
            m = re.search(r"(?:工程师|我是|我叫)([^#;]{2,4}?)(?:#|$)", _clause_text(h.tokens))
            if m:
                name = m.group(1)
                return name.removeprefix("桌面工程师").removeprefix("工程师")
        return ""

    def _greeting(self, out: list[Finding], closing_window: bool) -> None:
        """Decide 3.4(a) once the engineer's greeting window is over (or already fully met)."""
        if self._greeting_done:
            return
        for rule in self.rules.of_kind("greeting"):
            window_end = self.joined_at + float(rule.get("window_s"))
            in_window = [h for h in self._engineer() if h.utt.start < window_end]
            text = "".join(h.norm for h in in_window)
            parts, sims = self._greeting_parts(rule, text)
            part_threshold = float(rule.get("part_threshold", 0.75))
            score = mean(sims) if sims else 0.0
            name_threshold = float(rule.get("name_threshold", 0.85))
            name_match = _name_found(text, self.engineer, name_threshold, self.roster)
            complete = name_match is not None and all(s >= part_threshold for s in sims)
            if not complete and not closing_window:
                return
            self._greeting_done = True
            start = in_window[0].utt.start if in_window else self.joined_at
            end = in_window[-1].utt.end if in_window else window_end
            conf = min((h.utt.confidence for h in in_window), default=1.0)
            heard = "".join(h.utt.text for h in in_window)
            missing = [p for p, s in zip(parts, sims, strict=True) if s < part_threshold]
            recommended = str(rule.recommended).replace("{name}", self.engineer)
            detail = {
                "score": round(score, 3),
                "missing_parts": missing,
                "name": self.engineer,
                "name_heard": name_match.text if name_match else "",
            }
            weakest = min(sims, default=0.0)
            if (
                name_match is not None
                and score >= float(rule.get("min_score", 0.6))
                and weakest >= float(rule.get("min_part_score", 0.0))
            ):
                msg = f"开场问候并报了自己的名字「{name_match.text}」"
                self._emit(
                    out,
                    rule,
                    "pass",
                    start,
                    end,
                    heard=heard,
                    confidence=conf,
                    message=msg,
                    recommended="",
                    **detail,
                )
                continue
            if name_match is None:
                everyone = [self.engineer, *self.roster]
                other = next((n for n in self.roster if _name_found(text, n, name_threshold, everyone)), None)
                said = "" if other else self._name_said(in_window)
                if other:
                    msg = f"开场报的名字是「{other}」，不是本人（{self.engineer}）"
                elif said:
                    msg = f"开场报的名字是「{said}」，不是本人（{self.engineer}）"
                else:
                    msg = f"开场{float(rule.get('window_s')):.0f}秒内没有报自己的名字（{self.engineer}）"
                detail["other_name"] = other or said
            else:
                msg = "开场问候不完整：缺少「" + "」「".join(missing) + "」"
            self._emit(
                out,
                rule,
                "fail",
                start,
                end,
                heard=heard,
                confidence=conf,
                message=msg,
                recommended=recommended,
                **detail,
            )
            self._greeting_failed = self.findings[-1]

    def _late_greeting(self, h: _Heard) -> None:
        """A greeting heard after its window: the failure already given says when it started."""
        f = self._greeting_failed
        if f is None or f.detail.get("late_s") is not None or h.utt.speaker != "engineer":
            return
        rule = self.rules.by_id(f.rule_id)
        if rule is None:
            return
        late_by = h.utt.start - self.joined_at
        if late_by > float(rule.get("late_search_s", 30)) or late_by < float(rule.get("window_s")):
            return
        _parts, sims = self._greeting_parts(rule, h.norm)
        named = _name_found(h.norm, self.engineer, float(rule.get("name_threshold", 0.85)))
        if not sims or (mean(sims) < float(rule.get("min_score", 0.6)) and named is None):
            return
        window = float(rule.get("window_s"))
        f.message = f"开场用语在第 {late_by:.0f} 秒才开始（应在 {window:.0f} 秒内）"
        f.detail["late_s"] = round(late_by, 2)
        f.heard = h.utt.text
        f.start, f.end = round(h.utt.start, 2), round(h.utt.end, 2)

    def _close_complaints(self, now: float, out: list[Finding], final: bool) -> None:
        for c in self._complaints:
            if c["open"] and (final or now >= c["deadline"]):
                c["open"] = False
                rule = c["rule"]
                self._emit(
                    out,
                    rule,
                    "fail",
                    c["start"],
                    min(now, c["deadline"]),
                    heard=c["heard"],
                    message=f"客户投诉后{float(rule.get('window_s')):.0f}秒内没有致歉",
                    complaint_at=c["start"],
                )

    # -- public -------------------------------------------------------------------------
    def on_utterance(self, utt: Utterance) -> list[Finding]:
        """Take one final utterance of either leg; return the findings it decided."""
        out: list[Finding] = []
        text = utt.text
        if self.lexicon is not None and utt.speaker == "engineer":
            text = self.lexicon.correct(utt.text, [n for n in self._names if n]).text
        tokens = tokenize(text)
        h = _Heard(utt, tokens.text, tokens)
        self.heard.append(h)
        if not h.norm:
            return out
        if utt.speaker == "caller":
            self._complaint_start(h, out)
        else:
            for rule in self.rules.of_kind("greeting"):
                if utt.start >= self.joined_at + float(rule.get("window_s")):
                    self._greeting(out, closing_window=True)
            self._forbidden(h, out)
            self._promise(h, out)
            self._apology(h, out)
            self._greeting(out, closing_window=False)
            self._late_greeting(h)
        return out

    def on_time(self, t: float) -> list[Finding]:
        """The call clock reached ``t`` s; return findings whose window closed unmet.

        Call it with the time up to which both legs' final utterances have been
        delivered (the transcription watermark), not the wall clock: a greeting still
        being recognised must not be judged missing.
        """
        out: list[Finding] = []
        self.clock = max(self.clock, t)
        for rule in self.rules.of_kind("greeting"):
            if self.clock >= self.joined_at + float(rule.get("window_s")):
                self._greeting(out, closing_window=True)
        self._close_complaints(self.clock, out, final=False)
        return out

    def _closing(self, duration_s: float, out: list[Finding]) -> None:
        for rule in self.rules.of_kind("closing"):
            window_start = duration_s - float(rule.get("window_s"))
            tail = [h for h in self._engineer() if h.utt.end > window_start and h.norm]
            text = "".join(h.norm for h in tail)
            parts = rule.get("parts")
            sims = [best_similarity(text, p)[0] for p in parts]
            threshold = float(rule.get("part_threshold", 0.75))
            said = [p for p, s in zip(parts, sims, strict=True) if s >= threshold]
            score = mean(sims) if sims else 0.0
            # Evidence: the utterances that carry part of the closing, else the whole tail.
            carrying = [h for h in tail if any(best_similarity(h.norm, p)[0] >= threshold for p in parts)]
            evidence = carrying or tail
            start = evidence[0].utt.start if evidence else max(0.0, window_start)
            end = evidence[-1].utt.end if evidence else duration_s
            heard = "".join(h.utt.text for h in evidence)
            conf = min((h.utt.confidence for h in tail), default=1.0)
            detail = {
                "score": round(score, 3),
                "parts_said": said,
                "missing_parts": [p for p in parts if p not in said],
            }
            if score >= float(rule.get("min_score", 0.6)):
                self._emit(
                    out,
                    rule,
                    "pass",
                    start,
                    end,
                    heard=heard,
                    confidence=conf,
                    recommended="",
                    message=f"结束用语完整度 {score:.0%}",
                    **detail,
                )
            else:
                self._emit(
                    out,
                    rule,
                    "fail",
                    start,
                    end,
                    heard=heard,
                    confidence=conf,
                    message=f"最后{float(rule.get('window_s')):.0f}秒没有标准结束用语（完整度 {score:.0%}）",
                    **detail,
                )

    def _talk_share(self, start: float, end: float) -> float | None:
        talk = {"caller": 0.0, "engineer": 0.0}
        for h in self.heard:
            overlap = min(end, h.utt.end) - max(start, h.utt.start)
            if overlap > 0:
                talk[h.utt.speaker] += overlap
        total = talk["caller"] + talk["engineer"]
        return talk["engineer"] / total if total else None

    def _complaint_share(self, duration_s: float, out: list[Finding]) -> None:
        for f in [f for f in self.findings if f.kind == "complaint"]:
            rule = self.rules.by_id(f.rule_id)
            if rule is None or "talk_share" in f.detail:
                continue
            start = float(f.detail.get("complaint_at", f.start))
            end = min(duration_s, start + float(rule.get("talk_share_window_s", 60)))
            share = self._talk_share(start, end)
            f.detail["talk_share"] = round(share, 3) if share is not None else None
            limit = float(rule.get("max_talk_share", 0.6))
            if share is not None and share > limit:
                self._emit(
                    out,
                    rule,
                    "warn",
                    start,
                    end,
                    message=f"投诉处理中工程师说话占比 {share:.0%}（多听少说）",
                    recommended="",
                    talk_share=round(share, 3),
                )

    def _manner(self, duration_s: float, activity: Sequence[LegActivity], out: list[Finding]) -> dict:
        metrics: dict[str, Any] = {}
        eng = [h for h in self._engineer() if h.norm and h.utt.end > h.utt.start]
        rates = [len(h.norm) / (h.utt.end - h.utt.start) * 60 for h in eng]
        chars = sum(len(h.norm) for h in eng)
        secs = sum(h.utt.end - h.utt.start for h in eng)
        metrics["engineer_chars_per_minute"] = round(chars / secs * 60, 1) if secs else None
        metrics["engineer_rate_cv"] = round(pstdev(rates) / mean(rates), 3) if len(rates) > 1 else None
        by_leg = {a.speaker: a for a in activity}
        for leg, a in by_leg.items():
            metrics[f"{leg}_loudness_dbfs"] = a.loudness_dbfs
            metrics[f"{leg}_speech_s"] = round(sum(e - s for s, e in a.speech_spans), 2)
        for rule in self.rules.of_kind("manner"):
            cpm = metrics["engineer_chars_per_minute"]
            lo, hi = float(rule.get("min_chars_per_minute")), float(rule.get("max_chars_per_minute"))
            if cpm is not None and not lo <= cpm <= hi:
                self._emit(
                    out,
                    rule,
                    str(rule.get("verdict", "warn")),
                    eng[0].utt.start,
                    eng[-1].utt.end,
                    recommended="",
                    message=f"语速 {cpm:.0f} 字/分钟，超出 {lo:.0f}–{hi:.0f}",
                    chars_per_minute=cpm,
                )
            cv = metrics["engineer_rate_cv"]
            if cv is not None and rule.get("max_rate_cv") is not None and cv > float(rule.get("max_rate_cv")):
                self._emit(
                    out,
                    rule,
                    str(rule.get("verdict", "warn")),
                    eng[0].utt.start,
                    eng[-1].utt.end,
                    recommended="",
                    message=f"语速不均匀（变异系数 {cv:.2f}）",
                    rate_cv=cv,
                )
            a = by_leg.get("engineer")
            if a is not None and a.loudness_dbfs is not None:
                if a.loudness_dbfs < float(rule.get("min_loudness_dbfs", -99)):
                    self._emit(
                        out,
                        rule,
                        str(rule.get("verdict", "warn")),
                        0,
                        duration_s,
                        recommended="",
                        message=f"音量偏低（{a.loudness_dbfs:.1f} dBFS）",
                        loudness_dbfs=a.loudness_dbfs,
                    )
                elif a.loudness_dbfs > float(rule.get("max_loudness_dbfs", 0)):
                    self._emit(
                        out,
                        rule,
                        str(rule.get("verdict", "warn")),
                        0,
                        duration_s,
                        recommended="",
                        message=f"音量偏高（{a.loudness_dbfs:.1f} dBFS）",
                        loudness_dbfs=a.loudness_dbfs,
                    )
            spans = sorted(s for leg in by_leg.values() for s in leg.speech_spans)
            longest, at = 0.0, 0.0
            reach = spans[0][1] if spans else 0.0
            for s, e in spans[1:]:
                if s - reach > longest:
                    longest, at = s - reach, reach
                reach = max(reach, e)
            metrics["longest_silence_s"] = round(longest, 2)
            if longest > float(rule.get("max_silence_s", 1e9)):
                self._emit(
                    out,
                    rule,
                    str(rule.get("verdict", "warn")),
                    at,
                    at + longest,
                    recommended="",
                    message=f"通话中长时间无人说话（{longest:.0f} 秒）",
                    silence_s=round(longest, 2),
                )
        for rule in self.rules.of_kind("overtalk"):
            caller = by_leg.get("caller")
            engineer = by_leg.get("engineer")
            overlaps = []
            if caller and engineer:
                for a0, a1 in caller.speech_spans:
                    for b0, b1 in engineer.speech_spans:
                        o = min(a1, b1) - max(a0, b0)
                        if o >= float(rule.get("min_overlap_s", 0.3)):
                            overlaps.append((max(a0, b0), o))
            total = sum(o for _, o in overlaps)
            metrics["overtalk_s"] = round(total, 2)
            metrics["overtalk_count"] = len(overlaps)
            if total > float(rule.get("max_overtalk_s")) or len(overlaps) > float(
                rule.get("max_overtalk_count", 1e9)
            ):
                self._emit(
                    out,
                    rule,
                    str(rule.get("verdict", "warn")),
                    overlaps[0][0],
                    overlaps[-1][0] + overlaps[-1][1],
                    recommended="",
                    message=f"双方同时说话 {len(overlaps)} 次，共 {total:.1f} 秒",
                    overtalk_s=round(total, 2),
                    overtalk_count=len(overlaps),
                )
        return metrics

    def _ring(self, ring_time_s: float | None, out: list[Finding]) -> None:
        if ring_time_s is None:
            return
        for rule in self.rules.of_kind("ring_time"):
            on_s, off_s = float(rule.get("ring_on_s", 1.0)), float(rule.get("ring_off_s", 4.0))
            rings = rings_for(ring_time_s, on_s, off_s)
            limit = int(rule.get("max_rings"))
            verdict = "pass" if rings <= limit else "fail"
            self._emit(
                out,
                rule,
                verdict,
                0.0,
                0.0,
                recommended="",
                message=f"振铃 {ring_time_s:.1f} 秒（第 {rings} 声）接起"
                + ("" if verdict == "pass" else f"，超过 {limit} 声"),
                ring_time_s=round(ring_time_s, 2),
                rings=rings,
            )

    def finish(
        self, duration_s: float, activity: Sequence[LegActivity] = (), ring_time_s: float | None = None
    ) -> CheckResult:
        out: list[Finding] = []
        self.on_time(duration_s)
        self._greeting(out, closing_window=True)
        self._close_complaints(duration_s, out, final=True)
        self._closing(duration_s, out)
        self._complaint_share(duration_s, out)
        metrics = self._manner(duration_s, activity, out)
        self._ring(ring_time_s, out)
        findings = sorted(self.findings, key=lambda f: (f.start, f.clause))
        engineer_spoke = any(h.norm for h in self._engineer())
        checked = sorted(
            {f.clause for f in findings}
            | ({r.clause for r in self.rules.of_kind("must_not_say")} if engineer_spoke else set())
        )
        metrics["checked_clauses"] = checked
        scorecard = score_findings(findings, self.rules, checked_clauses=checked)
        scorecard.metrics.update(metrics)
        return CheckResult(
            findings, list(self.promises), scorecard, feedback_text(findings, ring_time_s=ring_time_s)
        )


def check_call(
    utterances: Sequence[Utterance],
    rules: RuleSet,
    engineer_name: str,
    call_started_at: datetime,
    duration_s: float,
    activity: Sequence[LegActivity] = (),
    ring_time_s: float | None = None,
    roster_names: Sequence[str] = (),
) -> CheckResult:
    checker = CallChecker(rules, engineer_name, call_started_at, roster_names)
    for utt in sorted(utterances, key=lambda u: u.start):
        checker.on_time(utt.start)
        checker.on_utterance(utt)
    return checker.finish(duration_s, activity, ring_time_s)


def check_written_reply(text: str, rules: RuleSet, written_at: datetime) -> CheckResult:
    """3.3(7): a web/e-mail reply held to the phrase rules (forbidden phrases, definite times)."""
    phrase_kinds = {"must_not_say", "definite_time"}
    subset = RuleSet(
        [r for r in rules.rules if r.kind in phrase_kinds], rules.weights, rules.context, rules.source
    )
    checker = CallChecker(subset, "", written_at)
    findings: list[Finding] = []
    offset = 0.0
    for sentence in [s for s in _sentences(text) if s.strip()]:
        findings += checker.on_utterance(Utterance("engineer", offset, offset + 1.0, sentence, engine="text"))
        offset += 1.0
    findings = sorted(checker.findings, key=lambda f: f.start)
    checked = sorted({r.clause for r in subset.of_kind("must_not_say")} | {f.clause for f in findings})
    scorecard = score_findings(findings, subset, checked_clauses=checked)
    scorecard.metrics["checked_clauses"] = checked
    return CheckResult(findings, checker.promises, scorecard, feedback_text(findings, written=True))


def _sentences(text: str) -> list[str]:
    import re

    return re.split(r"(?<=[。！？!?；;\n])", text)
