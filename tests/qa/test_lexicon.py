"""The lexicon step: pinyin-close spans rewritten as known words, the raw text and changes kept."""

from __future__ import annotations

import pytest

from models.records import Utterance
from speech.lexicon import LexiconError, load_lexicon, parse_lexicon

LEX = load_lexicon()


@pytest.mark.parametrize(
    ("heard", "names", "written"),
    [
        ("你好,我是中面工程师张维。", ["张伟"], "你好,我是桌面工程师张伟。"),
        ("打印机一直显示拖机", [], "打印机一直显示脱机"),
        ("我帮您转给信息化发展不", [], "我帮您转给信息化发展部"),
        ("好的，我明白了", ["张伟"], "好的，我明白了"),  # nothing close: unchanged
        ("我是李娜", ["张伟", "李娜"], "我是李娜"),  # already right
        ("可以，稍等", [], "可以，稍等"),  # two-character spans must sound the same
        ("如有相关技术问题请您再和我们联系", [], "如有相关技术问题请您再和我们联系"),  # not 如邮箱关
        ("系统升级以后打印就正常了", [], "系统升级以后打印就正常了"),  # 打印就 is not 打印机
        ("您好，请问有什么需要咨询的吗", [], "您好，请问有什么需要咨询的吗"),  # a variant stays
    ],
)
def test_corrections(heard: str, names: list[str], written: str) -> None:
    assert LEX.correct(heard, names).text == written


def test_raw_text_and_changes_are_kept() -> None:
    fixed = LEX.correct("你好,我是中面工程师张维。", ["张伟"])
    assert fixed.raw == "你好,我是中面工程师张维。"
    assert [(c.heard, c.written) for c in fixed.changes] == [("中面工程师", "桌面工程师"), ("张维", "张伟")]
    assert fixed.marked() == "你好,我是桌面工程师〔中面工程师〕张伟〔张维〕。"


def test_utterance_keeps_its_times() -> None:
    u = Utterance("engineer", 1.0, 3.0, "中面工程师", confidence=0.7)
    fixed = LEX.correct_utterance(u)
    assert (fixed.text, fixed.start, fixed.end, fixed.confidence) == ("桌面工程师", 1.0, 3.0, 0.7)
    assert u.text == "中面工程师"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("version = 2\n[terms]\na = ['打印机']", "version"),
        ("version = 1\n", "[terms]"),
        ("version = 1\n[terms]\na = ['机']", "two characters"),
        ("version = 1\n[similarity]\nlonger = 0.1\n[terms]\na = ['打印机']", "between 0.5 and 1"),
        ("version = 1\n[terms\n", "not valid TOML"),
    ],
)
def test_bad_lexicon_files(text: str, reason: str) -> None:
    with pytest.raises(LexiconError) as err:
        parse_lexicon(text, "lex.toml")
    assert reason in str(err.value) and "lex.toml" in str(err.value)
