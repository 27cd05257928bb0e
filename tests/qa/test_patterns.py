"""The rule-pattern grammar (speech/qa/patterns.py) and its errors in a rule file, with line numbers."""

from __future__ import annotations

import pytest

from speech.qa.patterns import PatternError, compile_context, compile_pattern, tokenize
from speech.qa.rulefile import RuleFileError, parse_rules

CLASSES = {"we": ["我们", "咱们", "我们这边"], "know": ["清楚", "明白"], "you": ["您", "你"]}


def spans(pattern: str, text: str) -> list[str]:
    tokens = tokenize(text)
    return [tokens.text[a:b] for a, b in compile_pattern(pattern, CLASSES).find(tokens)]


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("{we}~2不管", "这个咱们这边不管", ["咱们这边不管"]),
        ("不(太|很)?{know}", "我不太明白", ["不太明白"]),
        ("不(太|很)?{know}", "我不青楚", ["不青楚"]),  # same toneless pinyin
        ("不(太|很)?{know}", "我很清楚", []),
        ("不(太|很)?{know}", "我不亲楚", ["不亲楚"]),  # -n/-ng sound alike
        ("{we}~2不管", "这个咱们这边不关", ["咱们这边不关"]),  # same toneless syllables
        ("不(太|很)?{know}", "我不太轻松", []),  # qing song is not qing chu
        ("没办法$", "没办法，我们换一个", ["没办法"]),
        ("没办法$", "没办法单独更换", []),
        ("{we}~3无关", "我们，无关", []),  # a gap never crosses a clause break
        ("公司有规定~~4不能", "公司有规定，这个不能", ["公司有规定这个不能"]),  # ~~ may
        ("^没关系", "没关系，我再试", ["没关系"]),
        ("^没关系", "跟我们没关系", []),
        ("找我(们)?", "別找我們", ["找我们"]),  # traditional characters are read as simplified
    ],
)
def test_grammar(pattern: str, text: str, found: list[str]) -> None:
    assert spans(pattern, text) == found


def test_context_pattern_marks_the_match_with_at() -> None:
    tokens = tokenize("也不是处理不了")
    negated = compile_context("(不是|也不是)~1@", CLASSES)
    assert negated.holds(tokens, 3, 7)  # 处理不了
    assert not negated.holds(tokenize("处理不了"), 0, 4)
    question = compile_context("@~1{you}", CLASSES)
    assert question.holds(tokenize("不知道您有空吗"), 0, 3)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(不|没", "'(' is never closed"),
        ("不)", "unbalanced ')'"),
        ("{nope}清楚", "unknown class {nope}"),
        ("我~20不管", "too wide"),
        ("我~不管", "needs a number"),
        ("不|", "empty alternative"),
        ("不@", "'@'"),
        ("不 管", "is not a character"),
    ],
)
def test_bad_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern(pattern, CLASSES)
    assert reason in str(err.value)


RULE_FILE = """version = 1

[classes]
we = ["我们", "咱们"]

[[rule]]
id = "forbidden.not_our_business"
kind = "must_not_say"
clause = "3.5(1)"
text = "禁止说：我们不管"
patterns = [
  "{we}~3不管",
  "{they}不管",
]
"""


def test_a_bad_pattern_is_reported_at_its_own_line() -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rules(RULE_FILE, "r.toml")
    assert str(err.value).startswith("r.toml:13: rule[0].patterns: pattern 2: unknown class {they}")


def test_a_bad_class_entry_is_reported_at_its_line() -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rules(RULE_FILE.replace('we = ["我们", "咱们"]', 'we = ["我们", "(咱们"]'), "r.toml")
    assert str(err.value).startswith("r.toml:4: classes.we: entry 2:")


def test_a_bad_context_pattern_is_reported() -> None:
    text = RULE_FILE.replace("[classes]", '[context]\nunless = [\n  "@@的话",\n]\n\n[classes]').replace(
        "{they}", "他们"
    )
    with pytest.raises(RuleFileError) as err:
        parse_rules(text, "r.toml")
    assert str(err.value).startswith("r.toml:5: context.unless: pattern 1:")


def test_a_rule_file_of_the_first_format_still_loads() -> None:
    rules = parse_rules(
        'version = 1\n[context]\nnegation_before = ["不是"]\nquote_before = ["您"]\n[[rule]]\nid = "x"\n'
        'kind = "must_not_say"\nclause = "3.5(2)"\ntext = "t"\nphrases = ["不知道"]\n',
        "old.toml",
    )
    assert rules.by_id("x").get("phrases") == ["不知道"]
