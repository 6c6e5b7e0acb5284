"""``gait_baseline`` / ``movement_baseline``: logistic regression on per-video features.

Torch-free, and imported by no network's training: editing it retrains the baselines only.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from motorflow import tasks
from motorflow.config import config_from_mapping
from motorflow.data.features import MODEL_FEATURES, gait_feature_table, movement_feature_table
from motorflow.data.table import SplitData, TrainError, VideoTable, split_data
from motorflow.features.movement import MOVEMENT_COLUMNS
from motorflow.poseio import atomic_path, write_json
from motorflow.train.common import balanced_accuracy

log = logging.getLogger("motorflow.train")


@dataclass(frozen=True)
class BaselineTraining:
    """``models.gait_baseline`` / ``movement_baseline``: inverse regularisation strengths
    tried on the inner split."""

    C: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> BaselineTraining:
        return config_from_mapping(cls, mapping, "models.gait_baseline")


def _gait_features(table: pd.DataFrame, data: SplitData, reference_label: str | None):
    feats, note = gait_feature_table(table, data, reference_label)
    return feats, note, MODEL_FEATURES


def _movement_features(table: pd.DataFrame, data: SplitData, reference_label: str | None):
    return movement_feature_table(table), "", MOVEMENT_COLUMNS


# The feature table of each kind of per-video features (``TaskSpec.features``): (videos,
# split, reference label) -> the table, a note, and its candidate columns.
FEATURE_TABLES: dict[str, Callable[..., tuple[pd.DataFrame, str, tuple[str, ...]]]] = {
    "gait": _gait_features,
    "movement": _movement_features,
}


def baseline_features(
    model_name: str, table: pd.DataFrame, data: SplitData, reference_label: str | None
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The feature table a feature baseline reads (its task's features), a note, and its
    candidate columns."""
    task = next((t for t in tasks.TASKS.values() if t.baseline == model_name), None)
    if task is None:
        raise TrainError(f"not a feature baseline: {model_name}")
    return FEATURE_TABLES[task.features](table, data, reference_label)


def full_probs(probs: np.ndarray, classes: np.ndarray, n: int) -> np.ndarray:
    """A pipeline's (N, len(classes)) probabilities over all ``n`` labels: a class absent
    from the training data gets probability 0."""
    full = np.zeros((len(probs), n))
    full[:, np.asarray(classes, dtype=int)] = probs
    return full


def train_gait_baseline(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: BaselineTraining,
    reference_label: str | None,
    seed: int = 0,
) -> dict:
    """``gait_baseline``: :func:`train_feature_baseline` on the clinical gait features."""
    return train_feature_baseline(
        "gait_baseline", table, splits, split, out_dir, cfg, reference_label, seed
    )


