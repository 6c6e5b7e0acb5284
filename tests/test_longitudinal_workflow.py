"""A longitudinal sheet (labels differing between a subject's visits) through the real
Snakefile's planning: accepted as it is, refused with the clear error under
cv.one_label_per_subject, and leave-one-subject-out plans one split per subject."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_workflow import copy_workflow, planned, smk, write_config

pytestmark = pytest.mark.slow

SUBJECTS = [f"pd{i:02d}" for i in range(6)]


def longitudinal_sheet(wd: Path) -> str:
    rows = []
    for i, s in enumerate(SUBJECTS):
        for session in ("OFF", "ON"):
            # pd00 and pd01 change label with medication; the others keep theirs.
            label = ("II" if session == "OFF" else "I") if i < 2 else ("I", "II")[i % 2]
            rows.append((f"{s}_{session}", s, f"keypoints/{s}_{session}.csv", label, session))
    sheet = pd.DataFrame(rows, columns=["video_id", "subject_id", "path", "label", "visit"])
    sheet.to_csv(wd / "config" / "long.tsv", sep="\t", index=False)
    return "config/long.tsv"


def config(sheet: str, **cv) -> dict:
    return {
        "data": {"source": "sheet", "sheet": sheet, "labels": ["I", "II"]},
        "pose": {"backend": "precomputed"},
        "models": {"run": ["gait_baseline"]},
        "cv": cv,
    }


def test_longitudinal_sheet_plans_loso_and_the_strict_option_refuses_it(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    sheet = longitudinal_sheet(wd)
    loso = write_config(wd, "loso.yaml", config(sheet, scheme="loso"))
    jobs = planned(wd, "--configfile", loso)
    assert jobs["make_folds"] == 1
    # One split per subject, and the final model on everyone.
    assert jobs["train_gait_baseline"] == len(SUBJECTS) + 1
    assert jobs["evaluate_fold"] == len(SUBJECTS)
    kfold = write_config(wd, "kfold.yaml", config(sheet, folds=2))
    assert planned(wd, "--configfile", kfold)["evaluate_fold"] == 2
    strict = write_config(wd, "strict.yaml", config(sheet, one_label_per_subject=True))
    proc = smk(wd, "-n", "--configfile", strict, check=False)
    assert proc.returncode != 0
    assert "subject 'pd00' carries several labels ['I', 'II'] (rows [2, 3])" in (
        proc.stdout + proc.stderr
    )
    assert not (wd / "results").exists()
