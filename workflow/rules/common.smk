# Validation at the door, the sample table, and input helpers shared by all rules.
import logging
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

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

wildcard_constraints:
    video_id="|".join(map(re.escape, VIDEOS)) if VIDEOS else "[^/]+",

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
}

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


def get_final_outputs():
    outs = [
        "results/qc/summary.tsv",
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
