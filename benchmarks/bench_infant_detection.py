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
* where the pose model puts the trunk: median over detected frames of the signed offset of
  the estimated mid-shoulder (neck) and mid-hip (crotch) along the rendered body axis, in
  trunk lengths, positive away from the trunk centre (shoulders towards the head, hips
  towards the feet; their sum is about the relative axis-length error), and the ratio of
  the estimated to the rendered shoulder and hip widths;
* the alignment stage's transform, ``motorflow.align.estimate_transform`` on the raw pose,
  against the truth ``transform``: relative axis-length error, centre error (fraction of
  the axis length) and angle error (deg).  The alignment goal is 5 % / 5 %; the cohort aims
  at |length| <= 3 %, centre <= 3 % and angle <= 3 deg on every video (``axis_pass``);
* render and pose seconds per video.

``--jobs N`` renders and runs the pose stage on N videos at a time (separate processes).

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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from motorflow.poseio import PoseData, load_pose, save_pose, write_json
from motorflow.skeleton import INDEX, flip_permutation
from motorflow.synth import infant_cohort, infant_render

GOAL = 0.95
TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
ERROR_JOINTS = TORSO + ("left_wrist", "right_wrist", "left_ankle", "right_ankle")
# Targets for the recovered transform on every video (the alignment accepts 5 % / 5 %).
AXIS_GOAL = {"length": 0.03, "centre": 0.03, "angle_deg": 3.0}


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
    } | trunk_placement(est, tru, axis_len)


def trunk_placement(est: np.ndarray, tru: np.ndarray, axis_len: float) -> dict:
    """Median signed offsets (trunk lengths) of the estimated neck (mid-shoulders) and
    crotch (mid-hips) along the rendered axis, positive away from the trunk centre, and the
    median ratios of estimated to rendered shoulder and hip widths (``est``, ``tru``:
    detected frames, (T, 21, 2))."""
    if not len(est):
        nan = float("nan")
        return {"shoulder_offset": nan, "hip_offset": nan, "shoulder_width": nan,
                "hip_width": nan}  # fmt: skip

    def mid(xy: np.ndarray, a: str, b: str) -> np.ndarray:
        return 0.5 * (xy[:, INDEX[a]] + xy[:, INDEX[b]])

    def width(xy: np.ndarray, a: str, b: str) -> np.ndarray:
        return np.linalg.norm(xy[:, INDEX[a]] - xy[:, INDEX[b]], axis=-1)

    neck, crotch = mid(tru, *TORSO[:2]), mid(tru, *TORSO[2:])
    up = (neck - crotch) / np.linalg.norm(neck - crotch, axis=-1, keepdims=True)
    d_neck = np.sum((mid(est, *TORSO[:2]) - neck) * up, -1)
    d_crotch = -np.sum((mid(est, *TORSO[2:]) - crotch) * up, -1)
    return {
        "shoulder_offset": float(np.median(d_neck) / axis_len),
        "hip_offset": float(np.median(d_crotch) / axis_len),
        "shoulder_width": float(np.median(width(est, *TORSO[:2]) / width(tru, *TORSO[:2]))),
        "hip_width": float(np.median(width(est, *TORSO[2:]) / width(tru, *TORSO[2:]))),
    }


def transform_error(pose: PoseData, truth_tf: dict) -> dict:
    """The alignment stage's transform from the raw pose vs the rendered one: relative
    length error, centre error / true axis length, angle error (deg); NaN where the stage
    cannot align."""
    from motorflow.align import AlignConfig, AlignError, estimate_transform

    try:
        tf = estimate_transform(pose, AlignConfig())
    except AlignError:
        nan = float("nan")
        return {"length_error": nan, "centre_error": nan, "angle_error_deg": nan}
    L = truth_tf["axis_len_px"]
    d_ang = (tf.axis_angle_deg - truth_tf["axis_angle_deg"] + 180) % 360 - 180
    return {
        "length_error": tf.axis_len_px / L - 1,
        "centre_error": float(np.hypot(*np.subtract(tf.centre_px, truth_tf["centre_px"])) / L),
        "angle_error_deg": float(d_ang),
    }


