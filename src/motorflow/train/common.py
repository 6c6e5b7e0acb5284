"""What every trainer writes beside its model: history, train.json, its config as JSON."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from motorflow.poseio import atomic_path, write_json


def balanced_accuracy(y_true, y_pred) -> float:
    # A small validation set may lack a label the model predicts: expected, not a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def config_dict(cfg) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def write_outputs(out_dir: Path, history: pd.DataFrame | None, info: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if history is not None:
        with atomic_path(out_dir / "history.tsv") as tmp:
            history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    write_json(info, out_dir / "train.json")
