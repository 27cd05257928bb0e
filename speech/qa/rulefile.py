"""The rule file: TOML, validated strictly, every error with file, line and field.

A rule file has ``version``, a ``[context]`` table (how quoting and negation are
recognised), ``[weights]`` (clause id → weight in the overall score) and ``[[rule]]``
tables. Each rule has ``id``, ``kind``, ``clause`` and ``text`` plus the fields of its
kind (see ``KIND_FIELDS``); ``speech/qa/default_rules.toml`` is the shipped example.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from speech.qa.patterns import ContextPattern, PatternError, compile_context, compile_pattern

DEFAULT_RULES = Path(__file__).with_name("default_rules.toml")
CLAUSE_ID = re.compile(r"^\d+(\.\d+)*(\([a-z0-9]+\))?$")

# kind → {field: (type, required)}; numbers accept int or float.
NUM = (int, float)
STRS = "list[str]"
KIND_FIELDS: dict[str, dict[str, tuple[Any, bool]]] = {
    "greeting": {
        "window_s": (NUM, True),
        "parts": (STRS, True),
        "ask_wordings": (STRS, False),
        "part_threshold": (NUM, False),
        "min_score": (NUM, False),
        "min_part_score": (NUM, False),
        "name_threshold": (NUM, False),
        "late_search_s": (NUM, False),
    },
    "closing": {
        "window_s": (NUM, True),
        "parts": (STRS, True),
        "part_threshold": (NUM, False),
        "min_score": (NUM, False),
    },
    "must_not_say": {
        "patterns": (STRS, False),
        "phrases": (STRS, False),
        "threshold": (NUM, False),
        "allowed": (STRS, False),
        "unless": (STRS, False),
        "context": (bool, False),
    },
    "definite_time": {
        "commitments": (STRS, False),
        "vague": (STRS, False),
        "not_promise": (STRS, False),
        "promise_phrases": (STRS, False),
        "vague_phrases": (STRS, False),
        "threshold": (NUM, False),
        "end_of_day": (str, False),
    },
    "complaint": {
        "complaint_phrases": (STRS, True),
        "apology_phrases": (STRS, True),
        "threshold": (NUM, False),
        "window_s": (NUM, True),
        "talk_share_window_s": (NUM, False),
        "max_talk_share": (NUM, False),
    },
    "manner": {
        "min_chars_per_minute": (NUM, True),
        "max_chars_per_minute": (NUM, True),
        "max_rate_cv": (NUM, False),
        "min_loudness_dbfs": (NUM, False),
        "max_loudness_dbfs": (NUM, False),
        "max_silence_s": (NUM, False),
        "verdict": (str, False),
    },
    "overtalk": {
        "max_overtalk_s": (NUM, True),
        "max_overtalk_count": (NUM, False),
        "min_overlap_s": (NUM, False),
        "verdict": (str, False),
    },
    "ring_time": {"max_rings": (NUM, True), "ring_on_s": (NUM, False), "ring_off_s": (NUM, False)},
}
# Fields written in the pattern grammar (speech/qa/patterns.py), compiled when the file loads;
# "context" patterns may say where the match sits with "@".
PATTERN_FIELDS = {"patterns": "plain", "commitments": "plain", "vague": "plain", "not_promise": "plain",
                  "unless": "context"}
# A kind needs at least one of these fields.
ONE_OF = {"must_not_say": ("patterns", "phrases"), "definite_time": ("commitments", "promise_phrases")}
FRACTIONS = ("min_score", "min_part_score", "max_rate_cv", "max_talk_share")
COMMON_FIELDS = {
    "id": (str, True),
    "kind": (str, True),
    "clause": (str, True),
    "text": (str, True),
    "recommended": (str, False),
    "enabled": (bool, False),
    "calls": (str, False),  # "inbound", "outbound" or "all" (default): which calls the rule checks
}
CALL_DIRECTIONS = ("all", "inbound", "outbound")


class RuleFileError(ValueError):
    def __init__(self, path: Path | str, line: int | None, field_name: str, message: str) -> None:
        self.path, self.line, self.field, self.reason = str(path), line, field_name, message
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}")


@dataclass
class Rule:
    id: str
    kind: str
    clause: str
    text: str
    recommended: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    # field name -> compiled patterns (Pattern or ContextPattern), built by parse_rules
    compiled: dict[str, list[Any]] = field(default_factory=dict, compare=False, repr=False)
    calls: str = "all"  # which calls it applies to (``RuleSet.for_calls``)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass
class RuleSet:
    rules: list[Rule]
    weights: dict[str, float]
    context: dict[str, Any]
    source: str = ""
    classes: dict[str, list[str]] = field(default_factory=dict)
    context_unless: list[ContextPattern] = field(default_factory=list, compare=False, repr=False)
    direction: str = ""  # set by ``for_calls``: "" = every rule of the file

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def for_calls(self, direction: str) -> RuleSet:
        """The rules that check a call placed in ``direction`` ("inbound" or "outbound"):
        an outbound callback has its own greeting and no ring-time rule."""
        kept = [r for r in self.rules if r.calls in ("all", direction)]
        return replace(self, rules=kept, direction=direction)

    def clauses(self) -> list[str]:
        return list(dict.fromkeys(r.clause for r in self.rules))


class _Lines:
    """Line numbers of ``[[rule]]`` tables and their keys, which tomllib does not report."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rule_starts = [i + 1 for i, s in enumerate(self.lines) if s.strip() == "[[rule]]"]
        self.table_starts = [i + 1 for i, s in enumerate(self.lines) if s.strip().startswith("[")]

    def rule(self, index: int, key: str | None = None) -> int | None:
        if index >= len(self.rule_starts):
            return None
        start = self.rule_starts[index]
        if key is None:
            return start
        end = next((t for t in self.table_starts if t > start), len(self.lines) + 1)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(start + 1, end):
            if pattern.match(self.lines[n - 1]):
                return n
        return start

    def value(self, key_line: int | None, value: str) -> int | None:
        """The line at or after ``key_line`` (in the same table) that holds the string ``value``."""
        if key_line is None:
            return None
        quoted = [f'"{value}"', f"'{value}'"]
        for n in range(key_line, len(self.lines) + 1):
            s = self.lines[n - 1]
            if n > key_line and s.strip().startswith("["):
                break
            if any(q in s for q in quoted):
                return n
        return key_line

    def key(self, table: str, key: str) -> int | None:
        start = next((i + 1 for i, s in enumerate(self.lines) if s.strip() == f"[{table}]"), None)
        if start is None:
            return None
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for n in range(start + 1, len(self.lines) + 1):
            if self.lines[n - 1].strip().startswith("["):
                break
            if pattern.match(self.lines[n - 1]):
                return n
        return start


