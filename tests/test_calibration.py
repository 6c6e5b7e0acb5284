"""Temperature scaling, ECE and the expected level, on predictions with known calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from motorflow import calibration as cal


def overconfident(n: int, k: int, true_t: float, seed: int):
    """Predictions whose labels are drawn from softmax(logits), shown as softmax(logits/t)
    with t = 1/true_t: scaling by ``true_t`` recovers the calibrated probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, k))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in true])
    shown = np.exp(logits * true_t)
    return shown / shown.sum(1, keepdims=True), y, true


def test_temperature_recovers_the_overconfidence():
    probs, y, _ = overconfident(4000, 4, 2.5, 0)
    t = cal.fit_temperature(probs, y)
    assert t == pytest.approx(2.5, rel=0.1)
    scaled = cal.apply_temperature(probs, t)
    assert np.allclose(scaled.sum(1), 1.0)
    assert (scaled.argmax(1) == probs.argmax(1)).all()  # the predicted class is kept
    assert cal.ece(scaled, y) < 0.03 < cal.ece(probs, y)
    assert cal.nll(scaled, y) < cal.nll(probs, y)


def test_calibrated_predictions_keep_temperature_one():
    probs, y, true = overconfident(4000, 3, 1.0, 1)
    assert cal.fit_temperature(true, y) == pytest.approx(1.0, abs=0.1)


def test_ece_of_a_known_case():
    # Two bins: confidence 0.9 with 80 % correct, confidence 0.6 with 60 % correct.
    probs = np.array([[0.9, 0.1]] * 10 + [[0.6, 0.4]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [0] * 6 + [1] * 4)
    assert cal.ece(probs, y) == pytest.approx(0.5 * 0.1 + 0.5 * 0.0)
    bins = cal.reliability(probs, y)
    assert [(b["n"], round(b["accuracy"], 3)) for b in bins] == [(10, 0.6), (10, 0.8)]


def test_cross_fitting_never_uses_the_scored_split():
    probs, y, _ = overconfident(300, 4, 2.0, 2)
    groups = np.repeat(np.arange(5), 60)
    # Corrupt split 0's labels: if its own rows set its temperature it would change.
    y_bad = y.copy()
    y_bad[groups == 0] = (y[groups == 0] + 1) % 4
    a, fits_a = cal.cross_fitted(probs, y, groups)
    b, fits_b = cal.cross_fitted(probs, y_bad, groups)
    assert np.array_equal(a[groups == 0], b[groups == 0])
    assert fits_a[0]["temperature"] == fits_b[0]["temperature"]
    assert fits_a[1]["temperature"] != fits_b[1]["temperature"]
    assert all(f["n_fit"] == 240 for f in fits_a)


def test_expected_level_and_interval():
    probs = np.array([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.05, 0.05, 0.1, 0.8]])
    mean, low, high = cal.expected_level(probs, [1, 2, 3, 4], coverage=0.8)
    assert mean == pytest.approx([2.0, 2.5, 3.65])
    assert low.tolist() == [2, 1, 2] and high.tolist() == [2, 4, 4]
    with pytest.raises(ValueError, match="increasing"):
        cal.expected_level(probs, [1, 3, 2, 4])


def test_summarise_reports_before_and_cross_fitted_after():
    probs, y, _ = overconfident(400, 4, 2.5, 3)
    labels = ["I", "II", "III", "IV"]
    rows = pd.DataFrame(probs, columns=[f"prob_{c}" for c in labels])
    rows["label"] = [labels[i] for i in y]
    rows["subject_id"] = [f"s{i // 2}" for i in range(len(y))]
    rows["label"] = rows.groupby("subject_id")["label"].transform("first")  # one per subject
    rows["split"] = [f"fold{(i // 2) % 5}" for i in range(len(y))]
    rows["repeat"] = 0
    out = cal.summarise(rows, labels)
    assert out["n"] == 400 and len(out["folds"]) == 5
    assert out["ece"]["video"]["after"] < out["ece"]["video"]["before"]
    assert out["temperature"] > 1.5
    assert sum(b["n"] for b in out["reliability"]["subject"]["after"]) == 200


def _rows(probs, y, labels, n_splits=5):
    rows = pd.DataFrame(probs, columns=[f"prob_{c}" for c in labels])
    rows["label"] = [labels[i] for i in y]
    rows["subject_id"] = [f"s{i}" for i in range(len(y))]
    rows["split"] = [f"fold{i % n_splits}" for i in range(len(y))]
    rows["repeat"] = 0
    return rows


def test_isotonic_maps_are_chosen_only_with_enough_data_and_a_lower_nll():
    # Confidence that means a step: 40 % correct below 0.75, 97 % above (no temperature
    # gives a step; a monotone map of each class's probability does, given enough data).
    rng = np.random.default_rng(5)
    n, labels = 1500, ["a", "b", "c"]
    top = rng.uniform(0.4, 0.95, n)
    y_top = rng.random(n) < np.where(top > 0.75, 0.97, 0.4)
    pred = rng.integers(0, 3, n)
    probs = np.full((n, 3), 0.0)
    probs[np.arange(n), pred] = top
    for i in range(n):
        others = [k for k in range(3) if k != pred[i]]
        probs[i, others] = (1 - top[i]) / 2
    y = np.where(y_top, pred, (pred + rng.integers(1, 3, n)) % 3)
    out = cal.summarise(_rows(probs, y, labels), labels)
    assert set(out["candidates"]) == {"temperature", "isotonic"}
    assert out["method"] == "isotonic" and out["map"]["method"] == "isotonic"
    assert out["candidates"]["isotonic"] < out["candidates"]["temperature"]
    mapped = cal.apply_map(out["map"], probs)
    assert np.allclose(mapped.sum(1), 1.0) and cal.nll(mapped, y) < cal.nll(probs, y)
    # 20 predictions per class: temperature scaling only.
    few = cal.summarise(_rows(probs[:60], y[:60], labels), labels)
    assert set(few["candidates"]) == {"temperature"} and few["method"] == "temperature"
    assert few["map"] == {"method": "temperature", "temperature": few["temperature"]}
