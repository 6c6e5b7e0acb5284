"""QC stage: gather per-video QC records into ``results/qc/summary.tsv``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import pandas as pd

from motorflow.poseio import atomic_path


def summarise(records: Iterable[str | os.PathLike], out_path: str | os.PathLike) -> pd.DataFrame:
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
    if "video_id" in table:
        table = table.sort_values("video_id").reset_index(drop=True)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    return table


def excluded_videos(summary: pd.DataFrame) -> dict[str, str]:
    """video_id → reason, for videos the QC excluded."""
    ex = summary[summary["excluded"].astype(bool)]
    return dict(zip(ex["video_id"], ex["reason"], strict=True))
