"""The real Snakefile on a tiny config in a temp dir: outputs, re-planning, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import slurm_cluster
import yaml

from motorflow.poseio import TEMP_SUFFIX
from motorflow.video import VideoWriter, iter_frames, probe

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
pytestmark = pytest.mark.slow


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "src"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def smk(cwd: Path, *args: str, check: bool = True, cores: int = 2) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", str(cores), *args], cwd=cwd, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def write_config(wd: Path, name: str, overrides: dict) -> str:
    """An override config file (merged over config/config.yaml by --configfile)."""
    path = wd / "config" / name
    path.write_text(yaml.safe_dump(overrides))
    return f"config/{name}"


def sheet_config(sheet: str, models: list[str] | None = None) -> dict:
    """A sheet config; no models by default (these sheets are too small for folds)."""
    return {
        "data": {"source": "sheet", "sheet": sheet, "labels": ["I", "II", "III", "IV"]},
        "models": {"run": models or []},
    }


def planned(cwd: Path, *args: str) -> dict[str, int]:
    """Jobs a dry run would execute, per rule."""
    out = smk(cwd, "-n", "--quiet", "rules", *args).stdout
    jobs: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def planned_after_edit(wd: Path, relpath: str) -> dict[str, int]:
    """Jobs planned after appending a comment to one source file (restored afterwards)."""
    src = wd / relpath
    original = src.read_text()
    try:
        src.write_text(original + "\n# edited\n")
        return planned(wd, "--configfile", "config/tiny.yaml")
    finally:
        src.write_text(original)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    wd = copy_workflow(tmp_path_factory.mktemp("wf"))
    # 8 parallel jobs: training and evaluation jobs run side by side, and MLflow must still
    # receive every run (only the log_mlflow job writes to its store).
    smk(wd, "--configfile", "config/tiny.yaml", cores=8)
    return wd


def test_tiny_run_outputs(tiny_run):
    summary = pd.read_csv(tiny_run / "results/qc/summary.tsv", sep="\t")
    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t")
    assert sorted(summary["video_id"]) == sorted(sheet["video_id"])
    assert len(sheet) == 12 and sheet.groupby("label").size().eq(3).all()
    acc = pd.read_csv(tiny_run / "results/validation/pose_accuracy.tsv", sep="\t")
    assert acc["detection_rate"].median() >= 0.98
    assert acc["mean_error_pct"].median() <= 3.5
    # No temporary files survive anywhere under results/.
    assert list((tiny_run / "results").rglob("*" + TEMP_SUFFIX)) == []
    # Privacy: results hold no raw frames apart from the synthetic cohort's own renders (the
    # gait-curve figures are plots of keypoint-derived angles).
    images = [p for p in (tiny_run / "results").rglob("*") if p.suffix in {".mp4", ".png", ".jpg"}]
    allowed = {
        tiny_run / "results/synth/videos",
        tiny_run / "results/features/figures",
        tiny_run / "results/eval",  # confusion matrices
        tiny_run / "results/interpret/stgcn",  # importance on a template skeleton
        tiny_run / "results/interpret/gait_baseline",  # bar chart
        *(tiny_run / "results/interpret/stgcn").glob("fold*"),
        tiny_run / "results/interpret/stgcn/final",  # the final ST-GCN's ranking
    }
    # MLflow holds copies of those figures as run artifacts.
    figures = {p.read_bytes() for p in images if p.parent in allowed and p.suffix == ".png"}
    logged = [p for p in images if (tiny_run / "results/mlflow/artifacts") in p.parents]
    assert logged and all(p.read_bytes() in figures for p in logged)
    assert all(p.parent in allowed for p in images if p not in logged), [
        p for p in images if p.parent not in allowed
    ]
    assert all(p.suffix == ".png" for p in images if p.parent.name == "figures")


def test_tiny_run_features(tiny_run):
    table = pd.read_parquet(tiny_run / "results/features/features.parquet")
    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t")
    assert sorted(table["video_id"]) == sorted(sheet["video_id"])
    assert (table["subject_id"] == table["video_id"].str.split("_").str[0]).all()
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 0.75 * len(table)
    # Failed rows carry a reason and no numbers.
    bad = table[table["status"] != "ok"]
    assert bad["reason"].str.len().gt(0).all()
    assert bad["cadence_steps_per_min"].isna().all()
    # Every row of the run is internally consistent, and its cadence agrees with the
    # label-free one its QC record carries.
    from motorflow.features.gait import consistency_problems

    for row in ok.to_dict("records"):
        assert consistency_problems(row) == [], row["video_id"]
        qc = json.loads((tiny_run / f"results/features/{row['video_id']}.json").read_text())
        free = qc["cadence_label_free"]
        assert row["cadence_steps_per_min"] == pytest.approx(free, rel=0.10), row["video_id"]
    # Level I is the deviation reference: it deviates least.  A tiny cohort may lack the 3
    # level-I subjects with features a reference needs: then the scores are NaN, never made up.
    from motorflow.features.curves import load_reference

    if load_reference(tiny_run / "results/features/reference.npz") is not None:
        gdi = ok.groupby("label")["gait_deviation_index"].median()
        assert gdi["I"] > gdi["IV"]
    else:
        assert table["gait_deviation_index"].isna().all()
    summary = pd.read_csv(tiny_run / "results/qc/summary.tsv", sep="\t")
    assert set(summary["features_status"]) <= {"ok", "failed"}
    acc = pd.read_csv(tiny_run / "results/validation/feature_accuracy.tsv", sep="\t")
    assert acc["truth_joints_cadence_steps_per_min"].median() <= 2.0
    assert acc["mediapipe_cadence_steps_per_min"].median() <= 3.0
    figures = sorted((tiny_run / "results/features/figures").glob("*.png"))
    assert len(figures) == len(sheet) and all(p.stat().st_size > 10_000 for p in figures)


@pytest.mark.skipif(
    bool(slurm_cluster.missing_programs()),
    reason=f"SLURM is not installed ({', '.join(slurm_cluster.missing_programs())} missing): "
    f"{slurm_cluster.INSTALL_HINT}",
)
def test_tiny_run_on_a_real_slurm_cluster_gives_the_local_metrics(tiny_run, tmp_path):
    # profiles/slurm as shipped, on a one-node CPU-only cluster without accounting: every
    # job goes through sbatch (no GPU requested where there is none), Snakemake follows them
    # with squeue, and the result is the local run's, byte for byte.
    wd = copy_workflow(tmp_path / "wf")
    shutil.copytree(REPO / "profiles", wd / "profiles")
    with slurm_cluster.one_node_cluster(tmp_path / "cluster") as cluster_env:
        env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
        proc = subprocess.run(
            [str(SNAKEMAKE), "--profile", "profiles/slurm", "--configfile", "config/tiny.yaml"],
            cwd=wd,
            capture_output=True,
            text=True,
            env={**env, **cluster_env},
            timeout=1800,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"SLURM run failed:\n{out[-4000:]}"
        submitted = re.findall(r"SLURM jobid (\d+)", out)
    assert len(submitted) == len(set(submitted)) > 50, "jobs did not go through sbatch"
    assert "--gpus" not in out
    for name in ("metrics.json", "features/features.parquet", "folds/folds.tsv"):
        local, slurm = (run / "results" / name for run in (tiny_run, wd))
        assert slurm.read_bytes() == local.read_bytes(), name


def test_second_run_plans_nothing(tiny_run):
    assert planned(tiny_run, "--configfile", "config/tiny.yaml") == {}


def test_clean_param_change_plans_clean_and_downstream_only(tiny_run):
    override = write_config(tiny_run, "lowpass.yaml", {"clean": {"lowpass_hz": 5.0}})
    jobs = planned(tiny_run, "--configfile", "config/tiny.yaml", override)
    assert jobs.get("clean_pose") == 12
    assert "estimate_pose" not in jobs and "render_video" not in jobs


def test_clean_code_change_plans_clean_and_downstream_only(tiny_run, tmp_path):
    jobs = planned_after_edit(tiny_run, "src/motorflow/clean.py")
    # Everything downstream of the cleaned poses: features and every model.
    assert set(jobs) == (
        {"clean_pose", "summarise_qc", "validate_pose", "all"}
        | FEATURE_RULES
        | MODEL_RULES
        | SKELETON_MODEL_RULES
    )


FEATURE_RULES = {"extract_features", "aggregate_features", "plot_gait_curves", "validate_features"}
# Rules downstream of any model's training: evaluation, aggregation, tracking.
EVAL_RULES = {"evaluate_fold", "aggregate_metrics", "log_mlflow", "render_summary", "bundle_model"}
# What a change of models.optim.epochs reruns: the torch models, the Grad-CAM ranking that
# reads the trained ST-GCN, and everything downstream of training.
EPOCHS_RULES = {
    "train_stgcn",
    "train_two_stream_skeleton",
    "train_fusion_xattn",
    "rank_keypoints",
    "aggregate_importance",
    "all",
} | EVAL_RULES
# Models that read gait features, and their downstream.
MODEL_RULES = {"train_gait_baseline", "train_fusion_xattn", "plot_feature_importance"} | EVAL_RULES
# Models (and rules) that read only the cleaned skeletons.
SKELETON_MODEL_RULES = {
    "train_stgcn",
    "train_two_stream_skeleton",
    "rank_keypoints",
    "aggregate_importance",
    "export_skeletons",
}


def test_features_code_change_plans_features_and_downstream_only(tiny_run):
    jobs = planned_after_edit(tiny_run, "src/motorflow/features/gait.py")
    # The ST-GCN does not read gait features: it is not retrained.
    assert set(jobs) == FEATURE_RULES | MODEL_RULES | {"summarise_qc", "all"}
    assert jobs["extract_features"] == 12
    assert jobs["train_fusion_xattn"] == jobs["train_gait_baseline"] == 4  # 3 folds + final


def test_feature_baseline_code_change_plans_no_torch_training(tiny_run):
    # The rules' code inputs are their scripts' import closures: the networks' training does
    # not import the feature baselines (their predictions are re-scored, nothing retrained).
    jobs = planned_after_edit(tiny_run, "src/motorflow/train/baselines.py")
    assert jobs["train_gait_baseline"] == 4 and jobs["plot_feature_importance"] == 1
    torch_rules = {"train_stgcn", "train_two_stream_skeleton", "train_fusion_xattn"}
    assert not (torch_rules | {"rank_keypoints", "extract_features", "clean_pose"}) & set(jobs)
    # And editing one network's module retrains the models that run it, not the baselines.
    jobs = planned_after_edit(tiny_run, "src/motorflow/models/two_stream.py")
    assert jobs["train_two_stream_skeleton"] == jobs["train_stgcn"] == 4
    assert "train_gait_baseline" not in jobs


def test_synth_code_change_plans_only_what_it_renders(tiny_run):
    # The walker's drawing re-renders the videos (and what follows), not the sheet; the
    # cohort module changes both; the infant cohort's modules are no code of the gait task.
    jobs = planned_after_edit(tiny_run, "src/motorflow/synth/gait_render.py")
    assert jobs["render_video"] == 12 and "write_cohort_sheet" not in jobs
    jobs = planned_after_edit(tiny_run, "src/motorflow/synth/gait_cohort.py")
    assert jobs["render_video"] == 12 and jobs["write_cohort_sheet"] == 1
    assert planned_after_edit(tiny_run, "src/motorflow/synth/infant_render.py") == {}


def test_rewritten_video_replans_only_its_chain_and_the_aggregates(tiny_run):
    video = sorted((tiny_run / "results/synth/videos").glob("*.mp4"))[0]
    original, stat = video.read_bytes(), video.stat()
    info = probe(video)
    frames = list(iter_frames(video))
    try:
        # The same recording exported again at another quality: new bytes, same name.
        with VideoWriter(video, info.width, info.height, info.fps, crf=23) as out:
            for frame in frames:
                out.write(frame)
        assert video.read_bytes() != original
        jobs = planned(tiny_run, "--configfile", "config/tiny.yaml")
    finally:
        video.write_bytes(original)
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # That video's own chain, once; then only rules that gather every video (the gait-curve
    # figures too: each draws the cohort's reference band).
    per_video = {"estimate_pose", "clean_pose", "extract_features"}
    assert {rule: jobs.get(rule) for rule in per_video} == dict.fromkeys(per_video, 1)
    assert "render_video" not in jobs
    assert set(jobs) - per_video == (
        {"summarise_qc", "validate_pose", "all"}
        | (FEATURE_RULES - {"extract_features"})
        | MODEL_RULES
        | SKELETON_MODEL_RULES
    )


def test_feature_params_rerun_only_what_reads_them(tiny_run):
    events = write_config(tiny_run, "events.yaml", {"features": {"gait": {"min_cycles": 3}}})
    jobs = planned(tiny_run, "--configfile", "config/tiny.yaml", events)
    assert set(jobs) == FEATURE_RULES | MODEL_RULES | {"summarise_qc", "all"}
    ref = write_config(tiny_run, "ref.yaml", {"features": {"reference_label": "II"}})
    jobs = planned(tiny_run, "--configfile", "config/tiny.yaml", ref)
    assert (
        set(jobs)
        == {
            "aggregate_features",
            "plot_gait_curves",
            "validate_features",
            "all",
        }
        | MODEL_RULES
    )


def test_bad_videos_are_excluded_and_the_cohort_completes(tiny_run, tmp_path):
    from motorflow.poseio import load_pose

    wd = copy_workflow(tmp_path / "wf")
    good = sorted((tiny_run / "results/synth/videos").glob("*.mp4"))[:2]
    data = tmp_path / "data"
    data.mkdir()
    for i, g in enumerate(good):
        shutil.copy2(g, data / f"good{i}.mp4")
    (data / "empty.mp4").write_bytes(b"")
    (data / "notes.mp4").write_text("not a video\n")
    raw = (data / "good0.mp4").read_bytes()
    (data / "truncated.mp4").write_bytes(raw[: len(raw) // 4])
    rows = [
        ("good0", "s1", data / "good0.mp4", "I"),
        ("good1", "s2", data / "good1.mp4", "II"),
        ("empty", "s3", data / "empty.mp4", "I"),
        ("notes", "s4", data / "notes.mp4", "II"),
        ("truncated", "s5", data / "truncated.mp4", "I"),
        ("missing", "s6", data / "missing.mp4", "II"),
    ]
    sheet = wd / "config/mysheet.tsv"
    pd.DataFrame(rows, columns=["video_id", "subject_id", "path", "label"]).to_csv(
        sheet, sep="\t", index=False
    )
    cfg = write_config(wd, "mysheet.yaml", sheet_config("config/mysheet.tsv"))
    # A plain run (no --keep-going) completes: the bad recordings are excluded, named.
    proc = smk(wd, "--configfile", cfg)
    assert "4 of 6 recordings excluded" in proc.stderr
    summary = pd.read_csv(wd / "results/qc/summary.tsv", sep="\t").set_index("video_id")
    table = pd.read_parquet(wd / "results/features/features.parquet").set_index("video_id")
    for vid in ("good0", "good1"):
        assert not summary.at[vid, "excluded"] and table.at[vid, "status"] == "ok"
    for vid, reason in (("empty", "empty file"), ("notes", "not a readable video"),
                        ("truncated", "truncat"), ("missing", "not found")):  # fmt: skip
        assert summary.at[vid, "excluded"] and summary.at[vid, "excluded_stage"] == "pose"
        assert f"{vid}.mp4" in summary.at[vid, "reason"] and reason in summary.at[vid, "reason"]
        assert table.at[vid, "status"] == "failed" and reason in table.at[vid, "reason"]
        record = load_pose(wd / f"results/pose/{vid}.npz")
        assert record.n_frames == 0 and reason in record.failure
        assert reason in (wd / f"logs/pose/{vid}.log").read_text()
    assert list((wd / "results").rglob("*" + TEMP_SUFFIX)) == []
    # Who wants exclusions fatal says so; the pose jobs then fail with the reason.
    strict = write_config(wd, "strict.yaml", {"qc": {"fail_on_exclusion": True}})
    proc = smk(wd, "--keep-going", "--configfile", cfg, strict, check=False)
    assert proc.returncode != 0
    assert "empty file" in (wd / "logs/pose/empty.log").read_text()
    assert (wd / "results/pose/good0.npz").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("v1", "s1", "x.mp4", "V"), "unknown label 'V'"),
        (("v 1", "s1", "x.mp4", "I"), "row 2 (v 1)"),
        (("v0", "s1", "x.mp4", "I"), "duplicate video_id 'v0'"),
    ],
)
def test_bad_sheet_stops_before_any_job(tmp_path, row, message):
    wd = copy_workflow(tmp_path / "wf")
    rows = [row, ("v0", "s0", "y.mp4", "I")]
    if row[0] == "v0":
        rows = [("v0", "s1", "x.mp4", "I"), ("v0", "s2", "y.mp4", "I")]
    pd.DataFrame(rows, columns=["video_id", "subject_id", "path", "label"]).to_csv(
        wd / "config/bad.tsv", sep="\t", index=False
    )
    cfg = write_config(wd, "bad.yaml", sheet_config("config/bad.tsv"))
    proc = smk(wd, "-n", "--configfile", cfg, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (wd / "results").exists()


def test_cleaned_pose_is_smooth_and_complete(tiny_run):
    from motorflow.poseio import load_pose

    rough = []
    for path in sorted((tiny_run / "results/clean").glob("*.npz")):
        c = load_pose(path)
        assert c.imputed is not None
        hips = c.keypoints[:, 11, :2]
        ok = np.isfinite(hips).all(1)
        # Zero-lag smoothing: frame-to-frame jerk of the hip is small vs body size.
        jerk = np.abs(np.diff(hips[ok], n=3, axis=0)).max()
        if ok.mean() <= 0.95 or jerk >= 0.05 * c.frame_size[1]:
            rough.append(path.stem)
    # Known failure (README, limitations): in synI02_v1 of this seed the track of the walker
    # is joined to a bystander's for a few frames (3 tracks; hips missing on 8 % of frames).
    assert set(rough) <= {"synI02_v1"}, rough


# ------------------------------------------------------------------------------------------
# Folds, models, evaluation, MLflow, export

MODELS = ["stgcn", "gait_baseline", "fusion_xattn", "two_stream_skeleton"]
SPLITS = ["fold0", "fold1", "fold2"]


def test_tiny_run_models_and_metrics(tiny_run):
    import json

    from motorflow import evaluate

    folds = pd.read_csv(tiny_run / "results/folds/folds.tsv", sep="\t")
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
    metrics = json.loads((tiny_run / "results/metrics.json").read_text())
    assert sorted(metrics) == sorted(MODELS)
    for levels in metrics.values():
        assert set(levels) == {"video", "subject"}
        for values in levels.values():
            for name in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "qwk"):
                stats = values[name]
                assert set(stats) == {"mean", "std", "ci_low", "ci_high"}
                if name == "accuracy":
                    assert 0 <= stats["ci_low"] <= stats["ci_high"] <= 1
    labels = ["I", "II", "III", "IV"]
    for model in MODELS:
        for split in SPLITS:
            pred = evaluate.read_predictions(
                tiny_run / f"results/eval/{model}/{split}/predictions.tsv", labels
            )
            test = set(folds.loc[folds["fold"] == int(split[-1]), "subject_id"])
            # Predictions only for the split's test subjects, never for anyone else.
            assert set(pred["subject_id"]) <= test
            info = json.loads((tiny_run / f"results/train/{model}/{split}/train.json").read_text())
            assert not test & set(info["train_subjects"] + info["val_subjects"])
        keypoints = tiny_run / f"results/train/fusion_xattn/{split}/keypoints.json"
        selection = json.loads(keypoints.read_text())
        assert len(selection["keypoints"]) >= 8 and selection["features"]
    table = (tiny_run / "results/eval/table.md").read_text()
    assert all(m in table for m in MODELS) and "McNemar" in table


BUNDLED = ("stgcn", "two_stream_skeleton", "gait_baseline", "fusion_xattn")


def test_final_models_are_refitted_on_everyone_with_the_cv_settings(tiny_run):
    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t")
    final = pd.read_csv(tiny_run / "results/folds/final.tsv", sep="\t")
    assert set(final["role"]) == {"train"} and set(final["split"]) == {"final"}
    assert sorted(final["subject_id"]) == sorted(sheet["subject_id"].unique())
    for model in ("stgcn", "fusion_xattn"):
        runs = [json.loads((tiny_run / f"results/train/{model}/{s}/train.json").read_text())
                for s in SPLITS]  # fmt: skip
        info = json.loads((tiny_run / f"results/train/{model}/final/train.json").read_text())
        assert info["epochs_run"] == round(np.median([r["best_epoch"] for r in runs]))
        assert info["n_val_videos"] == 0 and not info["stopped_early"]
    runs = [json.loads((tiny_run / f"results/train/gait_baseline/{s}/train.json").read_text())
            for s in SPLITS]  # fmt: skip
    info = json.loads((tiny_run / "results/train/gait_baseline/final/train.json").read_text())
    chosen = [r["best_C"] for r in runs]
    assert info["best_C"] in chosen and chosen.count(info["best_C"]) == max(
        map(chosen.count, chosen)
    )


def test_bundles_describe_themselves_and_hold_no_ids(tiny_run):
    from motorflow import bundle

    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t")
    summary = json.loads((tiny_run / "results/eval/summary.json").read_text())
    for model in BUNDLED:
        folder = bundle.load(tiny_run / f"results/bundle/{model}")
        shared = bundle.load(tiny_run / f"results/bundle/{model}.zip")
        assert folder.manifest == shared.manifest and folder.members == shared.members
        m = shared.manifest
        assert m["model"] == model and m["labels"] == ["I", "II", "III", "IV"] and m["ordinal"]
        assert m["training"]["n_subjects"] == sheet["subject_id"].nunique()
        assert m["cross_validation"]["metrics"] == summary["metrics"][model]
        assert m["calibration"]["temperature"] == summary["calibration"][model]["temperature"]
        nll = summary["calibration"][model]["nll"]["video"]
        assert m["calibration"]["applied"] == (nll["after"] < nll["before"])
        assert (
            m["settings"]["clean"]
            == yaml.safe_load((tiny_run / "config/config.yaml").read_text())["clean"]
        )
        # Pseudonymous ids of the training cohort never leave the project in a bundle.
        text = (tiny_run / f"results/bundle/{model}/bundle.json").read_text()
        for ident in [*sheet["video_id"], *sheet["subject_id"]]:
            assert ident not in text
    # A tampered member is refused by name.
    bad = tiny_run / "tampered"
    shutil.copytree(tiny_run / "results/bundle/stgcn", bad)
    (bad / "reference.npz").write_bytes(b"x")
    with pytest.raises(bundle.BundleError, match="reference.npz does not match"):
        bundle.load(bad)


def test_a_bundle_reproduces_its_final_model_bit_for_bit(tiny_run):
    """The final model scored through the evaluation's code on a split whose test subject is
    one training subject, against the bundle's predict path on the same files."""
    from motorflow import bundle, folds, inference, predict
    from motorflow.data.table import video_table
    from motorflow.layout import Layout

    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t", dtype=str)
    # A subject outside the reference label: the deviation reference is then the same
    # whether it is fitted on everyone or on everyone else.
    subject = sorted(sheet.loc[sheet["label"] == "III", "subject_id"])[0]
    table = video_table(sheet, ["I", "II", "III", "IV"], tiny_run / "results")
    final = folds.load_splits(tiny_run / "results/folds/final.tsv")
    splits = final.assign(role=np.where(final["subject_id"] == subject, "test", "train"))
    tree = Layout(tiny_run / "results")
    for model in BUNDLED:
        expected = inference.predict(
            model, table, splits, "final", tree.train_dir(model, "final"),
            tiny_run / f"{model}.tsv", reference_label="I",
        )  # fmt: skip
        b = bundle.load(tiny_run / f"results/bundle/{model}.zip")
        rows = table.videos[table.videos["subject_id"] == subject]
        probs, why = predict.model_probabilities(b, rows[["video_id", "subject_id", "pose",
                                                          "features", "curves"]])  # fmt: skip
        got = pd.DataFrame(probs, index=list(rows["video_id"]))
        scored = [v for v in rows["video_id"] if v not in why]
        assert list(expected["video_id"]) == scored, (model, why)
        want = expected[[f"prob_{c}" for c in ["I", "II", "III", "IV"]]].to_numpy()
        assert np.array_equal(got.loc[scored].to_numpy(), want), model


