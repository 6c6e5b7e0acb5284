"""Pose validation against the synthetic truth: swapped share, error, cleaning worse than raw."""

from __future__ import annotations

import json

import numpy as np

from motorflow.poseio import PoseData, save_pose
from motorflow.skeleton import INDEX, N_JOINTS
from motorflow.validate import pose as validate

LEGS_L = [INDEX[f"left_{p}"] for p in ("hip", "knee", "ankle", "heel", "toe")]
LEGS_R = [INDEX[f"right_{p}"] for p in ("hip", "knee", "ankle", "heel", "toe")]


def _truth(n: int = 60) -> np.ndarray:
    t = np.arange(n)
    kp = np.zeros((n, N_JOINTS, 3))
    kp[..., 2] = 1.0
    kp[:, :, 0] = 300 + 2.0 * t[:, None]
    kp[:, :, 1] = 100 + 10 * np.arange(N_JOINTS)[None, :]
    swing = 40 * np.sin(2 * np.pi * t / 30)
    kp[:, LEGS_L, 0] += swing[:, None]
    kp[:, LEGS_R, 0] -= swing[:, None]
    return kp


def _write(path, kp):
    pose = PoseData(kp.astype(np.float32), fps=30.0, frame_size=(800, 400), backend="test")
    save_pose(pose, path)


def _swap(kp, frames):
    out = kp.copy()
    out[np.ix_(frames, LEGS_L + LEGS_R)] = kp[np.ix_(frames, LEGS_R + LEGS_L)]
    return out


def test_cleaning_worse_is_counted_per_video(tmp_path):
    truth = _truth()
    apart = np.abs(truth[:, INDEX["left_ankle"], 0] - truth[:, INDEX["right_ankle"], 0])
    frames = np.flatnonzero(apart > 0.05 * 300)
    files = {}
    for vid, raw_swaps, clean_swaps in (("a", 10, 0), ("b", 0, 10), ("c", 5, 5)):
        d = {k: tmp_path / f"{vid}.{k}.npz" for k in ("truth", "raw", "clean")}
        _write(d["truth"], truth)
        _write(d["raw"], _swap(truth, frames[:raw_swaps]))
        _write(d["clean"], _swap(truth, frames[:clean_swaps]))
        info = tmp_path / f"{vid}.json"
        info.write_text(json.dumps({"video_id": vid, "body_height_px": 300.0}))
        files[vid] = (d["truth"], info, d["raw"], d["clean"])
    result = validate.accuracy_from_files(*zip(*files.values(), strict=True))
    rows = {r["video_id"]: r for r in result["videos"]}
    assert rows["a"]["raw_swapped_pct"] > rows["a"]["swapped_pct"] == 0.0
    assert not rows["a"]["cleaning_worse"] and not rows["c"]["cleaning_worse"]
    assert rows["b"]["cleaning_worse"]
    assert result["n_worse"] == 1 and result["worse_videos"] == ["b"]
    assert result["goal_met"]["n_worse"] is False and result["passed"] is False
    assert "NOT met: b" in validate.format_summary(result)
