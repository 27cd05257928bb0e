"""speech.vad and speech.activity on real speech padded with known silences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech.activity import measure_leg_activity
from speech.audio import resample
from speech.vad import SpeechSegmenter, find_speech


def padded(audio_dir: Path, rate: int) -> tuple[np.ndarray, float, float]:
    """2 s silence, e06 (a real-sounding sentence), 2 s silence, e06 again, 2 s silence."""
    x, sr = sf.read(audio_dir / "tts" / "e06.wav", dtype="int16")
    x = resample(x, sr, rate)
    gap = np.zeros(2 * rate, np.int16)
    first = 2.0
    second = 2.0 + len(x) / rate + 2.0
    return np.concatenate([gap, x, gap, x, gap]), first, second


@pytest.mark.parametrize("rate", [8000, 16000])
def test_two_sentences_between_silences_are_two_timed_segments(audio_dir: Path, rate: int) -> None:
    pcm, first, second = padded(audio_dir, rate)
    segments = find_speech(pcm, rate)
    assert len(segments) == 2
    for seg, at in zip(segments, (first, second), strict=True):
        # Pre-roll starts the segment before the sentence; the voiced part starts within 0.15 s of it.
        assert seg.start <= seg.speech_start
        assert at - 0.4 <= seg.start <= at
        assert abs(seg.speech_start - at) < 0.15
        assert len(seg.pcm) == round((seg.end - seg.start) * rate)


@pytest.mark.parametrize("frame_ms", [20, 7, 1000])
def test_streaming_in_odd_frame_sizes_gives_the_same_segments(audio_dir: Path, frame_ms: int) -> None:
    pcm, _, _ = padded(audio_dir, 8000)
    whole = find_speech(pcm, 8000)
    seg = SpeechSegmenter(8000)
    step = 8000 * frame_ms // 1000
    streamed = []
    for i in range(0, len(pcm), step):
        streamed += seg.feed(pcm[i:i + step], i / 8000)
    streamed += seg.flush()
    assert len(streamed) == len(whole) == 2
    for a, b in zip(streamed, whole, strict=True):
        assert (a.start, a.end) == pytest.approx((b.start, b.end))
        assert np.array_equal(a.pcm, b.pcm)


def test_times_follow_the_callers_clock_including_a_lost_packet_gap(audio_dir: Path) -> None:
    pcm, first, _ = padded(audio_dir, 8000)
    seg = SpeechSegmenter(8000)
    out = []
    t0 = 100.0  # leg time need not start at zero
    for i in range(0, len(pcm), 160):
        if i == 160 * 10:
            continue  # one 20 ms packet lost before the speech: later times must not slip
        out += seg.feed(pcm[i:i + 160], t0 + i / 8000)
    out += seg.flush()
    assert abs(out[0].speech_start - (t0 + first)) < 0.15


def test_silence_and_noise_floor_are_not_speech() -> None:
    rng = np.random.default_rng(1)
    quiet_noise = (rng.standard_normal(8000 * 3) * 30).astype(np.int16)
    assert find_speech(np.zeros(8000 * 3, np.int16), 8000) == []
    assert find_speech(quiet_noise, 8000) == []


def test_long_speech_is_cut_into_decodable_pieces(audio_dir: Path) -> None:
    x, sr = sf.read(audio_dir / "real" / "TEST_MEETING_T0000000001_S00000.wav", dtype="int16")
    segments = find_speech(x, sr, max_segment_s=3.0)
    assert segments and all(s.end - s.start <= 3.0 + 1e-6 for s in segments)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="8000, 16000, 32000 or 48000 Hz"):
        SpeechSegmenter(11025)
    with pytest.raises(ValueError, match="1-D int16"):
        SpeechSegmenter(8000).feed(np.zeros(160, np.float32), 0.0)


def test_leg_activity_measures_spans_loudness_and_peak(audio_dir: Path) -> None:
    pcm, first, second = padded(audio_dir, 8000)
    act = measure_leg_activity(pcm, 8000, "engineer")
    assert act.speaker == "engineer"
    assert act.duration_s == pytest.approx(len(pcm) / 8000)
    assert len(act.speech_spans) == 2
    assert abs(act.speech_spans[0][0] - first) < 0.15 and abs(act.speech_spans[1][0] - second) < 0.15
    speech = pcm[int(act.speech_spans[0][0] * 8000):int(act.speech_spans[0][1] * 8000)].astype(float)
    expected_rms = 20 * np.log10(np.sqrt(np.mean(speech**2)) / 32768)
    assert act.loudness_dbfs == pytest.approx(expected_rms, abs=0.5)
    assert act.peak_dbfs == pytest.approx(20 * np.log10(np.abs(pcm.astype(int)).max() / 32768), abs=0.01)
    # Half the amplitude is 6 dB quieter.
    quieter = measure_leg_activity((pcm // 2).astype(np.int16), 8000, "engineer")
    assert quieter.loudness_dbfs == pytest.approx(act.loudness_dbfs - 6.02, abs=0.3)


def test_silent_leg_has_no_loudness() -> None:
    act = measure_leg_activity(np.zeros(16000, np.int16), 8000, "caller")
    assert act.speech_spans == [] and act.loudness_dbfs is None and act.peak_dbfs is None
    assert act.duration_s == 2.0
