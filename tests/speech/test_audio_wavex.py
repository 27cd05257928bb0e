"""A WAVE_FORMAT_EXTENSIBLE PCM16 recording (what many recorders write) loads like a plain WAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech.audio import AudioFormatError, load_call_audio


def test_extensible_pcm16_stereo_loads(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(rate) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)], axis=1)
    path = tmp_path / "extensible.wav"
    sf.write(path, stereo, rate, format="WAVEX", subtype="PCM_16")
    with path.open("rb") as f:
        head = f.read(64)
    assert head[20:22] == b"\xfe\xff"  # format tag 0xFFFE: WAVE_FORMAT_EXTENSIBLE
    audio = load_call_audio(path)
    assert audio.sample_rate == rate and audio.caller is not None
    assert len(audio.engineer) == rate
    expected = (stereo[:, 1] * 32767).astype(np.int16)
    assert np.max(np.abs(audio.engineer.astype(int) - expected.astype(int))) <= 2


def test_extensible_float_is_still_refused_by_its_sample_format(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    sf.write(path, np.zeros((800, 2)), 8000, format="WAVEX", subtype="FLOAT")
    with pytest.raises(AudioFormatError, match="32-bit float samples are not supported"):
        load_call_audio(path)
