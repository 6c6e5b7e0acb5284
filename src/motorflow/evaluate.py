"""Evaluation of out-of-fold predictions: metrics, subject-level aggregation, bootstrap CIs,
paired model comparison and the report files.

Input: one ``results/eval/{model}/{split}/predictions.tsv`` per trained model and split, with
``video_id, subject_id, label, pred, prob_<label>... , split, repeat, fold`` (one probability
column per configured label, in label order; rows sum to 1; videos a model could not score
are absent). See :func:`read_predictions`.

Levels
    A label belongs to a recording (a visit); a subject may carry different labels at
    different sessions (longitudinal cohorts). Aggregation pools a unit's videos only where
    their labels agree:

    ``video``: one row per scored video, ``pred`` as the model wrote it.
    ``visit``: :func:`visit_level`: per (repeat, subject, session) the mean probabilities of
    the visit's scored videos. Reported only where the predictions carry a ``session``
    (from the sheet; :func:`summarise`'s ``sessions``); a video without a session is a visit
    of its own, so without sessions the visit level equals the video level and is left out.
    ``subject``: :func:`subject_level`: per (repeat, subject) the mean of the probability
    columns over the subject's scored videos (clip → video → subject by mean probability, as
    Paper B does); ``pred`` = argmax, ties → the lower ordinal index. Only subjects whose
    scored videos all carry one label: a subject whose labels differ between visits has no
    subject-level label, so it is left out of the subject-level metrics, counts, majority
    rate and paired comparison (listed with the reason in ``summary["excluded"]``, the table
    and the per-split ``metrics.json``); the video and visit levels count it.

Metrics (:func:`compute_metrics`, scikit-learn): accuracy, balanced accuracy, macro F1, MCC
(multiclass), QWK (quadratic-weighted Cohen's kappa on the labels' ordinal indices), macro
precision, macro recall, unweighted Cohen's kappa and per-class recall ``recall_<label>``.
Macro averages run over the labels present in ``y_true`` or ``y_pred`` (scikit-learn's
default) with ``zero_division=0``; per-class recall of a label absent from ``y_true`` is NaN;
MCC is 0 where scikit-learn defines it so; kappas are NaN where undefined (one class only).

Uncertainty
    ``mean``/``std`` in :func:`summarise` are over splits (each split's metric on its own test
    set; ``std`` with ddof=1 over the splits where the metric is defined; 0 for one split).
    ``ci_low``/``ci_high`` are percentile intervals of a subject bootstrap of the pooled
    out-of-fold predictions (:func:`bootstrap_ci`): subjects are drawn with replacement, a
    drawn subject brings all its videos (and its rows in every repeat), and the statistic of
    one resample is the mean over repeats of the metric on that repeat's rows. Resamples where
    a metric is undefined (e.g. QWK on a one-class resample) are left out of its percentiles.

    For speed the bootstrap computes the metrics of all resamples at once from resampled
    confusion matrices (:func:`metrics_from_confusion`, the scikit-learn formulas
    vectorised); every call checks them against :func:`compute_metrics` (scikit-learn) on the
    unresampled data and raises if they differ.

Paired comparison (:func:`summarise`, subject level): only subjects scored by both the model
and the baseline (in a common repeat). A subject's correctness is its share of correct
predictions over those common repeats; for the exact McNemar test it is rounded by strict
majority (> 0.5 → correct; a tie counts as incorrect, for both models alike), which with one
repeat is simply correct/incorrect. ``accuracy_difference`` is the mean over paired subjects
of (model share correct − baseline share correct) (= the accuracy difference with one repeat)
and its CI a paired bootstrap over the paired subjects.

JSON outputs replace NaN/inf by ``null`` (strict JSON).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from motorflow import calibration
from motorflow.poseio import atomic_path, write_json

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "qwk")
EXTRA_METRICS = ("macro_precision", "macro_recall", "cohen_kappa")
# Levels always reported; "visit" is added where the predictions carry sessions.
LEVELS = ("video", "subject")
ALL_LEVELS = ("video", "visit", "subject")
UNIT = {"video": "video_id", "visit": "visit_id", "subject": "subject_id"}
PERCENT_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
)
PROB_TOLERANCE = 1e-4
BASE_COLUMNS = ("video_id", "subject_id", "label", "pred")
SPLIT_COLUMNS = ("split", "repeat", "fold")
COMPARISON_COLUMNS = (
    "model",
    "baseline",
    "level",
    "test",
    "n_subjects_paired",
    "n_model_only_correct",
    "n_baseline_only_correct",
    "p_value",
    "accuracy_difference",
    "diff_ci_low",
    "diff_ci_high",
    "model_accuracy",
    "baseline_accuracy",
)
MCNEMAR_TEST = "exact McNemar (binomial, two-sided) on subject-level correct/incorrect"
# Paper A's and Paper B's metrics; QWK only for ordinal labels (GMFCS levels).
_TABLE_METRICS = (
    ("accuracy", "accuracy (%)"),
    ("balanced_accuracy", "balanced accuracy (%)"),
    ("macro_precision", "macro precision (%)"),
    ("macro_recall", "macro recall (%)"),
    ("macro_f1", "macro F1 (%)"),
    ("mcc", "MCC"),
    ("cohen_kappa", "Cohen's κ"),
    ("qwk", "QWK"),
)
_MINUS = "\u2212"

MetricFn = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------- metrics


def prob_columns(labels: Sequence[str]) -> list[str]:
    return [f"prob_{label}" for label in _labels(labels)]


def metric_names(labels: Sequence[str]) -> list[str]:
    """Every metric :func:`compute_metrics` returns, in a fixed order."""
    return [*METRICS, *EXTRA_METRICS, *(f"recall_{label}" for label in _labels(labels))]


def compute_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    """All metrics (scikit-learn) for label strings; never raises on degenerate inputs.

    Empty inputs give NaN everywhere. Raises ValueError only for unequal lengths or a label
    that is not in ``labels``.
    """
    labels = _labels(labels)
    yt, yp = _as_label_array(y_true), _as_label_array(y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length ({yt.size} vs {yp.size})")
    it, ip = _ordinal(yt, labels, "y_true"), _ordinal(yp, labels, "y_pred")
    names = metric_names(labels)
    if yt.size == 0:
        return dict.fromkeys(names, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        out = {
            "accuracy": skm.accuracy_score(yt, yp),
            "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
            "macro_f1": skm.f1_score(yt, yp, average="macro", zero_division=0),
            "mcc": skm.matthews_corrcoef(yt, yp),
            "qwk": skm.cohen_kappa_score(
                it, ip, weights="quadratic", labels=np.arange(len(labels))
            ),
            "macro_precision": skm.precision_score(yt, yp, average="macro", zero_division=0),
            "macro_recall": skm.recall_score(yt, yp, average="macro", zero_division=0),
            "cohen_kappa": skm.cohen_kappa_score(yt, yp),
        }
        recalls = skm.recall_score(yt, yp, labels=labels, average=None, zero_division=np.nan)
    for label, value in zip(labels, recalls, strict=True):
        out[f"recall_{label}"] = value
    return {name: float(out[name]) for name in names}


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Confusion matrix (rows true, columns predicted, in label order), int counts."""
    labels = _labels(labels)
    yt, yp = _as_label_array(y_true), _as_label_array(y_pred)
    _ordinal(yt, labels, "y_true")
    _ordinal(yp, labels, "y_pred")
    if yt.size == 0:
        return np.zeros((len(labels), len(labels)), dtype=np.int64)
    return skm.confusion_matrix(yt, yp, labels=labels).astype(np.int64)


