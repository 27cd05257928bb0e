"""Several speech segments in one Whisper window, and the decoded words split back.

Whisper base pays for a padded 30-second encoder window whatever it is given, so a
1-second "好的" decoded alone costs as much as a long sentence. Packing lays closed
segments (from one leg or from many calls) end to end with a stretch of silence between
them, so one encoder pass carries them all; the words Whisper returns (with their
times) are then handed back to the segment whose place in the window they fall in.

Measured on the tts fixtures (tests/speech/test_segment_packing.py): with 1 s of silence
Whisper ran neighbouring segments together into one piece of text and, on one window,
stopped decoding after the fifth of seven segments; with 1.5–2 s each segment came back
as its own piece (``split_pieces`` says how pieces are handed back). A slot
that comes back empty is decoded again on its own (see ``WhisperWindowDecoder``), so a
segment the model skipped is not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_S = 30.0  # Whisper's encoder window
# Whisper stops at its last timestamp; leave it room to close the last segment.
WINDOW_FILL_S = 28.0
GAP_S = 1.6  # silence between packed segments (measured: 1.0 s merges and skips)


@dataclass(frozen=True)
class Slot:
    """Where one segment sits in a packed window (seconds from the window's start)."""

    offset_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float  # window time
    end: float
    probability: float


def count_that_fit(durations: Sequence[float], fill_s: float = WINDOW_FILL_S, gap_s: float = GAP_S) -> int:
    """How many of ``durations`` (taken in order) fit in one window; at least one.

    A segment longer than the window still goes alone (the VAD cuts at 25 s).
    """
    used = 0.0
    for n, d in enumerate(durations):
        needed = d if n == 0 else used + gap_s + d
        if n > 0 and needed > fill_s:
            return n
        used = needed
    return len(durations)


def lay_out(durations: Sequence[float], gap_s: float = GAP_S) -> list[Slot]:
    """Slots for segments placed end to end with ``gap_s`` of silence between them."""
    slots, at = [], 0.0
    for d in durations:
        slots.append(Slot(round(at, 4), d))
        at += d + gap_s
    return slots


def slot_of(t: float, slots: Sequence[Slot]) -> int:
    """The slot a window time belongs to: the one containing it, else the nearest."""
    best, best_distance = 0, float("inf")
    for i, slot in enumerate(slots):
        if slot.offset_s <= t <= slot.end_s:
            return i
        distance = slot.offset_s - t if t < slot.offset_s else t - slot.end_s
        if distance < best_distance:
            best, best_distance = i, distance
    return best


def split_words(words: Sequence[TimedWord], slots: Sequence[Slot]) -> list[list[TimedWord]]:
    """Each word to the slot its midpoint falls in (nearest slot when it falls in a gap)."""
    out: list[list[TimedWord]] = [[] for _ in slots]
    for w in words:
        out[slot_of((w.start + w.end) / 2, slots)].append(w)
    return out


def _overlap(start: float, end: float, slot: Slot) -> float:
    return max(0.0, min(end, slot.end_s) - max(start, slot.offset_s))


def split_pieces(pieces: Sequence[Sequence[TimedWord]], slots: Sequence[Slot]) -> list[list[TimedWord]]:
    """Whisper's pieces (its segments, as word lists) back to the slots they were said in.

    A piece usually is one sentence: it goes whole to the slot it overlaps most, because
    Whisper's word times drift by up to a second over a window (measured on five copies
    of one sentence: the fifth one's first word was timed inside the gap before it). Only
    a piece that covers most of two or more slots (Whisper ran sentences together) is
    split, word by word.
    """
    out: list[list[TimedWord]] = [[] for _ in slots]
    for words in pieces:
        if not words:
            continue
        start, end = words[0].start, words[-1].end
        shares = [_overlap(start, end, slot) / max(slot.duration_s, 1e-6) for slot in slots]
        if sum(share >= 0.5 for share in shares) >= 2:
            for i, part in enumerate(split_words(words, slots)):
                out[i] += part
            continue
        best = max(range(len(slots)), key=lambda i: shares[i])
        out[best if shares[best] > 0 else slot_of((start + end) / 2, slots)] += list(words)
    return out
