"""Validation against the synthetic cohort's truth: how good are the pose and clean stages?

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

import cv2
import numpy as np
import pandas as pd

from motorflow.features import SIDED_FEATURES
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
    results = Path(results)
    truth_dir = results / "synth" / "truth"
    ids = video_ids if video_ids is not None else sorted(p.stem for p in truth_dir.glob("*.json"))
    quads = [
        (truth_dir / f"{v}.npz", truth_dir / f"{v}.json", results / "pose" / f"{v}.npz",
         results / "clean" / f"{v}.npz")
        for v in ids
    ]  # fmt: skip
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
        _write_result(table, result, Path(output))
    return result


def _write_result(table: pd.DataFrame, result: dict, out: Path) -> None:
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


# --------------------------------------------------------------------------- gait features

# Issue "features": median absolute error over videos.
FEATURE_GOALS = {
    "cadence_steps_per_min": ("rel_pct", 2.0),
    "step_length_leg": ("rel_pct", 5.0),
    "walking_speed_leg_per_s": ("rel_pct", 5.0),
    "knee_rom_deg": ("abs", 5.0),
}
# Also reported (no goal): what a gait analyst looks at next.
FEATURE_REPORTED = {
    "stride_time_s": "rel_pct",
    "stance_pct": "abs",
    "double_support_pct": "abs",
    "step_length_m": "rel_pct",
    "walking_speed_m_per_s": "rel_pct",
    "knee_flexion_initial_contact_deg": "abs",
    "knee_flexion_max_extension_deg": "abs",
    "knee_flexion_peak_swing_deg": "abs",
    "hip_rom_deg": "abs",
    "ankle_rom_deg": "abs",
    "trunk_sway_deg": "abs",
    "step_length_asymmetry": "abs",
    "stride_time_cv": "abs",
}
_SIDED = {"stance_pct", *SIDED_FEATURES}


def _feature_errors(measured: dict, truth: dict) -> dict[str, float]:
    """Absolute error per feature: % of the true value (rel_pct) or in the feature's unit;
    a sided feature's error is the mean over both sides."""
    out = {}
    for name, kind in {**{k: v[0] for k, v in FEATURE_GOALS.items()}, **FEATURE_REPORTED}.items():
        sides = ("_left", "_right") if name in _SIDED else ("",)
        errs = []
        for sfx in sides:
            m, t = measured.get(name + sfx, np.nan), truth.get(name + sfx, np.nan)
            m = np.nan if m is None else float(m)
            err = abs(m - t)
            errs.append(100 * err / abs(t) if kind == "rel_pct" else err)
        out[name] = float(np.mean(errs))
    return out


def feature_accuracy(
    truth_npz: list,
    truth_json: list,
    table: str | Path,
    output: str | Path | None = None,
    cfg=None,
) -> dict:
    """Gait-feature errors against the walker's truth, from the true joints (the features
    stage run on the truth pose) and from the cleaned MediaPipe joints (the feature table)."""
    from motorflow import features

    cfg = cfg or features.FeatureConfig()
    measured = pd.read_parquet(table).set_index("video_id")
    rows = []
    for npz, js in zip(truth_npz, truth_json, strict=True):
        truth = json.loads(Path(js).read_text())
        vid = truth["video_id"]
        height = 100 * truth["height_m"]
        from_truth = features.gait_features(load_pose(npz), cfg, height_cm=height)
        row = {"video_id": vid, "view": truth["view"], "direction": truth["direction"]}
        for source, feats, status in (
            ("truth_joints", from_truth.features, from_truth.info["status"]),
            ("mediapipe", measured.loc[vid].to_dict() if vid in measured.index else {}, None),
        ):
            status = status or (measured.loc[vid, "status"] if vid in measured.index else "")
            row[f"{source}_status"] = status
            for name, err in _feature_errors(feats, truth).items():
                row[f"{source}_{name}"] = err
        rows.append(row)
    tab = pd.DataFrame(rows)
    summary: dict = {"n_videos": len(tab), "goals": {}, "median": {}, "n_ok": {}}
    for source in ("truth_joints", "mediapipe"):
        summary["n_ok"][source] = int((tab[f"{source}_status"] == "ok").sum())
        summary["median"][source] = {
            name: float(tab[f"{source}_{name}"].median())
            for name in (*FEATURE_GOALS, *FEATURE_REPORTED)
        }
        for view in ("side", "oblique"):
            sub = tab[tab["view"] == view]
            summary["median"][f"{source}_{view}"] = {
                name: float(sub[f"{source}_{name}"].median()) for name in FEATURE_GOALS
            }
    goal_met = {
        f"{source}_{name}": summary["median"][source][name] <= limit
        for source in ("truth_joints", "mediapipe")
        for name, (_, limit) in FEATURE_GOALS.items()
    }
    summary["goals"] = {
        k: {"error": kind, "max": limit} for k, (kind, limit) in FEATURE_GOALS.items()
    }
    summary["goal_met"] = goal_met
    summary["passed"] = all(goal_met.values())
    if output:
        out = Path(output)
        with atomic_path(out.with_suffix(".tsv")) as tmp:
            tab.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
        write_json(summary, out.with_suffix(".json"))
    summary["videos"] = tab
    return summary


