"""Classifier throughput in CPU time (one core), robust to other load on the machine.

    python bench/classify_speed.py [--data FILE ...] [--seconds 3]

Classifies every item of the labelled sets repeatedly and divides by the process CPU time
(``time.process_time``), not wall time, so concurrent work does not skew the figure. The
best of five rounds is reported; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services"))
sys.path.insert(0, str(ROOT / "bench"))

from eval_classifier import load, to_item
from frwatch.classify import Classifier, ItemText

DATA = (ROOT / "tests" / "data" / "dev_items.jsonl", ROOT / "tests" / "data" / "holdout_items.jsonl")
ROUNDS = 5


def items_per_cpu_second(clf: Classifier, items: list[ItemText], seconds: float) -> float:
    """Items classified per CPU second over whole passes lasting at least ``seconds``."""
    passes, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for item in items:
            clf.classify(item)
        passes += 1
    return passes * len(items) / (time.process_time() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=list(DATA))
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per round")
    args = parser.parse_args(argv)
    clf = Classifier.load()
    items = [to_item(row) for path in args.data for row in load(path)]
    for item in items:  # warm caches (feed names) before timing
        clf.classify(item)
    rates = [items_per_cpu_second(clf, items, args.seconds / ROUNDS) for _ in range(ROUNDS)]
    best = max(rates)
    print(f"{len(items)} items, best of {ROUNDS}: {best:,.0f} items/s (CPU time, one core)")
    print(json.dumps({"items": len(items), "items_per_cpu_s": round(best, 1),
                      "rounds": [round(r, 1) for r in rates]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
