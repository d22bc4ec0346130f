"""Evaluate the FR-enforcement classifier on labelled JSON Lines (see shared data README).

    python bench/eval_classifier.py --data tests/data/dev_items.jsonl [--errors]

Prints precision/recall/F1 of is_enforcement, accuracy of each extracted field on true
positives, pairwise F1 of event grouping against the event_key of enforcement items, and throughput; the last line is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from frwatch.classify import Classifier, ItemText, Verdict  # noqa: E402
from frwatch.classify.batch import parse_published  # noqa: E402
from frwatch.classify.group import group_batch, same_party  # noqa: E402
from frwatch.classify.text import fold  # noqa: E402

FIELDS = ("regulator", "jurisdiction", "action_type", "amount+currency", "target")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_item(row: dict[str, Any]) -> ItemText:
    return ItemText(id=row["id"], title=row["title"], summary=row.get("summary") or "",
                    link=row.get("link"), published=parse_published(row.get("published")),
                    language=row.get("language"), source_name=row.get("source_name"))


def _names_match(gold: str | None, pred: str | None) -> bool:
    """Equal after folding, or the same organisation written shorter/longer; a gold value
    listing several bodies ("OIPC BC / CAI") matches any of them."""
    if gold is None or pred is None:
        return gold is pred
    return any(fold(g.strip()) == fold(pred) or same_party(g, pred) for g in gold.split("/"))


def field_ok(name: str, row: dict[str, Any], v: Verdict) -> bool:
    if name == "amount+currency":
        if row.get("amount") is None or v.amount is None:
            return row.get("amount") is None and v.amount is None
        return row.get("currency") == v.currency and abs(row["amount"] - v.amount) <= 0.01 * row["amount"]
    if name in ("regulator", "target"):
        return _names_match(row.get(name), getattr(v, name))
    return row.get(name) == getattr(v, name)


def pairwise_f1(gold: Sequence[str | None], pred: Sequence[str | None]) -> float:
    def pairs(labels: Sequence[str | None]) -> set[tuple[int, int]]:
        return {(i, j) for i, j in combinations(range(len(labels)), 2)
                if labels[i] is not None and labels[i] == labels[j]}
    g, p = pairs(gold), pairs(pred)
    if not g and not p:
        return 1.0
    tp = len(g & p)
    precision = tp / len(p) if p else 0.0
    recall = tp / len(g) if g else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(rows: list[dict[str, Any]], clf: Classifier, show_errors: bool = False) -> dict[str, float]:
    items = [to_item(r) for r in rows]
    verdicts = [clf.classify(i) for i in items]
    gold_pos = [r["label"] == "enforcement" for r in rows]
    tp = sum(g and v.is_enforcement for g, v in zip(gold_pos, verdicts))
    fp = sum(not g and v.is_enforcement for g, v in zip(gold_pos, verdicts))
    fn = sum(g and not v.is_enforcement for g, v in zip(gold_pos, verdicts))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    figures: dict[str, float] = {
        "items": len(rows), "tp": tp, "fp": fp, "fn": fn,
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
    for name in FIELDS:
        hits = [field_ok(name, r, v) for r, v, g in zip(rows, verdicts, gold_pos) if g and v.is_enforcement]
        figures[f"acc_{name}"] = sum(hits) / len(hits) if hits else 0.0
    event_ids = group_batch(list(zip(items, verdicts)))
    # Only enforcement items get event ids, so the reference is event_key of enforcement items.
    gold_events = [r.get("event_key") if g else None for r, g in zip(rows, gold_pos)]
    figures["grouping_pairwise_f1"] = pairwise_f1(gold_events, event_ids)

    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        for item in items:
            clf.classify(item)
        runs += 1
    figures["items_per_s"] = runs * len(items) / (time.perf_counter() - start)

    if show_errors:
        for r, v, g in zip(rows, verdicts, gold_pos):
            wrong = [n for n in FIELDS if g and v.is_enforcement and not field_ok(n, r, v)]
            if g != v.is_enforcement or wrong:
                print(f"- {r['id']}: gold={r['label']} pred={v.is_enforcement} ({v.score}) {wrong}")
                for n in wrong:
                    gold_value = (r.get("amount"), r.get("currency")) if n == "amount+currency" else r.get(n)
                    pred_value = (v.amount, v.currency) if n == "amount+currency" else getattr(v, n.split("+")[0])
                    print(f"    {n}: gold={gold_value!r} pred={pred_value!r}")
                if g != v.is_enforcement:
                    print(f"    reasons: {v.reasons}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--rules", type=Path, default=None, help="rules dir (default config/rules)")
    parser.add_argument("--errors", action="store_true", help="list misclassified items")
    args = parser.parse_args(argv)
    clf = Classifier.load(args.rules)
    figures = evaluate(load(args.data), clf, args.errors)
    print(f"{'metric':<28}{'value':>10}")
    for key, value in figures.items():
        print(f"{key:<28}{value:>10.3f}" if isinstance(value, float) else f"{key:<28}{value:>10}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
