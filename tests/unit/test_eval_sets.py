"""Regression: the classifier must meet the issue's targets on the labelled dev set and on the
first held-out set (written later, by another author, without seeing the rules), and keep each
later held-out set above the floors it reached."""

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


_TARGETS = {"recall": 0.97, "precision": 0.93, "acc_regulator": 0.90, "acc_jurisdiction": 0.90,
            "acc_action_type": 0.90, "acc_amount+currency": 0.90, "acc_target": 0.80,
            "grouping_pairwise_f1": 0.90}

#: Each labelled set's floors (figures from ``evaluate``). The held-out sets were written by
#: other authors who never saw the rules; their first-contact figures are in the README.
FLOORS: dict[str, dict[str, float]] = {
    # the dev set and the first held-out set: the targets
    "dev_items": _TARGETS,
    "holdout_items": _TARGETS,
    # six of its languages had no lexicon when it was written; the regulator, amount and target
    # of its Japanese, Korean and Turkish items are mostly not read yet, so only detection is held
    "holdout2_items": {"recall": 0.90, "precision": 0.93, "acc_action_type": 0.90},
    # decisions for and against an action, told alike; half its targets are public bodies named
    # only in passing
    "holdout3_items": {"recall": 0.95, "precision": 0.90, "acc_target": 0.60, "grouping_pairwise_f1": 0.80},
    # 16 languages
    "holdout4_items": {"recall": 0.90, "precision": 0.95, "acc_jurisdiction": 0.90, "acc_action_type": 0.90,
                       "acc_amount+currency": 0.90, "acc_target": 0.90, "acc_regulator": 0.80,
                       "grouping_pairwise_f1": 0.85},
    # mostly English; its false positives mention a past action as background to other news
    "holdout5_items": {"recall": 0.95, "precision": 0.80, "acc_jurisdiction": 0.90, "acc_action_type": 0.90,
                       "acc_amount+currency": 0.90, "acc_regulator": 0.80, "acc_target": 0.80,
                       "grouping_pairwise_f1": 0.80},
    # three in four items not in English
    "holdout6_items": {"recall": 0.95, "precision": 0.90, "acc_jurisdiction": 0.90, "acc_action_type": 0.90,
                       "acc_amount+currency": 0.90, "acc_regulator": 0.75, "acc_target": 0.75,
                       "grouping_pairwise_f1": 0.85},
    # law-firm alerts, wire copy, Title Case headlines
    "holdout7_items": {"recall": 0.95, "precision": 0.90, "acc_regulator": 0.90, "acc_jurisdiction": 0.90,
                       "acc_amount+currency": 0.90, "acc_action_type": 0.85, "acc_target": 0.75,
                       "grouping_pairwise_f1": 0.85},
    # fifteen actions each reported two to four ways
    "holdout8_items": {"recall": 0.95, "precision": 0.95, "acc_jurisdiction": 0.90, "acc_amount+currency": 0.90,
                       "acc_regulator": 0.75, "acc_target": 0.70, "grouping_pairwise_f1": 0.80},
    # small regulators, workplaces, opinions and annual reports in the dev set's languages
    "holdout9_items": {"recall": 0.95, "precision": 0.90, "acc_jurisdiction": 0.90, "acc_amount+currency": 0.90,
                       "acc_regulator": 0.80, "acc_action_type": 0.85, "acc_target": 0.60,
                       "grouping_pairwise_f1": 0.80},
    # feed noise: entities and tags left as text, datelines, digests, background mentions
    "holdout10_items": {"recall": 0.95, "precision": 0.95, "acc_regulator": 0.90, "acc_jurisdiction": 0.90,
                        "acc_action_type": 0.90, "acc_amount+currency": 0.90, "acc_target": 0.90,
                        "grouping_pairwise_f1": 0.90},
    # sixteen actions told two to five ways, Clearview's by six bodies among them
    "holdout11_items": {"recall": 0.90, "precision": 0.90, "acc_regulator": 0.90, "acc_jurisdiction": 0.90,
                        "acc_action_type": 0.85, "acc_amount+currency": 0.90, "acc_target": 0.90,
                        "grouping_pairwise_f1": 0.90},
    # a year's mix, a third enforcement, small actions and hard negatives; few events told twice
    "holdout12_items": {"recall": 0.95, "precision": 0.95, "acc_regulator": 0.80, "acc_jurisdiction": 0.85,
                        "acc_action_type": 0.90, "acc_amount+currency": 0.90, "acc_target": 0.85},
    # aggregator items and less-covered countries
    "holdout13_items": {"recall": 0.90, "precision": 0.85, "acc_regulator": 0.80, "acc_jurisdiction": 0.90,
                        "acc_action_type": 0.90, "acc_amount+currency": 0.90, "acc_target": 0.70},
    # a representative month, Finnish and Czech included
    "holdout14_items": {"recall": 0.90, "precision": 0.90, "acc_regulator": 0.85, "acc_jurisdiction": 0.85,
                        "acc_action_type": 0.90, "acc_amount+currency": 0.90, "acc_target": 0.85,
                        "grouping_pairwise_f1": 0.85},
}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


@pytest.mark.parametrize("name", FLOORS)
def test_labelled_set_keeps_its_floors(clf: Classifier, name: str) -> None:
    f = evaluate(load(DATA / f"{name}.jsonl"), clf)
    below = {key: f[key] for key, floor in FLOORS[name].items() if f[key] < floor}
    assert not below, (name, below, f)


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
