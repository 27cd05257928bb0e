"""Spoken secrets and personal numbers, masked before anyone reads a transcript.

A password reset reads the new password aloud ("新密码是 Abc@2026"); callers give ID
card, phone and account numbers, which the recogniser writes in Arabic or Chinese
numerals ("一三八一二三四五六七八"). The console shows, indexes and exports these
masked; the recording itself is unchanged (who plays it is in the audit log).

What is masked:
- whatever follows 密码/口令/验证码 (optionally 是/为/:/改成...) up to the next pause or
  punctuation, when it has letters or digits (so "密码忘了" and "密码是多少" stay);
- any run of 7 or more digits (Arabic, full-width or Chinese 零〇一二三四五六七八九幺两),
  spaces or dashes between them allowed, an ID card's final X included.
"""

from __future__ import annotations

import re

MASK = "＊"
_DIGIT = "0-9０-９零〇一二三四五六七八九幺两"
_NUMBER_RUN = re.compile(rf"[{_DIGIT}](?:[\s\-]?[{_DIGIT}]){{6,}}(?:[xX叉])?")
_SECRET = re.compile(
    r"(?P<lead>(?:密码|口令|验证码|PIN码?|pin码?)(?:\s*(?:是|为|改成|改为|设成|设为|设置成|：|:|=))*\s*)"
    r"(?P<secret>[^\s，。！？、,.!?；;]{1,64})"
)


_SECRET_CHAR = re.compile(rf"[A-Za-z{_DIGIT}]")


def _mask_secret(m: re.Match[str]) -> str:
    secret = m.group("secret")
    # "密码忘了", "密码是多少" name no password; one that has letters or digits is one.
    if not _SECRET_CHAR.search(secret):
        return m.group(0)
    return m.group("lead") + MASK * len(secret)


def mask_text(text: str) -> str:
    """``text`` with secrets after 密码 and long numbers replaced by ＊ (same length)."""
    if not text:
        return text
    text = _SECRET.sub(_mask_secret, text)
    return _NUMBER_RUN.sub(lambda m: MASK * len(m.group(0)), text)
