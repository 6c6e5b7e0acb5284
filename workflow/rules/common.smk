# Validation at the door, the sample table, and input helpers shared by all rules.
import logging
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from motorflow import codedeps
from motorflow.config import check_sections
from motorflow.layout import Layout
from motorflow import folds as foldlib
from motorflow import importers, registry, tasks
from motorflow import sheet as sheetlib


check_sections(config)  # before validate: a misspelt section gets its suggestion
validate(config, schema="../schemas/config.schema.yaml")

LABELS = [str(label) for label in config["data"]["labels"]]
SYNTHETIC = config["data"]["source"] == "synthetic"
# gait: Paper A's task (GMFCS levels from walking videos); infant: Paper B's (general movements
# of supine infants).  What a task is (its synthetic cohort, per-video features, baseline,
# validation) is said once, in motorflow.tasks.
TASK_SPEC = tasks.of_config(config)
TASK = TASK_SPEC.name
COHORT = config.get(TASK_SPEC.cohort_section) or {}
# Cross-validation options (cv:); one_label_per_subject also decides whether the sheet may
# give a subject different labels at different visits.
CV = foldlib.FoldConfig.from_mapping(config.get("cv"))

if SYNTHETIC:
    cohortlib = TASK_SPEC.cohort_module()
    cohort_sheet = cohortlib.make_sheet(cohortlib.cohort_config(COHORT))
    samples = cohort_sheet.set_index("video_id", drop=False)
    unknown = sorted(set(samples["label"]) - set(LABELS))
    if unknown:
        raise ValueError(f"synthetic cohort labels {unknown} are missing from data.labels")
else:
    samples = sheetlib.load_sheet(
        config["data"]["sheet"], LABELS, one_label_per_subject=CV.one_label_per_subject
    )
validate(samples, schema="../schemas/samples.schema.yaml")

VIDEOS = list(samples.index)

# Cross-validation: split names (fold0, fold1, ...; one per subject with cv.scheme loso) and
# the models to train.
SPLITS = foldlib.split_names(CV, samples["subject_id"])
MODELS = list(config["models"].get("run", ["stgcn"]))
# Paper B's video preprocessing (mask -> align -> flow per video).
PREPROCESS = bool(config["preprocess"]["enabled"])
RGBFLOW_MODELS = registry.family("rgbflow")
SKELETON_INPUT = config["models"].get("skeleton_input", "clean")
if not PREPROCESS:
    needs = [m for m in MODELS if m in RGBFLOW_MODELS]
    if needs or SKELETON_INPUT == "aligned":
        what = ", ".join(needs) if needs else "models.skeleton_input: aligned"
        raise ValueError(f"{what} needs the video preprocessing: set preprocess.enabled: true")
if PREPROCESS and config["pose"]["backend"] != "mediapipe":
    raise ValueError("preprocess.enabled needs videos (pose.backend: mediapipe), not keypoint files")
wrong = registry.not_for_task(MODELS, TASK)
if wrong:
    raise ValueError(f"models.run: {', '.join(wrong)} do not apply to data.task {TASK}")
# Fail before any job starts if the folds cannot be made (a subject with two labels under
# cv.one_label_per_subject, a label with fewer subjects than folds); make_folds writes the
# same splits.  An empty `run` list stops after the features stage (no folds, no models).
if MODELS and workflow.is_main_process:  # job processes: the main process checked
    foldlib.make_splits(
        samples,
        CV,
        source="synthetic cohort" if SYNTHETIC else str(config["data"]["sheet"]),
    )

# Before the jobs of a run: a job killed mid-write (kill -9, a lost node) leaves its output's
# temporary behind (Snakemake reruns the job itself, its outputs being marked incomplete).
onstart:
    from motorflow import poseio

    for path in poseio.remove_stale_temporaries("results"):
        logging.getLogger("motorflow").warning("removed %s (left by a killed job)", path)


# After every successful run: the lineage manifest of results/ (sha256, rule, inputs, params,
# code and package versions of every file; `motorflow audit` checks files against it).
onsuccess:
    from motorflow import lineage, qc

    lineage.write_manifest("results/lineage.json")
    # The run's last word: how many recordings it left out, and why.
    qc.log_exclusions(RESULTS.qc_summary, logging.getLogger("motorflow"))


wildcard_constraints:
    video_id="|".join(map(re.escape, VIDEOS)) if VIDEOS else "[^/]+",
    split="|".join([*SPLITS, foldlib.FINAL]),
    model="|".join(registry.NAMES),

