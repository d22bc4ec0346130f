"""Where a delivery drain's time goes: one deliverer draining 10,000 webhooks to 100 endpoints, traced.

    python bench/drain_trace.py --backend postgres --drains 4
    python bench/drain_trace.py --backend sqlite --per-endpoint 8

Each drain runs in this process against the farm, on a scratch database, logging as
``bench/run.py`` does. Per drain it prints webhooks/s; the CPU per webhook of the event loop's
thread and of the process's other threads (aiosqlite's); the shares of the drain's wall time the
process waited for a core (the kernel's schedstat) and the event loop idled in epoll; how often the
queue of claimed rows was empty and how many attempts were in flight (sampled every 0.5 ms); and
the claims and record transactions (how many, rows each, ms each); and how often the deliverer's
loop (``deliver_due``) woke per webhook. To see inside a drain it reads
the ``Deliverer``'s private state and times two of its methods, in this process only; it changes
nothing they do. The last line printed is one JSON object of every drain's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

from frwatch import gctune  # noqa: E402
from frwatch.notify import worker  # noqa: E402
from frwatch.runtime import open_runtime  # noqa: E402

SAMPLE_S = 0.0005


@dataclass
class Trace:
    """What one drain's claims, record transactions, epoll waits and queue samples came to."""
    claims: list[tuple[int, float]] = field(default_factory=list)  # rows, seconds
    records: list[tuple[int, float]] = field(default_factory=list)  # attempts, seconds
    wakes: int = 0  # turns of ``deliver_due``'s loop (each waits for a change)
    epoll_s: float = 0.0
    samples: list[tuple[int, int]] = field(default_factory=list)  # queued, in flight


def threads_schedstat() -> dict[str, tuple[int, int]]:
    """Per thread of this process: nanoseconds on a core and waiting for one."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            run_ns, wait_ns, _ = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
        out[tid] = (int(run_ns), int(wait_ns))
    return out


def instrument(loop: asyncio.AbstractEventLoop) -> list[Trace]:
    """Time every claim (the whole task: checkout, statements, commit), record transaction and
    epoll wait, and count the deliverer loop's waits, into the last ``Trace`` of the list returned
    (append one per drain)."""
    traces = [Trace()]
    claim, record, wait = worker.Deliverer._claim, worker.Deliverer._record, worker.Deliverer._wait_for_change
    selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
    select = selector.select

    async def timed_claim(self: worker.Deliverer, limit: int) -> int:
        started = time.perf_counter()
        got = await claim(self, limit)
        traces[-1].claims.append((got, time.perf_counter() - started))
        return got

    async def timed_record(self: worker.Deliverer, batch: Any) -> list[str]:
        started = time.perf_counter()
        outcomes = await record(self, batch)
        traces[-1].records.append((len(batch), time.perf_counter() - started))
        return outcomes

    async def counted_wait(self: worker.Deliverer, timeout: float) -> None:
        traces[-1].wakes += 1
        await wait(self, timeout)

    def timed_select(timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return select(timeout)
        finally:
            traces[-1].epoll_s += time.perf_counter() - started

    worker.Deliverer._claim = timed_claim  # type: ignore[method-assign]
    worker.Deliverer._record = timed_record  # type: ignore[method-assign]
    worker.Deliverer._wait_for_change = counted_wait  # type: ignore[method-assign]
    selector.select = timed_select  # type: ignore[method-assign]
    return traces


async def sample(deliverer: worker.Deliverer, trace: Trace) -> None:
    while True:
        trace.samples.append((len(deliverer._queued), len(deliverer._sending)))
        await asyncio.sleep(SAMPLE_S)


def mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def summary(made: int, wall: float, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
            trace: Trace) -> dict[str, Any]:
    main = str(os.getpid())
    spent = {tid: (after[tid][0] - before.get(tid, (0, 0))[0], after[tid][1] - before.get(tid, (0, 0))[1])
             for tid in after}
    return {
        "webhooks": made, "webhooks_per_s": round(made / wall),
        "cpu_us_per_webhook_loop_thread": round(spent[main][0] / 1e3 / made, 1),
        "cpu_us_per_webhook_other_threads": round(sum(run for tid, (run, _) in spent.items() if tid != main)
                                                  / 1e3 / made, 1),
        "waiting_for_core_share": round(sum(wait for _, wait in spent.values()) / 1e9 / wall, 3),
        "epoll_idle_share": round(trace.epoll_s / wall, 3),
        "queue_empty_share": round(mean([int(not queued) for queued, _ in trace.samples]), 3),
        "mean_queued": round(mean([queued for queued, _ in trace.samples]), 1),
        "mean_in_flight": round(mean([sending for _, sending in trace.samples]), 1),
        "claims": len(trace.claims),
        "rows_per_claim": round(mean([rows for rows, _ in trace.claims]), 1),
        "ms_per_claim": round(1000 * mean([seconds for _, seconds in trace.claims]), 1),
        "records": len(trace.records),
        "attempts_per_record": round(mean([attempts for attempts, _ in trace.records]), 1),
        "ms_per_record": round(1000 * mean([seconds for _, seconds in trace.records]), 1),
        "loop_wakes_per_webhook": round(trace.wakes / made, 3),
    }


async def drains(url: str, farm: bench.FarmProcess, cfg: bench.Config, count: int,
                 overrides: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    async with open_runtime(bench.bench_settings(url, cfg, **overrides)) as rt:
        gctune.settle()  # as `frwatch run` does once started
        await bench.add_subscriptions(rt, [farm.hook_url(k) for k in range(cfg.endpoints)])
        traces = instrument(asyncio.get_running_loop())
        for n in range(count):
            owed = await bench.seed_events(rt, cfg.delivery_events, source_id=f"bench-trace-{n}")
            traces.append(Trace())
            trace = traces[-1]
            deliverer = worker.Deliverer(rt)
            await deliverer.start()
            sampler = asyncio.create_task(sample(deliverer, trace))
            before, started = threads_schedstat(), time.perf_counter()
            try:
                made = await deliverer.drain()
            finally:
                wall, after = time.perf_counter() - started, threads_schedstat()
                sampler.cancel()
                await deliverer.close()
            arrived = len(farm.ctl("/_ctl/arrivals")["arrivals"])
            assert made == owed == arrived, (made, owed, arrived)  # every webhook sent, once
            farm.ctl("/_ctl/reset", {})
            figures = summary(made, wall, before, after, trace)
            out.append(figures)
            bench.log(f"drain {n}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="where a delivery drain's time goes (127.0.0.1 only)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--drains", type=int, default=3)
    parser.add_argument("--per-endpoint", type=int, help="FRWATCH_WEBHOOK_PER_ENDPOINT (default: the service's)")
    args = parser.parse_args()
    cfg = bench.FULL
    overrides = {} if args.per_endpoint is None else {"webhook_per_endpoint": args.per_endpoint}
    with tempfile.TemporaryDirectory(prefix="frwatch-trace-") as folder:
        bench.configure_logging("info", Path(folder) / "frwatch.log")  # as bench/run.py logs
        farm = bench.FarmProcess(1, 1, cfg.share)  # its webhook endpoints only
        try:
            with bench.scratch_database(args.backend, Path(folder)) as url:
                figures = asyncio.run(drains(url, farm, cfg, args.drains, overrides))
        finally:
            farm.close()
    print(json.dumps({"backend": args.backend, "overrides": overrides, "drains": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
