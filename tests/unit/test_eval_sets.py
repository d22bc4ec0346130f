"""Regression: the classifier must meet the issue's targets on the labelled dev set and on the
held-out set (written later, by another author, without seeing the rules)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from frwatch.classify import Classifier
from frwatch.classify.batch import classify_stream

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "bench"))

from eval_classifier import evaluate, load  # noqa: E402


@pytest.mark.parametrize("name", ["dev_items", "holdout_items"])
def test_labelled_set_meets_targets(name: str) -> None:
    f = evaluate(load(DATA / f"{name}.jsonl"), Classifier.load())
    assert f["recall"] >= 0.97 and f["precision"] >= 0.93, f
    for name in ("regulator", "jurisdiction", "action_type", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_target"] >= 0.80, f
    assert f["grouping_pairwise_f1"] >= 0.90, f


def test_second_held_out_set_keeps_its_detection() -> None:
    """The second held-out set (written blind in the tenth session; six of its languages had no
    lexicon then). Its fields are reported in the README, not held to the targets: the regulator,
    amount and target of Japanese, Korean and Turkish items are mostly not read yet."""
    f = evaluate(load(DATA / "holdout2_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.90 and f["precision"] >= 0.93, f
    assert f["acc_action_type"] >= 0.90, f


def test_third_held_out_set_keeps_its_detection() -> None:
    """The third held-out set (written blind in the tenth session; first contact P 0.781,
    R 0.893). Mostly decisions for and against an action, told alike; targets are held low
    because half its targets are public bodies named only in passing."""
    f = evaluate(load(DATA / "holdout3_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.90, f
    assert f["acc_target"] >= 0.60 and f["grouping_pairwise_f1"] >= 0.80, f


def test_fourth_held_out_set_keeps_its_detection_and_fields() -> None:
    """The fourth held-out set (written blind in the eleventh session; first contact P 0.941,
    R 0.865, target 0.812, regulator 0.781). Its Finnish and Czech items have no lexicon."""
    f = evaluate(load(DATA / "holdout4_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.90 and f["precision"] >= 0.95, f
    for name in ("jurisdiction", "action_type", "amount+currency", "target"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_regulator"] >= 0.80 and f["grouping_pairwise_f1"] >= 0.85, f


def test_fifth_held_out_set_keeps_its_detection() -> None:
    """The fifth held-out set (written blind in the eleventh session, mostly English; first
    contact P 0.711, R 0.844). Its remaining false positives mostly mention a past action
    against face recognition as background to other news."""
    f = evaluate(load(DATA / "holdout5_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.80, f
    for name in ("jurisdiction", "action_type", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_regulator"] >= 0.80 and f["acc_target"] >= 0.80, f


def test_sixth_held_out_set_keeps_its_detection() -> None:
    """The sixth held-out set (written blind at the end of the eleventh session, mostly not in
    English; first contact P 0.914, R 0.889, target 0.719, regulator 0.719)."""
    f = evaluate(load(DATA / "holdout6_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.90, f
    for name in ("jurisdiction", "action_type", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_regulator"] >= 0.75 and f["acc_target"] >= 0.75, f


def test_seventh_held_out_set_keeps_its_detection() -> None:
    """The seventh held-out set (written blind at the end of the eleventh session, mostly
    English: law-firm alerts, wire copy, Title Case headlines; first contact P 0.865, R 0.970,
    target 0.750)."""
    f = evaluate(load(DATA / "holdout7_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.90, f
    for name in ("regulator", "jurisdiction", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_action_type"] >= 0.80 and f["acc_target"] >= 0.75, f


def test_eighth_held_out_set_keeps_its_detection() -> None:
    """The eighth held-out set (written blind at the end of the eleventh session: fifteen actions
    each reported two to four ways; first contact P 0.850, R 0.919, grouping 0.655)."""
    f = evaluate(load(DATA / "holdout8_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.95, f
    for name in ("jurisdiction", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_regulator"] >= 0.75 and f["acc_target"] >= 0.70 and f["grouping_pairwise_f1"] >= 0.80, f


def test_ninth_held_out_set_keeps_its_detection() -> None:
    """The ninth held-out set (written blind last in the eleventh session: small regulators,
    workplaces, opinions and annual reports in the dev set's languages; first contact P 0.757,
    R 0.875)."""
    f = evaluate(load(DATA / "holdout9_items.jsonl"), Classifier.load())
    assert f["recall"] >= 0.95 and f["precision"] >= 0.90, f
    for name in ("jurisdiction", "amount+currency"):
        assert f[f"acc_{name}"] >= 0.90, (name, f)
    assert f["acc_regulator"] >= 0.80 and f["acc_action_type"] >= 0.85 and f["acc_target"] >= 0.60, f


def test_classify_stream_reports_bad_lines_and_continues() -> None:
    lines = [
        json.dumps({"id": "1", "title": "ICO fines Acme £1m over facial recognition", "summary": ""}),
        "{not json",
        json.dumps({"id": "2", "summary": "no title"}),
        json.dumps({"id": "3", "title": "Weather today", "summary": "", "published": "2024-01-02"}),
    ]
    out, err = io.StringIO(), io.StringIO()
    assert classify_stream(lines, out, Classifier.load(), err) == 2
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in records] == ["1", "3"]
    assert records[0]["is_enforcement"] and records[0]["event_id"].startswith("evt_")
    assert records[0]["amount"] == 1_000_000 and records[0]["currency"] == "GBP"
    assert records[1]["event_id"] is None and records[1]["action_type"] is None
    assert "line 2" in err.getvalue() and "line 3" in err.getvalue()
