"""Call recordings in, per-leg 16-bit PCM out; and the sample conversions the phone side needs.

A call recording is a WAV file at 8 or 16 kHz in one of the telephone encodings
(PCM16, μ-law, A-law, unsigned 8-bit). Stereo files hold the caller on the left and
the engineer on the right (Deskline's own recordings do); a mono file is the
engineer's side alone. Anything else is refused with an ``AudioFormatError`` that
names the file and exactly what is wrong, before a single sample is decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SUPPORTED_RATES = (8000, 16000)
EngineerChannel = Literal["left", "right", "mono"]

# soundfile subtypes we decode, and how people call them in an error message.
_SUPPORTED_SUBTYPES = {"PCM_16": "PCM16", "ULAW": "μ-law", "ALAW": "A-law", "PCM_U8": "unsigned 8-bit"}
_UNSUPPORTED_SUBTYPES = {
    "PCM_24": "24-bit samples",
    "PCM_32": "32-bit integer samples",
    "FLOAT": "32-bit float samples",
    "DOUBLE": "64-bit float samples",
    "PCM_S8": "signed 8-bit samples",
    "IMA_ADPCM": "IMA ADPCM samples",
    "MS_ADPCM": "Microsoft ADPCM samples",
    "GSM610": "GSM 6.10 samples",
    "G721_32": "G.721 samples",
}


class AudioFormatError(ValueError):
    """A recording Deskline cannot read; the message names the file and the problem."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(path).name}: {reason}")


@dataclass
class CallAudio:
    sample_rate: int
    duration_s: float
    engineer: np.ndarray  # int16, mono
    caller: np.ndarray | None  # int16, mono; None for a one-sided (mono) recording
    path: str = ""


@dataclass
class _RiffLayout:
    block_align: int
    data_bytes_declared: int
    data_bytes_present: int


def _read_riff_layout(path: Path) -> _RiffLayout:
    """Walk the RIFF chunks to learn what the header promises and what the file holds.

    libsndfile reads a truncated file without complaint (it just returns fewer
    frames), so the header's data size is compared with the bytes on disk here.
    """
    size = path.stat().st_size
    if size == 0:
        raise AudioFormatError(path, "is empty (0 bytes)")
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            if head[:4] == b"RIFX":
                raise AudioFormatError(
                    path, "is a big-endian (RIFX) WAV file; only little-endian RIFF WAV is supported"
                )
            raise AudioFormatError(path, "is not a WAV file (no RIFF/WAVE header)")
        block_align = 0
        while True:
            chunk_head = f.read(8)
            if len(chunk_head) < 8:
                break
            chunk_id, chunk_size = chunk_head[:4], struct.unpack("<I", chunk_head[4:])[0]
            chunk_start = f.tell()
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_size, 16))
                if len(fmt) < 16:
                    raise AudioFormatError(path, "is truncated: the format chunk is cut short")
                block_align = struct.unpack("<H", fmt[12:14])[0]
            elif chunk_id == b"data":
                if block_align == 0:
                    raise AudioFormatError(path, "is not a valid WAV file: data chunk before format chunk")
                present = min(chunk_size, size - chunk_start)
                return _RiffLayout(block_align, chunk_size, present)
            f.seek(chunk_start + chunk_size + (chunk_size & 1))
    raise AudioFormatError(path, "is not a valid WAV file: it has no data chunk")


