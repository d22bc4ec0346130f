"""Regression: the classifier must meet the issue's targets on the held-out set too."""

from __future__ import annotations

import sys
from pathlib import Path

from frwatch.classify import Classifier

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "holdout_items.jsonl"
sys.path.insert(0, str(ROOT / "bench"))

from eval_classifier import evaluate, load  # noqa: E402


def test_holdout_set_meets_targets() -> None:
    f = evaluate(load(DATA), Classifier.load())
    assert f["recall"] >= 0.97 and f["precision"] >= 0.93, f
    for name in ("regulator", "jurisdiction", "action_type", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_target"] >= 0.80, f
    assert f["grouping_pairwise_f1"] >= 0.90, f
