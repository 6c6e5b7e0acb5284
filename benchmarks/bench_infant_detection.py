"""Infant cohort benchmark: does the pose stage find the synthetic infants, and how well?

Run from the repository root::

    .venv/bin/python benchmarks/bench_infant_detection.py [--n-per-class 3] [--seed S]
        [--out benchmarks/results/infant_detection.json]

A small cohort (``--n-per-class`` subjects per class, one video each, the default
``InfantCohortConfig`` otherwise) is rendered into a temporary directory and every video runs
through the project's pose stage, ``motorflow.pose.estimate_video(video,
PoseConfig(max_people=1))``.  Reported per video, per class and overall:

* detection rate: share of frames whose shoulders and hips are finite (the acceptance goal
  is >= 95 % for every class);
* keypoint error: per joint (shoulders, hips, wrists, ankles) the median over detected
  frames of |estimate - truth|, divided by the rendered trunk length (``axis_len_px``);
* render and pose seconds per video.

MediaPipe's native logging (written straight to file descriptor 2) goes to a log file in
the temporary directory unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from motorflow import infantsim
from motorflow.poseio import load_pose, write_json
from motorflow.skeleton import INDEX, flip_permutation

GOAL = 0.95
TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
ERROR_JOINTS = TORSO + ("left_wrist", "right_wrist", "left_ankle", "right_ankle")


@contextlib.contextmanager
def native_stderr_to(log_path: Path | None) -> Iterator[None]:
    """Send file descriptor 2 (MediaPipe's C++ logs) to ``log_path`` while inside."""
    if log_path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def evaluate(estimate: np.ndarray, truth: np.ndarray, axis_len: float) -> dict:
    """Detection rate, per-joint median errors (trunk lengths) and the share of detected
    frames where the estimate fits better with left and right exchanged (a front/back mix-up:
    the main source of large errors)."""
    idx = [INDEX[j] for j in TORSO]
    detected = np.isfinite(estimate[:, idx, :2]).all(axis=(1, 2))
    est, tru = estimate[detected, :, :2], truth[detected, :, :2]
    err = {}
    for name in ERROR_JOINTS:
        d = np.hypot(*(est[:, INDEX[name]] - tru[:, INDEX[name]]).T)
        err[name] = float(np.median(d) / axis_len) if d.size else float("nan")
    cols = [INDEX[j] for j in ERROR_JOINTS]
    plain = np.linalg.norm(est[:, cols] - tru[:, cols], axis=-1).mean(1)
    swapped = np.linalg.norm(est[:, flip_permutation()][:, cols] - tru[:, cols], axis=-1).mean(1)
    return {
        "detected": float(detected.mean()),
        "n_frames": int(len(detected)),
        "error": err,
        "lr_swapped": float(np.mean(swapped < plain)) if plain.size else float("nan"),
    }


def run(n_per_class: int, seed: int, work: Path, log: Path | None) -> dict:
    from motorflow.pose import PoseConfig, PoseError, estimate_video

    cfg = infantsim.InfantCohortConfig(seed=seed, subjects_per_class=n_per_class)
    sheet = infantsim.make_sheet(cfg)
    videos = []
    for row in sheet.itertuples():
        base = work / row.video_id
        t0 = time.perf_counter()
        truth = infantsim.render_video(
            cfg,
            row.video_id,
            row.subject_id,
            f"{base}.mp4",
            f"{base}.npz",
            f"{base}.json",
            f"{base}.masks.npz",
        )
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tru = load_pose(f"{base}.npz").keypoints
        try:
            with native_stderr_to(log):
                est = estimate_video(f"{base}.mp4", PoseConfig(max_people=1)).keypoints
        except PoseError:  # nobody found in (almost) any frame: a miss, not a crash
            est = np.full_like(tru, np.nan)
        pose_s = time.perf_counter() - t0
        tf = truth["transform"]
        res = evaluate(est, tru, tf["axis_len_px"])
        res |= {
            "video_id": row.video_id,
            "label": row.label,
            "style": truth["look"]["style"],
            "axis_angle_deg": round(tf["axis_angle_deg"], 1),
            "axis_len_px": round(tf["axis_len_px"], 1),
            "render_s": round(render_s, 2),
            "pose_s": round(pose_s, 2),
        }
        videos.append(res)
        print(
            f"{row.video_id:10s} {row.label:16s} detected {100 * res['detected']:5.1f} %  "
            f"L/R swapped {100 * res['lr_swapped']:5.1f} %  "
            f"angle {res['axis_angle_deg']:6.1f}  L {res['axis_len_px']:5.1f} px  "
            f"{res['style']:12s} render {render_s:4.1f} s  pose {pose_s:4.1f} s",
            flush=True,
        )
    return summarise(videos) | {"seed": seed, "n_per_class": n_per_class, "videos": videos}


def summarise(videos: list[dict]) -> dict:
    def agg(rows: list[dict]) -> dict:
        frames = sum(r["n_frames"] for r in rows)
        errs = {j: float(np.nanmedian([r["error"][j] for r in rows])) for j in ERROR_JOINTS}
        return {
            "videos": len(rows),
            "detected": sum(r["detected"] * r["n_frames"] for r in rows) / frames,
            "worst_video_detected": min(r["detected"] for r in rows),
            "lr_swapped": float(np.mean([r["lr_swapped"] for r in rows])),
            "median_error_trunk_lengths": errs,
            "render_s_per_video": float(np.median([r["render_s"] for r in rows])),
            "pose_s_per_video": float(np.median([r["pose_s"] for r in rows])),
        }

    per_class = {
        c: agg([v for v in videos if v["label"] == c])
        for c in infantsim.CLASSES
        if any(v["label"] == c for v in videos)
    }
    overall = agg(videos)
    return {
        "goal_detected": GOAL,
        "per_class": per_class,
        "overall": overall,
        "pass": all(c["detected"] >= GOAL for c in per_class.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-per-class", type=int, default=3)
    ap.add_argument("--seed", type=int, default=infantsim.InfantCohortConfig.seed)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--keep", type=Path, default=None, help="render here and keep the files")
    ap.add_argument("--verbose", action="store_true", help="show MediaPipe's native logs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_infant_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        log = None if args.verbose else Path(tmp) / "mediapipe.log"
        result = run(args.n_per_class, args.seed, work, log)
    print("\nper class:")
    for name, c in {**result["per_class"], "overall": result["overall"]}.items():
        e = c["median_error_trunk_lengths"]
        print(
            f"  {name:16s} detected {100 * c['detected']:5.1f} % "
            f"(worst video {100 * c['worst_video_detected']:5.1f} %), "
            f"L/R swapped {100 * c['lr_swapped']:4.1f} %, error/L: "
            + " ".join(f"{j} {v:.3f}" for j, v in e.items())
        )
    print("PASS" if result["pass"] else "FAIL", f"(goal >= {100 * GOAL:.0f} % per class)")
    if args.out:
        write_json(result, args.out)
    else:
        print(json.dumps(result["overall"], indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
