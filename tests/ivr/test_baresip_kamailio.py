"""Other real peers: baresip as a caller, Kamailio as the registrar/proxy the engineers use."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from ivr.pyvoip_adapter import RegistrationError, SipUserAgent

from .conftest import open_decision
from .peers import (
    CALLER_SCENARIO,
    ENGINEER_SCENARIO,
    RtpReceiver,
    best_correlation,
    free_udp_port,
    free_udp_ports,
    g711_roundtrip,
    start_sipp,
    stream_media,
)
from .raw_sip import register_request

pytestmark = pytest.mark.slow

BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_source aufile,{source}
audio_alert aufile,{source}
audio_srate 8000
audio_channels 1
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module_app account.so
module_app menu.so
rtp_ports {rtp_low}-{rtp_high}
"""

KAMAILIO_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


def test_baresip_caller_reaches_the_engineer(tmp_path: Path, make_hotline, observer, speech, audio_dir):
    rx = RtpReceiver()
    port, media = free_udp_port(), free_udp_ports(1)[0]
    phone = start_sipp(
        ENGINEER_SCENARIO.format(user="zhangwei", ring_ms=300, rx_port=rx.port, pt=0, codec="PCMU", media=""),
        tmp_path / "eng",
        "eng",
        target=None,
        sip_port=port,
        media_port=media,
    )
    hotline = make_hotline(open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{port}")), observer)
    conf = tmp_path / "baresip"
    conf.mkdir()
    rtp_low = free_udp_ports(1)[0]
    (conf / "config").write_text(
        BARESIP_CONFIG.format(
            sip_port=free_udp_port(),
            rtp_low=rtp_low,
            rtp_high=rtp_low + 3,
            source=audio_dir / "tts" / "c01.wav",
        )
    )
    (conf / "accounts").write_text("<sip:13900139000@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    try:
        # baresip sends "Supported:" with no value (defect 3) and hangs up when c01.wav ends.
        result = subprocess.run(
            [
                "baresip",
                "-f",
                str(conf),
                "-n",
                "127.0.0.1",
                "-t",
                "10",
                "-e",
                f"/dial sip:hq@127.0.0.1:{hotline.agent.port}",
            ],
            capture_output=True,
            timeout=30,
        )
        assert b"Call established" in result.stdout, result.stdout[-2000:]
        assert phone.wait(10) == 0, phone.output()
        assert observer.ended.wait(10)
    finally:
        phone.kill()
        rx.close()
    _, recording, timings, reason = observer.ended_calls[0]
    assert reason == "caller hung up"
    audio, _ = sf.read(str(recording), dtype="int16")
    c01 = g711_roundtrip(speech["c01"])
    left, lag = best_correlation(c01[:12000], audio[:, 0])
    assert left > 0.9 and lag / 8000 < 0.5, (left, lag)
    bridged_at = dict((p, t) for t, p in timings["phases"])["bridged"]
    tail = c01[int((bridged_at + 0.4) * 8000) :][:8000]  # what the caller said after the engineer answered
    heard, _ = best_correlation(tail, rx.pcm())
    assert heard > 0.9, heard


@pytest.fixture
def kamailio(tmp_path: Path):
    port = free_udp_port()
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CONFIG.format(port=port))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = open(tmp_path / "kamailio.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        ["kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(run_dir), "-w", str(tmp_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe.settimeout(0.2)
    try:
        for _ in range(50):  # wait until it answers OPTIONS-less probes: a REGISTER for nobody
            unregister = register_request(port, "probe", probe.getsockname()[1], expires=0)
            probe.sendto(unregister, ("127.0.0.1", port))
            try:
                if probe.recv(4096).startswith(b"SIP/2.0 200"):
                    break
            except TimeoutError:
                assert process.poll() is None, (tmp_path / "kamailio.log").read_text()
        else:
            pytest.fail("kamailio did not start: " + (tmp_path / "kamailio.log").read_text()[-2000:])
        yield port
    finally:
        probe.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()




def test_engineer_registered_at_kamailio_is_called_through_it(
    tmp_path, make_hotline, observer, speech, kamailio
):
    rx = RtpReceiver()
    phone_port, media = free_udp_port(), free_udp_ports(1)[0]
    phone = start_sipp(
        ENGINEER_SCENARIO.format(
            user="zhangwei",
            ring_ms=800,
            rx_port=rx.port,
            pt=0,
            codec="PCMU",
            media=stream_media(speech["e01.ulaw"], 0),
        ),
        tmp_path / "eng",
        "eng",
        target=None,
        sip_port=phone_port,
        media_port=media,
    )
    # The engineer's phone registers its address at Kamailio (sent on its behalf).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        s.sendto(register_request(kamailio, "zhangwei", phone_port), ("127.0.0.1", kamailio))
        assert s.recv(4096).startswith(b"SIP/2.0 200")
    # The hotline registers there too, and rings the engineer by the registrar's address.
    hotline = make_hotline(
        open_decision(("张伟", f"sip:zhangwei@127.0.0.1:{kamailio}")),
        observer,
        registrar=f"127.0.0.1:{kamailio}",
    )
    assert hotline.agent.sip.registered.is_set()
    caller_rx = RtpReceiver()
    sip_port, caller_media = free_udp_port(), free_udp_ports(1)[0]
    greeting_s = 1.3
    xml = CALLER_SCENARIO.format(
        called="hq",
        caller="13800138000",
        rx_port=caller_rx.port,
        pt=0,
        codec="PCMU",
        middle=stream_media(speech["c01.ulaw"], 0, int((greeting_s + 1.3) * 1000), 4000),
    )
    caller = start_sipp(
        xml,
        tmp_path / "caller",
        "caller",
        target=f"127.0.0.1:{hotline.agent.port}",
        sip_port=sip_port,
        media_port=caller_media,
    )
    try:
        assert caller.wait(30) == 0, caller.output()
        assert phone.wait(10) == 0, phone.output()  # including the BYE routed back through Kamailio
        assert observer.ended.wait(10)
    finally:
        caller.kill()
        phone.kill()
        rx.close()
        caller_rx.close()
    ring_time = observer.events[2][3]
    assert observer.events[2][0] == "engineer_answered" and abs(ring_time - 0.8) < 0.1, observer.events
    heard, _ = best_correlation(g711_roundtrip(speech["c01"])[:16000], rx.pcm())
    assert heard > 0.9
    heard, _ = best_correlation(g711_roundtrip(speech["e01"])[:16000], caller_rx.pcm())
    assert heard > 0.9


def test_registration_refused_or_unanswered_is_a_clear_error() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    agent = SipUserAgent("127.0.0.1", 0, registrar=f"127.0.0.1:{silent.getsockname()[1]}")
    with pytest.raises(RegistrationError, match="cannot register at 127.0.0.1"):
        agent.start(registration_timeout_s=0.5)
    silent.close()