def axis_ok(r: dict) -> bool:
    return bool(
        abs(r["length_error"]) <= AXIS_GOAL["length"]
        and r["centre_error"] <= AXIS_GOAL["centre"]
        and abs(r["angle_error_deg"]) <= AXIS_GOAL["angle_deg"]
    )


def one_video(
    cfg: infant_cohort.InfantCohortConfig,
    row: dict,
    work: Path,
    log: Path | None,
    keep: bool = False,
) -> dict:
    """Render one video, run the pose stage on it (keeping its pose file as
    ``<video_id>.mediapipe.npz`` if ``keep``) and evaluate."""
    from motorflow.pose import PoseConfig, PoseError, estimate_video

    base = work / row["video_id"]
    t0 = time.perf_counter()
    truth = infant_render.render_video(
        cfg,
        row["video_id"],
        row["subject_id"],
        f"{base}.mp4",
        f"{base}.npz",
        f"{base}.json",
        f"{base}.masks.npz",
    )
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tru = load_pose(f"{base}.npz")
    try:
        with native_stderr_to(log):
            pose = estimate_video(f"{base}.mp4", PoseConfig(max_people=1))
    except PoseError:  # nobody found in (almost) any frame: a miss, not a crash
        pose = PoseData(
            keypoints=np.full_like(tru.keypoints, np.nan),
            fps=tru.fps,
            frame_size=tru.frame_size,
            backend="mediapipe",
            backend_version="none",
        )
    pose_s = time.perf_counter() - t0
    if keep:
        save_pose(pose, f"{base}.mediapipe.npz")
    tf = truth["transform"]
    res = evaluate(pose.keypoints, tru.keypoints, tf["axis_len_px"])
    res |= transform_error(pose, tf)
    res |= {
        "axis_ok": axis_ok(res),
        "video_id": row["video_id"],
        "label": row["label"],
        "style": truth["look"]["style"],
        "axis_angle_deg": round(tf["axis_angle_deg"], 1),
        "axis_len_px": round(tf["axis_len_px"], 1),
        "render_s": round(render_s, 2),
        "pose_s": round(pose_s, 2),
    }
    return res


def print_video(res: dict) -> None:
    print(
        f"{res['video_id']:10s} {res['label'][:10]:10s} det {100 * res['detected']:5.1f} %  "
        f"swap {100 * res['lr_swapped']:4.1f} %  "
        f"sh {res['shoulder_offset']:+.3f} x{res['shoulder_width']:.2f}  "
        f"hip {res['hip_offset']:+.3f} x{res['hip_width']:.2f}  "
        f"len {100 * res['length_error']:+5.1f} %  ctr {100 * res['centre_error']:4.1f} %  "
        f"ang {res['angle_error_deg']:+5.1f}  {'ok ' if res['axis_ok'] else 'BAD'}  "
        f"{res['style']:12s} render {res['render_s']:4.1f} s  pose {res['pose_s']:4.1f} s",
        flush=True,
    )


def run(
    n_per_class: int, seed: int, work: Path, log: Path | None, jobs: int = 1, keep: bool = False
) -> dict:
    cfg = infant_cohort.InfantCohortConfig(seed=seed, subjects_per_class=n_per_class)
    rows = infant_cohort.make_sheet(cfg).to_dict("records")
    videos = []
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            futures = [pool.submit(one_video, cfg, row, work, log, keep) for row in rows]
            for f in futures:
                videos.append(f.result())
                print_video(videos[-1])
    else:
        for row in rows:
            videos.append(one_video(cfg, row, work, log, keep))
            print_video(videos[-1])
    return summarise(videos) | {"seed": seed, "n_per_class": n_per_class, "videos": videos}


