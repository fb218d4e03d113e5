"""Recommendation per profile: accuracy against measured cost, never below the recall floor, with why."""
from __future__ import annotations

import dataclasses
import pickle
import time

import numpy as np
import pytest

from models.risk.candidates import CandidateScore
from models.risk.examples import Examples
from models.risk.pipeline import PipelineOptions, fit_pipeline
from models.risk.recommend import MeasuredCost, Weights, recommend


@pytest.fixture(scope="module")
def measured(training: Examples) -> dict[str, MeasuredCost]:
    """Each model's real cost here: p99 of one-row scoring, and its pickled size as its memory."""
    costs = {}
    for algorithm in ("logistic_regression", "random_forest"):
        model = fit_pipeline(PipelineOptions(), algorithm, 0, training.X, training.y)
        times = []
        for row in training.X[:100]:
            start = time.perf_counter()
            model.predict_proba(row[None, :])
            times.append((time.perf_counter() - start) * 1000.0)
        costs[algorithm] = MeasuredCost(float(np.percentile(times, 99)), len(pickle.dumps(model)) / 1e6)
    assert costs["random_forest"].memory_mb > 10 * costs["logistic_regression"].memory_mb
    return costs


def _score(algorithm: str, average_precision: float, recall: float = 0.96) -> CandidateScore:
    return CandidateScore(algorithm=algorithm, roc_auc=average_precision - 0.02,  # type: ignore[arg-type]
                          average_precision=average_precision, recall=recall, precision=0.7, f1=0.8, brier=0.12,
                          fit_s_per_100k=5.0, threshold=0.3, recall_floor=0.95, folds=5, rows=1000)


@pytest.fixture()
def scores() -> list[CandidateScore]:
    """A forest more accurate than the logistic regression: the trade-off the weights decide."""
    return [_score("logistic_regression", 0.88), _score("random_forest", 0.93)]


def test_a_high_cost_weight_picks_the_cheaper_model_and_says_why(scores: list[CandidateScore],
                                                                 measured: dict[str, MeasuredCost]) -> None:
    costs = {"rpi4": measured}
    accurate = recommend(scores, costs, Weights(accuracy=1.0, cost=0.0))
    assert accurate.winner("rpi4") == "random_forest"
    cheap = recommend(scores, costs, Weights(accuracy=0.2, cost=0.8))
    assert cheap.winner("rpi4") == "logistic_regression"
    choice = cheap.profiles["rpi4"]
    lr = measured["logistic_regression"]
    assert choice.why.startswith("logistic_regression wins on rpi4 with score")
    assert f"{lr.latency_p99_ms:.3g} ms" in choice.why and f"{lr.memory_mb:.3g} MB" in choice.why
    assert "average precision 0.880 (best 0.930)" in choice.why
    assert "ahead of random_forest" in choice.why
    [runner] = choice.runners_up
    assert runner.algorithm == "random_forest" and runner.score < choice.winner.score  # type: ignore[union-attr]
    assert choice.winner.cost_score == 1.0 and runner.accuracy_score == 1.0  # type: ignore[union-attr]


def test_under_the_recall_floor_is_never_recommended(scores: list[CandidateScore],
                                                     measured: dict[str, MeasuredCost]) -> None:
    weak = [dataclasses.replace(s, recall=0.9) if s.algorithm == "random_forest" else s for s in scores]
    result = recommend(weak, {"rpi4": measured}, Weights(accuracy=1.0, cost=0.0))
    assert result.winner("rpi4") == "logistic_regression"
    why_not = result.profiles["rpi4"].excluded["random_forest"]
    assert why_not == "recall on confirmed alarms 0.900 is under the floor 0.95"
    assert "the only candidate that qualifies" in result.profiles["rpi4"].why
    none = recommend([dataclasses.replace(s, recall=0.5) for s in scores], {"rpi4": measured}, Weights())
    assert none.winner("rpi4") is None and none.profiles["rpi4"].why.startswith("no candidate qualifies on rpi4")


def test_each_profile_ranks_only_what_was_measured_there(scores: list[CandidateScore],
                                                         measured: dict[str, MeasuredCost]) -> None:
    costs = {"rpi4": measured, "jetson-orin-nano": {"random_forest": measured["random_forest"]}}
    result = recommend(scores, costs, Weights(accuracy=0.2, cost=0.8))
    assert result.winner("rpi4") == "logistic_regression"
    assert result.winner("jetson-orin-nano") == "random_forest"
    assert "no measured cost on jetson-orin-nano" in result.profiles["jetson-orin-nano"].excluded["logistic_regression"]


def test_bad_inputs_are_named(scores: list[CandidateScore]) -> None:
    with pytest.raises(ValueError, match="latency_p99_ms must be a positive number"):
        MeasuredCost(0.0, 1.0)
    with pytest.raises(ValueError, match="not both 0"):
        Weights(0.0, 0.0)
    with pytest.raises(ValueError, match="one score per algorithm"):
        recommend([scores[0], scores[0]], {}, Weights())
