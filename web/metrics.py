"""Prometheus metrics for the console: stored calls, findings by clause, live calls,
and HTTP latency. Each app gets its own registry, so several apps (tests) can coexist.

Who may scrape: with a metrics token, whoever sends it as a bearer token; without one,
only this machine, since call volumes and failures by clause are not for the whole network.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from models.store import Store
from web.live import LiveHub


class StoreCollector(Collector):
    """Counts read from the store at scrape time (so they are right after a restart)."""

    def __init__(self, store: Store, hub: LiveHub) -> None:
        self.store = store
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        calls = GaugeMetricFamily("deskline_calls_stored", "Calls in the store")
        calls.add_metric([], self.store.count_calls())
        yield calls
        by_clause = GaugeMetricFamily(
            "deskline_findings_failed", "Failed findings in the store, by clause", labels=["clause"]
        )
        for clause, n in sorted(self.store.findings_by_clause().items()):
            by_clause.add_metric([clause], n)
        yield by_clause
        live = GaugeMetricFamily("deskline_live_calls", "Calls in progress")
        live.add_metric([], len(self.hub.live_calls()))
        yield live


NodeGauges = Callable[[], dict[str, tuple[str, float]]]


class NodeCollector(Collector):
    """The hotline node's own gauges (call table, media thread, recognition backlog), when the
    console runs in the node's process: ``gauges()`` is read at scrape time."""

    def __init__(self, gauges: NodeGauges) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, value) in sorted(self.gauges().items()):
            gauge = GaugeMetricFamily(f"deskline_{name}", help_text)
            gauge.add_metric([], float(value))
            yield gauge


def build_registry(store: Store, hub: LiveHub,
                   node_gauges: NodeGauges | None = None) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, hub))
    if node_gauges is not None:
        registry.register(NodeCollector(node_gauges))
    latency = Histogram(
        "deskline_http_request_seconds",
        "Console HTTP request latency",
        ["method", "route", "status"],
        registry=registry,
    )
    return registry, latency


def latency_middleware(latency: Histogram) -> Callable[..., Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, not the raw path, so call ids do not explode the label set.
        path = getattr(route, "path", "unmatched")
        latency.labels(request.method, path, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    return middleware


def is_loopback(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:  # a unix socket or a test client name: not known to be this machine
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack listener
    return address.is_loopback


def check_scraper(request: Request, token: str) -> None:
    """Raise 401/403 unless this request may read /metrics."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(
                status_code=401,
                detail="send the metrics token: Authorization: Bearer <[console] metrics_token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    if not is_loopback(request.client.host if request.client else None):
        raise HTTPException(
            status_code=403,
            detail="/metrics is served only to this machine; set [console] metrics_token "
            "to let a scraper elsewhere read it with a bearer token",
        )