def metrics_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """The metrics of :func:`compute_metrics` for a stack of confusion matrices (..., K, K).

    The scikit-learn formulas, vectorised (used by the bootstrap, where calling scikit-learn
    per resample is too slow); equal to :func:`compute_metrics` on the rows behind each
    matrix (tested, and checked on every bootstrap call).
    """
    labels = _labels(labels)
    c = np.asarray(cm, dtype=np.float64)
    k = len(labels)
    if c.shape[-2:] != (k, k):
        raise ValueError(f"confusion matrices must end in ({k}, {k}), got {c.shape}")
    t = c.sum(-1)  # true support per class
    p = c.sum(-2)  # predicted count per class
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    n = t.sum(-1)
    present = (t + p) > 0
    n_present = present.sum(-1)
    has_true = t > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall_nan = np.where(has_true, tp / t, np.nan)
        recall0 = np.where(has_true, tp / t, 0.0)
        precision0 = np.where(p > 0, tp / p, 0.0)
        f1 = np.where(present, 2 * tp / (t + p), 0.0)

        def macro(per_class: np.ndarray) -> np.ndarray:
            return np.where(present, per_class, 0.0).sum(-1) / n_present

        out = {
            "accuracy": tp.sum(-1) / n,
            "balanced_accuracy": recall0.sum(-1) / has_true.sum(-1),
            "macro_f1": macro(f1),
            "mcc": _mcc(t, p, tp, n),
            "qwk": _kappa(c, t, p, n, weights="quadratic"),
            "macro_precision": macro(precision0),
            "macro_recall": macro(recall0),
            "cohen_kappa": _kappa(c, t, p, n, weights=None),
        }
    for i, label in enumerate(labels):
        out[f"recall_{label}"] = recall_nan[..., i]
    return {name: np.asarray(out[name], dtype=np.float64) for name in metric_names(labels)}


def _mcc(t: np.ndarray, p: np.ndarray, tp: np.ndarray, n: np.ndarray) -> np.ndarray:
    # sklearn.metrics.matthews_corrcoef: 0.0 where the denominator is 0
    cov_ytyp = tp.sum(-1) * n - (t * p).sum(-1)
    cov_ypyp = n**2 - (p * p).sum(-1)
    cov_ytyt = n**2 - (t * t).sum(-1)
    denom = cov_ytyt * cov_ypyp
    safe = np.where(denom > 0, denom, 1.0)
    value = np.where(denom > 0, cov_ytyp / np.sqrt(safe), 0.0)
    return np.where(n > 0, value, np.nan)


def _kappa(
    c: np.ndarray, t: np.ndarray, p: np.ndarray, n: np.ndarray, weights: str | None
) -> np.ndarray:
    # sklearn.metrics.cohen_kappa_score: expected = outer(pred sums, true sums) / n
    k = c.shape[-1]
    grid = np.arange(k, dtype=np.float64)
    w = (grid[:, None] - grid[None, :]) ** 2 if weights == "quadratic" else 1.0 - np.eye(k)
    observed = (w * c).sum((-2, -1))
    expected = np.einsum("ij,...i,...j->...", w, p, t) / n
    return np.where(expected > 0, 1.0 - observed / expected, np.nan)


# --------------------------------------------------------------------------- predictions


