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