# The package files each adapter script runs (the script's import closure), declared as the
# rules' `code` inputs: Snakemake tracks no imported code, and with these an edit reruns
# exactly the rules that run the edited file.  Keyed by script name; cached while no source
# file changes (every Snakemake start, two per cluster job, would parse the package again).
CODE = codedeps.script_table("workflow/scripts", "src", cache=".snakemake/motorflow/codedeps.json")
# The cohort-sheet adapter imports its task's cohort module by name (TaskSpec.cohort_module),
# which no import statement shows; that module's code is declared beside the adapter's.
_COHORT_MODULE = f"src/motorflow/synth/{TASK_SPEC.cohort}_cohort.py"
COHORT_CODE = [
    f
    for f in [_COHORT_MODULE, *codedeps.closure(_COHORT_MODULE, "src")]
    if f not in CODE["write_sheet"]
]
# The results tree (motorflow.layout), shared with the package: the input helpers below build
# their paths from it, and tests/test_layout.py checks it against the rules' outputs.
RESULTS = Layout()


# Cohort-size keys: adding subjects leaves existing videos untouched, so they are not
# render parameters (everything else in the cohort section changes pixels).
COHORT_SIZE_KEYS = ("subjects_per_level", "subjects_per_class", "videos_per_subject", "p_oblique")


def render_params(wildcards):
    return {k: v for k, v in COHORT.items() if k not in COHORT_SIZE_KEYS} | {
        "video_dir": COHORT.get("video_dir", "results/synth/videos")
    }


def get_source(wildcards):
    """The video or keypoint file/folder of one sample."""
    return samples.loc[wildcards.video_id, "path"]


def get_pose_input(wildcards):
    """Declared input of the pose rule: the source when it exists.

    A sheet row whose file is missing must fail only its own job (so `--keep-going` finishes
    the other videos) with a message naming the row; a missing declared input would instead
    stop the whole workflow before it starts.
    """
    src = get_source(wildcards)
    inputs = {"code": CODE["pose"]}
    src = str(importers.split_recording(src)[0])  # a skeleton pickle's file.pkl#frame_dir
    if SYNTHETIC or Path(src).exists():
        inputs["source"] = src
    else:
        logging.getLogger("motorflow").warning(
            "sample %s: %s not found; its pose job will fail", wildcards.video_id, src
        )
    return inputs


def get_video_input(wildcards):
    """Declared video input of the preprocessing rules (see get_pose_input)."""
    src = get_source(wildcards)
    return {"video": src} if SYNTHETIC or Path(src).exists() else {}


def get_fps(wildcards):
    value = samples.loc[wildcards.video_id].get("fps")
    return None if value is None or pd.isna(value) else float(value)


def get_frame_size(wildcards):
    """[width, height] in pixels from the sheet (scales MediaPipe's normalised landmarks), or None."""
    row = samples.loc[wildcards.video_id]
    size = [row.get("width"), row.get("height")]
    return None if any(v is None or pd.isna(v) for v in size) else [int(v) for v in size]


def _sheet_number(wildcards, column):
    value = samples.loc[wildcards.video_id].get(column)
    return None if value is None or pd.isna(value) else float(value)


def get_height_cm(wildcards):
    """Stature from the sheet (metric gait features), or None."""
    return _sheet_number(wildcards, "height_cm")


def get_age_months(wildcards):
    """Age from the sheet (a child's leg length for the metric features), or None."""
    return _sheet_number(wildcards, "age_months")


def get_reference_file():
    """The configured deviation reference file, as an input (a list: empty when unset)."""
    path = config["features"].get("reference_file")
    return [path] if path else []


def splits_of(wildcards):
    """The splits file of a training job: the final split's, or the CV splits'."""
    final = wildcards.split == foldlib.FINAL
    return str(RESULTS.final_splits if final else RESULTS.splits)


def cv_runs(model=None):
    """A final model's CV runs (their train.json: the epochs and C it is refitted with);
    none for a CV split. ``model``: the rule's, else its {model} wildcard."""

    def runs(wildcards):
        if wildcards.split != foldlib.FINAL:
            return []
        name = model or wildcards.model
        return [str(RESULTS.train_dir(name, s) / "train.json") for s in SPLITS]

    return runs


# The models a bundle is built for: those `motorflow predict` can apply to a new recording
# (pose -> clean -> features; the RGB/flow models would need the video preprocessing too),
# in a task whose features are gait features with cycle curves (the bundle's bands and
# reference are; the infant task's bundles are not built yet).
BUNDLE_MODELS = (
    [m for m in MODELS if registry.SPECS[m].family in ("skeleton", "features", "fusion")]
    if TASK_SPEC.curves
    else []
)


def bundle_inputs(wildcards):
    """A bundle's final model: its weights and train.json (and the fusion's keypoints)."""
    final = RESULTS.train_dir(wildcards.model, foldlib.FINAL)
    spec = registry.SPECS[wildcards.model]
    inputs = {
        "model": str(final / ("model.pkl" if spec.family == "features" else "model.pt")),
        "info": str(final / "train.json"),
    }
    if spec.family == "fusion":
        inputs["keypoints"] = str(final / "keypoints.json")
    return inputs


