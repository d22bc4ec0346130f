"""Prometheus metrics of this process, in one dedicated registry (``REGISTRY``).

Counters and histograms are updated where the work happens::

    metrics.POLLS.labels(outcome=outcome.outcome).inc()
    metrics.FETCH_SECONDS.observe(elapsed)
    metrics.DELIVERIES.labels(outcome="delivered").inc()

Gauges about the database (outbox backlog, sources by state) are not kept in memory: they are
read from the database at each scrape (``api/metrics.py``), so every replica reports the truth.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)

POLLS = Counter("frwatch_polls", "Source polls by outcome (new_items, no_change, not_modified, error, gone, "
                "lease_lost)", ["outcome"], registry=REGISTRY)
FETCH_SECONDS = Histogram("frwatch_fetch_duration_seconds", "Time to fetch one feed, redirects included",
                          buckets=_LATENCY_BUCKETS, registry=REGISTRY)
ITEMS_INGESTED = Counter("frwatch_items_ingested", "New feed items stored", registry=REGISTRY)
ENFORCEMENT_DETECTED = Counter("frwatch_enforcement_items", "Items classified as enforcement actions",
                               registry=REGISTRY)
EVENTS = Counter("frwatch_events", "Event changes by kind (detected: a new event, updated: a new report or fact)",
                 ["kind"], registry=REGISTRY)
DELIVERIES = Counter("frwatch_deliveries", "Webhook attempts by outcome (delivered, retry, failed, disabled)",
                     ["outcome"], registry=REGISTRY)
DELIVERY_SECONDS = Histogram("frwatch_delivery_duration_seconds", "Time of one webhook attempt",
                             buckets=_LATENCY_BUCKETS, registry=REGISTRY)

OUTBOX_PENDING = Gauge("frwatch_outbox_pending", "Webhook messages owed (pending), read at scrape",
                       registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge("frwatch_outbox_oldest_pending_age_seconds",
                          "Age of the oldest owed webhook message (0 when none), read at scrape", registry=REGISTRY)
DATABASE_UP = Gauge("frwatch_database_up", "1 when the last scrape could read the database, else 0",
                    registry=REGISTRY)
SOURCES = Gauge("frwatch_sources", "Sources by state (ok, failing, disabled), read at scrape", ["state"],
                registry=REGISTRY)
