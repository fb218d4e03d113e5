"""The validation gate on held-out sites: worse models are refused, with the segment and the numbers."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from models.risk.candidates import choose_threshold, cross_validate_candidates
from models.risk.examples import Examples
from models.risk.gates import ScoresFn, validate_candidate, wilson_upper
from models.risk.pipeline import PipelineOptions, fit_pipeline


@pytest.fixture(scope="module")
def champion(training: Examples) -> tuple[Pipeline, float]:
    """A random forest trained on the real labels, with the threshold its cross-validation chose."""
    [score] = cross_validate_candidates(training, PipelineOptions(), ["random_forest"], 3, 0)
    return fit_pipeline(PipelineOptions(), "random_forest", 0, training.X, training.y), score.threshold


def _fn(model: Pipeline) -> ScoresFn:
    return lambda X: model.predict_proba(X)[:, 1]


def _table(holdout: Examples, p: np.ndarray) -> ScoresFn:
    """Fixed scores for the held-out rows, looked up by the row itself (whatever order they come in)."""
    by_row = {row.tobytes(): value for row, value in zip(holdout.X, p)}
    return lambda X: np.array([by_row[row.tobytes()] for row in X])


def test_a_model_trained_on_shuffled_labels_is_rejected_naming_what_got_worse(
        training: Examples, holdout: Examples, champion: tuple[Pipeline, float]) -> None:
    model, threshold = champion
    shuffled = np.random.default_rng(0).permutation(training.y)
    noise = fit_pipeline(PipelineOptions(), "random_forest", 0, training.X, shuffled)
    noise_threshold = choose_threshold(shuffled, noise.predict_proba(training.X)[:, 1], 0.97)
    result = validate_candidate(_fn(noise), _fn(model), holdout, candidate_threshold=noise_threshold,
                                champion_threshold=threshold)
    assert not result.passed
    ours, theirs = result.overall["candidate"]["average_precision"], result.overall["champion"]["average_precision"]
    assert theirs - ours > 0.1
    assert any(r.startswith(f"overall: average precision {ours:.3f} is below the champion's {theirs:.3f} by more "
                            "than 0.02") for r in result.reasons)
    assert any(r.startswith(("site=", "kind=", "device_type=", "time_of_day=", "gas=")) for r in result.reasons)
    failed = [s for s in result.segments if not s.passed]
    assert failed and all(f"{s.segment}={s.value}" in " ".join(result.reasons) for s in failed)


def test_lower_recall_on_one_alarm_kind_is_rejected_even_when_overall_improves(
        holdout: Examples, champion: tuple[Pipeline, float]) -> None:
    model, threshold = champion
    theirs = model.predict_proba(holdout.X)[:, 1]
    caught = (holdout.y == 1) & (theirs >= threshold)
    kind = Counter(holdout.kind[caught]).most_common(1)[0][0]
    ours = np.where(holdout.y == 1, 0.9, 0.1)  # all but perfect ...
    missed = np.flatnonzero(caught & (holdout.kind == kind))[0]
    ours[missed] = 0.2  # ... except one real alarm of one kind the champion catches
    result = validate_candidate(_table(holdout, ours), _fn(model), holdout, candidate_threshold=0.5,
                                champion_threshold=threshold)
    assert result.overall["candidate"]["average_precision"] > result.overall["champion"]["average_precision"]
    assert result.overall["candidate"]["recall"] >= 0.95
    assert not result.passed
    [reason] = result.reasons
    assert reason.startswith(f"kind={kind}: recall on confirmed alarms")
    kind_segment = next(s for s in result.segments if s.segment == "kind" and s.value == kind)
    assert not kind_segment.passed
    assert kind_segment.candidate_recall < kind_segment.champion_recall  # type: ignore[operator]
    positives = int(np.sum((holdout.y == 1) & (holdout.kind == kind)))
    assert f"({positives - 1 - int(np.sum((holdout.y == 1) & (holdout.kind == kind) & ~caught))}/{positives} caught)" \
        in reason


def test_worse_in_one_site_is_rejected_naming_the_site(holdout: Examples, champion: tuple[Pipeline, float]) -> None:
    model, threshold = champion
    theirs = model.predict_proba(holdout.X)[:, 1]
    ours = theirs.copy()
    site_c = holdout.site == "site-c"
    ours[site_c] = np.random.default_rng(3).permutation(ours[site_c])  # right scores, wrong rows
    result = validate_candidate(_table(holdout, ours), _fn(model), holdout, candidate_threshold=threshold,
                                champion_threshold=threshold)
    assert not result.passed
    assert any(r.startswith("site=site-c: average precision") for r in result.reasons)
    assert not any(r.startswith("site=site-d") for r in result.reasons)


def test_without_a_champion_the_recall_floor_still_holds(holdout: Examples) -> None:
    perfect = _table(holdout, np.where(holdout.y == 1, 0.8, 0.2))
    assert validate_candidate(perfect, None, holdout, candidate_threshold=0.5).passed
    result = validate_candidate(perfect, None, holdout, candidate_threshold=0.9)
    assert not result.passed
    positives = int(holdout.y.sum())
    assert result.reasons == [
        f"overall: recall on confirmed alarms 0.000 is under the floor 0.95 (0/{positives} caught; "
        f"at most {wilson_upper(0, positives):.3f} at 90 % confidence)"]
    assert "champion" not in result.overall


def test_the_floor_refuses_what_is_clearly_under_it_not_one_miss_of_a_dozen() -> None:
    assert wilson_upper(12, 13) > 0.95 > wilson_upper(11, 13)  # one miss of 13 is a true 0.95 by chance
    assert wilson_upper(95, 100) > 0.95 > wilson_upper(90, 100)
    assert wilson_upper(0, 0) == 1.0


def test_small_segments_are_reported_but_not_counted(holdout: Examples) -> None:
    scores = _table(holdout, np.where(holdout.y == 1, 0.8, 0.2))
    result = validate_candidate(scores, scores, holdout, min_segment=10_000, candidate_threshold=0.5,
                                champion_threshold=0.5)
    assert result.passed and result.segments and not any(s.counted for s in result.segments)
    counted = validate_candidate(scores, scores, holdout, min_segment=30, candidate_threshold=0.5,
                                 champion_threshold=0.5)
    for s in counted.segments:
        assert s.counted == (s.n >= 30 and 0 < s.positives < s.n)
    assert {s.segment for s in counted.segments} == {"site", "device_type", "gas", "time_of_day", "kind"}
    assert {"night", "day"} == {s.value for s in counted.segments if s.segment == "time_of_day"}
    assert "(none)" in {s.value for s in counted.segments if s.segment == "gas"}


def test_bad_calls_are_named(holdout: Examples) -> None:
    scores = _table(holdout, np.where(holdout.y == 1, 0.8, 0.2))
    with pytest.raises(ValueError, match="champion_threshold"):
        validate_candidate(scores, scores, holdout, candidate_threshold=0.5)
    with pytest.raises(ValueError, match="gave 3 scores"):
        validate_candidate(lambda X: np.zeros(3), None, holdout, candidate_threshold=0.5)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        validate_candidate(lambda X: np.full(len(X), 2.0), None, holdout, candidate_threshold=0.5)
    with pytest.raises(ValueError, match="both classes"):
        validate_candidate(scores, None, holdout.take(holdout.y == 1), candidate_threshold=0.5)