def _check_type(value: Any, kind: Any) -> bool:
    if kind == STRS:
        return (
            isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
        )
    if kind == NUM:
        return isinstance(value, NUM) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_name(kind: Any) -> str:
    return {STRS: "a non-empty list of strings", NUM: "a number", str: "a string", bool: "true or false"}[
        kind
    ]


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else None
        reason = re.sub(r" \(at line.*", "", str(e))
        raise RuleFileError(source, line, "", f"not valid TOML: {reason}") from None
    where = _Lines(text)
    if data.get("version") != 1:
        raise RuleFileError(source, None, "version", "must be 1 (the rule file format this Deskline reads)")
    classes = _parse_classes(data.get("classes", {}), source, where)
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleFileError(source, None, "rule", "no [[rule]] tables")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):

        def fail(key: str, message: str, _i: int = i) -> RuleFileError:
            return RuleFileError(
                source, where.rule(_i, key or None), f"rule[{_i}].{key}" if key else f"rule[{_i}]", message
            )

        kind = raw.get("kind")
        if kind not in KIND_FIELDS:
            if kind is None:
                raise fail("", "missing field 'kind'")
            raise fail("kind", f"unknown kind {kind!r} (known: {', '.join(KIND_FIELDS)})")
        spec = {**COMMON_FIELDS, **KIND_FIELDS[kind]}
        for key, value in raw.items():
            if key not in spec:
                raise fail(key, f"unknown field for kind {kind!r} (known: {', '.join(spec)})")
            if not _check_type(value, spec[key][0]):
                raise fail(key, f"must be {_type_name(spec[key][0])}")
        for key, (_t, required) in spec.items():
            if required and key not in raw:
                raise fail("", f"missing field {key!r} (kind {kind!r})")
        if not CLAUSE_ID.match(raw["clause"]):
            raise fail("clause", f"{raw['clause']!r} is not a clause id like 3.5(2)")
        for key, value in raw.items():
            if isinstance(value, NUM) and not isinstance(value, bool) and value < 0 and "dbfs" not in key:
                raise fail(key, "must not be negative")
            if (
                (key.endswith("threshold") or key in FRACTIONS)
                and isinstance(value, NUM)
                and value > 1
            ):
                raise fail(key, "is a fraction: must be between 0 and 1")
        if "end_of_day" in raw and not re.match(r"^\d{1,2}:\d{2}$", raw["end_of_day"]):
            raise fail("end_of_day", f"{raw['end_of_day']!r} is not HH:MM")
        if raw.get("calls", "all") not in CALL_DIRECTIONS:
            raise fail("calls", f'{raw["calls"]!r} must be "inbound", "outbound" or "all"')
        if raw.get("verdict", "warn") not in ("warn", "fail"):
            raise fail("verdict", f'{raw["verdict"]!r} must be "warn" or "fail"')
        if kind in ONE_OF and not any(k in raw for k in ONE_OF[kind]):
            raise fail("", f"missing field {' or '.join(repr(k) for k in ONE_OF[kind])} (kind {kind!r})")
        compiled: dict[str, list[Any]] = {}
        for key, style in PATTERN_FIELDS.items():
            for n, pattern in enumerate(raw.get(key, [])):
                try:
                    compiler = compile_context if style == "context" else compile_pattern
                    compiled.setdefault(key, []).append(compiler(pattern, classes))
                except PatternError as e:
                    line = where.value(where.rule(i, key), pattern)
                    raise RuleFileError(source, line, f"rule[{i}].{key}", f"pattern {n + 1}: {e}") from None
        if any(r.id == raw["id"] for r in rules):
            raise fail("id", f"duplicate rule id {raw['id']!r}")
        if raw.get("enabled", True) is False:
            continue
        params = {k: v for k, v in raw.items() if k not in COMMON_FIELDS}
        rules.append(
            Rule(raw["id"], kind, raw["clause"], raw["text"], raw.get("recommended", ""), params, compiled,
                 raw.get("calls", "all"))
        )
    weights = data.get("weights", {})
    if not isinstance(weights, dict):
        raise RuleFileError(source, None, "weights", "must be a table of clause id = weight")
    for clause, weight in weights.items():
        if not CLAUSE_ID.match(clause):
            raise RuleFileError(source, where.key("weights", clause), f"weights.{clause}", "not a clause id")
        if not _check_type(weight, NUM) or weight < 0:
            raise RuleFileError(
                source, where.key("weights", clause), f"weights.{clause}", "must be a non-negative number"
            )
    context = data.get("context", {})
    for key in ("quote_before", "conditional_after", "negation_before", "unless"):
        if key in context and not _check_type(context[key], STRS):
            raise RuleFileError(
                source, where.key("context", key), f"context.{key}", "must be a non-empty list of strings"
            )
    unless = []
    for n, pattern in enumerate(context.get("unless", [])):
        try:
            unless.append(compile_context(pattern, classes))
        except PatternError as e:
            line = where.value(where.key("context", "unless"), pattern)
            raise RuleFileError(source, line, "context.unless", f"pattern {n + 1}: {e}") from None
    return RuleSet(rules, {k: float(v) for k, v in weights.items()}, context, source, classes, unless)


def _parse_classes(raw: Any, source: str, where: _Lines) -> dict[str, list[str]]:
    """``[classes]``: name = [entries]; each entry a pattern, checked once every class is known."""
    if not isinstance(raw, dict):
        raise RuleFileError(source, None, "classes", "must be a table of name = [entries]")
    for name, entries in raw.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RuleFileError(source, where.key("classes", name), f"classes.{name}",
                                "a class name is letters, digits and _ (it is written {name} in patterns)")
        if not _check_type(entries, STRS):
            raise RuleFileError(source, where.key("classes", name), f"classes.{name}",
                                "must be a non-empty list of strings")
    for name, entries in raw.items():
        for n, entry in enumerate(entries):
            try:
                compile_pattern(entry, raw)
            except PatternError as e:
                raise RuleFileError(source, where.value(where.key("classes", name), entry), f"classes.{name}",
                                    f"entry {n + 1}: {e}") from None
    return {k: list(v) for k, v in raw.items()}


def load_rules(path: str | Path | None = None) -> RuleSet:
    source = Path(path) if path else DEFAULT_RULES
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleFileError(source, None, "", "rule file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RuleFileError(source, None, "", f"cannot read rule file: {e}") from None
    return parse_rules(text, str(source))
