"""Prometheus metrics of the outbox and webhook delivery."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from lastmile.core.metrics import LATENCY_BUCKETS

OUTBOX_LAG = Gauge(
    "lastmile_events_outbox_lag_seconds",
    "Age of the oldest event waiting for the relay, or of the oldest due webhook message not yet "
    "delivered (0 when nothing waits); updated by the outbox loop.",
)
DELIVERIES = Counter(
    "lastmile_webhooks_deliveries_total",
    "Webhook delivery attempts by result: success, http_error, timeout, network_error, refused.",
    ["result"],
)
DELIVERY_LATENCY = Histogram(
    "lastmile_webhooks_delivery_duration_seconds",
    "Time from sending a webhook request to its answer.",
    buckets=LATENCY_BUCKETS,
)
ATTEMPTS = Histogram(
    "lastmile_webhooks_attempts_per_message",
    "Attempts a message took until its endpoint answered 2xx.",
    buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
)
EXHAUSTED = Counter(
    "lastmile_webhooks_messages_failed_total",
    "Messages marked failed after their last scheduled attempt.",
)
DISABLED = Counter(
    "lastmile_webhooks_endpoints_disabled_total",
    "Endpoints disabled automatically: gone (410) or failing (every attempt for 5 days).",
    ["reason"],
)
