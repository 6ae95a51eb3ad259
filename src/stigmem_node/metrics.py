"""Prometheus metrics, one registry per node (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Gauges(Collector):
    """Values read at scrape time (never maintained per request)."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[str, Callable[[], float]]] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (doc, read) in self.sources.items():
            try:
                value = float(read())
            except Exception:  # noqa: S112  (a failing gauge must not break /metrics)
                continue
            yield GaugeMetricFamily(name, doc, value=value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stigmem_http_requests",
            "HTTP requests served, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stigmem_http_request_duration_seconds",
            "HTTP request latency, by route.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.facts_written = Counter(
            "stigmem_facts_written", "Facts written by this process.", registry=self.registry
        )
        self.conflicts_detected = Counter(
            "stigmem_conflicts_detected", "Contradictions detected.", registry=self.registry
        )
        self.auth_failures = Counter(
            "stigmem_auth_failures", "Requests refused for bad credentials.", registry=self.registry
        )
        self.rate_limited = Counter(
            "stigmem_rate_limit_hits",
            "Requests refused by a rate limit, by dimension.",
            ["dimension"],
            registry=self.registry,
        )
        self._gauges = _Gauges()
        self.registry.register(self._gauges)

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        self._gauges.sources[name] = (doc, read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