def train_feature_baseline(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: BaselineTraining,
    reference_label: str | None = None,
    seed: int = 0,
) -> dict:
    """Logistic regression on gait (``gait_baseline``) or general-movement
    (``movement_baseline``) features; ``C`` by inner-validation balanced accuracy, then
    refitted on training + validation subjects.  Videos without features (status not ok)
    are excluded and listed (never imputed wholesale)."""
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    non_test = pd.concat([data.train, data.val], ignore_index=True)
    feats, note, candidates = baseline_features(model_name, non_test, data, reference_label)
    ok = feats["status"] == "ok"
    kind = model_name.removesuffix("_baseline")
    excluded = {v: f"no {kind} features: {feats.at[v, 'reason']}" for v in feats.index[~ok]}
    cols = [c for c in candidates if feats.loc[ok, c].notna().any()]
    y = {
        v: table.labels.index(lab)
        for v, lab in zip(non_test["video_id"], non_test["label"], strict=True)
    }
    tr = [v for v in data.train["video_id"] if ok.get(v, False)]
    va = [v for v in data.val["video_id"] if ok.get(v, False)]
    if len({y[v] for v in tr + va}) < 2:
        # A small real cohort where most walks give no features: this split's training
        # videos with features carry one label, so no classifier can be fitted. The model
        # abstains here (no predictions for the split; train.json says why) rather than
        # failing the job and, with it, every cohort output.
        reason = f"split {split}: fewer than two labels among training videos with features"
        log.warning("%s: the model abstains on this split", reason)
        return _abstain(model_name, split, data, out_dir, table, cfg, excluded, reason)
    if len({y[v] for v in tr}) < 2:
        # The inner validation holds the only carriers of a label: C cannot be chosen on
        # it; the grid's middle value is fitted on training + validation.
        log.warning("split %s: one label among training videos with features; C not chosen", split)
        va_for_c: list[str] = []
        tr_for_c = tr + va
    else:
        va_for_c, tr_for_c = va, tr

    def make(c: float) -> Pipeline:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                (
                    "classify",
                    LogisticRegression(
                        C=c, class_weight="balanced", max_iter=5000, random_state=seed
                    ),
                ),
            ]
        )

    scores = {}
    for c in cfg.C:
        if va_for_c:
            pipe = make(c).fit(feats.loc[tr_for_c, cols], [y[v] for v in tr_for_c])
            scores[c] = float(
                balanced_accuracy([y[v] for v in va_for_c], pipe.predict(feats.loc[va_for_c, cols]))
            )
        else:
            scores[c] = 0.0
    best_c = max(cfg.C, key=lambda c: (scores[c], -abs(math.log10(c))))
    fit_on = tr + va
    pipe = make(best_c).fit(feats.loc[fit_on, cols], [y[v] for v in fit_on])
    # Standardised coefficients: mean |coef| over classes is the feature's weight.
    coef = np.abs(pipe.named_steps["classify"].coef_).mean(axis=0)
    importance = pd.DataFrame({"feature": cols, "importance": coef / coef.sum()})
    importance = importance.sort_values("importance", ascending=False, kind="stable")
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pkl") as tmp:
        tmp.write_bytes(
            pickle.dumps({"pipeline": pipe, "columns": cols, "labels": table.labels}, protocol=4)
        )
    with atomic_path(out_dir / "importance.tsv") as tmp:
        importance.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    params = {model_name: {"C_grid": list(cfg.C), "reference_label": reference_label}}
    history = pd.DataFrame({"C": list(scores), "val_balanced_accuracy": list(scores.values())})
    info = {
        "model": model_name,
        "split": split,
        "n_train_videos": len(tr),
        "n_val_videos": len(va),
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": {**data.skipped, **excluded},
        "best_C": best_c,
        "features": cols,
        "deviation_reference": note,
        "params": params,
        "device": "cpu",
    }
    with atomic_path(out_dir / "selection.tsv") as tmp:
        history.to_csv(tmp, sep="\t", index=False)
    write_json(info, out_dir / "train.json")
    return info


def _abstain(model_name, split, data, out_dir, table, cfg, excluded, reason) -> dict:
    """The declared outputs of a feature baseline that cannot be fitted on ``split``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pkl") as tmp:
        blob = {"pipeline": None, "columns": [], "labels": table.labels, "abstain": reason}
        tmp.write_bytes(pickle.dumps(blob, protocol=4))
    with atomic_path(out_dir / "importance.tsv") as tmp:
        pd.DataFrame(columns=["feature", "importance"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_dir / "selection.tsv") as tmp:
        pd.DataFrame(columns=["C", "val_balanced_accuracy"]).to_csv(tmp, sep="\t", index=False)
    info = {
        "model": model_name,
        "split": split,
        "abstain": reason,
        "n_train_videos": 0,
        "n_val_videos": 0,
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": {**data.skipped, **excluded},
        "best_C": None,
        "features": [],
        "deviation_reference": "",
        "params": {model_name: {"C_grid": list(cfg.C)}},
        "device": "cpu",
    }
    write_json(info, out_dir / "train.json")
    return info
