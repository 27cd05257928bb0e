"""RTP receivers in their own process, for the media benchmarks (not a test).

Binds the given UDP ports on loopback, records (arrival, SSRC, sequence) of every packet
until stdin closes or the duration ends, then prints JSON: per port the number of
streams, packets, lost packets (sequence gaps), the largest inter-arrival gap and how many
streams had a gap over the threshold. Running apart from the node means its own GIL and
its own scheduling do not blur what the node sent, and arrival times are the kernel's
(``SO_TIMESTAMPNS``, stamped when the datagram arrived, like a wire capture), not the
moment this process got round to reading it.

    python bench/rtp_gap_receiver.py --ports 40000 40002 --seconds 60 --gap-ms 60
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@ll")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gap-ms", type=float, default=60.0)
    args = parser.parse_args()
    selector = selectors.DefaultSelector()
    streams: dict[int, dict[int, list[tuple[float, int]]]] = {}
    for port in args.ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind(("127.0.0.1", port))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, port)
        streams[port] = {}
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("ready", flush=True, file=sys.stderr)
    end = time.monotonic() + args.seconds
    running = True
    while running and time.monotonic() < end:
        for key, _ in selector.select(0.1):
            if key.data == "stdin":
                if not sys.stdin.readline():
                    running = False
                continue
            while True:
                try:
                    data, ancillary, _, _ = key.fileobj.recvmsg(2048, socket.CMSG_SPACE(TIMESPEC.size))
                except BlockingIOError:
                    break
                arrival = time.time()
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanoseconds = TIMESPEC.unpack(value[: TIMESPEC.size])
                        arrival = seconds + nanoseconds / 1e9
                if len(data) >= 12 and (data[1] & 0x7F) in (0, 8):
                    ssrc = int.from_bytes(data[8:12], "big")
                    seq = int.from_bytes(data[2:4], "big")
                    streams[key.data].setdefault(ssrc, []).append((arrival, seq))
    report = {}
    for port, by_ssrc in streams.items():
        gaps, lost, over = [], 0, 0
        for packets in by_ssrc.values():
            arrivals = sorted(a for a, _ in packets)
            worst = max((b - a for a, b in zip(arrivals, arrivals[1:], strict=False)), default=0.0) * 1000
            gaps.append(worst)
            over += worst > args.gap_ms
            seqs = sorted({s for _, s in packets})
            lost += max(0, seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 0
        gaps.sort()
        report[str(port)] = {
            "streams": len(by_ssrc),
            "packets": sum(len(p) for p in by_ssrc.values()),
            "lost_packets": lost,
            "max_gap_ms": round(gaps[-1], 1) if gaps else None,
            "median_stream_max_gap_ms": round(gaps[len(gaps) // 2], 1) if gaps else None,
            f"streams_with_gap_over_{args.gap_ms:.0f}ms": over,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
