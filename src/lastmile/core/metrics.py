"""Prometheus metrics of the HTTP layer and the database pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "lastmile_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "lastmile_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("lastmile_http_requests_in_flight", "HTTP requests being served.")
RATE_LIMITED = Counter(
    "lastmile_api_rate_limited_total", "Requests refused by the per-tenant rate limit."
)


class PoolCollector(Collector):
    """Reads the live SQLAlchemy pool of each registered engine at scrape time."""

    def __init__(self) -> None:
        self.pools: dict[str, Any] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("lastmile_db_pool_size", "Configured pool size.", labels=["pool"])
        used = GaugeMetricFamily(
            "lastmile_db_pool_checked_out", "Connections in use.", labels=["pool"]
        )
        over = GaugeMetricFamily(
            "lastmile_db_pool_overflow", "Connections beyond the pool size.", labels=["pool"]
        )
        for name, pool in self.pools.items():
            for fam, attr in ((size, "size"), (used, "checkedout"), (over, "overflow")):
                fn = getattr(pool, attr, None)
                if fn is not None:
                    fam.add_metric([name], float(fn()))
        yield size
        yield used
        yield over


POOLS = PoolCollector()
REGISTRY.register(POOLS)
