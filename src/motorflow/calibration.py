"""Calibrated class probabilities: temperature scaling on out-of-fold predictions.

A model's softmax is usually over-confident on a cohort of a few dozen subjects; a clinician
reading "level II, 90 %" must be able to trust the 90 %.  One temperature ``T`` per model
divides the log-probabilities (Guo et al. 2017, "On calibration of modern neural
networks"): it keeps the predicted class and changes only the confidence, so one parameter
can be fitted on the few out-of-fold predictions a cross-validation gives.  Where every
class has at least ``ISOTONIC_MIN_PER_CLASS`` predictions, per-class isotonic maps
(renormalised; Zadrozny & Elkan 2002) are tried too, and the method with the lower
cross-fitted NLL is chosen; with fewer the monotone maps would follow the noise.

The calibration is judged without leakage: the "after" figures are *cross-fitted*, the
predictions of each test split scaled by a temperature fitted on the other splits' test
predictions of the same repeat, so no subject's own prediction sets the temperature it is
scored with.  The temperature a final model would use is fitted on all of them.

Expected calibration error (ECE): the top-label confidence in ``n_bins`` equal-width bins,
the mean over predictions of |accuracy − confidence| per bin.  For ordered labels (GMFCS)
:func:`expected_level` gives the expected level and a central interval of the predictive
distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

_LOG_T_BOUNDS = (-3.0, 3.0)  # T in [0.05, 20]
_EPS = 1e-12
ISOTONIC_MIN_PER_CLASS = 50
METHODS = ("temperature", "isotonic")


def fit_map(method: str, probs: np.ndarray, y: np.ndarray) -> dict:
    """A calibration map (plain values: it is stored in bundles) fitted on ``probs``, ``y``."""
    if method == "temperature":
        return {"method": method, "temperature": fit_temperature(probs, y)}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        maps = []
        for k in range(probs.shape[1]):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(probs[:, k], (y == k).astype(float))
            maps.append({"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()})
        return {"method": method, "classes": maps}
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")


def apply_map(cal: dict, probs: np.ndarray) -> np.ndarray:
    """``probs`` (N, K) through a map of :func:`fit_map` (rows renormalised)."""
    probs = np.asarray(probs, dtype=float)
    if cal["method"] == "temperature":
        return apply_temperature(probs, cal["temperature"])
    out = np.stack(
        [np.interp(probs[:, k], m["x"], m["y"]) for k, m in enumerate(cal["classes"])], axis=1
    )
    total = out.sum(axis=1, keepdims=True)
    # A row every map sends to 0 keeps the model's own probabilities.
    return np.where(total > _EPS, out / np.where(total > _EPS, total, 1.0), probs)


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=float), _EPS, 1.0))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """(N, K) probabilities rescaled by ``temperature`` (> 1 softens, < 1 sharpens)."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be finite and > 0, got {temperature}")
    return np.exp(log_softmax(_log_probs(probs) / temperature, axis=1))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes ``y`` (N,) (indices into K)."""
    return float(-np.mean(_log_probs(probs)[np.arange(len(y)), y]))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the NLL of ``y``; 1.0 (no change) for no data."""
    probs, y = np.asarray(probs, dtype=float), np.asarray(y, dtype=int)
    if len(y) == 0:
        return 1.0
    logp = _log_probs(probs)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logp / np.exp(log_t), axis=1)[rows, y]))

    res = minimize_scalar(loss, bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(res.x))


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Top-label reliability per equal-width confidence bin (bins with predictions only):
    ``{"low", "high", "n", "confidence", "accuracy"}``."""
    probs, y = np.asarray(probs, dtype=float), np.asarray(y, dtype=int)
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(sel.sum()),
                        "confidence": float(conf[sel].mean()),
                        "accuracy": float(correct[sel].mean())})  # fmt: skip
    return out


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error (top label, equal-width bins); NaN without predictions."""
    bins = reliability(probs, y, n_bins)
    n = sum(b["n"] for b in bins)
    if n == 0:
        return float("nan")
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / n)


def cross_fitted(
    probs: np.ndarray,
    y: np.ndarray,
    groups: Sequence,
    repeats: Sequence | None = None,
    method: str = "temperature",
) -> tuple[np.ndarray, list[dict]]:
    """Each group's (test split's) probabilities through a map fitted on the other groups of
    its repeat.  Returns the calibrated (N, K) probabilities and one record per (repeat,
    group) with its map's temperature (temperature scaling) and the number of predictions
    it was fitted on."""
    probs, y = np.asarray(probs, dtype=float), np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    repeats = np.zeros(len(y), dtype=int) if repeats is None else np.asarray(repeats)
    out = probs.copy()
    fits = []
    for rep in np.unique(repeats):
        in_rep = repeats == rep
        for g in np.unique(groups[in_rep]):
            test = in_rep & (groups == g)
            train = in_rep & (groups != g)
            cal = fit_map(method, probs[train], y[train])
            out[test] = apply_map(cal, probs[test])
            t, n_fit = cal.get("temperature"), int(train.sum())
            fits.append({"repeat": rep.item(), "split": str(g), "method": method,
                         "temperature": t, "n_fit": n_fit})  # fmt: skip
    return out, fits