def test_predict_reports_a_new_recording_and_names_a_bad_one(tiny_run, tmp_path):
    sheet = pd.read_csv(tiny_run / "results/synth/samples.tsv", sep="\t", dtype=str)
    video = sheet["video_id"][0]
    mp4 = tiny_run / f"results/synth/videos/{video}.mp4"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(mp4.read_bytes()[:2000])
    empty_room = tmp_path / "empty_room.mp4"  # nobody in view
    with VideoWriter(empty_room, 320, 240, 30.0) as w:
        for _ in range(45):
            w.write(np.full((240, 320, 3), 90, np.uint8))
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(SNAKEMAKE.with_name("motorflow")), "predict",
         str(tiny_run / "results/bundle/gait_baseline.zip"), str(mp4), str(broken),
         str(empty_room), "--out", str(out)], capture_output=True, text=True, cwd=tiny_run,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    bad = json.loads((out / "broken/report.json").read_text())
    assert bad["status"] == "failed" and "broken.mp4" in bad["reason"]
    assert (out / "broken/report.html").read_text().count("broken.mp4") >= 1
    nobody = json.loads((out / "empty_room/report.json").read_text())
    assert nobody["status"] == "failed" and "no person detected" in nobody["reason"]
    report = json.loads((out / f"{video}/report.json").read_text())
    assert report["status"] == "ok", report["reason"]
    probs = report["prediction"]["probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0)
    # The recording went through the workflow's own settings: the same features as the
    # features stage gave the same video in the run.
    stage = pd.read_parquet(tiny_run / f"results/features/{video}.parquet").iloc[0]
    for col in ("cadence_steps_per_min", "step_length_leg", "knee_rom_deg_left"):
        assert report["features"][col] == pytest.approx(stage[col], rel=1e-9, nan_ok=True)
    page = (out / f"{video}/report.html").read_text()
    ids = set(re.findall(r'<img id="([^"]+)"', page))
    # Figures drawn from numbers and keypoints only: no frame of the video.
    assert ids == {"fig-bands", "fig-curves", "fig-preview"}
    patient = json.loads((out / f"patients/{video}/report.json").read_text())
    assert patient["visits"][0]["recording_id"] == video


SHARED = REPO.parent / "shared" / "data"


def test_predict_on_the_shared_real_recordings(tiny_run, tmp_path):
    """Real recordings nobody here made: a side-view video, a frontal video and a CP child's
    OpenPose keypoints.  Each report's features equal those of the stage commands run on
    the same input with the workflow's config; the pages render in headless Chromium."""
    from test_report import chromium, parse

    inputs = [
        SHARED / "videos/walk_side_sports2d.mp4",
        SHARED / "videos/walk_frontal_pose2gait.mp4",
        SHARED / "keypoints/cp_child_openpose",
    ]
    if not all(p.exists() for p in inputs):
        pytest.skip(f"shared recordings not found under {SHARED}")
    motorflow = str(SNAKEMAKE.with_name("motorflow"))
    out = tmp_path / "out"
    args = [
        motorflow,
        "predict",
        str(tiny_run / "results/bundle/fusion_xattn.zip"),
        *map(str, inputs),
    ]
    proc = subprocess.run([*args, "--out", str(out), "--pdf"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every report, per recording and per patient, also as a printed PDF (a recording's with
    # its figures; a patient's figures need two scored visits).
    htmls = sorted(out.rglob("report.html"))
    assert len(htmls) == 2 * len(inputs)
    for html in htmls:
        pdf = html.with_suffix(".pdf").read_bytes()
        title = re.search(rb"/Title \((motorflow report: [^)]*)\)", pdf)
        assert pdf.startswith(b"%PDF-") and title, html
        assert title.group(1).decode() in html.read_text(), html
        if "patients" not in html.parts:
            assert re.search(rb"/Subtype\s*/Image", pdf), html
    cfg = str(tiny_run / "config/config.yaml")
    for src in inputs[::2]:  # the video with MediaPipe, and the keypoints
        rid = src.name.split(".")[0]
        report = json.loads((out / rid / "report.json").read_text())
        assert report["status"] in ("ok", "not scored"), report["reason"]
        pose = ["--backend", "precomputed"] if src.is_dir() else []
        for cmd in (
            ["pose", str(src), str(tmp_path / f"{rid}.pose.npz"), *pose, "--config", cfg],
            ["clean", str(tmp_path / f"{rid}.pose.npz"), str(tmp_path / f"{rid}.npz"),
             "--config", cfg],
            ["features", str(tmp_path / f"{rid}.npz"), str(tmp_path / f"{rid}.parquet"),
             "--config", cfg, "--video-id", rid],
        ):  # fmt: skip
            done = subprocess.run([motorflow, *cmd], capture_output=True, text=True)
            assert done.returncode in (0, 3), done.stderr
        stage = pd.read_parquet(tmp_path / f"{rid}.parquet").iloc[0]
        for col, value in report["features"].items():
            want = stage[col]
            assert (value is None and pd.isna(want)) or value == pytest.approx(want, rel=1e-9), col
        dom = parse(chromium(out / rid / "report.html", tmp_path, "--dump-dom").stdout)
        ids = {im["id"] for im in dom.images}
        assert {"fig-bands", "fig-curves", "fig-preview"} <= ids, ids
        assert len(dom.tables["feature-table"]) == len(report["bands"])
        if report["status"] == "ok":
            probs = report["prediction"]["probabilities"]
            assert sum(probs.values()) == pytest.approx(1.0)
            assert len(dom.tables["probability-table"]) == 4


def test_mlflow_holds_every_run_of_the_parallel_run(tiny_run):
    import json
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    runs = json.loads((tiny_run / "results/mlflow/runs.json").read_text())
    client = MlflowClient(f"sqlite:///{tiny_run / 'results/mlflow/mlflow.db'}")
    exp = client.get_experiment_by_name("motorflow")
    found = client.search_runs([exp.experiment_id], max_results=1000)
    assert len(found) == len(MODELS) * (1 + len(SPLITS)) == len(runs["runs"])
    parents = {r.info.run_id: r for r in found if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(r.data.tags["motorflow.model"] for r in parents.values()) == sorted(MODELS)
    metrics = json.loads((tiny_run / "results/metrics.json").read_text())
    for r in found:
        assert r.info.status == "FINISHED"
        assert {"git_commit", "config_hash", "data_hash"} <= set(r.data.tags)
        if r.info.run_id in parents:
            model = r.data.tags["motorflow.model"]
            want = metrics[model]["subject"]["accuracy"]["mean"]
            assert r.data.metrics["subject_accuracy_mean"] == pytest.approx(want)
        else:
            assert r.data.tags["mlflow.parentRunId"] in parents


def test_export_for_mmaction2_is_subject_wise(tiny_run):
    from motorflow import export

    data = export.load_mmaction2(tiny_run / "results/export/mmaction2.pkl")
    ann = {a["frame_dir"]: a for a in data["annotations"]}
    assert len(ann) >= 11
    a = next(iter(ann.values()))
    assert a["keypoint"].shape[-2:] == (17, 2) and a["keypoint"].dtype == np.float32
    for k in range(3):
        train = {v.split("_")[0] for v in data["split"][f"fold{k}_train"]}
        test = {v.split("_")[0] for v in data["split"][f"fold{k}_test"]}
        assert train and test and not train & test


def test_two_clean_runs_are_identical(tiny_run, tmp_path):
    """Render → pose → … → metrics from scratch twice: the same bytes (videos included)."""
    wd = copy_workflow(tmp_path / "wf")
    smk(wd, "--configfile", "config/tiny.yaml")
    same = [
        "results/folds/folds.tsv",
        "results/folds/splits.tsv",
        "results/metrics.json",
        "results/eval/fusion_xattn/fold0/predictions.tsv",
        "results/interpret/stgcn/fold1/importance.tsv",
        *(f"results/synth/videos/{p.name}" for p in (tiny_run / "results/synth/videos").iterdir()),
    ]
    for rel in same:
        assert (wd / rel).read_bytes() == (tiny_run / rel).read_bytes(), rel


def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run(tiny_run, tmp_path):
    """SIGKILL to Snakemake and all its jobs while models train; `snakemake --unlock` and a
    plain rerun (the default profile reruns incomplete jobs) finish the same results."""
    wd = copy_workflow(tmp_path / "wf")
    shutil.copytree(REPO / "profiles" / "default", wd / "profiles" / "default")
    args = [str(SNAKEMAKE), "--cores", "2", "--configfile", "config/tiny.yaml"]
    proc = subprocess.Popen(
        args, cwd=wd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 900
        # Mid-way: the first fold's training has written something, others are still to run.
        while not list((wd / "results" / "train").rglob("train.json")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.5)
        time.sleep(3.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (wd / "results" / "metrics.json").exists(), "killed too late to test anything"
    smk(wd, "--unlock", "--configfile", "config/tiny.yaml")
    rerun = smk(wd, "--configfile", "config/tiny.yaml")
    assert "Nothing to be done" not in rerun.stderr
    # Nothing half-written survives: no temporaries, and the run's files hash as recorded.
    assert list((wd / "results").rglob("*" + TEMP_SUFFIX)) == []
    audit = subprocess.run(
        [str(Path(sys.executable).with_name("motorflow")), "audit", "--results", "results"],
        cwd=wd, capture_output=True, text=True,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for rel in ("results/metrics.json", "results/eval/stgcn/fold2/predictions.tsv"):
        assert (wd / rel).read_bytes() == (tiny_run / rel).read_bytes(), rel


def test_snakemake_report_files_every_category_with_captions(tiny_run):
    smk(tiny_run, "--configfile", "config/tiny.yaml", "--report", "results/report.html")
    html = (tiny_run / "results/report.html").read_text()
    for category in ("QC", "features", "models", "interpretability"):
        assert f'"{category}"' in html, category
    # Captions come from workflow/report/ (first words of two of them).
    for caption in ("gradcam.rst", "confusion.rst"):
        words = " ".join((REPO / "workflow/report" / caption).read_text().split()[:6])
        assert words in " ".join(html.split()), caption
    # A report made after the run is no result: the lineage audit does not flag it.
    audit = subprocess.run(
        [str(Path(sys.executable).with_name("motorflow")), "audit"],
        cwd=tiny_run, capture_output=True, text=True,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_training_param_change_plans_training_and_downstream_only(tiny_run):
    override = write_config(tiny_run, "epochs.yaml", {"models": {"optim": {"epochs": 3}}})
    jobs = planned(tiny_run, "--configfile", "config/tiny.yaml", override)
    # The torch models retrain; nothing upstream (pose, clean, features) nor the
    # gait-feature baseline (it has no epochs) is planned.
    assert set(jobs) == EPOCHS_RULES
    assert jobs["evaluate_fold"] == 9  # 3 torch models x 3 splits
    override = write_config(tiny_run, "topk.yaml", {"models": {"fusion_xattn": {"top_k": 10}}})
    jobs = planned(tiny_run, "--configfile", "config/tiny.yaml", override)
    assert "train_stgcn" not in jobs and "train_gait_baseline" not in jobs
    assert jobs["train_fusion_xattn"] == 4


def test_too_few_subjects_per_label_stops_before_any_job(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    override = write_config(wd, "folds.yaml", {"cv": {"folds": 4}})
    proc = smk(wd, "-n", "--configfile", "config/tiny.yaml", override, check=False)
    assert proc.returncode != 0
    assert "at least 4 subjects per label" in proc.stdout + proc.stderr


def test_project_store_is_readable_through_mlflow_server(tiny_run, tmp_path):
    import json

    from mlflow_server import mlflow_server, search_runs

    store = f"sqlite:///{tiny_run / 'results/mlflow/mlflow.db'}"
    with mlflow_server(store, tmp_path) as base:
        _, runs = search_runs(base, "motorflow")
    assert len(runs) == len(MODELS) * (1 + len(SPLITS))
    metrics = json.loads((tiny_run / "results/metrics.json").read_text())
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        if "mlflow.parentRunId" not in tags:
            got = {m["key"]: m["value"] for m in run["data"]["metrics"]}
            want = metrics[tags["motorflow.model"]]["video"]["macro_f1"]["mean"]
            assert got["video_macro_f1_mean"] == pytest.approx(want)
