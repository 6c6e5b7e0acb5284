"""QC stage: gather per-video QC records into ``results/qc/summary.tsv``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable

import pandas as pd

from motorflow.poseio import atomic_path

# Fields of the features stage's QC record carried into the summary (prefixed features_).
FEATURE_FIELDS = ("status", "reason", "view", "direction", "n_cycles")


def summarise(
    records: Iterable[str | os.PathLike],
    out_path: str | os.PathLike,
    feature_records: Iterable[str | os.PathLike] = (),
    preprocess_records: Iterable[str | os.PathLike] = (),
) -> pd.DataFrame:
    """One row per video: the cleaning QC, plus the features stage's status and reason.

    ``preprocess_records`` (the align stage's records, which carry the mask stage's
    failures): a video the video preprocessing failed on is excluded too, with that reason.
    """
    rows = []
    for path in records:
        with open(path) as fh:
            rec = json.load(fh)
        flat = {}
        for key, value in rec.items():
            if isinstance(value, dict):  # e.g. swaps_fixed: {legs, arms}
                flat.update({f"{key}_{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        rows.append(flat)
    table = pd.DataFrame(rows)
    feats = []
    for path in feature_records:
        with open(path) as fh:
            rec = json.load(fh)
        feats.append(
            {"video_id": rec["video_id"], **{f"features_{k}": rec.get(k) for k in FEATURE_FIELDS}}
        )
    if feats:
        table = table.merge(pd.DataFrame(feats), on="video_id", how="left")
    pre = []
    for path in preprocess_records:
        with open(path) as fh:
            rec = json.load(fh)
        pre.append(
            {
                "video_id": rec["video_id"],
                "preprocess_status": rec.get("status"),
                "preprocess_reason": rec.get("reason", ""),
            }
        )
    if pre:
        table = table.merge(pd.DataFrame(pre), on="video_id", how="left")
        failed = table["preprocess_status"].ne("ok") & ~table["excluded"].astype(bool)
        table.loc[failed, "reason"] = "video preprocessing: " + table.loc[
            failed, "preprocess_reason"
        ].fillna("no record")
        table.loc[failed, "excluded"] = True
    if "video_id" in table:
        table = table.sort_values("video_id").reset_index(drop=True)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    return table


def log_exclusions(summary_path: str | os.PathLike, log: logging.Logger) -> int:
    """Log how many recordings the QC summary excludes, with stage and reason; the count."""
    if not os.path.exists(summary_path):
        return 0
    table = pd.read_csv(summary_path, sep="\t", dtype={"video_id": str})
    ex = table[table["excluded"].astype(bool)] if "excluded" in table else table.iloc[:0]
    stage = ex["excluded_stage"].fillna("") if "excluded_stage" in ex else pd.Series("", ex.index)
    for vid, st, why in zip(ex["video_id"], stage, ex["reason"], strict=True):
        log.warning("excluded %s (%s): %s", vid, st or "qc", why)
    log.warning("%d of %d recordings excluded (%s)", len(ex), len(table), summary_path)
    return len(ex)


def excluded_videos(summary: pd.DataFrame) -> dict[str, str]:
    """video_id → reason, for videos the QC excluded."""
    ex = summary[summary["excluded"].astype(bool)]
    return dict(zip(ex["video_id"], ex["reason"], strict=True))