def bundle_settings():
    """The settings a new recording goes through before the model (stored in the bundle)."""
    return {
        "pose": config["pose"],
        "clean": config["clean"],
        "features": {"gait": config["features"]["gait"]},
        "reference_label": config["features"]["reference_label"],
    }


def predict_inputs(wildcards):
    """`snakemake predict`: the sheet of new recordings and the bundle (config predict:)."""
    chosen = config.get("predict") or {}
    missing = [k for k in ("sheet", "bundle") if not chosen.get(k)]
    if missing:
        raise ValueError(
            f"snakemake predict needs predict.{' and predict.'.join(missing)}: --config "
            "'predict={sheet: new.tsv, bundle: results/bundle/<model>.zip}'"
        )
    return {"sheet": chosen["sheet"], "bundle": chosen["bundle"]}


def predictions_by_model(wildcards):
    """The cohort metrics' inputs: each model's predictions of every split."""
    pattern = str(RESULTS.predictions())
    return {f"predictions_{m}": expand(pattern, model=m, split=SPLITS) for m in MODELS}


def subject_map():
    """video_id -> subject_id (plain dict: a params value Snakemake can compare)."""
    return samples["subject_id"].astype(str).to_dict()


def label_map():
    return samples["label"].astype(str).to_dict()


def session_map():
    """video_id -> session (visit); empty without a session column (no visit level)."""
    if "session" not in samples:
        return {}
    return samples["session"].fillna("").astype(str).to_dict()


def model_poses():
    """The pose files the skeleton models read: cleaned, or aligned (Paper B)."""
    return expand(str(RESULTS.model_pose(SKELETON_INPUT)), video_id=VIDEOS)


def model_qc():
    """The QC records that decide which videos every model may use."""
    records = expand(str(RESULTS.qc()), video_id=VIDEOS)
    if PREPROCESS:
        records += expand(str(RESULTS.align_qc()), video_id=VIDEOS)
    return records


def table_params():
    """Where the models find their inputs (train.table_from_params)."""
    return {"skeleton_input": SKELETON_INPUT, "preprocess": PREPROCESS}


def training_params():
    """Settings every model's training shares (models: seed, device, threads, clip, ...)."""
    keys = ("seed", "device", "threads", "clip", "optim", "augment")
    return {k: config["models"][k] for k in keys if k in config["models"]}


def eval_reference_label(wildcards):
    """The deviation reference label, for the models whose predictions score deviations."""
    if registry.SPECS[wildcards.model].reference:
        return config["features"]["reference_label"]
    return None


# What a model's predictions may read beside its trained model (registry: predicts_from):
# per-video paths ({video_id}), or the split's own training output ({train_dir}).
PREDICTION_INPUTS = {
    "tables": str(RESULTS.features()),
    "curves": str(RESULTS.curves()),
    "clips": str(RESULTS.clip()),
    "flows": str(RESULTS.flow()),
    "features": "{train_dir}/features.parquet",
}


def eval_inputs(wildcards):
    """What predicting a split needs: the model's files and what its predictions read."""
    spec = registry.SPECS[wildcards.model]
    train_dir = str(RESULTS.train_dir(wildcards.model, wildcards.split))
    inputs = {
        "splits": str(RESULTS.splits),
        "code": CODE["evaluate_fold"],
        "info": f"{train_dir}/train.json",
        "model": f"{train_dir}/model.pkl" if spec.family == "features" else f"{train_dir}/model.pt",
    }
    for name in spec.predicts_from:
        pattern = PREDICTION_INPUTS[name]
        if "{video_id}" in pattern:
            inputs[name] = expand(pattern, video_id=VIDEOS)
        else:
            inputs[name] = pattern.format(train_dir=train_dir)
    return inputs


def get_final_outputs():
    outs = [
        "results/qc/summary.tsv",
        "results/features/features.parquet",
        *(["results/metrics.json", "results/mlflow/runs.json"] if MODELS else []),
        *(["results/export/mmaction2.pkl"] if MODELS else []),
        *(["results/report/summary.html"] if MODELS else []),
        *expand("results/bundle/{model}.zip", model=BUNDLE_MODELS),
    ]
    outs += expand(
        "results/interpret/{model}/importance.png", model=registry.with_importance(MODELS)
    )
    if TASK_SPEC.curves:
        outs += expand("results/features/figures/{video_id}.png", video_id=VIDEOS)
    else:
        outs.append("results/features/figures/movement_features.png")
    if PREPROCESS:
        outs += expand("results/flow/{video_id}.npz", video_id=VIDEOS)
        outs += expand("results/align/previews/{video_id}.png", video_id=VIDEOS)
    if SYNTHETIC:
        outs += ["results/synth/samples.tsv", "results/validation/pose_accuracy.tsv"]
        outs.append(f"results/validation/{TASK_SPEC.validation}.tsv")
    return outs
