"""``/metrics``: Prometheus text with the process counters and gauges read from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from frwatch import metrics
from frwatch.models import Outbox, Subscription
from tests.integration.read_seed import seed


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(api: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await api.get("/metrics")  # no token: like the probes
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return samples(await resp.text())


async def add_outbox(runtime: Any) -> None:
    now = runtime.clock()
    async with runtime.sessions() as session, session.begin():
        session.add(Subscription(id="sub_1", url="https://hooks.example/x", secret="whsec_x", created_at=now,
                                 updated_at=now, event_types=[], filters={}))
        await session.flush()
        for index, (status, age) in enumerate([("pending", 600), ("pending", 30), ("delivered", 3600)]):
            session.add(Outbox(id=f"msg_{index}", subscription_id="sub_1", event_type="enforcement.detected",
                               payload="{}", status=status, attempts=0, next_attempt_at=now,
                               created_at=now - timedelta(seconds=age)))


async def test_database_gauges_are_read_at_scrape(api: Any, runtime: Any) -> None:
    first = await scrape(api)
    assert first[("frwatch_outbox_pending", ())] == 0
    assert first[("frwatch_outbox_oldest_pending_age_seconds", ())] == 0
    assert first[("frwatch_database_up", ())] == 1
    await seed(runtime.sessions)
    await add_outbox(runtime)
    second = await scrape(api)
    assert second[("frwatch_outbox_pending", ())] == 2
    assert 600 <= second[("frwatch_outbox_oldest_pending_age_seconds", ())] < 700
    assert second[("frwatch_sources", (("state", "ok"),))] == 3
    assert second[("frwatch_sources", (("state", "disabled"),))] == 0


async def test_counters_and_histograms_are_exposed(api: Any) -> None:
    before = await scrape(api)
    metrics.POLLS.labels(outcome="new_items").inc()
    metrics.DELIVERIES.labels(outcome="delivered").inc(2)
    metrics.FETCH_SECONDS.observe(0.2)
    metrics.EVENTS.labels(kind="detected").inc()
    after = await scrape(api)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert delta("frwatch_polls_total", outcome="new_items") == 1
    assert delta("frwatch_deliveries_total", outcome="delivered") == 2
    assert delta("frwatch_fetch_duration_seconds_count") == 1
    assert delta("frwatch_fetch_duration_seconds_bucket", le="0.25") == 1
    assert delta("frwatch_events_total", kind="detected") == 1
    families = {family.name for family in text_string_to_metric_families(
        (await (await api.get("/metrics")).text()))}
    assert {"frwatch_items_ingested", "frwatch_enforcement_items", "frwatch_delivery_duration_seconds",
            "process_cpu_seconds"} <= families


async def test_a_broken_database_does_not_break_the_scrape(api: Any, runtime: Any) -> None:
    await runtime.engine.dispose()
    runtime.sessions.configure(bind=None)
    try:
        resp = await api.get("/metrics")
        assert resp.status == 200
        assert samples(await resp.text())[("frwatch_database_up", ())] == 0
    finally:
        runtime.sessions.configure(bind=runtime.engine)
