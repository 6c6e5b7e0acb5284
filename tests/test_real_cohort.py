"""A real labelled cohort through the whole workflow, from a sheet.

``../shared/data/keypoints/parkinsonism_2d``: 15 walks of 8 older adults with parkinsonism
(Detectron and AlphaPose COCO-17 trajectories, Kinect skeletons in 2D and 3D), labelled per
recording with the UPDRS gait item (0 or 1 here).  Participant ID_03's score differs between
its recordings (a longitudinal label), so it has no subject-level label.  The sheet is built
from the files as a clinic user would write it; the run goes precomputed pose -> clean ->
features -> leave-one-subject-out folds -> gait_baseline and stgcn -> metrics, the summary
page and MLflow.  The test checks that it completes and that QC, folds and metrics are right,
not its accuracy (8 participants cannot show that).

Why leave-one-subject-out: UPDRS gait 1 is carried by two subjects only (ID_03 at two of its
three recordings, ID_27), so 2-fold CV stratified on the recordings is impossible to balance
and k > 2 is refused (at least k subjects per label); LOSO needs 2 subjects per label, and
every LOSO training split keeps a subject with each label (the one test subject is never the
only carrier of a label).  A label that only one training subject carries keeps that subject
out of the inner validation share (folds._inner_split), so training never lacks a label.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_workflow import copy_workflow, smk, write_config

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "keypoints" / "parkinsonism_2d"
if not DATA.exists():
    pytest.skip(
        f"../shared/data not present: {DATA} is missing (the real labelled cohort)",
        allow_module_level=True,
    )

MODELS = ["gait_baseline", "stgcn"]
LABELS = ["0", "1"]
# 2017_02_06__14_10_38_ID_03_state_1__1.csv: recording date-time, participant, then the
# source's walk state (not a label).
NAME = re.compile(r"^(?P<when>\d{4}_\d{2}_\d{2}__\d{2}_\d{2}_\d{2})_(?P<subject>ID_\d+)_")


def cohort_sheet() -> pd.DataFrame:
    """One row per shared recording: the sheet a clinic would write for these files."""
    rows = []
    for path in sorted(DATA.glob("*/*/*.csv")):
        m = NAME.match(path.stem)
        assert m, path.name
        table = pd.read_csv(path, usecols=lambda c: c in ("UPDRS_gait", "fps"))
        (updrs,) = table["UPDRS_gait"].unique()  # repeated on every row
        fps = table["fps"].unique() if "fps" in table else []
        rows.append(
            {
                "video_id": path.stem,
                "subject_id": m["subject"],
                "session": m["when"],
                "path": str(path),
                "label": str(int(updrs)),
                # The Kinect 2D exports carry no fps column (their time column gives it).
                "fps": float(fps[0]) if len(fps) == 1 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def test_cohort_sheet_is_the_documented_cohort():
    sheet = cohort_sheet()
    assert len(sheet) == 15 and sheet["subject_id"].nunique() == 8
    assert sorted(sheet["subject_id"].unique()) == [
        "ID_03", "ID_04", "ID_27", "ID_37", "ID_47", "ID_48", "ID_57", "ID_66",
    ]  # fmt: skip
    labels = sheet.groupby("subject_id")["label"].agg(lambda s: sorted(set(s)))
    assert labels["ID_03"] == ["0", "1"]  # the longitudinal label
    assert all(len(v) == 1 for s, v in labels.items() if s != "ID_03")
    # ID_27's two walks of 2017-08-16 11:34:23 are one visit.
    assert sheet.loc[sheet["subject_id"] == "ID_27", "session"].nunique() == 2


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory) -> tuple[Path, pd.DataFrame, float]:
    wd = copy_workflow(tmp_path_factory.mktemp("cohort"))
    sheet = cohort_sheet()
    sheet.to_csv(wd / "config/parkinsonism.tsv", sep="\t", index=False, na_rep="")
    cfg = write_config(
        wd,
        "parkinsonism.yaml",
        {
            "data": {"source": "sheet", "sheet": "config/parkinsonism.tsv", "labels": LABELS},
            "pose": {"backend": "precomputed"},
            # Walks of 1-7 s hold one or two strides per foot: one complete cycle per foot is
            # enough here (every row is still checked for consistency).  With the default 2,
            # 3 of the 15 walks give features (two subjects), one fewer label than the
            # feature baseline's folds need.
            "features": {"gait": {"min_cycles": 1}},
            "cv": {"scheme": "loso"},
            # Short training: a test of the plumbing on real data, not a result.
            "models": {
                "run": MODELS,
                "clip": {"frames": 32, "test_clips": 2},
                "optim": {"epochs": 3, "clips_per_video": 2, "patience": 3},
                "stgcn": {"channels": [16, 32], "strides": [1, 2]},
            },
            "evaluation": {"bootstrap": 200},
        },
    )
    start = time.monotonic()
    proc = smk(wd, "--keep-going", "--configfile", cfg, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        failed = sorted(set(re.findall(r"Error in rule (\w+):", out)))
        logs = sorted(set(re.findall(r"log: (logs/\S+\.log) \(check log", out)))
        detail = "\n".join(
            f"{log}: {(wd / log).read_text()[-500:]}" for log in logs if (wd / log).exists()
        )
        raise AssertionError(
            f"the cohort run failed in rule(s) {failed}:\n{detail}\n{proc.stderr[-3000:]}"
        )
    return wd, sheet, wall


def test_run_completes(cohort_run):
    wd, _, wall = cohort_run
    assert (wd / "results/metrics.json").exists()
    assert (wd / "results/report/summary.html").exists()
    # About 420 s of job CPU time (measured: the 15 walks' pose, clean, features and figures
    # 170 s, 8 splits x 2 models 215 s), so 4-5 minutes on 2 idle cores; not asserted, since
    # a loaded machine stretches it.
    print(f"cohort run: {wall:.0f} s wall")


def test_every_recording_has_qc_and_consistent_features_or_a_reason(cohort_run):
    from motorflow.features.gait import consistency_problems

    wd, sheet, _ = cohort_run
    qc = pd.read_csv(wd / "results/qc/summary.tsv", sep="\t")
    assert sorted(qc["video_id"]) == sorted(sheet["video_id"])
    assert set(qc["features_status"]) <= {"ok", "failed"}
    table = pd.read_parquet(wd / "results/features/features.parquet")
    assert sorted(table["video_id"]) == sorted(sheet["video_id"])
    by_id = sheet.set_index("video_id")
    assert (table["subject_id"] == by_id.loc[table["video_id"], "subject_id"].to_numpy()).all()
    ok = table[table["status"] == "ok"]
    for row in ok.to_dict("records"):
        assert consistency_problems(row) == [], row["video_id"]
        assert np.isfinite(row["cadence_steps_per_min"]), row["video_id"]
    bad = table[table["status"] != "ok"]
    assert bad["reason"].fillna("").str.len().gt(0).all(), bad[["video_id", "reason"]]
    assert bad["cadence_steps_per_min"].isna().all()
    assert bad["stride_time_s"].isna().all()
    # Both paths are exercised: walks with consistent features, and walks refused with a
    # reason (the ~1 s Detectron walks by the cleaning QC, centred Kinect walks without
    # contacts, contradictory events).
    assert len(ok) >= 1 and len(bad) >= 1
    # Printed for the record (pytest -s): what each recording gave.
    shown = table[["video_id", "status", "reason"]].assign(reason=table["reason"].str[:90])
    print(shown.to_string())


def feature_labels(wd: Path, sheet: pd.DataFrame, subjects: set[str]) -> set[str]:
    """Labels of the recordings of ``subjects`` that have features."""
    table = pd.read_parquet(wd / "results/features/features.parquet")
    have = set(table.loc[table["status"] == "ok", "video_id"])
    rows = sheet[sheet["subject_id"].isin(subjects) & sheet["video_id"].isin(have)]
    return set(rows["label"])


def test_folds_are_leave_one_subject_out_and_grouped(cohort_run):
    wd, sheet, _ = cohort_run
    subjects = sorted(sheet["subject_id"].unique())
    folds = pd.read_csv(wd / "results/folds/folds.tsv", sep="\t", dtype={"subject_id": str})
    # One split per subject, each subject once in test, in sorted order.
    assert list(folds.sort_values("fold")["subject_id"]) == subjects
    assert list(folds.sort_values("fold")["fold"]) == list(range(len(subjects)))
    splits = pd.read_csv(wd / "results/folds/splits.tsv", sep="\t", dtype={"subject_id": str})
    assert splits["split"].nunique() == len(subjects)
    for name, g in splits.groupby("split"):
        assert not g["subject_id"].duplicated().any(), name  # one role per subject
        assert sorted(g["subject_id"]) == subjects, name
        assert list(g.loc[g["role"] == "test", "subject_id"]) == [subjects[int(name[4:])]]
        # Every training split keeps both labels among its training subjects.
        train_labels = set(
            sheet.loc[sheet["subject_id"].isin(g.loc[g["role"] == "train", "subject_id"]), "label"]
        )
        assert train_labels == set(LABELS), name
    abstained: list[str] = []
    for model in MODELS:
        for name, g in splits.groupby("split"):
            info = json.loads((wd / f"results/train/{model}/{name}/train.json").read_text())
            test = set(g.loc[g["role"] == "test", "subject_id"])
            train, val = set(info["train_subjects"]), set(info["val_subjects"])
            # (train.json lists the subjects with usable recordings: ID_47's only walk, for
            # one, is excluded by the cleaning QC)
            assert train <= set(g.loc[g["role"] == "train", "subject_id"]), (model, name)
            assert val <= set(g.loc[g["role"] == "val", "subject_id"]), (model, name)
            assert not test & (train | val) and not train & val, (model, name)
            pred = pd.read_csv(
                wd / f"results/eval/{model}/{name}/predictions.tsv",
                sep="\t",
                dtype={"subject_id": str, "video_id": str},
            )
            # Predictions only for the split's test subject, never for anyone else.
            assert set(pred["subject_id"]) <= test, (model, name)
            if model == "gait_baseline":
                # It abstains (no predictions) exactly where the training videos with
                # features carry a single label.
                one_label = len(feature_labels(wd, sheet, train | val)) < 2
                assert ("abstain" in info) == one_label, (name, info.get("abstain"))
                if one_label:
                    assert pred.empty
                    abstained.append(name)
    # Measured: ID_27 is the only subject with label 1 and features, so the feature model
    # abstains on its split alone (printed for the record, not asserted: it follows the
    # features stage's yield).
    print("gait_baseline abstained on", abstained)


def test_metrics_report_subject_level_against_majority_rate(cohort_run):
    wd, sheet, _ = cohort_run
    metrics = json.loads((wd / "results/metrics.json").read_text())
    assert sorted(metrics) == sorted(MODELS)
    summary = json.loads((wd / "results/eval/summary.json").read_text())
    assert summary["levels"] == ["video", "visit", "subject"]
    for model in MODELS:
        assert set(metrics[model]) == {"video", "visit", "subject"}
        for level, values in metrics[model].items():
            for name in ("accuracy", "balanced_accuracy", "macro_f1"):
                assert set(values[name]) == {"mean", "std", "ci_low", "ci_high"}, (model, level)
            acc = values["accuracy"]
            assert 0 <= acc["ci_low"] <= acc["ci_high"] <= 1, (model, level)
        per_split = [
            pd.read_csv(p, sep="\t", dtype={"subject_id": str, "video_id": str, "label": str})
            for p in sorted((wd / f"results/eval/{model}").glob("fold*/predictions.tsv"))
        ]
        pooled = pd.concat([df for df in per_split if len(df)], ignore_index=True)
        assert summary["n"][model]["video"] == pooled["video_id"].nunique() > 0
        # A subject whose scored recordings carry both labels (ID_03: UPDRS gait 0 at one
        # visit, 1 at two) has no subject-level label: left out, and listed with the reason.
        scored = pooled.groupby("subject_id")["label"].nunique()
        mixed = sorted(scored.index[scored > 1])
        assert sorted(summary["excluded"][model]["subject"]) == mixed, model
        assert all(summary["excluded"][model]["subject"].values())  # a reason each
        one_label = sorted(set(scored.index) - set(mixed))
        assert summary["n"][model]["subject"] == len(one_label), model
        # The subject-level result is reported against its majority-class rate.
        units = pooled[pooled["subject_id"].isin(one_label)].drop_duplicates("subject_id")
        want = units["label"].value_counts().max() / len(units)
        assert summary["majority_rate"][model]["subject"] == pytest.approx(want), model
    # The ST-GCN scores every recording the cleaning QC kept: ID_03's three visits among them,
    # so ID_03 is left out of its subject level.
    assert summary["excluded"]["stgcn"]["subject"].keys() == {"ID_03"}


def test_summary_page_and_mlflow(cohort_run):
    wd, _, _ = cohort_run
    html = (wd / "results/report/summary.html").read_text(encoding="utf-8")
    assert all(m in html for m in MODELS)
    assert "ID_03" in html  # named among the subjects left out of the subject level
    assert "majority" in html.lower()

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    runs = json.loads((wd / "results/mlflow/runs.json").read_text())
    client = MlflowClient(f"sqlite:///{wd / 'results/mlflow/mlflow.db'}")
    exp = client.get_experiment_by_name("motorflow")
    found = client.search_runs([exp.experiment_id], max_results=1000)
    n_splits = 8
    assert len(found) == len(MODELS) * (1 + n_splits) == len(runs["runs"])
    parents = {r.info.run_id: r for r in found if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(r.data.tags["motorflow.model"] for r in parents.values()) == sorted(MODELS)
    metrics = json.loads((wd / "results/metrics.json").read_text())
    for r in found:
        assert r.info.status == "FINISHED"
        if r.info.run_id in parents:
            model = r.data.tags["motorflow.model"]
            want = metrics[model]["subject"]["accuracy"]["mean"]
            assert r.data.metrics["subject_accuracy_mean"] == pytest.approx(want)