def _check_format(path: Path) -> sf._SoundFileInfo:
    layout = _read_riff_layout(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        raise AudioFormatError(path, f"is not a readable WAV file ({e})") from None
    # WAVEX is WAVE_FORMAT_EXTENSIBLE, what many recorders write: the same RIFF WAV with a
    # longer format chunk naming the sample format by GUID.
    if info.format not in ("WAV", "WAVEX"):
        raise AudioFormatError(path, f"is a {info.format} file, not WAV")
    if info.subtype not in _SUPPORTED_SUBTYPES:
        what = _UNSUPPORTED_SUBTYPES.get(info.subtype, f"{info.subtype_info} samples")
        raise AudioFormatError(
            path, f"{what} are not supported (use PCM16, μ-law, A-law or unsigned 8-bit)"
        )
    if info.samplerate not in SUPPORTED_RATES:
        raise AudioFormatError(
            path, f"sample rate {info.samplerate} Hz is not supported (8000 or 16000)"
        )
    if info.channels not in (1, 2):
        raise AudioFormatError(
            path,
            f"{info.channels} channels are not supported "
            "(1 = engineer only, 2 = caller left, engineer right)",
        )
    if layout.data_bytes_present < layout.data_bytes_declared:
        declared = layout.data_bytes_declared // layout.block_align
        held = layout.data_bytes_present // layout.block_align
        raise AudioFormatError(
            path, f"is truncated: header says {declared} frames, file holds {held}"
        )
    if layout.data_bytes_declared < layout.block_align:
        raise AudioFormatError(path, "is empty: it holds no audio samples")
    return info


def load_call_audio(
    path: str | Path, engineer_channel: EngineerChannel | None = None
) -> CallAudio:
    """Decode a call recording into the engineer's and (if present) the caller's leg.

    ``engineer_channel``: None means right for stereo and the whole file for mono;
    "left" swaps a stereo file's sides; "mono" mixes a stereo file down and treats it
    all as the engineer (no caller leg). "left"/"right" on a mono file is an error,
    since that file has no second side to tell apart.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFormatError(path, "no such file")
    if path.is_dir():
        raise AudioFormatError(path, "is a directory, not a WAV file")
    if engineer_channel not in (None, "left", "right", "mono"):
        raise AudioFormatError(path, f"engineer channel {engineer_channel!r} is not one of left, right, mono")
    info = _check_format(path)
    samples, rate = sf.read(str(path), dtype="int16", always_2d=True)
    if info.channels == 1:
        if engineer_channel in ("left", "right"):
            raise AudioFormatError(
                path, f"is mono: engineer channel {engineer_channel!r} needs a stereo recording"
            )
        engineer, caller = samples[:, 0].copy(), None
    elif engineer_channel == "mono":
        mixed = samples.astype(np.int32).sum(axis=1) // 2
        engineer, caller = mixed.astype(np.int16), None
    else:
        eng_index = 0 if engineer_channel == "left" else 1
        engineer, caller = samples[:, eng_index].copy(), samples[:, 1 - eng_index].copy()
    return CallAudio(
        sample_rate=int(rate),
        duration_s=len(samples) / rate,
        engineer=engineer,
        caller=caller,
        path=str(path),
    )


def resample(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """int16 PCM from one rate to another (polyphase filter; no phase shift at the ends)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} → {to_rate}")
    if from_rate == to_rate:
        return np.asarray(pcm, dtype=np.int16)
    from math import gcd

    g = gcd(from_rate, to_rate)
    out = resample_poly(np.asarray(pcm, dtype=np.float32), to_rate // g, from_rate // g)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _ulaw_table() -> np.ndarray:
    # G.711 μ-law decoding table (ITU-T G.711, the same values audioop.ulaw2lin gives).
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW_TO_INT16 = _ulaw_table()


def ulaw_bytes_to_int16(data: bytes) -> np.ndarray:
    """G.711 μ-law bytes (an RTP PCMU payload) to int16 PCM."""
    return _ULAW_TO_INT16[np.frombuffer(data, dtype=np.uint8)]


def u8_to_int16(data: bytes | np.ndarray) -> np.ndarray:
    """Unsigned 8-bit PCM (pyVoIP's audio API; silence is 0x80) to int16."""
    if isinstance(data, bytes | bytearray):
        raw = np.frombuffer(data, dtype=np.uint8)
    else:
        raw = np.asarray(data, dtype=np.uint8)
    return ((raw.astype(np.int16) - 128) << 8).astype(np.int16)


def int16_to_u8(pcm: np.ndarray) -> bytes:
    """int16 PCM to unsigned 8-bit bytes for pyVoIP (rounded, not truncated: less hiss)."""
    scaled = np.round(np.asarray(pcm, dtype=np.float32) / 256.0) + 128
    return np.clip(scaled, 0, 255).astype(np.uint8).tobytes()