def read_predictions(path: str | os.PathLike, labels: Sequence[str]) -> pd.DataFrame:
    """Read and validate one predictions TSV (ValueError naming the file and the problem)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: cannot read predictions ({err})") from err
    return validate_predictions(raw, labels, source=str(path))


def read_model_predictions(
    paths: Sequence[str | os.PathLike], labels: Sequence[str]
) -> pd.DataFrame:
    """All split files of one model, validated and concatenated (pooled out-of-fold rows)."""
    frames = [read_predictions(p, labels) for p in paths]
    if not frames:
        return validate_predictions(_empty_predictions(labels), labels, source="no files")
    pooled = pd.concat(frames, ignore_index=True)
    sources = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    return validate_predictions(pooled, labels, source=sources)


def validate_predictions(
    df: pd.DataFrame, labels: Sequence[str], source: str = "predictions"
) -> pd.DataFrame:
    """Check and type a predictions table; returns a clean copy.

    Required: ``video_id, subject_id, label, pred``, ``prob_<label>`` for every label,
    ``split, repeat, fold``. Errors name ``source`` and the problem: a missing column, an
    unknown label, missing/non-numeric or out-of-range probabilities, rows whose
    probabilities do not sum to 1 within 1e-4, a duplicate ``video_id`` (within a repeat).
    """
    labels = _labels(labels)
    pcols = prob_columns(labels)
    required = [*BASE_COLUMNS, *pcols, *SPLIT_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing} (expected {required})")
    out = df.copy()
    for col in (*BASE_COLUMNS, "split"):
        out[col] = out[col].astype(str).str.strip()
    for col in ("label", "pred"):
        unknown = sorted(set(out[col]) - set(labels))
        if unknown:
            raise ValueError(f"{source}: unknown {col} value(s) {unknown} (labels: {labels})")
    for col in ("repeat", "fold"):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() | (values != values.round())
        if bad.any():
            raise ValueError(
                f"{source}: column {col!r} must hold integers, got {out[col][bad].iloc[0]!r}"
            )
        out[col] = values.astype(np.int64)
    for col in pcols:
        values = pd.to_numeric(out[col], errors="coerce").astype(np.float64)
        if values.isna().any():
            row = out.loc[values.isna(), "video_id"].iloc[0]
            raise ValueError(
                f"{source}: column {col!r} has a missing or non-numeric probability (video {row!r})"
            )
        if ((values < -PROB_TOLERANCE) | (values > 1 + PROB_TOLERANCE)).any():
            raise ValueError(f"{source}: column {col!r} has probabilities outside [0, 1]")
        out[col] = values
    if len(out):
        total = out[pcols].to_numpy().sum(1)
        off = np.abs(total - 1.0) > PROB_TOLERANCE
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"{source}: prob columns do not sum to 1 within {PROB_TOLERANCE} in "
                f"{int(off.sum())} row(s) (video {out['video_id'].iloc[i]!r}: "
                f"sum {total[i]:.6g})"
            )
    dup = out.duplicated(["repeat", "video_id"], keep=False)
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise ValueError(
            f"{source}: duplicate video_id {first['video_id']!r} (repeat {first['repeat']}); "
            "each video is scored once per repeat"
        )
    return out.reset_index(drop=True)


def has_sessions(preds: pd.DataFrame) -> bool:
    """True if some prediction row carries a session (so the visit level is reported)."""
    return "session" in preds.columns and bool((_sessions(preds) != "").any())


def levels_of(preds: pd.DataFrame) -> tuple[str, ...]:
    """The levels reported for these predictions: video, visit (with sessions), subject."""
    return ALL_LEVELS if has_sessions(preds) else LEVELS


def visit_ids(preds: pd.DataFrame) -> pd.Series:
    """``subject_id/session`` per row; a row without a session is a visit of its own
    (``subject_id/video_id``)."""
    subject = preds["subject_id"].astype(str)
    session = _sessions(preds)
    other = preds["video_id"].astype(str)
    return subject + "/" + session.where(session != "", other)


def mixed_labels(preds: pd.DataFrame, unit: str = "subject") -> dict[str, str]:
    """Units (``subject`` or ``visit``) whose rows carry several labels → the reason they
    have no label of their own (e.g. ``"labels differ between its recordings: I, II"``)."""
    df = _with_visits(preds) if unit == "visit" else preds
    col = UNIT[unit]
    labels = df.assign(label=df["label"].astype(str)).groupby(df[col].astype(str))["label"]
    found = labels.agg(lambda x: sorted(set(x)))
    return {
        str(u): f"labels differ between its recordings: {', '.join(v)}"
        for u, v in found.items()
        if len(v) > 1
    }


def subject_level(preds: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """One row per (repeat, subject): mean probabilities over its videos, argmax prediction.

    Columns: ``repeat, subject_id, label, pred, prob_<label>..., n_videos`` (+ ``split``,
    ``fold`` when the input has them). Ties (within 1e-12) go to the lower ordinal index.
    A subject whose videos carry different labels (visits of a longitudinal cohort) is left
    out (:func:`mixed_labels` gives the reason). ValueError naming the subject if it appears
    in two splits of one repeat (subject-wise cross-validation puts all its videos in one
    test fold). A missing ``repeat`` column counts as repeat 0.
    """
    return _aggregate(preds, labels, "subject")


def visit_level(preds: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """One row per (repeat, visit): as :func:`subject_level`, pooling the videos of one
    subject and session (:func:`visit_ids`; column ``visit_id`` next to ``subject_id``).
    A visit whose videos carry different labels is left out."""
    return _aggregate(preds, labels, "visit")


def _sessions(preds: pd.DataFrame) -> pd.Series:
    if "session" not in preds.columns:
        return pd.Series("", index=preds.index, dtype=object)
    return preds["session"].fillna("").astype(str).str.strip()


def _with_visits(preds: pd.DataFrame) -> pd.DataFrame:
    return preds.assign(visit_id=visit_ids(preds))


def _aggregate(preds: pd.DataFrame, labels: Sequence[str], unit: str) -> pd.DataFrame:
    labels = _labels(labels)
    pcols = prob_columns(labels)
    missing = [c for c in ("subject_id", "label", *pcols) if c not in preds.columns]
    if missing:
        raise ValueError(f"{unit}_level: missing column(s) {missing}")
    df = preds.copy()
    if "repeat" not in df.columns:
        df["repeat"] = 0
    df["subject_id"] = df["subject_id"].astype(str)
    df["label"] = df["label"].astype(str)
    extra = [c for c in ("split", "fold") if c in df.columns]
    keys = ["visit_id", "subject_id"] if unit == "visit" else ["subject_id"]
    out_cols = ["repeat", *keys, *extra, "label", "pred", *pcols, "n_videos"]
    if df.empty:
        return pd.DataFrame(columns=out_cols)
    if "video_id" in df.columns:
        df["video_id"] = df["video_id"].astype(str)
    if unit == "visit":
        df = _with_visits(df)
    if extra:
        # Leakage check on every subject, before any is left out.
        n_splits = df.groupby(["repeat", "subject_id"])[extra[0]].nunique()
        if (n_splits > 1).any():
            rep, bad = n_splits[n_splits > 1].index[0]
            found = sorted(df.loc[(df["subject_id"] == bad) & (df["repeat"] == rep), extra[0]])
            raise ValueError(
                f"subject {bad!r} appears in more than one test split of repeat {rep}: "
                f"{sorted(set(map(str, found)))}"
            )
    mixed = mixed_labels(df, unit)
    df = df[~df[UNIT[unit]].isin(list(mixed))]
    if df.empty:
        return pd.DataFrame(columns=out_cols)
    grouped = df.groupby(["repeat", *keys], sort=True)
    out = grouped[pcols].mean()
    for col in ("label", *extra):
        out[col] = grouped[col].first()
    out["n_videos"] = grouped.size()
    probs = out[pcols].to_numpy(dtype=np.float64)
    top = probs >= probs.max(1, keepdims=True) - 1e-12
    out["pred"] = np.asarray(labels, dtype=object)[np.argmax(top, axis=1)]
    return out.reset_index()[out_cols]


def level_rows(preds: pd.DataFrame, labels: Sequence[str], level: str) -> pd.DataFrame:
    """The rows metrics are computed on at ``level`` ("video": as given; "visit";
    "subject")."""
    if level == "video":
        out = preds.copy()
        if "repeat" not in out.columns:
            out["repeat"] = 0
        return out
    if level == "visit":
        return visit_level(preds, labels)
    if level == "subject":
        return subject_level(preds, labels)
    raise ValueError(f"level must be one of {ALL_LEVELS}, got {level!r}")


def excluded_units(preds: pd.DataFrame, levels: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per aggregated level: the units left out (mixed labels) → reason."""
    return {level: mixed_labels(preds, level) for level in levels if level in ("visit", "subject")}


