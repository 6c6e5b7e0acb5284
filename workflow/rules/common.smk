# Validation at the door, the sample table, and input helpers shared by all rules.
import logging
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from motorflow import folds as foldlib
from motorflow import sheet as sheetlib
from motorflow import synth


validate(config, schema="../schemas/config.schema.yaml")

LABELS = [str(label) for label in config["data"]["labels"]]
SYNTHETIC = config["data"]["source"] == "synthetic"
COHORT = config.get("synthetic", {}) or {}

if SYNTHETIC:
    samples = synth.make_sheet(synth.cohort_config(COHORT)).set_index("video_id", drop=False)
    unknown = sorted(set(samples["label"]) - set(LABELS))
    if unknown:
        raise ValueError(f"synthetic cohort labels {unknown} are missing from data.labels")
else:
    samples = sheetlib.load_sheet(config["data"]["sheet"], LABELS)
validate(samples, schema="../schemas/samples.schema.yaml")

VIDEOS = list(samples.index)

# Cross-validation: split names (fold0, fold1, ...) and the models to train.
CV = foldlib.FoldConfig.from_mapping(config.get("cv"))
SPLITS = foldlib.split_names(CV)
MODELS = list(config["models"].get("run", ["stgcn"]))
# Fail before any job starts if the folds cannot be made (a subject with two labels, a label
# with fewer subjects than folds); make_folds writes the same splits.  An empty `run` list
# stops after the features stage (no folds, no models).
if MODELS:
    foldlib.make_splits(
        samples,
        CV,
        source="synthetic cohort" if SYNTHETIC else str(config["data"]["sheet"]),
    )

wildcard_constraints:
    video_id="|".join(map(re.escape, VIDEOS)) if VIDEOS else "[^/]+",
    split="|".join(SPLITS),
    model="stgcn|gait_baseline|fusion_xattn|two_stream_skeleton",

# Package modules each stage imports: declared as inputs, since Snakemake does not track
# imported code; editing one reruns exactly the rules (and descendants) that use it.
SRC = "src/motorflow"
CODE = {
    "synth": [f"{SRC}/synth.py", f"{SRC}/gaitsim.py", f"{SRC}/video.py", f"{SRC}/poseio.py"],
    "pose": [f"{SRC}/pose.py", f"{SRC}/video.py", f"{SRC}/importers.py", f"{SRC}/poseio.py"],
    "clean": [f"{SRC}/clean.py", f"{SRC}/poseio.py", f"{SRC}/skeleton.py"],
    "qc": [f"{SRC}/qc.py"],
    "validate": [f"{SRC}/validate.py"],
    "features": [f"{SRC}/features.py", f"{SRC}/poseio.py", f"{SRC}/skeleton.py"],
    "plots": [f"{SRC}/plots.py", f"{SRC}/features.py"],
    "folds": [f"{SRC}/folds.py"],
    # Training code per model: only what that model runs, so that e.g. editing the features
    # module retrains the feature-based models but not the ST-GCN.
    "stgcn": [
        f"{SRC}/train.py",
        f"{SRC}/folds.py",
        f"{SRC}/models/graph.py",
        f"{SRC}/models/stgcn.py",
        f"{SRC}/poseio.py",
        f"{SRC}/skeleton.py",
    ],
    "two_stream_skeleton": [f"{SRC}/models/two_stream.py"],
    "gradcam": [f"{SRC}/gradcam.py"],
    "gait_baseline": [f"{SRC}/train.py", f"{SRC}/folds.py", f"{SRC}/features.py"],
    "fusion_xattn": [f"{SRC}/models/fusion.py", f"{SRC}/features.py", f"{SRC}/gradcam.py"],
    "evaluate": [f"{SRC}/evaluate.py"],
    "track": [f"{SRC}/tracking.py"],
    "export": [f"{SRC}/export.py", f"{SRC}/poseio.py"],
}
CODE["two_stream_skeleton"] = CODE["stgcn"] + CODE["two_stream_skeleton"]
CODE["gradcam"] = CODE["stgcn"] + CODE["gradcam"]
CODE["fusion_xattn"] = CODE["stgcn"] + CODE["fusion_xattn"]


# Render parameters that change pixels; cohort size is not among them, so adding subjects
# leaves existing videos untouched.
RENDER_KEYS = ("seed", "fps", "width", "height", "strides", "p_second_person")


def render_params(wildcards):
    return {k: COHORT[k] for k in RENDER_KEYS if k in COHORT} | {
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
    if SYNTHETIC or Path(src).exists():
        inputs["source"] = src
    else:
        logging.getLogger("motorflow").warning(
            "sample %s: %s not found; its pose job will fail", wildcards.video_id, src
        )
    return inputs


def get_fps(wildcards):
    value = samples.loc[wildcards.video_id].get("fps")
    return None if value is None or pd.isna(value) else float(value)


def get_height_cm(wildcards):
    """Stature from the sheet (metric gait features), or None."""
    value = samples.loc[wildcards.video_id].get("height_cm")
    return None if value is None or pd.isna(value) else float(value)


def get_reference_file():
    """The configured deviation reference file, as an input (a list: empty when unset)."""
    path = config["features"].get("reference_file")
    return [path] if path else []


def subject_map():
    """video_id -> subject_id (plain dict: a params value Snakemake can compare)."""
    return samples["subject_id"].astype(str).to_dict()


def label_map():
    return samples["label"].astype(str).to_dict()


def training_params():
    """Settings every model's training shares (models: seed, device, threads, clip, ...)."""
    keys = ("seed", "device", "threads", "clip", "optim", "augment")
    return {k: config["models"][k] for k in keys if k in config["models"]}


def eval_reference_label(wildcards):
    """The deviation reference label, for the one model whose predictions use it."""
    if wildcards.model == "gait_baseline":
        return config["features"]["reference_label"]
    return None


def eval_inputs(wildcards):
    """What predicting a split needs: the model's files (and test inputs it reads)."""
    train_dir = f"results/train/{wildcards.model}/{wildcards.split}"
    inputs = {
        "splits": "results/folds/splits.tsv",
        "code": CODE[wildcards.model] + CODE["evaluate"],
        "info": f"{train_dir}/train.json",
    }
    if wildcards.model == "gait_baseline":
        inputs["model"] = f"{train_dir}/model.pkl"
        inputs["tables"] = expand("results/features/{video_id}.parquet", video_id=VIDEOS)
        inputs["curves"] = expand("results/features/{video_id}.curves.npz", video_id=VIDEOS)
    else:
        inputs["model"] = f"{train_dir}/model.pt"
    if wildcards.model == "fusion_xattn":
        inputs["features"] = f"{train_dir}/features.parquet"
    return inputs


def get_final_outputs():
    outs = [
        "results/qc/summary.tsv",
        *(["results/metrics.json", "results/mlflow/runs.json"] if MODELS else []),
        *(["results/export/mmaction2.pkl"] if MODELS else []),
        *(["results/interpret/stgcn/importance.png"] if "stgcn" in MODELS else []),
        *(["results/interpret/gait_baseline/importance.png"] if "gait_baseline" in MODELS else []),
        "results/features/features.parquet",
        *expand("results/features/figures/{video_id}.png", video_id=VIDEOS),
    ]
    if SYNTHETIC:
        outs += [
            "results/synth/samples.tsv",
            "results/validation/pose_accuracy.tsv",
            "results/validation/feature_accuracy.tsv",
        ]
    return outs
