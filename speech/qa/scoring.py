"""The scorecard: a score per clause and overall, as a pure function of the findings.

Per clause, starting from 100:
- a failing greeting/closing keeps the share of the standard wording that was said
  (``detail.score`` × 100), any other single decision that failed scores 0;
- each forbidden phrase said costs 50 (two or more: 0);
- "warn" findings cost nothing: they are for a supervisor to look at.
A clause the call did not exercise (no complaint → 3.3(6)) is not checked and does not
count. Overall = mean of the checked clauses weighted by ``[weights]`` of the rule file
(weight 1 for a clause without one). Because it depends only on the findings' verdicts,
a supervisor's override recomputes the score by calling this again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from models.records import ClauseScore, Finding, Scorecard
from speech.qa.rulefile import RuleSet

FORBIDDEN_PENALTY = 50.0


def _clause_score(findings: list[Finding]) -> float:
    fails = [f for f in findings if f.verdict == "fail"]
    if not fails:
        return 100.0
    if all(f.kind == "must_not_say" for f in fails):
        return max(0.0, 100.0 - FORBIDDEN_PENALTY * len(fails))
    partial = [float(f.detail.get("score", 0.0)) for f in fails if f.kind in ("greeting", "closing")]
    if partial and len(partial) == len(fails):
        return round(100.0 * min(partial), 1)
    return 0.0


def score_findings(
    findings: Sequence[Finding], rules: RuleSet, checked_clauses: Iterable[str] | None = None
) -> Scorecard:
    by_clause: dict[str, list[Finding]] = {}
    for f in findings:
        by_clause.setdefault(f.clause, []).append(f)
    if checked_clauses is None:
        # Without a record of what was checked, the forbidden-phrase clauses count (they are
        # checked whenever the engineer speaks) together with every clause that has a finding.
        checked = set(by_clause) | {r.clause for r in rules.of_kind("must_not_say")}
    else:
        checked = set(checked_clauses)
    clauses: list[ClauseScore] = []
    for clause in dict.fromkeys([*rules.clauses(), *by_clause]):
        items = by_clause.get(clause, [])
        weight = rules.weights.get(clause, 1.0)
        is_checked = clause in checked
        clauses.append(
            ClauseScore(
                clause=clause,
                score=_clause_score(items) if is_checked else 100.0,
                weight=weight,
                checked=is_checked,
                failures=sum(1 for f in items if f.verdict == "fail"),
            )
        )
    counted = [c for c in clauses if c.checked and c.weight > 0]
    total_weight = sum(c.weight for c in counted)
    overall = sum(c.score * c.weight for c in counted) / total_weight if total_weight else 100.0
    return Scorecard(overall=round(overall, 1), clauses=clauses, metrics={"checked_clauses": sorted(checked)})
