"""StreamBuffer: jitter handling on top of the defect fixes (ordering, playout delay, backlog cap)."""

from __future__ import annotations

from ivr.pyvoip_adapter.media import FRAME_BYTES, StreamBuffer


def frame(value: int) -> bytes:
    return bytes([value, 0]) * (FRAME_BYTES // 2)


def test_out_of_order_packets_are_put_in_place() -> None:
    buffer = StreamBuffer()
    buffer.write(FRAME_BYTES, frame(2))
    buffer.write(0, frame(1))
    assert buffer.read() == frame(1) and buffer.read() == frame(2)


def test_a_late_packet_waits_for_the_playout_delay_instead_of_gapping_every_frame() -> None:
    buffer = StreamBuffer(playout_delay=2 * FRAME_BYTES)
    buffer.write(0, frame(1))
    assert buffer.read() == frame(0)  # one frame in hand is not enough yet
    buffer.write(FRAME_BYTES, frame(2))
    assert [buffer.read() for _ in range(2)] == [frame(1), frame(2)]
    assert buffer.read() == frame(0) and buffer.underruns == 1  # ran dry: rebuffer
    buffer.write(2 * FRAME_BYTES, frame(3))
    assert buffer.read() == frame(0)
    buffer.write(3 * FRAME_BYTES, frame(4))
    assert [buffer.read() for _ in range(2)] == [frame(3), frame(4)]  # nothing lost, in order


def test_a_reader_that_fell_behind_skips_ahead_to_bounded_latency() -> None:
    buffer = StreamBuffer(max_backlog=4 * FRAME_BYTES)
    for i in range(20):
        buffer.write(i * FRAME_BYTES, frame(i + 1))
    assert buffer.read() != frame(1)
    assert buffer.pending() <= 4 * FRAME_BYTES and buffer.discarded_bytes > 0


def test_a_restarted_sender_reanchors_the_stream() -> None:
    buffer = StreamBuffer()
    buffer.write(0, frame(1))
    assert buffer.read() == frame(1)
    buffer.write(10**9, frame(7))  # new timestamps far away, e.g. after the peer restarted its stream
    assert buffer.read() == frame(7)