def format_feature_summary(result: dict) -> str:
    lines = [f"gait-feature error on {result['n_videos']} synthetic videos (median |error|)"]
    units = {"rel_pct": "%", "abs": ""}
    lines.append(f"  {'feature':36s} {'true joints':>12s} {'MediaPipe':>12s}   goal")
    for name in (*FEATURE_GOALS, *FEATURE_REPORTED):
        kind, limit = FEATURE_GOALS.get(name, (FEATURE_REPORTED.get(name), None))
        u = units[kind] if kind == "rel_pct" else ("deg" if "deg" in name else "")
        u = "pp" if name.endswith("_pct") and kind == "abs" else u
        vals = [result["median"][s][name] for s in ("truth_joints", "mediapipe")]
        goal = f"<= {limit:g} {u}" if limit is not None else ""
        lines.append(f"  {name:36s} {vals[0]:10.2f}{u:>3s} {vals[1]:10.2f}{u:>3s}   {goal}")
    lines.append(
        f"  videos with features: true joints {result['n_ok']['truth_joints']}, "
        f"MediaPipe {result['n_ok']['mediapipe']} of {result['n_videos']}"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Video preprocessing (Paper B): masking and alignment against the infant cohort's truth

PREPROCESS_GOALS = {
    "mask_iou": 0.85,  # median over videos of the per-video median IoU
    "angle_error_deg": 5.0,  # recovered rotation, per video
    "centre_error_pct": 5.0,  # recovered centre, % of the true neck-crotch length
    "scale_error_pct": 5.0,  # recovered neck-crotch length, %
    "upright_deg": 5.0,  # true axis after the estimated transform
    "videos_within": 0.95,  # share of videos that must meet each per-video goal
}


def _axis(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame neck-crotch vector and centre from (T, V, 2) keypoints."""
    neck = xy[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]].mean(axis=1)
    crotch = xy[:, [INDEX["left_hip"], INDEX["right_hip"]]].mean(axis=1)
    return neck - crotch, 0.5 * (neck + crotch)


def _wrap_deg(a: np.ndarray | float) -> np.ndarray:
    return (np.asarray(a) + 180.0) % 360.0 - 180.0


def mask_iou(truth_masks: str | Path, masks: str | Path) -> float:
    """Median IoU over the frames with a true figure mask."""
    from motorflow import mask as masklib
    from motorflow.synth import infant_render

    frames, truth = infant_render.load_masks(truth_masks)
    pred, _ = masklib.load_masks(masks)
    ious = []
    for k, t in zip(frames, truth, strict=True):
        if k >= len(pred):
            continue
        p = pred[k]
        if p.shape != t.shape:  # masks stored at a reduced working size
            p = cv2.resize(p.astype(np.uint8), t.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        union = np.logical_or(p, t).sum()
        ious.append(np.logical_and(p, t).sum() / union if union else np.nan)
    return float(np.nanmedian(ious)) if ious else float("nan")


def video_preprocess_accuracy(
    truth_npz: Path, truth_json: Path, truth_masks: Path, masks: Path, align_json: Path,
    clip_npz: Path,
) -> dict:  # fmt: skip
    """One video: mask IoU, recovered transform vs the rendered placement, uprightness of the
    TRUE axis after the ESTIMATED transform (so a wrong transform cannot look upright)."""
    info = json.loads(truth_json.read_text())
    est = json.loads(align_json.read_text())
    row = {"video_id": info["video_id"], "label": info.get("label", ""),
           "status": est.get("status"), "mask_iou": mask_iou(truth_masks, masks)}  # fmt: skip
    if est.get("status") != "ok":
        return row | {"reason": est.get("reason", "")}
    true_t, est_t = info["transform"], est["transform"]
    length = float(true_t["axis_len_px"])
    angle_err = float(_wrap_deg(est_t["axis_angle_deg"] - true_t["axis_angle_deg"]))
    centre_err = np.linalg.norm(np.subtract(est_t["centre_px"], true_t["centre_px"])) / length
    truth = load_pose(truth_npz).keypoints[..., :2].astype(np.float64)
    with np.load(clip_npz) as clip:
        matrix = np.asarray(clip["matrix"], dtype=np.float64)
    mapped = truth @ matrix[:, :2].T + matrix[:, 2]
    vec, _ = _axis(mapped)
    upright = np.degrees(np.arctan2(vec[:, 0], -vec[:, 1]))
    return row | {
        "reason": "",
        "true_angle_deg": float(true_t["axis_angle_deg"]),
        "angle_error_deg": angle_err,
        "centre_error_pct": float(100 * centre_err),
        "scale_error_pct": float(100 * (est_t["axis_len_px"] / length - 1.0)),
        "upright_deg": float(np.median(np.abs(_wrap_deg(upright)))),
    }


def preprocess_accuracy(
    truth_npz, truth_json, truth_masks, masks, align_json, clips,
    output: str | Path | None = None,
) -> dict:  # fmt: skip
    """Masking and alignment accuracy over matched file lists; optionally TSV + JSON."""
    rows = [
        video_preprocess_accuracy(*(Path(p) for p in paths))
        for paths in zip(truth_npz, truth_json, truth_masks, masks, align_json, clips, strict=True)
    ]
    table = pd.DataFrame(rows)
    ok = table[table["status"] == "ok"]
    g = PREPROCESS_GOALS

    def share(col: str) -> float:
        # Videos the alignment failed on count as misses.
        return float((ok[col].abs() <= g[col]).sum() / max(len(table), 1)) if col in ok else 0.0

    summary = {
        "median_mask_iou": float(table["mask_iou"].median()),
        "aligned_videos": int(len(ok)),
        **{f"share_{c}": share(c) for c in
           ("angle_error_deg", "centre_error_pct", "scale_error_pct", "upright_deg")},
        **{f"max_abs_{c}": float(ok[c].abs().max()) if c in ok and len(ok) else float("nan")
           for c in ("angle_error_deg", "centre_error_pct", "scale_error_pct", "upright_deg")},
    }  # fmt: skip
    met = {"mask_iou": summary["median_mask_iou"] >= g["mask_iou"]} | {
        c: summary[f"share_{c}"] >= g["videos_within"]
        for c in ("angle_error_deg", "centre_error_pct", "scale_error_pct", "upright_deg")
    }
    result = {
        "n_videos": len(table),
        "summary": summary,
        "goals": g,
        "goal_met": met,
        "passed": all(met.values()),
        "videos": table.to_dict(orient="records"),
    }
    if output:
        _write_result(table, result, Path(output))
    return result


def format_preprocess_summary(result: dict) -> str:
    s, g = result["summary"], result["goals"]
    lines = [
        f"video preprocessing on {result['n_videos']} synthetic videos "
        f"({s['aligned_videos']} aligned)",
        f"  mask IoU (median)            {s['median_mask_iou']:.3f}   goal >= {g['mask_iou']}",
    ]
    for c, what in (("angle_error_deg", "rotation within"), ("centre_error_pct", "centre within"),
                    ("scale_error_pct", "scale within"), ("upright_deg", "upright within")):
        unit = "deg" if c.endswith("deg") else "%"
        lines.append(f"  {what} {g[c]:g} {unit:3s}        {100 * s['share_' + c]:.1f} % of videos"
                     f"   (max |error| {s['max_abs_' + c]:.2f})")  # fmt: skip
    lines.append("  all goals met" if result["passed"] else "  GOAL MISSED: " + ", ".join(
        k for k, v in result["goal_met"].items() if not v))  # fmt: skip
    return "\n".join(lines)
