"""The node's Prometheus metrics, in a registry of its own (never the global one).

A registry per node keeps several nodes in one process (tests, `hitode demo`) apart.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.relay_published = Counter(
            "hitode_relay_published", "Records acked by JetStream", ["duplicate"], registry=r
        )
        self.relay_errors = Counter(
            "hitode_relay_errors", "Publishes that failed or timed out (retried)", registry=r
        )
        self.relay_latency = Histogram(
            "hitode_relay_publish_seconds", "Publish to JetStream ack", registry=r
        )
        self.applied = Counter(
            "hitode_records_applied", "Records applied from the bus", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "hitode_records_duplicate", "Records received again and ignored", registry=r
        )
        self.quarantined = Counter(
            "hitode_records_quarantined", "Records rejected into quarantine", ["reason"], registry=r
        )
        self.pending = Gauge(
            "hitode_records_pending", "Records held until a gap before them fills", registry=r
        )
        self.sync_requests = Counter(
            "hitode_sync_requests", "Gap repair requests sent", ["outcome"], registry=r
        )
        self.sync_served = Counter(
            "hitode_sync_served", "Gap repair requests answered", registry=r
        )
        self.outbox_backlog = Gauge(
            "hitode_outbox_backlog", "Own records not yet acked by JetStream", registry=r
        )
        self.bus_connected = Gauge(
            "hitode_bus_connected", "1 while connected to NATS", registry=r
        )
        self.alerts = Counter(
            "hitode_alerts", "Alerts raised to the operator", ["kind"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
