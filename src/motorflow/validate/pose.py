"""Pose accuracy against the synthetic cohort's truth: how good are the pose and clean stages?

Per video, from ``results/synth/truth/{id}.npz|json``, ``results/pose/{id}.npz`` (raw) and
``results/clean/{id}.npz``:

* ``detection_rate``: frames where the assessed person's core joints (shoulders, hips, knees,
  ankles) are at least half detected by the pose model (raw; before any gap filling);
* ``mean_error_pct``: mean 2D distance of all 21 joints to the truth over frames where both
  exist, in % of the walker's stature in pixels (truth JSON ``body_height_px``);
* ``swapped_pct``: % of frames whose leg labels are exchanged relative to the truth, counted
  only where the true ankles are > 5 % of stature apart (when legs cross, labels are moot).

Goals: median error <= 3 %, median swapped <= 2 %, median detection >= 98 %, and no video
on which cleaning raises the swapped share or the error by more than 0.5 percentage points
(``cleaning_worse``; ``n_worse`` counts them).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.layout import Layout
from motorflow.poseio import atomic_path, load_pose, write_json
from motorflow.skeleton import INDEX

GOALS = {"mean_error_pct": 3.0, "swapped_pct": 2.0, "detection_rate": 0.98, "n_worse": 0}
# Cleaning is "worse" on a video when it raises the swapped share or the joint error by more
# than this many percentage points over the raw pose.
WORSE_PP = 0.5
CORE = [INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("shoulder", "hip", "knee", "ankle")]
_LEG = ("knee", "ankle", "heel", "toe")


def detection_rate(kp: np.ndarray) -> float:
    return float((np.isfinite(kp[:, CORE, 0]).sum(1) >= len(CORE) / 2).mean())


def mean_error_pct(kp: np.ndarray, truth: np.ndarray, stature_px: float) -> float:
    err = np.linalg.norm(kp[..., :2] - truth[..., :2], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(100 * np.nanmean(err) / stature_px)


def swapped_pct(kp: np.ndarray, truth: np.ndarray, stature_px: float) -> float:
    left = [INDEX[f"left_{p}"] for p in _LEG]
    right = [INDEX[f"right_{p}"] for p in _LEG]
    t_l, t_r = truth[:, left, :2], truth[:, right, :2]
    e_l, e_r = kp[:, left, :2], kp[:, right, :2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        same = np.nanmean(
            np.linalg.norm(e_l - t_l, axis=-1) + np.linalg.norm(e_r - t_r, axis=-1), 1
        )
        swap = np.nanmean(
            np.linalg.norm(e_l - t_r, axis=-1) + np.linalg.norm(e_r - t_l, axis=-1), 1
        )
    apart = np.linalg.norm(
        truth[:, INDEX["left_ankle"], :2] - truth[:, INDEX["right_ankle"], :2], axis=-1
    )
    ok = (apart > 0.05 * stature_px) & np.isfinite(same) & np.isfinite(swap)
    return float(100 * np.mean(swap[ok] < same[ok])) if ok.any() else float("nan")


def _body_length_px(truth: np.ndarray) -> float:
    """Nose to mid-ankle distance (median over frames): the size of a lying infant."""
    ankles = truth[:, [INDEX["left_ankle"], INDEX["right_ankle"]], :2].mean(axis=1)
    return float(np.median(np.linalg.norm(truth[:, INDEX["nose"], :2] - ankles, axis=1)))


def video_accuracy(truth_npz: Path, truth_json: Path, raw_npz: Path, clean_npz: Path) -> dict:
    truth = load_pose(truth_npz).keypoints
    info = json.loads(truth_json.read_text())
    stature = float(info.get("body_height_px") or _body_length_px(truth))
    raw = load_pose(raw_npz).keypoints
    clean = load_pose(clean_npz).keypoints
    if not len(raw):  # a failure record (the pose stage gave nothing): nobody detected
        nan = float("nan")
        return {"video_id": info["video_id"], "view": info.get("view", ""),
                "second_person": bool(info.get("second_person", False)), "stature_px": stature,
                "detection_rate": 0.0, "raw_mean_error_pct": nan, "mean_error_pct": nan,
                "raw_swapped_pct": nan, "swapped_pct": nan, "cleaning_worse": False}  # fmt: skip
    n = min(len(truth), len(raw), len(clean))
    truth, raw, clean = truth[:n], raw[:n], clean[:n]
    return {
        "video_id": info["video_id"],
        "view": info.get("view", ""),
        "second_person": bool(info.get("second_person", False)),
        "stature_px": stature,
        "detection_rate": detection_rate(raw),
        "raw_mean_error_pct": mean_error_pct(raw, truth, stature),
        "mean_error_pct": mean_error_pct(clean, truth, stature),
        "raw_swapped_pct": swapped_pct(raw, truth, stature),
        "swapped_pct": swapped_pct(clean, truth, stature),
    } | _worse(raw, clean, truth, stature)


def _worse(raw: np.ndarray, clean: np.ndarray, truth: np.ndarray, stature: float) -> dict:
    up_swap = swapped_pct(clean, truth, stature) - swapped_pct(raw, truth, stature)
    up_err = mean_error_pct(clean, truth, stature) - mean_error_pct(raw, truth, stature)
    return {"cleaning_worse": bool(up_swap > WORSE_PP or up_err > WORSE_PP)}


def pose_accuracy(
    results: str | Path = "results",
    output: str | Path | None = None,
    video_ids: list[str] | None = None,
) -> dict:
    """Evaluate the given synthetic videos (default: all with truth, raw and clean files)."""
    tree = Layout(results)
    truth_dir = tree.truth().parent
    ids = video_ids if video_ids is not None else sorted(p.stem for p in truth_dir.glob("*.json"))
    quads = [
        (tree.truth(v), tree.truth_params(v), tree.raw_pose(v), tree.clean_pose(v)) for v in ids
    ]
    quads = [q for q in quads if all(p.exists() for p in q)]
    if not quads:
        raise FileNotFoundError(f"{results}: no synthetic video with truth, pose and clean files")
    return accuracy_from_files(*zip(*quads, strict=True), output=output)


def accuracy_from_files(
    truth_npz, truth_json, raw_npz, clean_npz, output: str | Path | None = None
) -> dict:
    """Accuracy over matched lists of truth/raw/clean files; optionally write TSV + JSON."""
    rows = [
        video_accuracy(Path(a), Path(b), Path(c), Path(d))
        for a, b, c, d in zip(truth_npz, truth_json, raw_npz, clean_npz, strict=True)
    ]
    table = pd.DataFrame(rows)
    medians = {k: float(table[k].median()) for k in
               ("detection_rate", "raw_mean_error_pct", "mean_error_pct", "raw_swapped_pct",
                "swapped_pct")}  # fmt: skip
    n_worse = int(table["cleaning_worse"].sum())
    passed = {
        "mean_error_pct": medians["mean_error_pct"] <= GOALS["mean_error_pct"],
        "swapped_pct": medians["swapped_pct"] <= GOALS["swapped_pct"],
        "detection_rate": medians["detection_rate"] >= GOALS["detection_rate"],
        "n_worse": n_worse <= GOALS["n_worse"],
    }
    result = {
        "n_videos": len(table),
        "n_worse": n_worse,
        "worse_videos": table.loc[table["cleaning_worse"], "video_id"].tolist(),
        "median": medians,
        "goals": GOALS,
        "goal_met": passed,
        "passed": all(passed.values()),
        "videos": table.to_dict(orient="records"),
    }
    if output:
        write_result(table, result, Path(output))
    return result


def write_result(table: pd.DataFrame, result: dict, out: Path) -> None:
    """Per-video table (``out``.tsv) and the summary without it (``out``.json)."""
    with atomic_path(out.with_suffix(".tsv")) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    write_json({k: v for k, v in result.items() if k != "videos"}, out.with_suffix(".json"))


def format_summary(result: dict) -> str:
    m, ok = result["median"], result["goal_met"]
    lines = [
        f"pose accuracy on {result['n_videos']} synthetic videos (median over videos)",
        f"  detection rate         {100 * m['detection_rate']:6.2f} %  (goal >= 98 %)  "
        f"{'met' if ok['detection_rate'] else 'NOT met'}",
        f"  mean joint error raw   {m['raw_mean_error_pct']:6.2f} %  of stature",
        f"  mean joint error clean {m['mean_error_pct']:6.2f} %  (goal <= 3 %)  "
        f"{'met' if ok['mean_error_pct'] else 'NOT met'}",
        f"  swapped frames raw     {m['raw_swapped_pct']:6.2f} %",
        f"  swapped frames clean   {m['swapped_pct']:6.2f} %  (goal <= 2 %)  "
        f"{'met' if ok['swapped_pct'] else 'NOT met'}",
        f"  cleaning worse than raw on {result['n_worse']} video(s) "
        f"(+{WORSE_PP:g} pp swapped or error; goal 0)  "
        f"{'met' if ok['n_worse'] else 'NOT met: ' + ', '.join(result['worse_videos'])}",
    ]
    return "\n".join(lines)
