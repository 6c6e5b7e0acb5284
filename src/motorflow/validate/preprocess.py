"""Video preprocessing (Paper B): masking and alignment against the infant cohort's truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from motorflow.poseio import load_pose
from motorflow.skeleton import INDEX
from motorflow.validate.pose import write_result

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
        write_result(table, result, Path(output))
    return result


def format_preprocess_summary(result: dict) -> str:
    s, g = result["summary"], result["goals"]
    lines = [
        f"video preprocessing on {result['n_videos']} synthetic videos "
        f"({s['aligned_videos']} aligned)",
        f"  mask IoU (median)            {s['median_mask_iou']:.3f}   goal >= {g['mask_iou']}",
    ]
    for c, what in (
        ("angle_error_deg", "rotation within"),
        ("centre_error_pct", "centre within"),
        ("scale_error_pct", "scale within"),
        ("upright_deg", "upright within"),
    ):
        unit = "deg" if c.endswith("deg") else "%"
        lines.append(f"  {what} {g[c]:g} {unit:3s}        {100 * s['share_' + c]:.1f} % of videos"
                     f"   (max |error| {s['max_abs_' + c]:.2f})")  # fmt: skip
    lines.append("  all goals met" if result["passed"] else "  GOAL MISSED: " + ", ".join(
        k for k, v in result["goal_met"].items() if not v))  # fmt: skip
    return "\n".join(lines)
