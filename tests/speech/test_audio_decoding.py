"""speech.audio: every supported WAV encoding decodes to the right legs; bad files are named and refused."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech.audio import (
    AudioFormatError,
    int16_to_u8,
    load_call_audio,
    resample,
    u8_to_int16,
    ulaw_bytes_to_int16,
)

# Largest decode error each encoding may add to a full-scale int16 signal: μ-law/A-law
# quantise to ~13 bits near full scale (step 1024 at the top segment), unsigned 8-bit to 8.
TOLERANCE = {"PCM_16": 0, "ULAW": 1024, "ALAW": 1024, "PCM_U8": 256}


def tone(rate: int, freq: float, seconds: float = 0.5, amp: int = 20000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.mark.parametrize("subtype", list(TOLERANCE))
@pytest.mark.parametrize("rate", [8000, 16000])
def test_stereo_round_trip_puts_caller_left_engineer_right(tmp_path: Path, subtype: str, rate: int) -> None:
    caller, engineer = tone(rate, 300), tone(rate, 700, amp=10000)
    path = tmp_path / "call.wav"
    sf.write(path, np.stack([caller, engineer], axis=1), rate, subtype=subtype)
    audio = load_call_audio(path)
    assert audio.sample_rate == rate
    assert audio.duration_s == pytest.approx(0.5)
    assert audio.caller is not None and audio.caller.dtype == np.int16
    assert np.abs(audio.caller.astype(int) - caller).max() <= TOLERANCE[subtype]
    assert np.abs(audio.engineer.astype(int) - engineer).max() <= TOLERANCE[subtype]
    swapped = load_call_audio(path, "left")
    assert np.array_equal(swapped.engineer, audio.caller)
    assert np.array_equal(swapped.caller, audio.engineer)


@pytest.mark.parametrize("subtype", list(TOLERANCE))
@pytest.mark.parametrize("rate", [8000, 16000])
def test_mono_is_the_engineer_alone(tmp_path: Path, subtype: str, rate: int) -> None:
    samples = tone(rate, 440)
    path = tmp_path / "mono.wav"
    sf.write(path, samples, rate, subtype=subtype)
    audio = load_call_audio(path)
    assert audio.caller is None
    assert np.abs(audio.engineer.astype(int) - samples).max() <= TOLERANCE[subtype]
    assert load_call_audio(path, "mono").caller is None


def test_mono_option_mixes_a_stereo_file_into_one_engineer_leg(tmp_path: Path) -> None:
    left, right = tone(8000, 300), tone(8000, 700)
    path = tmp_path / "call.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="PCM_16")
    audio = load_call_audio(path, "mono")
    assert audio.caller is None
    expected = (left.astype(np.int32) + right) // 2
    assert np.abs(audio.engineer.astype(int) - expected).max() <= 1


def test_left_or_right_on_a_mono_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, tone(8000, 440), 8000, subtype="PCM_16")
    with pytest.raises(AudioFormatError, match=r"mono.wav: is mono: engineer channel 'left' needs a stereo"):
        load_call_audio(path, "left")


def _write(path: Path, data: np.ndarray, rate: int, subtype: str) -> Path:
    sf.write(path, data, rate, subtype=subtype)
    return path


def _raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _write(p, tone(8000, 440), 8000, "PCM_24"), r"call.wav: 24-bit samples are not supported"),
        (lambda p: _write(p, tone(8000, 440) / 32768.0, 8000, "FLOAT"),
         r"call.wav: 32-bit float samples are not supported"),
        (lambda p: _write(p, tone(44100, 440), 44100, "PCM_16"),
         r"call.wav: sample rate 44100 Hz is not supported \(8000 or 16000\)"),
        (lambda p: _write(p, np.zeros((800, 3), np.int16), 8000, "PCM_16"),
         r"call.wav: 3 channels are not supported"),
        (lambda p: _raw(p, b""), r"call.wav: is empty \(0 bytes\)"),
        (lambda p: _raw(p, b"hello, this is not audio\n"), r"call.wav: is not a WAV file"),
        (lambda p: _write(p, np.zeros(0, np.int16), 8000, "PCM_16"),
         r"call.wav: is empty: it holds no audio"),
    ],
    ids=["24-bit", "float32", "44.1kHz", "3-channels", "empty", "text-file", "no-samples"],
)
def test_bad_files_get_a_specific_error(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "call.wav")
    with pytest.raises(AudioFormatError, match=message):
        load_call_audio(path)


def test_truncated_wav_is_detected_not_silently_shortened(tmp_path: Path) -> None:
    path = _write(tmp_path / "call.wav", np.zeros((8000, 2), np.int16), 8000, "PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 4 * 3000 + 2])  # 3000 whole stereo frames and half of one
    expected = r"call.wav: is truncated: header says 8000 frames, file holds 3000"
    with pytest.raises(AudioFormatError, match=expected):
        load_call_audio(path)


def test_missing_file_and_unknown_channel_option(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="nope.wav: no such file"):
        load_call_audio(tmp_path / "nope.wav")
    path = _write(tmp_path / "call.wav", tone(8000, 440), 8000, "PCM_16")
    with pytest.raises(AudioFormatError, match="engineer channel 'centre' is not one of"):
        load_call_audio(path, "centre")  # type: ignore[arg-type]


def test_riff_header_lying_about_size_with_extra_chunks_still_reads(tmp_path: Path) -> None:
    # A LIST chunk before the data chunk (many recorders write one) must be skipped.
    samples = tone(8000, 440)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    listing = b"INFOISFT" + struct.pack("<I", 4) + b"test"
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", len(listing))
            + listing + b"data" + struct.pack("<I", samples.nbytes) + samples.tobytes())
    path = tmp_path / "list.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert np.array_equal(load_call_audio(path).engineer, samples)


def test_resample_keeps_a_tone_and_changes_the_length() -> None:
    x = tone(8000, 500, seconds=1.0)
    y = resample(x, 8000, 16000)
    assert len(y) == 16000 and y.dtype == np.int16
    spectrum = np.abs(np.fft.rfft(y.astype(float)))
    assert np.argmax(spectrum) == pytest.approx(500, abs=1)  # 1 Hz bins over 1 s
    back = resample(y, 16000, 8000)
    assert np.abs(back[100:-100].astype(int) - x[100:-100]).max() < 300
    with pytest.raises(ValueError, match="sample rates must be positive"):
        resample(x, 0, 8000)


def test_ulaw_decoding_matches_g711_reference_points() -> None:
    # G.711 μ-law: 0xFF and 0x7F are zero, 0x00 is the most negative value, 0x80 the most positive.
    decoded = ulaw_bytes_to_int16(bytes([0xFF, 0x7F, 0x00, 0x80, 0xF0]))
    assert decoded.tolist() == [0, 0, -32124, 32124, 120]


def test_u8_conversions_for_pyvoip() -> None:
    assert u8_to_int16(bytes([0x80, 0x00, 0xFF])).tolist() == [0, -32768, 32512]
    assert int16_to_u8(np.array([0, -32768, 32767, 200], np.int16)) == bytes([0x80, 0x00, 0xFF, 0x81])
    x = tone(8000, 440)
    assert np.abs(u8_to_int16(int16_to_u8(x)).astype(int) - x).max() <= 128
