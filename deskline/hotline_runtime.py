"""Start and stop a hotline node from a config: user agent, router, observer, prompts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from deskline.accurate_pass import AccuratePass
from deskline.call_limits import NodeLimits
from deskline.call_recovery import RecoveringUserAgent, recover_interrupted_calls
from deskline.config import Config, ConfigError
from deskline.hotline_service import AnalysingObserver, ConfiguredRouter
from ivr.call_session import SessionSettings
from ivr.hotline import Hotline
from routing.dispatch import DispatchState

log = logging.getLogger("deskline.hotline")


def prompts_for(cfg: Config) -> Any:
    """The recorded Mandarin prompts (with the site's own recordings from ``prompts_dir``).

    A site recording that cannot be used stops the start with a ConfigError; tones stand
    in only if the shipped recordings are missing from the installation.
    """
    from ivr.recorded_prompts import PromptError, RecordedPrompts

    try:
        return RecordedPrompts(cfg.hotline.prompts_dir or None)
    except PromptError as e:
        raise ConfigError(f"{cfg.source}: [hotline] prompts_dir: {e}") from None
    except FileNotFoundError as e:
        log.warning("recorded prompts unavailable (%s): using tone prompts", e)
        from ivr.tone_prompts import TonePrompts

        return TonePrompts()


class SipPortBusy(ConfigError):
    pass


def check_sip_port_free(cfg: Config) -> None:
    """One line naming the entry if the node's SIP address cannot be bound, before anything starts."""
    import socket

    if not cfg.hotline.sip_port:
        return  # a port chosen by the kernel
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((cfg.hotline.bind_ip, cfg.hotline.sip_port))
        except OSError as exc:
            raise SipPortBusy(
                f"{cfg.source}: [hotline] the SIP user agent cannot listen on "
                f"{cfg.hotline.bind_ip}:{cfg.hotline.sip_port}: {exc.strerror or exc} "
                "(another hotline or SIP program running there? check bind_ip and sip_port)"
            ) from None


@dataclass
class HotlineNode:
    agent: RecoveringUserAgent
    hotline: Hotline
    observer: AnalysingObserver
    dialer: Any = None  # deskline.callback_dialer.CallbackDialer: callbacks this node places

    def stop(self) -> None:
        self.hotline.stop()
        if self.observer.accurate is not None:
            self.observer.accurate.stop()
        self.observer.stop()

    def gauges(self) -> dict[str, tuple[str, float]]:
        """What /metrics shows of this node: name -> (help, value), read at scrape time."""
        from ivr.pyvoip_adapter.media_engine import MediaEngine

        stats, engine = self.agent.stats, MediaEngine.shared()
        values: dict[str, tuple[str, float]] = {
            "sip_inbound_calls": ("Incoming calls not ended yet", self.agent.live_inbound()),
            "sip_refused_busy_total": ("INVITEs refused with 503 (call table full)", stats["refused_busy"]),
            "sip_malformed_total": ("SIP datagrams refused as malformed", stats["malformed"]),
            "sip_refused_address_total": ("INVITEs refused for an address we will not send to",
                                          stats["refused_address"]),
            "sip_loop_restarts_total": ("SIP receive/timer loops restarted after a failure",
                                        stats["loop_restarts"]),
            "media_streams": ("RTP streams the media thread moves", engine.stream_count),
            "media_late_ticks_total": ("Media ticks run more than 20 ms late", engine.late_ticks),
            "media_longest_tick_ms": ("Longest media tick so far", engine.max_tick_ms),
        }
        queues = self.hotline.queues.stats().values()
        values.update({
            "queue_callers": ("Callers waiting in the lines' queues for a free engineer",
                              sum(q.waiting for q in queues)),
            "queue_longest_wait_seconds": ("How long the longest-waiting caller has waited",
                                           max((q.longest_wait_s for q in queues), default=0.0)),
        })
        scheduler = self.observer._scheduler
        if scheduler is not None:
            backlog = scheduler.stats()
            values.update({
                "recognition_backlog_segments": ("Speech segments waiting for recognition",
                                                 backlog.queued_segments),
                "recognition_backlog_seconds": ("Seconds of speech waiting for recognition",
                                                backlog.queued_audio_s),
                "recognition_oldest_wait_seconds": ("How long the oldest waiting segment has waited",
                                                    backlog.oldest_wait_s),
                "recognition_deferred_total": ("Caller segments deferred to after the call",
                                               backlog.deferred_total),
            })
        return values


def start_hotline(cfg: Config, store: Any, publish: Any = None, engine: str | None = None,
                  on_call_done: Any = None) -> HotlineNode:
    """A running hotline node. ``publish`` gets live events, ``on_call_done`` each call id once
    the call is stored with its final score (after the accurate pass, if any)."""
    from speech.engines import best_engine
    from speech.qa.rulefile import load_rules

    rules = load_rules(cfg.speech.rules or None)
    interrupted = recover_interrupted_calls(store, cfg.hotline.recordings_dir)
    store.callback_min_talk_s = cfg.hotline.callback_min_talk_s
    chosen = engine or (cfg.speech.live_engine if cfg.speech.live_engine != "auto" else best_engine())
    model = cfg.speech.vosk_model if chosen == "vosk" else cfg.speech.whisper_model
    for engineer in cfg.roster.engineers if cfg.roster else []:
        store.upsert_engineer(engineer.name, certified=engineer.certified, lines=list(engineer.lines))
    dispatch = DispatchState()
    router = ConfiguredRouter(cfg, store, dispatch)
    accurate = None
    if cfg.speech.accurate_engine:
        accurate_model = (cfg.speech.vosk_model if cfg.speech.accurate_engine == "vosk"
                          else cfg.speech.whisper_model)
        accurate = AccuratePass(cfg.speech.accurate_engine, rules, store, model_path=accurate_model or None,
                                roster_names=cfg.roster.names() if cfg.roster else (), publish=publish)
    observer = AnalysingObserver(cfg, store, rules, chosen, dispatch, publish, model_path=model or None,
                                 accurate=accurate, on_call_done=on_call_done)
    agent = RecoveringUserAgent(cfg.hotline.bind_ip, cfg.hotline.sip_port,
                                registrar=cfg.hotline.registrar or None,
                                max_calls=cfg.hotline.max_calls,
                                max_calls_per_source=cfg.hotline.max_calls_per_source,
                                trusted_sources=tuple(cfg.hotline.trusted_sources),
                                allowed_networks=tuple(cfg.hotline.allowed_networks),
                                session_expires_s=cfg.hotline.session_expires_s)
    agent.adopt(interrupted)
    cfg.hotline.recordings_dir.mkdir(parents=True, exist_ok=True)
    h = cfg.hotline
    settings = SessionSettings(recordings_dir=h.recordings_dir, voicemail_max_s=h.voicemail_max_s,
                               rtp_timeout_s=h.rtp_timeout_s or None, max_call_s=h.max_call_s or None)
    limits = NodeLimits(h.recordings_dir, h.recordings_max_mb * 1_000_000, store,
                        h.voicemails_per_caller_per_hour)
    hotline = Hotline(agent, router, observer, prompts_for(cfg), settings, reservations=dispatch,
                      limits=limits)
    hotline.start()
    agent.end_interrupted()
    log.info("hotline on sip:%s:%d, engine %s", cfg.hotline.bind_ip, agent.port, chosen)
    from deskline.callback_dialer import CallbackDialer

    dialer = CallbackDialer(cfg, store, agent.place_call, observer, hotline.prompts, settings, rules,
                            reservations=dispatch, limits=limits)
    return HotlineNode(agent, hotline, observer, dialer)
