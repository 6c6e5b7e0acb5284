"""The results layout the package reads is the one the rules write."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from motorflow.data.table import video_table
from motorflow.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


def _rule_outputs() -> list[re.Pattern]:
    """Every output path pattern of the workflow's rules, as a regex ({w} = one name)."""
    patterns = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.findall(r"\n( +)output:\n(.*?)(?=\n\1\w+:)", text, flags=re.S):
            for path in re.findall(r'"(results/[^"]+)"', block[1]):
                path = path.replace("{{", "{").replace("}}", "}")
                regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
                patterns.append(re.compile(regex + "$"))
    return patterns


OUTPUTS = _rule_outputs()
TREE = Layout()
PATHS = {
    "raw_pose": TREE.raw_pose("v1"),
    "clean_pose": TREE.clean_pose("v1"),
    "qc": TREE.qc("v1"),
    "features": TREE.features("v1"),
    "curves": TREE.curves("v1"),
    "aligned_pose": TREE.aligned_pose("v1"),
    "align_qc": TREE.align_qc("v1"),
    "clip": TREE.clip("v1"),
    "flow": TREE.flow("v1"),
    "truth": TREE.truth("v1"),
    "truth_params": TREE.truth_params("v1"),
    "features_table": TREE.features_table,
    "movement_figure": TREE.movement_figure,
    "qc_summary": TREE.qc_summary,
    "splits": TREE.splits,
    "final_splits": TREE.final_splits,
    "bundle_dir": TREE.bundle_dir("stgcn"),
    "bundle_file": TREE.bundle_file("stgcn"),
    "folds": TREE.folds,
    "eval_summary": TREE.eval_summary,
    "metrics": TREE.metrics,
    "train_dir": TREE.train_dir("stgcn", "fold0") / "model.pt",
    "eval_dir": TREE.eval_dir("stgcn", "fold0") / "predictions.tsv",
    "predictions": TREE.predictions("stgcn", "fold0"),
    "fold_metrics": TREE.fold_metrics("stgcn", "fold0"),
    "confusion": TREE.confusion("stgcn"),
    "importance": TREE.importance("gait_baseline"),
    "ranking": TREE.ranking("fold0"),
    "validation": TREE.validation("pose_accuracy"),
}


def test_the_rules_write_outputs_to_be_found():
    assert len(OUTPUTS) > 40  # the parser sees the rules' outputs


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_layout_path_is_a_rule_output(name):
    path = PATHS[name].as_posix()
    assert any(p.match(path) for p in OUTPUTS), f"Layout.{name}: no rule writes {path}"


def test_every_layout_path_is_covered_here():
    # mlflow_db is MLflow's store, which accumulates every run's runs: no rule's output.
    helpers = ("root", "glob", "model_pose", "mlflow_db")
    public = {n for n in dir(Layout) if not n.startswith("_") and n not in helpers}
    assert public == set(PATHS)


def test_video_table_reads_the_layout_of_another_root(tmp_path):
    samples = pd.DataFrame({"video_id": ["a"], "subject_id": ["s"], "label": ["I"]})
    table = video_table(samples, ["I"], tmp_path, skeleton_input="aligned", preprocess=True)
    row = table.videos.iloc[0]
    tree = Layout(tmp_path)
    assert row["pose"] == str(tree.aligned_pose("a")) and row["flow"] == str(tree.flow("a"))
    plain = video_table(samples, ["I"], tmp_path).videos.iloc[0]
    assert plain["pose"] == str(tree.clean_pose("a")) and plain["clip"] == ""


def _declared_table(tmp_path, preprocess=False):
    samples = pd.DataFrame({"video_id": ["a", "b"], "subject_id": ["s", "t"], "label": ["I", "I"]})
    return video_table(samples, ["I"], tmp_path, preprocess=preprocess)


def test_a_job_table_holds_only_the_files_its_rule_declares(tmp_path):
    from motorflow.data.features import gait_feature_table
    from motorflow.data.table import TrainError

    table = _declared_table(tmp_path)
    v = table.videos
    everything = [p for col in ("pose", "qc", "features", "curves") for p in v[col]]
    assert table.declared(everything).videos.equals(v)
    # A skeleton model's job: poses and QC only; the feature columns are emptied and their
    # readers refuse them instead of reading files the workflow did not schedule.
    skeleton = table.declared([*v["pose"], *v["qc"]])
    assert (skeleton.videos["features"] == "").all() and (skeleton.videos["pose"] != "").all()
    with pytest.raises(TrainError, match="no features files"):
        gait_feature_table(skeleton.videos, None, "I")
    # Declared in part, or the QC that decides which videos may be used left out: an error
    # naming the file.
    with pytest.raises(TrainError, match=r"rule x reads .*b\.json \(qc, 1 of 2 videos\)"):
        table.declared([*v["pose"], v["qc"][0]], rule="rule x")
    with pytest.raises(TrainError, match=r"reads .*a\.json \(qc"):
        table.declared([*v["features"], *v["curves"]])
    pre = _declared_table(tmp_path, preprocess=True).videos
    with pytest.raises(TrainError, match=r"align/a\.json \(align_qc"):
        _declared_table(tmp_path, preprocess=True).declared([*pre["pose"], *pre["qc"]])


def test_every_rule_that_builds_a_video_table_declares_the_qc_that_filters_it():
    """qc and align_qc decide which videos every model uses (VideoTable.usable); a rule that
    builds the table (params table=table_params()) must declare them all (model_qc()), or the
    job fails at run time (declared above). The gait baseline declared the cleaning QC only."""
    blocks = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for name, body in re.findall(
            r"\n(?:use )?rule (\w+)[^\n]*:\n(.*?)(?=\n(?:use )?rule |\Z)", text, re.S
        ):
            if "table=table_params()" in body:
                blocks.append((name, body))
    assert len(blocks) >= 7
    for name, body in blocks:
        inputs = body.split("output:")[0]
        assert "qc=model_qc()" in inputs, name
