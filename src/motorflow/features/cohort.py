"""The cohort feature table of either task: the per-video rows with subject and label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from motorflow.poseio import atomic_path


def read_rows(
    tables: Sequence[str | Path], subjects: Mapping[str, str], labels: Mapping[str, str], what: str
) -> pd.DataFrame:
    """The per-video one-row tables, concatenated, with ``subject_id`` and ``label`` after
    ``video_id``; a video twice is an error (``what``: the tables' kind, for the message)."""
    rows = pd.concat([pd.read_parquet(p) for p in tables], ignore_index=True)
    dup = rows["video_id"][rows["video_id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"duplicate video_id(s) in the {what} tables: {dup}")
    rows.insert(1, "subject_id", rows["video_id"].map(subjects))
    rows.insert(2, "label", rows["video_id"].map(labels))
    return rows


def write_table(rows: pd.DataFrame, out_table: str | Path) -> pd.DataFrame:
    """``rows`` sorted by video, written atomically to ``out_table`` (parquet)."""
    rows = rows.sort_values("video_id").reset_index(drop=True)
    with atomic_path(out_table) as tmp:
        rows.to_parquet(tmp, index=False)
    return rows