def fold_metrics(preds: pd.DataFrame, labels: Sequence[str]) -> dict:
    """Metrics of one fold's predictions at every level (for ``metrics.json`` per split).

    ``n_subjects``: the split's scored subjects (all of them); where some carry different
    labels at different visits, ``subject`` covers only the others and
    ``subjects_excluded`` (subject → reason) lists them. ``visit``, ``n_visits`` and
    ``confusion_visit`` where the predictions carry sessions.
    """
    labels = _labels(labels)
    subj = subject_level(preds, labels)
    out = {
        "video": compute_metrics(preds["label"], preds["pred"], labels),
        "subject": compute_metrics(subj["label"], subj["pred"], labels),
        "n_videos": int(len(preds)),
        "n_subjects": int(preds["subject_id"].astype(str).nunique()),
        "confusion_video": confusion(preds["label"], preds["pred"], labels).tolist(),
        "confusion_subject": confusion(subj["label"], subj["pred"], labels).tolist(),
    }
    if has_sessions(preds):
        visits = visit_level(preds, labels)
        out["visit"] = compute_metrics(visits["label"], visits["pred"], labels)
        out["n_visits"] = int(visit_ids(preds).nunique())
        out["confusion_visit"] = confusion(visits["label"], visits["pred"], labels).tolist()
        if mixed := mixed_labels(preds, "visit"):
            out["visits_excluded"] = mixed
    if mixed := mixed_labels(preds, "subject"):
        out["subjects_excluded"] = mixed
    return out


def write_fold_metrics(
    pred_path: str | os.PathLike, labels: Sequence[str], out_json: str | os.PathLike
) -> dict:
    """Read one predictions TSV, write its :func:`fold_metrics` to ``out_json``; return it."""
    result = fold_metrics(read_predictions(pred_path, labels), labels)
    write_json(_json_safe(result), out_json)
    return result


def majority_rate(preds: pd.DataFrame, labels: Sequence[str], level: str) -> float:
    """Share of the most frequent label among the scored subjects (or videos), each once."""
    labels = _labels(labels)
    if level == "video":
        units = preds.drop_duplicates("video_id")["label"].astype(str)
    elif level in ("visit", "subject"):
        rows = level_rows(preds, labels, level)
        units = rows.drop_duplicates(UNIT[level])["label"].astype(str)
    else:
        raise ValueError(f"level must be one of {ALL_LEVELS}, got {level!r}")
    if units.empty:
        return math.nan
    return float(units.value_counts().max() / len(units))


# --------------------------------------------------------------------------- bootstrap


def resample_counts(n_subjects: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_subjects) multiplicities of each subject in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    if n_subjects == 0:
        return np.zeros((n_boot, 0), dtype=np.float64)
    idx = rng.integers(0, n_subjects, size=(n_boot, n_subjects))
    offsets = (np.arange(n_boot) * n_subjects)[:, None]
    counts = np.bincount((idx + offsets).ravel(), minlength=n_boot * n_subjects)
    return counts.reshape(n_boot, n_subjects).astype(np.float64)


