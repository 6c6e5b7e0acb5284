"""Per-split feature tables: the features stage's per-video rows, or gait features recomputed
from a keypoint subset, with deviation scores against a reference built from the split's
TRAINING videos only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from motorflow.data.table import SplitData, TrainError
from motorflow.features import gait as featlib
from motorflow.features.curves import (
    DEVIATION_COLUMNS,
    DeviationReference,
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


def gait_rows(
    table: pd.DataFrame,
    joints: list[str] | None = None,
    gait_cfg: featlib.FeatureConfig | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Gait features (index ``video_id``, without deviation scores) and mean cycle curves of
    every video in ``table``: the features stage's files, or, with ``joints``, recomputed
    from those keypoints of the pose files only (``gait_cfg``)."""
    rows, curves = {}, {}
    _require(table, ("features", "curves") if joints is None else ("pose",))
    for r in table.itertuples(index=False):
        if joints is None:
            rows[r.video_id] = pd.read_parquet(r.features).iloc[0].to_dict()
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
    df.index.name = "video_id"
    return df, curves


def training_reference(
    curves: dict[str, np.ndarray],
    table: pd.DataFrame,
    data: SplitData,
    reference_label: str | None,
) -> tuple[DeviationReference | None, str]:
    """The deviation reference of a split: its TRAINING videos labelled ``reference_label``
    (never the cohort-wide descriptive reference of ``features.parquet``), and a note."""
    if reference_label is None:
        return None, "no deviation scores: no reference label configured"
    train_labels = dict(zip(data.train["video_id"], data.train["label"], strict=True))
    subjects = dict(zip(table["video_id"], table["subject_id"], strict=True))
    videos = data.train["video_id"]
    ref, why = fit_reference(curves, subjects, train_labels, reference_label, videos)
    if ref is None:
        return None, f"no deviation scores: training videos: {why}"
    return ref, f"{len(set(ref.subjects))} training subjects labelled {reference_label}"


def with_deviation_scores(
    df: pd.DataFrame,
    curves: dict[str, np.ndarray],
    subjects: dict[str, str | None],
    reference: DeviationReference | None,
) -> pd.DataFrame:
    """``df`` with the deviation-score columns against ``reference`` (a reference subject's
    own videos are scored against the others; a subject ``None`` against everyone)."""
    scores = deviation_scores(reference, curves, subjects, (df["status"] == "ok").to_dict())
    df = df.copy()
    for col in DEVIATION_COLUMNS:
        df[col] = scores[col]
    return df


def gait_feature_table(
    table: pd.DataFrame,
    data: SplitData,
    reference_label: str | None,
    joints: list[str] | None = None,
    gait_cfg: featlib.FeatureConfig | None = None,
) -> tuple[pd.DataFrame, str]:
    """Gait features of every video in ``table``, one row per video (index ``video_id``),
    with deviation scores against the split's training reference (:func:`gait_rows`,
    :func:`training_reference`; training reference subjects scored leave-one-subject-out)."""
    df, curves = gait_rows(table, joints, gait_cfg)
    known = table
    if reference_label is not None:
        # The reference is the split's training videos whatever ``table`` holds (the test
        # videos alone, in the evaluation): their curves are read too.
        others = data.train[~data.train["video_id"].isin(list(curves))]
        if len(others):
            _, more = gait_rows(others, joints, gait_cfg)
            curves = {**curves, **more}
            known = pd.concat([table, others], ignore_index=True)
    ref, note = training_reference(curves, known, data, reference_label)
    subjects = dict(zip(table["video_id"], table["subject_id"], strict=True))
    own = {v: curves[v] for v in df.index}
    return with_deviation_scores(df, own, subjects, ref), note


def movement_feature_table(table: pd.DataFrame) -> pd.DataFrame:
    """Infant general-movement features of every video in ``table`` (index ``video_id``)."""
    _require(table, ("features",))
    rows = {r.video_id: pd.read_parquet(r.features).iloc[0].to_dict() for r in table.itertuples()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.drop(columns=[c for c in ("video_id",) if c in df.columns])
    df.index.name = "video_id"
    return df