def summarise(videos: list[dict]) -> dict:
    def agg(rows: list[dict]) -> dict:
        frames = sum(r["n_frames"] for r in rows)
        errs = {j: float(np.nanmedian([r["error"][j] for r in rows])) for j in ERROR_JOINTS}

        def col(key: str) -> np.ndarray:
            return np.array([r[key] for r in rows], float)

        def spread(key: str) -> dict:
            x = col(key)
            return {"median": float(np.nanmedian(x)), "min": float(np.nanmin(x)),
                    "max": float(np.nanmax(x))}  # fmt: skip

        return {
            "videos": len(rows),
            "detected": sum(r["detected"] * r["n_frames"] for r in rows) / frames,
            "worst_video_detected": min(r["detected"] for r in rows),
            "lr_swapped": float(np.mean([r["lr_swapped"] for r in rows])),
            "median_error_trunk_lengths": errs,
            "trunk": {
                k: spread(k)
                for k in ("shoulder_offset", "hip_offset", "shoulder_width", "hip_width")
            },
            "transform": {
                "length_error": spread("length_error"),
                "abs_length_error_max": float(np.nanmax(np.abs(col("length_error")))),
                "centre_error": spread("centre_error"),
                "abs_angle_error_max_deg": float(np.nanmax(np.abs(col("angle_error_deg")))),
                "videos_ok": int(sum(r["axis_ok"] for r in rows)),
            },
            "render_s_per_video": float(np.median([r["render_s"] for r in rows])),
            "pose_s_per_video": float(np.median([r["pose_s"] for r in rows])),
        }

    per_class = {
        c: agg([v for v in videos if v["label"] == c])
        for c in infant_cohort.CLASSES
        if any(v["label"] == c for v in videos)
    }
    overall = agg(videos)
    return {
        "goal_detected": GOAL,
        "goal_transform": AXIS_GOAL,
        "per_class": per_class,
        "overall": overall,
        "pass": all(c["detected"] >= GOAL for c in per_class.values()),
        "axis_pass": all(v["axis_ok"] for v in videos),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-per-class", type=int, default=3)
    ap.add_argument("--seed", type=int, default=infant_cohort.InfantCohortConfig.seed)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="render here and keep the files (with the MediaPipe pose files)",
    )
    ap.add_argument("--verbose", action="store_true", help="show MediaPipe's native logs")
    ap.add_argument("--jobs", type=int, default=1, help="videos processed at a time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_infant_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        log = None if args.verbose else Path(tmp) / "mediapipe.log"
        result = run(args.n_per_class, args.seed, work, log, args.jobs, args.keep is not None)
    print("\nper class:")
    for name, c in {**result["per_class"], "overall": result["overall"]}.items():
        e, tr, tf = c["median_error_trunk_lengths"], c["trunk"], c["transform"]

        def rng(d: dict, scale: float = 1.0, fmt: str = "+.3f") -> str:
            return "/".join(format(scale * d[k], fmt) for k in ("min", "median", "max"))

        print(
            f"  {name:16s} detected {100 * c['detected']:5.1f} % "
            f"(worst video {100 * c['worst_video_detected']:5.1f} %), "
            f"L/R swapped {100 * c['lr_swapped']:4.1f} %, error/L: "
            + " ".join(f"{j} {v:.3f}" for j, v in e.items())
        )
        print(
            f"  {'':16s} min/median/max: shoulder offset {rng(tr['shoulder_offset'])} "
            f"width x{rng(tr['shoulder_width'], fmt='.2f')}, hip offset "
            f"{rng(tr['hip_offset'])} width x{rng(tr['hip_width'], fmt='.2f')}"
        )
        print(
            f"  {'':16s} transform: length {rng(tf['length_error'], 100, '+.1f')} %, "
            f"centre {rng(tf['centre_error'], 100, '.1f')} %, "
            f"|angle| <= {tf['abs_angle_error_max_deg']:.1f} deg; "
            f"{tf['videos_ok']}/{c['videos']} videos within the targets"
        )
    print("PASS" if result["pass"] else "FAIL", f"(goal >= {100 * GOAL:.0f} % per class)")
    print(
        "AXIS PASS" if result["axis_pass"] else "AXIS FAIL",
        f"(|length| <= {100 * AXIS_GOAL['length']:.0f} %, centre <= "
        f"{100 * AXIS_GOAL['centre']:.0f} %, |angle| <= {AXIS_GOAL['angle_deg']:.0f} deg "
        "on every video)",
    )
    if args.out:
        write_json(result, args.out)
    else:
        print(json.dumps(result["overall"], indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
