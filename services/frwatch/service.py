"""``frwatch run``: migrations, source sync, the scheduler's ticks and the HTTP API, with a
graceful shutdown (finish work in flight within the grace period, then release leases)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Awaitable, Callable

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from frwatch import gctune
from frwatch.api.app import create_app
from frwatch.api.health import READY_CHECKS
from frwatch.db import write_transaction
from frwatch.ingest.poll import poll_due
from frwatch.migrate import upgrade_async
from frwatch.notify.worker import Deliverer
from frwatch.runtime import Runtime, open_runtime
from frwatch.settings import Settings
from frwatch.sources_config import load_sources
from frwatch.store import locks
from frwatch.store import sources as source_store

log = logging.getLogger("frwatch.service")


async def prepare(rt: Runtime) -> None:
    """Apply migrations and sync the sources file into the database."""
    await upgrade_async(rt.settings.database_url)
    specs = load_sources(rt.settings.sources) if rt.settings.sources.exists() else []
    if not rt.settings.sources.exists():
        log.warning("sources file not found; polling only sources already in the database",
                    extra={"path": str(rt.settings.sources)})
    async with write_transaction(rt.sessions) as session:
        # replicas starting together would race to insert the same sources: one sync at a time
        await locks.xact_lock(session, locks.SOURCES_SYNC)
        report = await source_store.sync_from_config(session, specs, rt.clock())
    log.info("sources synced", extra={"added": len(report.added), "changed": len(report.changed),
                                      "disabled": len(report.disabled)})


class Worker:
    """The two periodic jobs and their shutdown: polling (a scheduler job every tick) and delivery
    (a loop that runs every tick, and at once when a poll has queued webhooks)."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.stop = asyncio.Event()
        self.deliverer = Deliverer(rt)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.running: set[asyncio.Task[object]] = set()
        self.delivery: asyncio.Task[None] | None = None

    async def _guarded(self, name: str, job: Callable[[], Awaitable[object]]) -> None:
        """Run one tick; a failed tick is logged and the next one runs as usual."""
        if self.stop.is_set():
            return
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        try:
            await job()
        except Exception:
            log.exception("tick failed", extra={"job": name})
        finally:
            self.running.discard(task)

    async def poll_tick(self) -> None:
        await self._guarded("poll", lambda: poll_due(self.rt, stop=self.stop, on_queued=self.deliverer.wake))

    async def deliver_tick(self) -> None:
        await self._guarded("deliver", self.deliverer.drain)

    async def _deliver_loop(self) -> None:
        tick = self.rt.settings.tick_interval.total_seconds()
        while not self.stop.is_set():
            await self.deliver_tick()
            if not self.stop.is_set():
                await self.deliverer.wait_for_work(tick)

    def health(self) -> str:
        return "ok" if self.scheduler.running and not self.stop.is_set() else "stopped"

    async def start(self) -> None:
        await self.deliverer.start()
        seconds = self.rt.settings.tick_interval.total_seconds()
        # jitter: replicas' ticks must not lock into one phase, or the replica whose tick meets the
        # moment its own batch of sources comes due again would claim nearly every poll
        self.scheduler.add_job(self.poll_tick, "interval", seconds=seconds, jitter=seconds / 2, id="poll",
                               max_instances=1, coalesce=True, next_run_time=self.rt.clock())
        self.scheduler.start()
        self.delivery = asyncio.create_task(self._deliver_loop())

    async def shutdown(self) -> None:
        """Stop ticking, give work in flight the grace period, then release what is left."""
        self.stop.set()
        self.deliverer.stop_claiming()
        self.deliverer.wake()  # the delivery loop, if waiting for work, ends now
        # pause, not shutdown: APScheduler's AsyncIOExecutor.shutdown() cancels the ticks in
        # flight at once, which would skip the grace period
        self.scheduler.pause()
        if self.running:
            _, pending = await asyncio.wait(set(self.running), timeout=self.rt.settings.grace_period.total_seconds())
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self.delivery is not None:  # between ticks now: waiting for work
            self.delivery.cancel()
            await asyncio.gather(self.delivery, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        async with write_transaction(self.rt.sessions) as session:
            await source_store.release_all(session, self.rt.worker)
        await self.deliverer.close()
        log.info("worker stopped", extra={"worker": self.rt.worker})


async def run_once(settings: Settings) -> None:
    """Poll every due source once, deliver what is deliverable now, and exit."""
    async with open_runtime(settings) as rt:
        await prepare(rt)
        gctune.settle()
        outcomes = await poll_due(rt)
        deliverer = Deliverer(rt)
        await deliverer.start()
        try:
            await deliverer.drain()
        finally:
            await deliverer.close()
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    log.info("run --once finished", extra={"polled": len(outcomes), **counts,
                                           "new_items": sum(o.new for o in outcomes)})


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    async with open_runtime(settings) as rt:
        await prepare(rt)
        worker = Worker(rt)
        app = create_app(rt, deliverer=worker.deliverer)
        app[READY_CHECKS] = {"scheduler": worker.health}
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        gctune.settle()
        await worker.start()
        log.info("frwatch running", extra={"host": settings.host, "port": settings.port, "worker": rt.worker})
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        log.info("shutting down", extra={"grace_s": settings.grace_period.total_seconds()})
        await worker.shutdown()
        await runner.cleanup()
