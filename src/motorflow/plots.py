"""Figures for the report: drawn from keypoint-derived numbers only (no video pixels)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")  # headless: jobs run without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from motorflow.features.curves import JOINTS3, N_POINTS, SIDES  # noqa: E402
from motorflow.poseio import atomic_path  # noqa: E402

SIDE_COLOURS = {"left": "#d62728", "right": "#1f77b4"}  # clinical convention: left red
JOINT_TITLES = {
    "hip": "Hip flexion (thigh vs. vertical)",
    "knee": "Knee flexion",
    "ankle": "Ankle dorsiflexion",
}


def _finish_cycle_figure(
    fig, axes, ylabel: str, *, legend_from, legend_title: str | None = None, title: str = ""
) -> None:
    """Titles, axes and legend shared by the per-video and the cohort gait-curve figures."""
    for ax, joint in zip(axes, JOINTS3, strict=True):
        ax.set_title(JOINT_TITLES[joint], fontsize=10)
        ax.set_xlabel("gait cycle (%)")
        ax.set_xlim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    handles, names = legend_from.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, names, loc="upper right", fontsize=8, frameon=False, title=legend_title
        )
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.9, 1))


def plot_gait_curves(
    curves: dict[str, np.ndarray],
    out_path: str | Path,
    *,
    band_mean: np.ndarray | None = None,
    band_sd: np.ndarray | None = None,
    band_label: str = "reference ±1 SD",
    stance_pct: dict[str, float] | None = None,
    title: str = "",
    segments: list[dict] | None = None,
    contacts: dict[str, list[float]] | None = None,
) -> None:
    """Cycle-normalised hip/knee/ankle curves, left vs right, over the reference band.

    ``curves``: "<joint>_<side>" → (n_cycles, 101) degrees; each cycle is a thin line and the
    side's mean a thick one.  ``band_mean``/``band_sd``: (3, 101) reference (hip, knee, ankle).
    ``stance_pct``: side → stance % (a dashed line marks each side's toe-off).
    ``segments`` (the QC record's walking bouts, turns and still periods) and ``contacts``
    (side → initial contact times, s) add a strip of the recording's segmentation over time.
    """
    x = np.linspace(0, 100, N_POINTS)
    if segments:
        fig = plt.figure(figsize=(12, 5.0))
        grid = fig.add_gridspec(2, len(JOINTS3), height_ratios=(3.6, 1.0))
        axes = [fig.add_subplot(grid[0, j]) for j in range(len(JOINTS3))]
        _segment_strip(fig.add_subplot(grid[1, :]), segments, contacts or {})
    else:
        fig, axes = plt.subplots(1, len(JOINTS3), figsize=(12, 3.6), sharex=True)
    for j, (ax, joint) in enumerate(zip(axes, JOINTS3, strict=True)):
        if band_mean is not None and band_sd is not None:
            lo, hi = band_mean[j] - band_sd[j], band_mean[j] + band_sd[j]
            ax.fill_between(x, lo, hi, color="0.85", label=band_label, lw=0)
        for side in SIDES:
            c = np.asarray(curves.get(f"{joint}_{side}", np.empty((0, N_POINTS))))
            colour = SIDE_COLOURS[side]
            for row in c:
                ax.plot(x, row, color=colour, lw=0.6, alpha=0.35)
            if len(c) and np.isfinite(c).any():
                ax.plot(
                    x, np.nanmean(c, axis=0), color=colour, lw=2.0, label=f"{side} (n={len(c)})"
                )
            if stance_pct and np.isfinite(stance_pct.get(side, np.nan)):
                ax.axvline(stance_pct[side], color=colour, ls="--", lw=0.8)
    _finish_cycle_figure(fig, axes, "angle (deg)", legend_from=axes[1], title=title)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format=Path(out_path).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)


SEGMENT_COLOURS = {"towards": "#2ca02c", "away": "#9467bd", "right": "#8c564b", "left": "#e377c2"}


def _segment_strip(ax, segments: list[dict], contacts: dict[str, list[float]]) -> None:
    """Walking bouts (by direction), turns and still periods over time, with the contacts."""
    end = max([s["end_s"] for s in segments] + [0.0])
    for s in segments:
        if s["kind"] == "walk":
            colour = SEGMENT_COLOURS.get(s["direction"].split("-")[0], "#7f7f7f")
            text = f"{s['view']} {s['direction']}"
        elif s["kind"] == "turn":
            colour, text = "#ff7f0e", f"turn\n{s['duration_s']:.1f} s, {s.get('steps', 0)} st."
        else:
            colour, text = "0.8", "still"
        ax.broken_barh([(s["start_s"], s["duration_s"])], (0.35, 0.5), color=colour)
        ax.text(s["start_s"] + s["duration_s"] / 2, 0.6, text, ha="center", va="center",
                fontsize=7, clip_on=True)  # fmt: skip
    for k, side in enumerate(SIDES):
        times = contacts.get(side, [])
        ax.vlines(times, 0.05 + 0.12 * k, 0.15 + 0.12 * k, color=SIDE_COLOURS[side], lw=1.2,
                  label=f"{side} initial contacts")  # fmt: skip
    ax.set_xlim(0, max(end, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_title("Segmentation: walking bouts, turns, still periods", fontsize=10)
    if any(contacts.get(s) for s in SIDES):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def gait_curves_figure(
    curves_path: str | Path,
    table_path: str | Path,
    reference_path: str | Path | None,
    out_path: str | Path,
    *,
    video_id: str = "",
    reference_label: str | None = None,
    qc_path: str | Path | None = None,
) -> None:
    """The per-video figure of the features stage, from its files (``qc_path``: the QC
    record, whose segmentation and contacts add a strip over time)."""
    import json

    import pandas as pd

    from motorflow.features.curves import load_curves, load_reference

    qc = json.loads(Path(qc_path).read_text()) if qc_path else {}
    curves = load_curves(curves_path)
    row = pd.read_parquet(table_path).iloc[0]
    ref = load_reference(reference_path) if reference_path else None
    label = f"group {reference_label} ±1 SD" if reference_label else "reference ±1 SD"
    status = "" if row["status"] == "ok" else f" — {row['reason']}"
    cadence = row.get("cadence_steps_per_min", np.nan)
    speed = row.get("walking_speed_leg_per_s", np.nan)
    plot_gait_curves(
        curves,
        out_path,
        band_mean=ref.mean if ref is not None else None,
        band_sd=ref.sd if ref is not None else None,
        band_label=label,
        stance_pct={s: float(row.get(f"stance_pct_{s}", np.nan)) for s in SIDES},
        title=f"{video_id}: cadence {cadence:.0f} steps/min, speed {speed:.2f} leg lengths/s"
        f"{status}",
        segments=qc.get("segments"),
        contacts=(qc.get("events") or {}).get("initial_contact"),
    )


def feature_importance_figure(
    tables: list[str | Path], out_table: str | Path, out_figure: str | Path, top: int = 15
):
    """Mean ± SD over folds of per-fold feature importances (``feature, importance``)."""
    import pandas as pd

    per = pd.concat(
        [pd.read_csv(p, sep="\t").assign(fold=i) for i, p in enumerate(tables)],
        ignore_index=True,
    )
    g = per.groupby("feature")["importance"]
    # A feature a fold did not use (all NaN in its training data) counts as 0 there.
    n = len(tables)
    df = pd.DataFrame({
        "importance_mean": g.sum() / n,
        "importance_sd": g.apply(lambda s: np.std(np.r_[s, np.zeros(n - len(s))], ddof=1)
                                 if n > 1 else 0.0),
        "n_folds": g.size(),
    }).sort_values("importance_mean", ascending=False, kind="stable")  # fmt: skip
    df.index.name = "feature"
    with atomic_path(out_table) as tmp:
        df.to_csv(tmp, sep="\t", float_format="%.6g")
    shown = df.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index, shown["importance_mean"], xerr=shown["importance_sd"],
            color="#4c72b0", ecolor="#555555")  # fmt: skip
    ax.set_xlabel("share of |standardised coefficient| (mean ± SD over folds)")
    ax.set_title(f"gait_baseline: top {len(shown)} gait features")
    fig.tight_layout()
    with atomic_path(out_figure) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return df


# Whole-body general-movement features drawn per class (infant task).
MOVEMENT_PANELS = (
    ("speed_mean", "limb speed (trunk lengths/s)"),
    ("fidgety_power_fraction", "power in the fidgety band"),
    ("sample_entropy", "sample entropy (complexity)"),
    ("speed_cv_between_limbs", "limb-speed CV (asymmetry)"),
)


def movement_features_figure(
    table_path: str | Path, out_path: str | Path, labels: list[str]
) -> None:
    """Box plots of the whole-body movement features per class, one point per video."""
    import pandas as pd

    table = pd.read_parquet(table_path)
    table = table[table["status"] == "ok"]
    fig, axes = plt.subplots(1, len(MOVEMENT_PANELS), figsize=(3.2 * len(MOVEMENT_PANELS), 3.4))
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    for ax, (col, title) in zip(axes, MOVEMENT_PANELS, strict=True):
        groups = [table.loc[table["label"] == lab, col].dropna().to_numpy() for lab in labels]
        ax.boxplot(groups, showfliers=False)
        for i, g in enumerate(groups, start=1):
            ax.plot(i + rng.uniform(-0.12, 0.12, len(g)), g, "o", ms=3, alpha=0.6, color="k")
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"General-movement features by class ({len(table)} videos)", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# One colour per label, in label order (Dark2): distinct from the confusion matrices' Blues and
# the Grad-CAM viridis on the summary page, and readable in greyscale print.
LABEL_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


def video_mean_curve(curves: dict[str, np.ndarray]) -> np.ndarray:
    """(3, 101) hip/knee/ankle mean cycle curve of one video, both sides weighted equally.

    Uses the stored per-side means (``mean``, (2, 3, 101)); a side without cycles (NaN) is
    left out, so a one-sided walk still counts; all-NaN when the video has no cycles.
    """
    if "mean" in curves:
        sides = np.asarray(curves["mean"], dtype=float)
    else:
        sides = np.full((len(SIDES), len(JOINTS3), N_POINTS), np.nan)
        for i, side in enumerate(SIDES):
            for j, joint in enumerate(JOINTS3):
                c = np.asarray(curves.get(f"{joint}_{side}", np.empty((0, N_POINTS))), float)
                if len(c) and np.isfinite(c).any():
                    sides[i, j] = np.nanmean(c, axis=0)
    out = np.full((len(JOINTS3), N_POINTS), np.nan)
    have = np.isfinite(sides).any(axis=-1)  # (side, joint): that side has this curve
    for j in range(len(JOINTS3)):
        if have[:, j].any():
            out[j] = np.nanmean(sides[have[:, j], j], axis=0)
    return out


def cohort_gait_curves_figure(
    curve_files: dict[str, str | Path],
    labels: dict[str, str],
    out: str | Path | BinaryIO,
    *,
    label_order: list[str],
    title: str = "",
) -> dict[str, int]:
    """Mean ± SD over videos of each label's hip/knee/ankle curves (the cohort's kinematics).

    ``curve_files``: video_id → its ``.curves.npz``; ``labels``: video_id → label (videos
    without a label, or without cycles, are left out).  Each video contributes its own mean
    cycle (:func:`video_mean_curve`), so videos with more strides do not weigh more.
    ``out``: a path (written atomically) or a binary file object.  Returns the number of
    videos drawn per label.
    """
    from motorflow.features.curves import load_curves

    groups: dict[str, list[np.ndarray]] = {label: [] for label in label_order}
    for video_id, path in curve_files.items():
        label = labels.get(video_id)
        if label not in groups:
            continue
        curve = video_mean_curve(load_curves(path))
        if np.isfinite(curve).any():
            groups[label].append(curve)
    x = np.linspace(0, 100, N_POINTS)
    fig, axes = plt.subplots(1, len(JOINTS3), figsize=(12, 3.8), sharex=True)
    for k, label in enumerate(label_order):
        if not groups[label]:
            continue
        stack = np.stack(groups[label])  # (n_videos, 3, 101)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a joint no video of it has
            mean = np.nanmean(stack, axis=0)
            sd = np.nanstd(stack, axis=0, ddof=1) if len(stack) > 1 else np.zeros_like(mean)
        colour = LABEL_COLOURS[k % len(LABEL_COLOURS)]
        for j, ax in enumerate(axes):
            ax.fill_between(x, mean[j] - sd[j], mean[j] + sd[j], color=colour, alpha=0.18, lw=0)
            ax.plot(x, mean[j], color=colour, lw=2.0, label=f"{label} (n={len(stack)})")
    _finish_cycle_figure(
        fig,
        axes,
        "angle (deg), mean ± 1 SD over videos",
        legend_from=axes[0],
        legend_title="label (videos)",
        title=title,
    )
    try:
        if isinstance(out, str | Path):
            with atomic_path(out) as tmp:
                fig.savefig(tmp, format="png", dpi=110)
        else:
            fig.savefig(out, format="png", dpi=110)
    finally:
        plt.close(fig)
    return {label: len(curves) for label, curves in groups.items()}


def reliability_figure(calibration: dict, out: BinaryIO, level: str = "subject") -> None:
    """Reliability diagrams, one panel per model: accuracy against confidence per bin,
    before and after cross-fitted temperature scaling (``calibration.summarise`` records)."""
    models = list(calibration)
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.3), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        rec = calibration[model]
        bins = rec.get("reliability", {}).get(level, {})
        ece = rec.get("ece", {}).get(level, {})
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--")
        for key, colour in (("before", "#c44e52"), ("after", "#4c72b0")):
            pts = bins.get(key, [])
            if pts:
                ax.plot([b["confidence"] for b in pts], [b["accuracy"] for b in pts], "o-",
                        color=colour, ms=3,
                        label=f"{key}: ECE {100 * ece.get(key, np.nan):.1f} %")  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top label)")
        ax.set_title(f"{model} (T = {rec.get('temperature', np.nan):.2f})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel(f"accuracy ({level} level)")
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
