"""The rule file: the shipped one loads; a broken one is an error with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from speech.qa.rulefile import DEFAULT_RULES, RuleFileError, load_rules, parse_rules

GOOD_RULE = """version = 1
[[rule]]
id = "forbidden.dont_know"
kind = "must_not_say"
clause = "3.5(2)"
text = "禁止说：不知道"
phrases = ["不知道"]
"""


def test_shipped_rules_cover_the_standard() -> None:
    rules = load_rules()
    assert {"3.4(a)", "3.4(b)", "3.3(1)", "3.3(2)", "3.3(4)", "3.3(6)", "2(3)"} | {
        f"3.5({i})" for i in range(1, 8)
    } <= set(rules.clauses())
    assert all(r.recommended for r in rules.of_kind("must_not_say"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_RULE.replace('kind = "must_not_say"', 'kind = "must_say"'),
            "r.toml:4: rule[0].kind: unknown kind 'must_say'",
        ),
        (
            GOOD_RULE.replace('phrases = ["不知道"]\n', ""),
            "r.toml:2: rule[0]: missing field 'patterns' or 'phrases'",
        ),
        (
            GOOD_RULE.replace('clause = "3.5(2)"', 'clause = "three"'),
            "r.toml:5: rule[0].clause: 'three' is not a clause id",
        ),
        (
            GOOD_RULE.replace('phrases = ["不知道"]', "phrases = []"),
            "r.toml:7: rule[0].phrases: must be a non-empty list",
        ),
        (
            GOOD_RULE.replace('phrases = ["不知道"]', 'phrases = "不知道"'),
            "r.toml:7: rule[0].phrases: must be a non-empty",
        ),
        (GOOD_RULE + "threshold = 1.5\n", "r.toml:8: rule[0].threshold: is a fraction"),
        (GOOD_RULE + "colour = 1\n", "r.toml:8: rule[0].colour: unknown field"),
        (
            'version = 1\n[[rule]]\nid = "m"\nkind = "manner"\nclause = "3.3(1)"\ntext = "t"\n'
            'min_chars_per_minute = 120\nmax_chars_per_minute = 360\nverdict = "bad"\n',
            "r.toml:9: rule[0].verdict: 'bad' must be",
        ),
        (GOOD_RULE.replace('phrases = ["不知道"]', 'phrases = ["不知道", ""]'), "r.toml:7: rule[0].phrases"),
        (
            GOOD_RULE.replace("version = 1\n", "version = 1\n[context]\nquote_before = 3\n"),
            "r.toml:3: context.quote_before: must be a non-empty list",
        ),
        (GOOD_RULE.replace('clause = "3.5(2)"', "clause = "), "r.toml:5: not valid TOML"),
        (GOOD_RULE.replace("version = 1", "version = 2"), "r.toml: version: must be 1"),
        (GOOD_RULE + GOOD_RULE.replace("version = 1\n", ""), "r.toml:9: rule[1].id: duplicate rule id"),
        (
            'version = 1\n[weights]\n"3.5(2)" = -1\n' + GOOD_RULE.replace("version = 1\n", ""),
            "r.toml:3: weights.3.5(2): must be a non-negative number",
        ),
    ],
)
def test_broken_rule_file(text: str, expected: str) -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rules(text, "r.toml")
    assert str(err.value).startswith(expected), str(err.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="rule file not found"):
        load_rules(tmp_path / "nope.toml")
    binary = tmp_path / "rules.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RuleFileError, match="cannot read rule file"):
        load_rules(binary)


def test_a_rule_can_be_disabled(tmp_path: Path) -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8").replace(
        'id = "forbidden.dont_know"', 'id = "forbidden.dont_know"\nenabled = false'
    )
    rules = parse_rules(text, "edited.toml")
    assert rules.by_id("forbidden.dont_know") is None and rules.by_id("forbidden.not_our_business")
