"""What ``mask_text`` hides (secrets after 密码, long numbers in any numerals) and what it leaves."""

from __future__ import annotations

import pytest

from models.masking import mask_text
from web.masking import mask_live_event


@pytest.mark.parametrize(
    ("spoken", "hidden"),
    [
        ("您的新密码是Abc@2026，请记好", "Abc@2026"),
        ("密码：qwerty12", "qwerty12"),
        ("初始密码设为 zhang1988", "zhang1988"),
        ("密码是一二三四五六", "一二三四五六"),
        ("验证码是幺二三四", "幺二三四"),
        ("身份证号一一零一零五一九九零零三零七一二三X", "一一零一零五一九九零零三零七一二三X"),
        ("身份证110105199003071234", "110105199003071234"),
        ("我手机是一三九一二三四五六七八", "一三九一二三四五六七八"),
        ("手机 139-1234-5678", "139-1234-5678"),
        ("卡号6222021234567890123", "6222021234567890123"),
        ("账号 6222 0212 3456", "6222 0212 3456"),
        ("电话１３９１２３４５６７８", "１３９１２３４５６７８"),
    ],
)
def test_secrets_and_personal_numbers_are_masked(spoken: str, hidden: str) -> None:
    masked = mask_text(spoken)
    assert hidden not in masked
    assert len(masked) == len(spoken)  # same length: timings and highlighting still line up
    assert "＊" in masked


@pytest.mark.parametrize(
    "plain",
    [
        "我今天下午三点前给您回复",
        "请您重启一下电脑",
        "工号八八六六",
        "2026年3月2日",
        "分机 8001",
        "我的密码忘了怎么办",  # no password is said
        "您的密码是多少",
    ],
)
def test_ordinary_speech_is_left_alone(plain: str) -> None:
    assert mask_text(plain) == plain


def test_live_events_are_masked() -> None:
    event = {
        "type": "utterance",
        "call_id": "c",
        "utterance": {"text": "密码是abc12345", "words": [{"text": "abc12345"}]},
        "finding": {"heard": "手机13912345678", "clause": "x"},
    }
    shown = mask_live_event(event)
    assert "abc12345" not in str(shown) and "13912345678" not in str(shown)
    assert event["utterance"]["text"] == "密码是abc12345"  # the hub's copy is not changed