def expected_level(
    probs: np.ndarray, values: Sequence[float], coverage: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected value of ordered ``values`` (e.g. GMFCS 1–4) under each row's probabilities,
    and the central ``coverage`` interval of that discrete distribution (the lowest value
    whose cumulative probability reaches (1 − coverage)/2, the lowest reaching
    (1 + coverage)/2).  Returns (expected, low, high), each (N,)."""
    probs = np.asarray(probs, dtype=float)
    values = np.asarray(values, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(values):
        raise ValueError(f"probabilities {probs.shape} do not match {len(values)} levels")
    if np.any(np.diff(values) <= 0):
        raise ValueError("levels must be strictly increasing")
    probs = probs / probs.sum(1, keepdims=True)
    cum = np.cumsum(probs, axis=1)
    tail = (1.0 - coverage) / 2.0
    low = values[np.argmax(cum >= tail - 1e-12, axis=1)]
    high = values[np.argmax(cum >= 1.0 - tail - 1e-12, axis=1)]
    return probs @ values, low, high


def summarise(
    rows: pd.DataFrame, labels: Sequence[str], *, unit: str = "subject_id", n_bins: int = 10
) -> dict:
    """Calibration of one model's pooled out-of-fold predictions (video rows with ``label``,
    ``prob_<label>``, ``split``, ``repeat``, ``unit``).

    Maps are fitted on video predictions; the ECE is reported for videos and, with each
    unit's (subject's) videos averaged as the evaluation does, for subjects: before, and
    after cross-fitted calibration.  ``method`` is temperature scaling, or isotonic maps
    where every class has ``ISOTONIC_MIN_PER_CLASS`` predictions and they give the lower
    cross-fitted NLL (``candidates``: each method's); ``map`` is the chosen method fitted on
    all predictions (what a final model ships with), ``temperature`` the temperature
    fitted on all of them.
    """
    labels = list(labels)
    pcols = [f"prob_{c}" for c in labels]
    index = {c: i for i, c in enumerate(labels)}
    rows = rows[np.isfinite(rows[pcols].to_numpy(float)).all(1)]  # unscored videos
    if rows.empty:
        nan = float("nan")
        return {"method": "temperature", "temperature": 1.0, "n": 0, "n_bins": n_bins,
                "map": {"method": "temperature", "temperature": 1.0}, "candidates": {},
                "ece": {lv: {"before": nan, "after": nan} for lv in ("video", "subject")},
                "reliability": {}, "folds": []}  # fmt: skip
    probs = rows[pcols].to_numpy(float)
    y = rows["label"].map(index).to_numpy(int)
    repeat = rows["repeat"].to_numpy() if "repeat" in rows else np.zeros(len(rows), int)
    groups = rows["split"].astype(str).to_numpy()
    methods = ["temperature"]
    if np.bincount(y, minlength=len(labels)).min() >= ISOTONIC_MIN_PER_CLASS:
        methods.append("isotonic")
    tried = {m: cross_fitted(probs, y, groups, repeat, method=m) for m in methods}
    candidates = {m: nll(p, y) for m, (p, _) in tried.items()}
    method = min(methods, key=lambda m: (candidates[m], methods.index(m)))
    after, fits = tried[method]

    def by_unit(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame = pd.DataFrame(p, columns=pcols).assign(
            unit=rows[unit].to_numpy(), repeat=repeat, y=y
        )
        grouped = frame.groupby(["repeat", "unit"], sort=True)
        if (grouped["y"].nunique() > 1).any():  # mixed labels: not one subject-level truth
            keep = grouped["y"].transform("nunique") == 1
            grouped = frame[keep].groupby(["repeat", "unit"], sort=True)
        return grouped[pcols].mean().to_numpy(), grouped["y"].first().to_numpy()

    sub_before, y_sub = by_unit(probs)
    sub_after, _ = by_unit(after)
    return {
        "method": method,
        "map": fit_map(method, probs, y),
        "candidates": candidates,
        "temperature": fit_temperature(probs, y),
        "n": int(len(y)),
        "n_bins": n_bins,
        "ece": {
            "video": {"before": ece(probs, y, n_bins), "after": ece(after, y, n_bins)},
            "subject": {
                "before": ece(sub_before, y_sub, n_bins),
                "after": ece(sub_after, y_sub, n_bins),
            },  # fmt: skip
        },
        "nll": {"video": {"before": nll(probs, y), "after": nll(after, y)}},
        "reliability": {
            "video": {
                "before": reliability(probs, y, n_bins),
                "after": reliability(after, y, n_bins),
            },  # fmt: skip
            "subject": {
                "before": reliability(sub_before, y_sub, n_bins),
                "after": reliability(sub_after, y_sub, n_bins),
            },  # fmt: skip
        },
        "folds": fits,
    }