def bootstrap_cis(
    preds: pd.DataFrame,
    labels: Sequence[str],
    level: str,
    metrics: Sequence[str] | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of many metrics from one subject bootstrap (shared resamples).

    See the module docstring: subjects drawn with replacement (all their videos and repeats
    come along), statistic = mean over repeats of the metric on that repeat's rows.
    """
    labels = _labels(labels)
    names = list(metrics) if metrics is not None else metric_names(labels)
    unknown = sorted(set(names) - set(metric_names(labels)))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {metric_names(labels)}")
    dist = _bootstrap_distribution(preds, labels, level, n_boot=n_boot, seed=seed)
    return {name: _percentile_ci(dist[name], alpha) for name in names}


def bootstrap_ci(
    preds: pd.DataFrame,
    labels: Sequence[str],
    level: str = "subject",
    metric: str | MetricFn = "accuracy",
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile (1 − alpha) CI of one metric by a subject bootstrap (deterministic per seed).

    ``metric``: a name from :func:`metric_names` (fast, vectorised) or a callable
    ``fn(y_true, y_pred) -> float`` on label strings (called once per resample and repeat).
    """
    if isinstance(metric, str):
        return bootstrap_cis(preds, labels, level, [metric], n_boot=n_boot, seed=seed, alpha=alpha)[
            metric
        ]
    labels = _labels(labels)
    rows = level_rows(preds, labels, level)
    subjects = np.sort(rows["subject_id"].astype(str).unique())
    counts = resample_counts(len(subjects), n_boot, seed)
    sidx = np.searchsorted(subjects, rows["subject_id"].astype(str).to_numpy())
    yt = rows["label"].astype(str).to_numpy()
    yp = rows["pred"].astype(str).to_numpy()
    per_repeat = []
    for rep in np.sort(rows["repeat"].unique()):
        in_rep = np.flatnonzero(rows["repeat"].to_numpy() == rep)
        by_subject = [in_rep[sidx[in_rep] == s] for s in range(len(subjects))]
        values = np.full(n_boot, np.nan)
        for b in range(n_boot):
            take = np.concatenate(
                [np.tile(by_subject[s], int(c)) for s, c in enumerate(counts[b]) if c]
                or [np.zeros(0, dtype=np.int64)]
            )
            if take.size:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    values[b] = float(metric(yt[take], yp[take]))
        per_repeat.append(values)
    stat = _nanmean_rows(np.column_stack(per_repeat)) if per_repeat else np.full(n_boot, np.nan)
    return _percentile_ci(stat, alpha)


def point_estimate(preds: pd.DataFrame, labels: Sequence[str], level: str) -> dict[str, float]:
    """The statistic the bootstrap resamples, on the data itself: mean over repeats of each
    metric on the pooled out-of-fold rows of that repeat."""
    labels = _labels(labels)
    rows = level_rows(preds, labels, level)
    per_repeat = [compute_metrics(g["label"], g["pred"], labels) for _, g in rows.groupby("repeat")]
    return {name: _nanmean([m[name] for m in per_repeat]) for name in metric_names(labels)}


def repeat_metrics(preds: pd.DataFrame, labels: Sequence[str], level: str) -> list[dict]:
    """Each repeat's metrics on its pooled out-of-fold rows: how much a number moves when
    only the assignment of subjects to folds changes (``cv.repeats``)."""
    labels = _labels(labels)
    rows = level_rows(preds, labels, level)
    return [
        {"repeat": int(rep), **compute_metrics(g["label"], g["pred"], labels)}
        for rep, g in rows.groupby("repeat", sort=True)
    ]


def _bootstrap_distribution(
    preds: pd.DataFrame, labels: list[str], level: str, *, n_boot: int, seed: int
) -> dict[str, np.ndarray]:
    rows = level_rows(preds, labels, level)
    names = metric_names(labels)
    if rows.empty or n_boot <= 0:
        return {name: np.full(max(n_boot, 0), np.nan) for name in names}
    subjects = np.sort(rows["subject_id"].astype(str).unique())
    repeats = np.sort(rows["repeat"].unique())
    k = len(labels)
    s_idx = np.searchsorted(subjects, rows["subject_id"].astype(str).to_numpy())
    r_idx = np.searchsorted(repeats, rows["repeat"].to_numpy())
    cell = _ordinal(rows["label"], labels, "label") * k + _ordinal(rows["pred"], labels, "pred")
    flat = (s_idx * len(repeats) + r_idx) * k * k + cell
    per_subject = np.bincount(flat, minlength=len(subjects) * len(repeats) * k * k).reshape(
        len(subjects), -1
    )
    _check_against_sklearn(rows, labels, repeats, per_subject.sum(0).reshape(-1, k, k))
    counts = resample_counts(len(subjects), n_boot, seed)
    cms = (counts @ per_subject).reshape(n_boot, len(repeats), k, k)
    values = metrics_from_confusion(cms, labels)
    return {name: _nanmean_rows(values[name]) for name in names}


def _check_against_sklearn(
    rows: pd.DataFrame, labels: list[str], repeats: np.ndarray, cms: np.ndarray
) -> None:
    fast = metrics_from_confusion(cms, labels)
    for i, rep in enumerate(repeats):
        sel = rows[rows["repeat"] == rep]
        ref = compute_metrics(sel["label"], sel["pred"], labels)
        for name, value in ref.items():
            got = float(fast[name][i])
            if not (
                np.isclose(got, value, rtol=1e-9, atol=1e-9) or (np.isnan(got) and np.isnan(value))
            ):
                raise RuntimeError(
                    f"vectorised {name} ({got}) differs from scikit-learn ({value}); "
                    "metrics_from_confusion is out of step with compute_metrics"
                )


def _percentile_ci(values: np.ndarray, alpha: float) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    n = ok.sum(-1)
    total = np.where(ok, values, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _nanstd(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return math.nan
    if arr.size == 1:
        return 0.0
    return float(arr.std(ddof=1))


# --------------------------------------------------------------------------- summary


def split_metrics(
    preds: pd.DataFrame, labels: Sequence[str], levels: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (repeat, split, level): that split's metrics on its own test set
    (``levels``: default :func:`levels_of` the predictions)."""
    labels = _labels(labels)
    levels = levels_of(preds) if levels is None else tuple(levels)
    records = []
    for (rep, split), group in preds.groupby(["repeat", "split"], sort=True):
        result = fold_metrics(group, labels)
        for level in levels:
            # A split without sessions of its own still gets a visit row (= its videos).
            values = result.get(level) or result["video"]
            records.append({"repeat": rep, "split": split, "level": level, **values})
    columns = ["repeat", "split", "level", *metric_names(labels)]
    return pd.DataFrame.from_records(records, columns=columns)


def summarise(
    predictions: Mapping[str, pd.DataFrame],
    labels: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
    baseline: str = "stgcn",
    alpha: float = 0.05,
    ordinal: bool = True,
    sessions: Mapping[str, str] | None = None,
) -> dict:
    """Metrics (mean/std over splits, subject-bootstrap CI), confusions and paired tests.

    ``ordinal``: the labels are ordered (GMFCS levels), so the table shows the quadratic
    weighted kappa; for nominal classes (general movements) it is left out of the table.
    ``sessions``: video_id → session (the sheet's ``session`` column; missing or empty: the
    video is a visit of its own); with some session the visit level is reported too.

    ``predictions``: model → its pooled out-of-fold predictions (all splits, all repeats).
    Returns ``{"metrics", "splits", "repeats", "confusion", "comparison", "majority_rate",
    "n", "excluded", "calibration", "levels", "labels", "baseline", "n_boot", "seed",
    "alpha"}`` (``calibration``: model → :func:`motorflow.calibration.summarise`)
    (``splits``: model → one record per (repeat, split, level) with that split's own
    metrics; ``repeats``: model → level → one record per repeat with its pooled metrics;
    ``excluded``: model → level → {unit: reason} for the visits and subjects left out of
    that level because their videos' labels differ); see the module docstring.
    """
    labels = _labels(labels)
    names = metric_names(labels)
    preds = {
        str(m): validate_predictions(
            _attach_sessions(df, sessions), labels, source=f"predictions of model {m!r}"
        )
        for m, df in predictions.items()
    }
    with_visits = any(has_sessions(df) for df in preds.values())
    levels = ALL_LEVELS if with_visits else LEVELS
    metrics: dict = {}
    confusions: dict = {}
    majority: dict = {}
    counts: dict = {}
    splits: dict = {}
    repeats: dict = {}
    excluded: dict = {}
    calibrated: dict = {}
    for model, df in preds.items():
        if with_visits and not has_sessions(df):
            df = df.assign(session="")  # (every video a visit of its own)
        per_split = split_metrics(df, labels, levels)
        splits[model] = per_split.to_dict(orient="records")
        metrics[model], confusions[model], majority[model], counts[model] = {}, {}, {}, {}
        excluded[model] = excluded_units(df, levels)
        calibrated[model] = calibration.summarise(df, labels)
        for level in levels:
            rows = level_rows(df, labels, level)
            cis = bootstrap_cis(df, labels, level, n_boot=n_boot, seed=seed, alpha=alpha)
            level_splits = per_split[per_split["level"] == level]
            repeats.setdefault(model, {})[level] = repeat_metrics(df, labels, level)
            metrics[model][level] = {
                name: {
                    "mean": _nanmean(level_splits[name]),
                    "std": _nanstd(level_splits[name]),
                    "ci_low": cis[name][0],
                    "ci_high": cis[name][1],
                }
                for name in names
            }
            confusions[model][level] = confusion(rows["label"], rows["pred"], labels).tolist()
            majority[model][level] = majority_rate(df, labels, level)
            counts[model][level] = int(rows[UNIT[level]].nunique())
    comparison = []
    if baseline in preds:
        for model in preds:
            if model != baseline:
                comparison.append(
                    compare_models(
                        preds[model],
                        preds[baseline],
                        labels,
                        model=model,
                        baseline=baseline,
                        n_boot=n_boot,
                        seed=seed,
                        alpha=alpha,
                    )
                )
    return {
        "metrics": metrics,
        "splits": splits,
        "repeats": repeats,
        "confusion": confusions,
        "comparison": comparison,
        "majority_rate": majority,
        "n": counts,
        "excluded": excluded,
        "calibration": calibrated,
        "levels": list(levels),
        "labels": labels,
        "baseline": baseline,
        "n_boot": n_boot,
        "seed": seed,
        "alpha": alpha,
        "ordinal": ordinal,
    }


def compare_models(
    model_preds: pd.DataFrame,
    baseline_preds: pd.DataFrame,
    labels: Sequence[str],
    *,
    model: str = "model",
    baseline: str = "baseline",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Paired subject-level comparison: exact McNemar test and paired-bootstrap Δaccuracy.

    Subjects scored by both (in a common repeat); correctness = share of common repeats
    predicted correctly, rounded by strict majority for McNemar (see the module docstring).
    """
    labels = _labels(labels)
    a = subject_level(model_preds, labels)
    b = subject_level(baseline_preds, labels)
    keys = ["repeat", "subject_id"]
    a = a.assign(correct=(a["pred"] == a["label"]).astype(np.float64))[[*keys, "correct"]]
    b = b.assign(correct=(b["pred"] == b["label"]).astype(np.float64))[[*keys, "correct"]]
    paired = a.merge(b, on=keys, suffixes=("_model", "_baseline"), how="inner")
    share = paired.groupby("subject_id", sort=True)[["correct_model", "correct_baseline"]].mean()
    c_model = share["correct_model"].to_numpy()
    c_base = share["correct_baseline"].to_numpy()
    right_model, right_base = c_model > 0.5, c_base > 0.5
    only_model = int((right_model & ~right_base).sum())
    only_base = int((right_base & ~right_model).sum())
    discordant = only_model + only_base
    p_value = (
        float(stats.binomtest(only_model, discordant, 0.5, alternative="two-sided").pvalue)
        if discordant
        else 1.0
    )
    n = len(share)
    diff = c_model - c_base
    if n:
        boot = resample_counts(n, n_boot, seed) @ diff / n
        ci_low, ci_high = _percentile_ci(boot, alpha)
        delta = float(diff.mean())
    else:
        ci_low = ci_high = delta = math.nan
    return {
        "model": model,
        "baseline": baseline,
        "level": "subject",
        "test": MCNEMAR_TEST,
        "n_subjects_paired": int(n),
        "n_model_only_correct": only_model,
        "n_baseline_only_correct": only_base,
        "p_value": p_value,
        "accuracy_difference": delta,
        "diff_ci_low": ci_low,
        "diff_ci_high": ci_high,
        "model_accuracy": float(c_model.mean()) if n else math.nan,
        "baseline_accuracy": float(c_base.mean()) if n else math.nan,
    }


# --------------------------------------------------------------------------- outputs


def write_summary(
    summary: Mapping, out_metrics_json: str | os.PathLike, out_dir: str | os.PathLike
) -> None:
    """Write the metrics JSON (only ``summary["metrics"]``, for DVC) and, in ``out_dir``:
    ``comparison.tsv``, ``summary.json``, ``table.md``, ``{model}_confusion_{level}.png``."""
    if "labels" not in summary:
        raise ValueError("summary lacks 'labels'; pass the dict returned by summarise()")
    out_dir = Path(out_dir)
    labels = list(summary["labels"])
    write_json(_json_safe(summary["metrics"]), out_metrics_json)
    comparison = pd.DataFrame(list(summary.get("comparison", [])), columns=COMPARISON_COLUMNS)
    with atomic_path(out_dir / "comparison.tsv") as tmp:
        comparison.to_csv(tmp, sep="\t", index=False, na_rep="NaN")
    write_json(_json_safe(dict(summary)), out_dir / "summary.json")
    with atomic_path(out_dir / "table.md") as tmp:
        tmp.write_text(format_table(summary), encoding="utf-8")
    for model, by_level in summary.get("confusion", {}).items():
        # Figures of the levels always reported (the workflow's declared outputs); the
        # visit level's confusion is in summary.json.
        for level, cm in ((lv, by_level[lv]) for lv in LEVELS if lv in by_level):
            plot_confusion(
                np.asarray(cm),
                labels,
                out_dir / f"{model}_confusion_{level}.png",
                title=f"{model}: {level} level (pooled out-of-fold)",
            )


def write_dvc_plots(
    summary: Mapping,
    fold_plots: Mapping[str, str | os.PathLike],
    confusion_plots: Mapping[str, str | os.PathLike],
) -> list[Path]:
    """Plot data for ``dvc plots show`` (definitions in dvc.yaml), one CSV per model:

    ``fold_plots[model]`` (``eval/plots/folds/{model}.csv``): subject-level metrics of each
    split on its own test subjects; ``confusion_plots[model]``
    (``eval/plots/confusion/{model}.csv``): one row per pooled out-of-fold subject
    prediction (``actual, predicted``), the long format of DVC's confusion template.
    """
    names = [m for m in (*METRICS, *EXTRA_METRICS) if m != "qwk" or summary.get("ordinal", True)]
    labels = list(summary["labels"])
    written = []
    for model, records in summary.get("splits", {}).items():
        rows = pd.DataFrame.from_records(records)
        rows = rows[rows["level"] == "subject"]
        split = rows["split"].astype(str)
        if rows["repeat"].nunique() > 1:
            split = "r" + rows["repeat"].astype(str) + "/" + split
        folds = pd.DataFrame({"split": split.to_numpy()})
        for name in names:
            folds[name] = rows[name].to_numpy()
        path = Path(fold_plots[model])
        with atomic_path(path) as tmp:
            folds.to_csv(tmp, index=False, float_format="%.6g", na_rep="")
        written.append(path)
    for model, by_level in summary.get("confusion", {}).items():
        cm = np.asarray(by_level["subject"], dtype=int)
        pairs = [
            (labels[i], labels[j])
            for i in range(len(labels))
            for j in range(len(labels))
            for _ in range(cm[i, j])
        ]
        path = Path(confusion_plots[model])
        with atomic_path(path) as tmp:
            pd.DataFrame(pairs, columns=["actual", "predicted"]).to_csv(tmp, index=False)
        written.append(path)
    return written


def format_table(summary: Mapping) -> str:
    """The Markdown report: metrics table, comparison lines, majority-class rates."""
    metrics = summary["metrics"]
    majority = summary.get("majority_rate", {})
    counts = summary.get("n", {})
    alpha = summary.get("alpha", 0.05)
    shown = [m for m in _TABLE_METRICS if m[0] != "qwk" or summary.get("ordinal", True)]
    header = [
        "model",
        "level",
        "n",
        *(title for _, title in shown),
        "majority-class rate (%)",
    ]
    lines = [
        "# Evaluation summary",
        "",
        f"Cells: mean ± std over splits [{100 * (1 - alpha):g} % subject-bootstrap CI of the "
        f"pooled out-of-fold predictions, {summary.get('n_boot', '?')} resamples]. "
        "Percent for accuracy, balanced accuracy and the macro precision, recall and F1.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for model, by_level in metrics.items():
        for level, values in by_level.items():
            cells = [model, level, str(counts.get(model, {}).get(level, ""))]
            for name, _ in shown:
                cells.append(_cell(values.get(name), percent=name in PERCENT_METRICS))
            cells.append(_fmt(100 * _get(majority, model, level), 1))
            lines.append("| " + " | ".join(cells) + " |")
    spread = [
        (model, level, records)
        for model, by_level in summary.get("repeats", {}).items()
        for level, records in by_level.items()
        if len(records) > 1
    ]
    if spread:
        lines += [
            "",
            "## Spread across repeated cross-validation",
            "",
            "Each repeat's pooled out-of-fold metric (the folds drawn anew, same subjects): "
            "how far a number moves between repeats alone.",
            "",
            "| model | level | repeats | accuracy (%) per repeat | range (pp) "
            "| macro F1 (%) per repeat | range (pp) |",
            "|---|---|---|---|---|---|---|",
        ]
        for model, level, records in spread:
            cells = [model, level, str(len(records))]
            for name in ("accuracy", "macro_f1"):
                vals = np.asarray([r[name] for r in records], dtype=float)
                cells.append(", ".join(_fmt(100 * v, 1) for v in vals))
                cells.append(_fmt(100 * (np.nanmax(vals) - np.nanmin(vals)), 1))
            lines.append("| " + " | ".join(cells) + " |")
    lines += _calibration_lines(summary)
    lines += ["", "## Paired comparisons", ""]
    if summary.get("comparison"):
        lines += [f"- {comparison_line(row)}" for row in summary["comparison"]]
        lines += [
            "",
            f"Test: {MCNEMAR_TEST}; Δaccuracy CI: paired bootstrap over the subjects scored "
            "by both models.",
        ]
    else:
        lines.append(f"(none: baseline {summary.get('baseline', '?')!r} not evaluated)")
    lines += _excluded_lines(summary)
    lines += ["", "## Majority-class rate", ""]
    for level in summary_levels(summary):
        rates = ", ".join(
            f"{model} {_fmt(100 * _get(majority, model, level), 1)} %" for model in metrics
        )
        lines.append(
            f"- {level} level (share of the most frequent label among the scored {level}s): {rates}"
        )
    lines += ["", "Subject-level accuracy CI above the majority-class rate:", ""]
    for model in metrics:
        low = _get(metrics, model, "subject", "accuracy", "ci_low")
        rate = _get(majority, model, "subject")
        verdict = "yes" if np.isfinite(low) and np.isfinite(rate) and low > rate else "no"
        lines.append(
            f"- {model}: {verdict} (CI low {_fmt(100 * low, 1)} % vs {_fmt(100 * rate, 1)} %)"
        )
    return "\n".join(lines) + "\n"


def _calibration_lines(summary: Mapping) -> list[str]:
    """The calibration section: ECE before and after cross-fitted temperature scaling."""
    cal = summary.get("calibration") or {}
    if not cal:
        return []
    lines = [
        "",
        "## Calibration",
        "",
        "Expected calibration error of the top label (10 bins, out-of-fold predictions): as "
        "trained, and after calibration fitted on the *other* test splits of the same "
        "repeat (cross-fitted: no prediction sets its own map): temperature scaling, or "
        "isotonic maps where every class has enough predictions and they lower the "
        "cross-fitted NLL (method); T: the temperature fitted on all of them.",
        "",
        "| model | T | ECE video before → after (%) | ECE subject before → after (%) "
        "| NLL video before → after | method |",
        "|---|---|---|---|---|---|",
    ]
    for model, c in cal.items():
        e, n = c.get("ece", {}), c.get("nll", {}).get("video", {})
        cells = [model, _fmt(c.get("temperature"), 2)]
        for level in ("video", "subject"):
            v = e.get(level, {})
            cells.append(f"{_fmt(100 * _nan(v.get('before')), 1)} → "
                         f"{_fmt(100 * _nan(v.get('after')), 1)}")  # fmt: skip
        cells.append(f"{_fmt(n.get('before'), 3)} → {_fmt(n.get('after'), 3)}")
        cells.append(str(c.get("method", "temperature")))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def summary_levels(summary: Mapping) -> list[str]:
    """The levels a summary reports, in order (older summaries: video and subject)."""
    return [str(v) for v in summary.get("levels", LEVELS)]


def excluded_notes(summary: Mapping, models: Sequence[str] | None = None) -> list[str]:
    """One sentence per model (of ``models``, default all) and aggregated level with units
    left out, e.g. ``stgcn, subject level: 3 of 25 subjects left out, their videos' labels
    differ (no subject-level label): pd20452 impaired, normal; ...``."""
    notes = []
    for model, by_level in summary.get("excluded", {}).items():
        if models is not None and model not in models:
            continue
        for level, units in by_level.items():
            if not units:
                continue
            n_kept = summary.get("n", {}).get(model, {}).get(level)
            total = f" of {int(n_kept) + len(units)}" if n_kept is not None else ""
            detail = "; ".join(
                f"{u} {str(r).rsplit(': ', 1)[-1]}" for u, r in sorted(units.items())
            )
            notes.append(
                f"{model}, {level} level: {len(units)}{total} {level}s left out, their "
                f"videos' labels differ (no {level}-level label): {detail}"
            )
    return notes


def _excluded_lines(summary: Mapping) -> list[str]:
    notes = excluded_notes(summary)
    if not notes:
        return []
    return [
        "",
        "## Left out of an aggregated level",
        "",
        "A label belongs to a recording (visit). A subject (or visit) whose videos carry "
        "different labels has no label of its own: the subject (visit) level leaves it out "
        "(metrics, n, majority-class rate and the paired comparisons); the video level "
        "counts all videos.",
        "",
        *(f"- {note}" for note in notes),
    ]


def comparison_line(row: Mapping) -> str:
    """E.g. ``fusion vs stgcn (subject level): Δaccuracy = +3.1 pp [−6.2, 12.5], exact
    McNemar p = 0.73 (5 vs 4 discordant subjects, 32 paired)``."""
    delta = 100 * float(row["accuracy_difference"])
    sign = "+" if np.isfinite(delta) and delta > 0 else ""
    return (
        f"{row['model']} vs {row['baseline']} ({row['level']} level): "
        f"Δaccuracy = {sign}{_fmt(delta, 1)} pp "
        f"[{_fmt(100 * row['diff_ci_low'], 1)}, {_fmt(100 * row['diff_ci_high'], 1)}], "
        f"exact McNemar p = {_fmt_p(row['p_value'])} "
        f"({row['n_model_only_correct']} vs {row['n_baseline_only_correct']} discordant "
        f"subjects, {row['n_subjects_paired']} paired)"
    )


def plot_confusion(
    cm: np.ndarray, labels: Sequence[str], out_path: str | os.PathLike, title: str = ""
) -> None:
    """Confusion matrix figure: counts as text, colour = row-normalised share (atomic PNG)."""
    labels = _labels(labels)
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = 1.2 + 0.8 * len(labels)
    fig = Figure(figsize=(size + 1.2, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{cm[i, j]:g}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="share of true class")
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


# --------------------------------------------------------------------------- helpers


def _labels(labels: Sequence[str]) -> list[str]:
    out = [str(label) for label in labels]
    if not out or len(set(out)) != len(out):
        raise ValueError(f"labels must be a non-empty list of distinct labels, got {out}")
    return out


def _as_label_array(values: Sequence[str]) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object).astype(str)


def _ordinal(values: Sequence[str], labels: list[str], what: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    arr = np.asarray([str(v) for v in values], dtype=object)
    unknown = sorted(set(arr) - set(index))
    if unknown:
        raise ValueError(f"{what} has label(s) {unknown} not in labels {labels}")
    return np.fromiter((index[v] for v in arr), dtype=np.int64, count=arr.size)


def _attach_sessions(preds: pd.DataFrame, sessions: Mapping[str, str] | None) -> pd.DataFrame:
    """``session`` per row from video_id → session (overrides a session column)."""
    if sessions is None:
        return preds
    by_video = {str(k): "" if v is None or v != v else str(v) for k, v in sessions.items()}
    return preds.assign(session=preds["video_id"].astype(str).map(by_video).fillna(""))


def _empty_predictions(labels: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*BASE_COLUMNS, *prob_columns(labels), *SPLIT_COLUMNS])


def _get(mapping: Mapping, *keys: str) -> float:
    value: object = mapping
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return math.nan
        value = value[key]
    return math.nan if value is None else float(value)


def _fmt(value: float | None, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) != 0:
        return _MINUS + text[1:]
    return text.lstrip("-")


def _fmt_p(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.2g}"


def _cell(values: Mapping | None, *, percent: bool) -> str:
    if not values:
        return "n/a"
    scale, digits = (100.0, 1) if percent else (1.0, 3)
    mean, std, low, high = (
        _get(values, key) * scale for key in ("mean", "std", "ci_low", "ci_high")
    )
    return f"{_fmt(mean, digits)} ± {_fmt(std, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _json_safe(obj: object) -> object:
    """NaN/inf → None, numpy scalars/arrays → Python, recursively (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def summarise_files(
    predictions: Mapping[str, Sequence[str | os.PathLike]],
    labels: list[str],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    baseline: str = "stgcn",
    alpha: float = 0.05,
    ordinal: bool = True,
    sessions: Mapping[str, str] | None = None,
) -> dict:
    """:func:`summarise` over each model's split files (``predictions``: model → its
    ``predictions.tsv`` files, one per split; ``sessions``: video_id → session, from the
    sheet)."""
    preds = {m: read_model_predictions(list(ps), labels) for m, ps in predictions.items()}
    return summarise(
        preds,
        labels,
        n_boot=n_boot,
        seed=seed,
        baseline=baseline,
        alpha=alpha,
        ordinal=ordinal,
        sessions=sessions,
    )
