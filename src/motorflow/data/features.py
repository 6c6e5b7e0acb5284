"""Per-split feature tables: the features stage's per-video rows, or gait features recomputed
from a keypoint subset, with deviation scores against a reference built from the split's
TRAINING videos only."""

from __future__ import annotations

import pandas as pd

from motorflow.data.table import SplitData, TrainError
from motorflow.features import gait as featlib
from motorflow.features.curves import (
    DEVIATION_COLUMNS,
    deviation_scores,
    fit_reference,
    load_mean_curves,
)
from motorflow.poseio import load_pose

# Gait-feature columns the models use: normalised to leg length (metric columns need the
# optional stature and would make the feature set depend on the sheet).
MODEL_FEATURES: tuple[str, ...] = tuple(
    c
    for c in (*featlib.GAIT_COLUMNS, *DEVIATION_COLUMNS)
    if not c.endswith("_m") and not c.endswith("_m_per_s")
)


def _require(table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for col in columns:
        if len(table) and not table[col].all():
            raise TrainError(f"no {col} files in the video table: the rule does not declare them")


def gait_feature_table(
    table: pd.DataFrame,
    data: SplitData,
    reference_label: str | None,
    joints: list[str] | None = None,
    gait_cfg: featlib.FeatureConfig | None = None,
) -> tuple[pd.DataFrame, str]:
    """Gait features of every video in ``table``, one row per video (index ``video_id``).

    Without ``joints`` the features stage's per-video tables and curves are read; with
    ``joints`` the features are recomputed from those keypoints only (``gait_cfg``).  The
    deviation scores always use a reference built from the split's TRAINING videos
    labelled ``reference_label`` (training reference subjects scored leave-one-subject-out),
    never the cohort-wide descriptive reference of ``features.parquet``.
    """
    rows, curves = {}, {}
    _require(table, ("features", "curves") if joints is None else ("pose",))
    for r in table.itertuples(index=False):
        if joints is None:
            row = pd.read_parquet(r.features).iloc[0].to_dict()
            rows[r.video_id] = row
            curves[r.video_id] = load_mean_curves(r.curves)
        else:
            res = featlib.gait_features(
                load_pose(r.pose), gait_cfg or featlib.FeatureConfig(), joints=joints
            )
            rows[r.video_id] = {
                **res.features,
                "status": res.info["status"],
                "reason": res.info.get("reason", ""),
            }
            curves[r.video_id] = res.mean_curves()
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.drop(columns=[c for c in ("video_id",) if c in df.columns])
    train_labels = dict(zip(data.train["video_id"], data.train["label"], strict=True))
    subjects = dict(zip(table["video_id"], table["subject_id"], strict=True))
    ref, note = None, "no deviation scores: no reference label configured"
    if reference_label is not None:
        ref, why = fit_reference(
            curves, subjects, train_labels, reference_label, data.train["video_id"]
        )
        note = (
            f"{len(set(ref.subjects))} training subjects labelled {reference_label}"
            if ref is not None
            else f"no deviation scores: training videos: {why}"
        )
    scores = deviation_scores(ref, curves, subjects, (df["status"] == "ok").to_dict())
    for col in DEVIATION_COLUMNS:
        df[col] = scores[col]
    df.index.name = "video_id"
    return df, note


def movement_feature_table(table: pd.DataFrame) -> pd.DataFrame:
    """Infant general-movement features of every video in ``table`` (index ``video_id``)."""
    _require(table, ("features",))
    rows = {r.video_id: pd.read_parquet(r.features).iloc[0].to_dict() for r in table.itertuples()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.drop(columns=[c for c in ("video_id",) if c in df.columns])
    df.index.name = "video_id"
    return df
