"""How hard is the synthetic cohort for MediaPipe?  Raw left/right leg swaps per video.

Run from the repository root::

    .venv/bin/python benchmarks/bench_synth_swaps.py [--n 24] [--seed 4242] [--style STYLE]
        [--out benchmarks/results/synth_swaps.json]

Renders ``--n`` side-view videos of the cohort configured in ``config/config.yaml``
(``synthetic:``; its style mix unless ``--style`` forces one) with the cohort seed replaced
by ``--seed`` (other videos than the workflow's), runs the pose stage
(``motorflow.pose.run``, MediaPipe BlazePose full, one person) and compares the raw
keypoints with the truth pose written by ``gait_render.render_video``:

* ``swapped_pct``: % of frames with the legs' labels exchanged (``validate.swapped_pct``);
* ``mean_error_pct``: mean joint error, % of stature (``validate.mean_error_pct``);
* ``detection_rate``: frames with the core joints at least half detected;
* the same swap rate and error after the cleaning stage (``motorflow.clean``, defaults).

Prints a table, the median and quartiles overall and per style, and writes the per-video
rows and the summary as JSON.  Targets: a side-view median raw swap rate of 5–30 % (what
independent renders and real clinical side-view recordings show) with detection >= 95 %.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from motorflow import clean, pose
from motorflow.poseio import load_pose, write_json
from motorflow.synth import gait_cohort, gait_render
from motorflow.validate import pose as validate

ROOT = Path(__file__).resolve().parents[1]


def _cohort(config: Path, seed: int, style: str | None) -> gait_cohort.CohortConfig:
    section = dict((yaml.safe_load(config.read_text()) or {}).get("synthetic") or {})
    section["seed"] = seed
    if style:
        section["styles"] = {style: 1.0}
    return gait_cohort.cohort_config(section)


def _pick(cfg: gait_cohort.CohortConfig, n: int) -> list[tuple[str, str]]:
    """``n`` (video_id, subject_id) spread over the levels (rendered in side view)."""
    sheet = gait_cohort.make_sheet(cfg)
    if n > len(sheet):
        per_level = -(-n // (len(gait_cohort.LEVELS) * cfg.videos_per_subject))
        cfg = replace(cfg, subjects_per_level=per_level)
        sheet = gait_cohort.make_sheet(cfg)
    idx = np.unique(np.linspace(0, len(sheet) - 1, n).round().astype(int))
    return [(sheet.video_id[i], sheet.subject_id[i]) for i in idx]


def _summary(rows: list[dict], key: str) -> dict:
    v = np.array([r[key] for r in rows], float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3),
            "min": float(v.min()), "max": float(v.max())}  # fmt: skip


def _stats(rows: list[dict]) -> dict:
    keys = ("swapped_pct", "detection_rate", "mean_error_pct", "clean_swapped_pct",
            "clean_mean_error_pct")  # fmt: skip
    return {k: _summary(rows, k) for k in keys}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24, help="videos to render (default 24)")
    ap.add_argument("--seed", type=int, default=4242, help="cohort seed of the benchmark")
    ap.add_argument(
        "--style", choices=gait_cohort.STYLES, help="force one style (default: the mix)"
    )
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/synth_swaps.json")
    ap.add_argument("--keep", type=Path, help="keep the rendered videos/poses in this folder")
    args = ap.parse_args(argv)

    os.environ.setdefault("GLOG_minloglevel", "2")
    cfg = _cohort(args.config, args.seed, args.style)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        for vid, subject in _pick(cfg, args.n):
            paths = {k: d / f"{vid}.{k}" for k in ("mp4", "npz", "json")}
            t0 = time.perf_counter()
            truth = gait_render.render_video(cfg, vid, subject, "side", *paths.values())
            t_render = time.perf_counter() - t0
            raw_path = d / f"{vid}.pose.npz"
            t0 = time.perf_counter()
            pose.run(paths["mp4"], raw_path, pose.PoseConfig(max_people=1))
            t_pose = time.perf_counter() - t0
            clean_path = d / f"{vid}.clean.npz"
            qc = clean.run(raw_path, clean_path, d / f"{vid}.qc.json", clean.CleanConfig(), vid)
            gt = load_pose(paths["npz"]).keypoints
            raw = load_pose(raw_path).keypoints
            cleaned = load_pose(clean_path).keypoints if clean_path.exists() else raw * np.nan
            n = min(len(gt), len(raw), len(cleaned))
            gt, raw, cleaned = gt[:n], raw[:n], cleaned[:n]
            stature = float(truth["body_height_px"])
            render = truth["render"]
            deg = render.get("degradation", {})
            row = {
                "video_id": vid,
                "style": render["style"],
                "portrait": render["portrait"],
                "setting": deg.get("setting", ""),
                "lower": render.get("look", {}).get("lower", "trousers"),
                "second_person": truth["second_person"],
                "stature_px": stature,
                "frames": n,
                "swapped_pct": validate.swapped_pct(raw, gt, stature),
                "mean_error_pct": validate.mean_error_pct(raw, gt, stature),
                "detection_rate": validate.detection_rate(raw),
                "clean_swapped_pct": validate.swapped_pct(cleaned, gt, stature),
                "clean_mean_error_pct": validate.mean_error_pct(cleaned, gt, stature),
                "qc_excluded": bool(qc.get("excluded", False)),
                "render_s": t_render,
                "pose_s": t_pose,
            }
            rows.append(row)
            print(
                f"{vid:12s} {row['style']:9s} {'portrait' if row['portrait'] else 'landscape':9s}"
                f" {row['setting']:8s} {row['lower']:8s} stature {stature:5.0f} px  swapped "
                f"{row['swapped_pct']:5.1f} %  error {row['mean_error_pct']:5.1f} %  detected "
                f"{100 * row['detection_rate']:5.1f} %  cleaned: swapped "
                f"{row['clean_swapped_pct']:5.1f} % error {row['clean_mean_error_pct']:5.1f} %"
                f"  render {t_render:4.1f} s",
                flush=True,
            )
    by_style = {
        s: _stats([r for r in rows if r["style"] == s]) for s in sorted({r["style"] for r in rows})
    }
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "seed": args.seed,
        "n_videos": len(rows),
        "styles": dict(cfg.styles),
        "overall": _stats(rows),
        "by_style": by_style,
        "render_s_median": float(np.median([r["render_s"] for r in rows])),
        "videos": rows,
    }
    print()
    for name, st in [("all", result["overall"]), *by_style.items()]:
        s, dr, e = st["swapped_pct"], st["detection_rate"], st["mean_error_pct"]
        print(
            f"{name:9s} n={s['n']:3d}  swapped median {s['median']:5.1f} % "
            f"(IQR {s['q1']:.1f}-{s['q3']:.1f}, range {s['min']:.1f}-{s['max']:.1f})  "
            f"detected median {100 * dr['median']:5.1f} % (min {100 * dr['min']:.1f})  "
            f"error median {e['median']:4.1f} %  cleaned: swapped median "
            f"{st['clean_swapped_pct']['median']:5.1f} % error median "
            f"{st['clean_mean_error_pct']['median']:4.1f} %"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(json.loads(json.dumps(result, default=float)), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
