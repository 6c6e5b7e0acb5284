"""Gait-feature accuracy against the walker's truth: the features stage run on the true joints
and the feature table from the cleaned MediaPipe joints, each against the realised gait
parameters of the synthetic cohort."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.features import gait as featlib
from motorflow.poseio import atomic_path, load_pose, write_json

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
_SIDED = {"stance_pct", *featlib.SIDED_FEATURES}


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
    cfg = cfg or featlib.FeatureConfig()
    measured = pd.read_parquet(table).set_index("video_id")
    rows = []
    for npz, js in zip(truth_npz, truth_json, strict=True):
        truth = json.loads(Path(js).read_text())
        vid = truth["video_id"]
        height = 100 * truth["height_m"]
        age = truth.get("subject", {}).get("age_months")
        from_truth = featlib.gait_features(load_pose(npz), cfg, height_cm=height, age_months=age)
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
