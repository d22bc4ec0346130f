import random
from datetime import timedelta

from frwatch.ingest.schedule import error_delay, next_poll_delay

MIN, MAX = timedelta(minutes=5), timedelta(hours=24)


def test_interval_with_jitter_and_clamp() -> None:
    rng = random.Random(1)
    delays = [next_poll_delay(timedelta(minutes=15), minimum=MIN, maximum=MAX, rng=rng) for _ in range(200)]
    assert min(delays) >= timedelta(minutes=13.5) and max(delays) <= timedelta(minutes=16.5)
    assert len(set(delays)) > 100  # really jittered
    assert next_poll_delay(timedelta(seconds=30), minimum=MIN, maximum=MAX, rng=rng) >= MIN * 0.9


def test_feed_hints_stretch_but_never_shorten() -> None:
    rng = random.Random(2)
    stretched = next_poll_delay(timedelta(minutes=15), minimum=MIN, maximum=MAX, feed_ttl=timedelta(hours=2), rng=rng)
    assert stretched >= timedelta(hours=1.8)
    same = next_poll_delay(timedelta(minutes=15), minimum=MIN, maximum=MAX, max_age=timedelta(seconds=60), rng=rng)
    assert same >= timedelta(minutes=13.5)


def test_error_backoff_grows_and_caps() -> None:
    rng = random.Random(3)
    delays = [error_delay(n, timedelta(minutes=15), maximum=MAX, rng=rng) for n in range(1, 12)]
    assert delays[0] < delays[1] < delays[2] < delays[3]
    assert all(d <= MAX * 1.1 for d in delays)
    assert delays[-1] >= MAX


def test_retry_after_wins_when_longer_but_is_capped() -> None:
    rng = random.Random(4)
    assert error_delay(1, timedelta(minutes=15), maximum=MAX, retry_after=timedelta(hours=3), rng=rng) >= timedelta(hours=3)
    assert error_delay(1, timedelta(minutes=15), maximum=MAX, retry_after=timedelta(days=30), rng=rng) <= MAX * 1.1
