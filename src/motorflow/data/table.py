"""The videos the models may use, their result paths, and one split's train/val/test parts.

Every model reads the split's subjects from ``splits.tsv`` (:mod:`motorflow.folds`);
:func:`split_data` checks that no subject is in two roles of what is actually used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from motorflow import folds as foldlib
from motorflow.layout import Layout


class TrainError(ValueError):
    """A split that cannot be trained on (no usable training videos, unknown model …)."""


# The table's path columns; qc and (with the video preprocessing) align_qc decide which videos
# every model may use, so every job that reads the table must declare them.
PATH_COLUMNS = ("pose", "qc", "features", "curves", "align_qc", "clip", "flow")
REQUIRED_COLUMNS = ("qc", "align_qc")


@dataclass
class VideoTable:
    """The cohort's videos that the models may use: id, subject, label and result paths."""

    # video_id, subject_id, label; paths: pose (the skeleton models' input), qc (cleaning),
    # features, curves, and with the video preprocessing align_qc, clip, flow ("" without).
    videos: pd.DataFrame
    labels: list[str]

    def usable(self) -> tuple[pd.DataFrame, dict[str, str]]:
        """Videos the QC kept, and why the others are left out.

        Every model uses the same videos, so that models are compared on the same subjects: a
        video the video preprocessing failed on (nobody segmented, trunk never detected) is
        left out of the skeleton models too.
        """
        keep, skipped = [], {}
        for row in self.videos.itertuples(index=False):
            rec = json.loads(Path(row.qc).read_text())
            pre = json.loads(Path(row.align_qc).read_text()) if row.align_qc else {}
            if rec.get("excluded"):
                skipped[row.video_id] = f"excluded by cleaning QC: {rec.get('reason', '')}"
            elif pre and pre.get("status") != "ok":
                skipped[row.video_id] = f"video preprocessing failed: {pre.get('reason', '')}"
            elif row.pose and not Path(row.pose).exists():
                skipped[row.video_id] = f"no pose file {row.pose}"
            else:
                keep.append(row.video_id)
        return self.videos[self.videos["video_id"].isin(keep)], skipped

    def declared(self, inputs: Iterable[str | os.PathLike], rule: str = "the rule") -> VideoTable:
        """This table with only the files among ``inputs`` (a job's declared inputs), so that
        the code reads nothing the workflow does not know of: a path column of which the job
        declares no file is emptied (its readers then refuse it by name); one declared only in
        part, or a QC column not declared, is an error naming the first file left out."""
        have = {os.path.normpath(p) for p in map(str, inputs)}
        videos = self.videos.copy()
        for col in PATH_COLUMNS:
            paths = [p for p in videos[col] if p]
            missing = [p for p in paths if os.path.normpath(p) not in have]
            if not paths or not missing:
                continue
            if col in REQUIRED_COLUMNS or len(missing) < len(paths):
                raise TrainError(
                    f"{rule} reads {missing[0]} ({col}, {len(missing)} of {len(paths)} "
                    "videos) but does not declare it as an input"
                )
            videos[col] = ""
        return VideoTable(videos, self.labels)


def video_table(
    samples: pd.DataFrame,
    labels: list[str],
    results: str | Path = "results",
    skeleton_input: str = "clean",
    preprocess: bool = False,
) -> VideoTable:
    """From the sample table (``video_id, subject_id, label``): the standard result paths.

    ``skeleton_input``: ``clean`` (the cleaning stage's keypoints) or ``aligned`` (the same
    keypoints in the aligned crop, Paper B's body-position normalisation; needs
    ``preprocess``).
    """
    tree = Layout(results)
    unknown = sorted(set(samples["label"].astype(str)) - set(labels))
    if unknown:
        raise TrainError(f"labels {unknown} are not among the configured labels {labels}")
    if skeleton_input not in ("clean", "aligned"):
        raise TrainError(f"skeleton_input must be clean or aligned, not {skeleton_input!r}")
    if skeleton_input == "aligned" and not preprocess:
        raise TrainError("skeleton_input aligned needs the video preprocessing stages")
    v = samples[["video_id", "subject_id", "label"]].astype(str).copy()
    ids = list(v["video_id"])

    def paths(where, needed: bool = True) -> list[str]:
        return [str(where(i)) for i in ids] if needed else [""] * len(ids)

    v["pose"] = paths(lambda i: tree.model_pose(skeleton_input, i))
    v["qc"] = paths(tree.qc)
    v["features"] = paths(tree.features)
    v["curves"] = paths(tree.curves)
    v["align_qc"] = paths(tree.align_qc, preprocess)
    v["clip"] = paths(tree.clip, preprocess)
    v["flow"] = paths(tree.flow, preprocess)
    return VideoTable(v.reset_index(drop=True), list(labels))


def table_from_params(
    subjects: dict[str, str],
    labels: dict[str, str],
    label_order: list[str],
    results: str | Path = "results",
    skeleton_input: str = "clean",
    preprocess: bool = False,
) -> VideoTable:
    """The video table from the rules' plain-dict params (video_id → subject, → label)."""
    samples = pd.DataFrame({"subject_id": pd.Series(subjects), "label": pd.Series(labels)})
    samples.index.name = "video_id"
    return video_table(
        samples.reset_index(), [str(x) for x in label_order], results, skeleton_input, preprocess
    )


def table_from_rule(job) -> VideoTable:
    """The video table of a Snakemake job (its ``snakemake`` object) whose rule passes the
    ``subjects``, ``labels`` and ``table`` params (common.smk: subject_map, label_map,
    table_params), holding only the files the job declares (:meth:`VideoTable.declared`);
    the label order is the config's."""
    params = job.params
    table = table_from_params(
        params.subjects, params.labels, job.config["data"]["labels"], **params.table
    )
    return table.declared(job.input, rule=f"rule {job.rule}")


@dataclass
class SplitData:
    split: str
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    skipped: dict[str, str]


def split_data(table: VideoTable, splits: pd.DataFrame, split: str) -> SplitData:
    usable, skipped = table.usable()
    parts = {}
    for role in foldlib.ROLES:
        subjects = set(foldlib.subjects_of(splits, split, role))
        parts[role] = usable[usable["subject_id"].isin(subjects)].reset_index(drop=True)
    # Leakage guard on what is actually used, not only on the split table.
    seen: dict[str, str] = {}
    for role, df in parts.items():
        for s in df["subject_id"]:
            if seen.setdefault(s, role) != role:
                raise foldlib.FoldError(f"split {split}: subject {s} in {seen[s]} and {role}")
    if parts["train"].empty:
        raise TrainError(f"split {split}: no usable training videos")
    return SplitData(split, parts["train"], parts["val"], parts["test"], skipped)
