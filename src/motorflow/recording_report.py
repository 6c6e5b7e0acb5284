"""The per-recording and per-patient reports of ``motorflow predict``: one HTML file each,
self-contained like the summary page (inline CSS, figures as PNG data URIs, no scripts).

Every figure is drawn from keypoints and numbers: the skeleton preview is stick figures of
the cleaned keypoints, never video frames (the recordings are of patients, often children).
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from motorflow import __version__, gradcam
from motorflow.bundle import Bundle
from motorflow.features.curves import JOINTS3, load_mean_curves
from motorflow.poseio import atomic_path, load_pose
from motorflow.report import CSS, esc, html_table, img_tag, kv_table, td
from motorflow.skeleton import BONES, INDEX, JOINT_NAMES

# Gait parameters drawn against the training cohort's bands (all are in the table).
KEY_FEATURES = (
    "cadence_steps_per_min",
    "walking_speed_leg_per_s",
    "step_length_leg",
    "stance_pct_left",
    "double_support_pct",
    "knee_rom_deg_left",
    "knee_rom_deg_right",
    "knee_flexion_max_extension_deg_left",
)
PREVIEW_FRAMES = 8
# Label colours (Dark2), as the summary page's gait curves.
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NaN"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def bands_figure(record: Mapping, labels: Sequence[str]) -> bytes | None:
    """The recording's key gait parameters (black line) on the training cohort's per-label
    bands (box 25–75 %, whiskers 5–95 %, median tick)."""
    bands = {b["feature"]: b for b in record.get("bands", [])}
    shown = [f for f in KEY_FEATURES if f in bands and bands[f]["per_label"]]
    if not shown:
        return None
    fig = Figure(figsize=(2.2 * len(shown), 2.8))
    for i, feat in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1)
        band = bands[feat]
        for j, label in enumerate(labels):
            q = band["per_label"].get(label)
            if not q:
                continue
            c = COLOURS[j % len(COLOURS)]
            box = Rectangle((j - 0.3, q["p25"]), 0.6, q["p75"] - q["p25"], color=c, alpha=0.55)
            ax.add_patch(box)
            ax.plot([j, j], [q["p5"], q["p95"]], color=c, lw=1)
            ax.plot([j - 0.3, j + 0.3], [q["p50"], q["p50"]], color="#222", lw=1)
        if band["value"] is not None:
            ax.axhline(band["value"], color="#000", lw=1.6)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(f"{feat}\n({band['unit']})", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def curves_figure(curves: np.ndarray, class_curves: Mapping, labels: Sequence[str]) -> bytes:
    """The recording's mean cycle curves (left solid, right dashed; black) over the training
    cohort's per-label mean ± SD (both sides pooled)."""
    fig = Figure(figsize=(10, 2.8))
    x = np.linspace(0, 100, curves.shape[-1])
    for k, joint in enumerate(JOINTS3):
        ax = fig.add_subplot(1, len(JOINTS3), k + 1)
        for j, label in enumerate(labels):
            cc = class_curves.get(label)
            if cc is None:
                continue
            m, s = cc["mean"][:, k].mean(0), cc["sd"][:, k].mean(0)
            c = COLOURS[j % len(COLOURS)]
            ax.fill_between(x, m - s, m + s, color=c, alpha=0.18, lw=0)
            ax.plot(x, m, color=c, lw=1, label=f"{label} (n={int(cc['n'])})")
        for side, ls in ((0, "-"), (1, "--")):
            if np.isfinite(curves[side, k]).all():
                ax.plot(x, curves[side, k], color="#000", lw=1.4, ls=ls)
        ax.set_title(f"{joint} (deg); black: this recording", fontsize=8)
        ax.set_xlabel("% gait cycle", fontsize=7)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return _png(fig)


def preview_figure(pose_path: str | os.PathLike) -> bytes:
    """Stick figures of the cleaned keypoints at evenly spaced frames (no pixels)."""
    kp = load_pose(pose_path).keypoints
    frames = np.linspace(0, len(kp) - 1, PREVIEW_FRAMES).round().astype(int)
    fig = Figure(figsize=(1.3 * PREVIEW_FRAMES, 2.4))
    for i, f in enumerate(frames):
        ax = fig.add_subplot(1, PREVIEW_FRAMES, i + 1)
        pts = kp[f, :, :2]
        for a, b in BONES:
            pa, pb = pts[INDEX[a]], pts[INDEX[b]]
            if np.isfinite(pa).all() and np.isfinite(pb).all():
                left = a.startswith("left") or b.startswith("left")
                ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="#1b9e77" if left else "#555",
                        lw=1.2)  # fmt: skip
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.axis("off")
        ax.set_title(f"frame {f}", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def importance_figure(importance: Mapping[str, float]) -> bytes:
    imp = np.array([importance[n] for n in JOINT_NAMES])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "importance.png"
        gradcam.plot_skeleton_importance(imp, out, title="Grad-CAM, this recording", top_k=5)
        return out.read_bytes()


def _section(section_id: str, title: str, content: str) -> str:
    return f'<section id="{section_id}">\n<h2>{esc(title)}</h2>\n{content}\n</section>\n'


def _fig(png: bytes, alt: str, img_id: str) -> str:
    return f"<figure>{img_tag(png, alt, img_id)}</figure>"


def _header(title: str, bundle: Mapping) -> str:
    cv = bundle["cv_subject"].get("balanced_accuracy") or {}
    acc = (
        f"{100 * cv['mean']:.1f} % (CI {100 * cv['ci_low']:.1f}–{100 * cv['ci_high']:.1f} %)"
        if cv and cv.get("mean") is not None
        else "NaN"
    )
    git = bundle["git"] or {}
    rows = [
        (
            "model",
            f"{bundle['model']} ({bundle['task']} task; labels {', '.join(bundle['labels'])})",
        ),
        ("cross-validated balanced accuracy (subjects)", acc),
        (
            "trained on",
            f"{bundle['training']['n_subjects']} subjects, {bundle['training']['n_videos']} videos",
        ),  # fmt: skip
        ("training data sha256", bundle["training"]["data_sha256"][:16] + "…"),
        (
            "calibration",
            ("applied, " if bundle["calibration"]["applied"] else "not applied, ")
            + bundle["calibration"]["reason"],
        ),  # fmt: skip
        (
            "bundle",
            f"{bundle['source']} (motorflow {bundle['motorflow']}, git "
            f"{(git.get('commit') or 'unknown')[:10]}"
            f"{' dirty' if git.get('dirty') else ''})",
        ),  # fmt: skip
        ("report", f"motorflow {__version__}"),
    ]
    return f"<h1>{esc(title)}</h1>\n" + kv_table(rows, table_id="bundle-table")


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        '<p class="note">Decision support only: the model\'s output for this recording, with '
        "the cohort it was validated on. Not a diagnosis.</p>\n</body>\n</html>\n"
    )


def _prediction_section(record: Mapping, labels: Sequence[str]) -> str:
    pred = record.get("prediction")
    if not pred:
        return ""
    body = []
    for lab in labels:
        p = pred["probabilities"][lab]
        style = f"display:inline-block;width:{round(200 * p)}px;height:10px;background:#888"
        bar = f'<span style="{style}"></span>'
        own = pred["uncalibrated"][lab]
        cells = [td(lab), td(f"{100 * p:.1f} %", num=True), f"<td>{bar}</td>"]
        body.append("<tr>" + "".join(cells) + td(f"{100 * own:.1f} %", num=True) + "</tr>")
    out = '<section id="prediction">\n<h2>Prediction</h2>\n'
    out += f"<p>Most probable: <b>{esc(pred['label'])}</b>"
    if pred.get("expected_level"):
        e = pred["expected_level"]
        out += (f"; expected level {e['value']:.2f} ({round(100 * e['coverage'])} % interval "
                f"{esc(e['low'])}–{esc(e['high'])})")  # fmt: skip
    out += "</p>\n"
    head = ["label", "probability" + (" (calibrated)" if pred["calibrated"] else ""), "",
            "model's own"]  # fmt: skip
    out += html_table(head, body, table_id="probability-table")
    return out + "</section>\n"


def _ood_section(record: Mapping) -> str:
    ood = record.get("ood")
    if not ood:
        return ""
    if ood["flag"]:
        msg = "<p><b>Warning: this recording lies outside the training data.</b> "
    else:
        msg = "<p>Within the training data. "
    if ood.get("distance") is not None:
        msg += f"Mahalanobis distance {ood['distance']:.2f} (threshold {ood['threshold']:.2f}). "
    if ood.get("extreme_features"):
        msg += "Beyond 4 robust SD: " + esc(", ".join(ood["extreme_features"])) + ". "
    if ood.get("note"):
        msg += esc(ood["note"]) + "."
    return f'<section id="ood">\n<h2>Out-of-distribution check</h2>\n{msg}</p>\n</section>\n'


def _features_section(record: Mapping, labels: Sequence[str], figure: bytes | None) -> str:
    rows = []
    for b in record.get("bands", []):
        cells = [td(b["feature"]), td(_fmt(b["value"]), num=True), td(b["unit"])]
        for lab in labels:
            q = b["per_label"].get(lab)
            cells.append(td(f"{q['p50']:.2f} [{q['p25']:.2f}, {q['p75']:.2f}]" if q else "–"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ["gait parameter", "this recording", "unit",
            *(f"{lab}: median [25 %, 75 %]" for lab in labels)]  # fmt: skip
    out = '<section id="features">\n<h2>Gait parameters and the training cohort</h2>\n'
    if figure:
        out += f"<figure>{img_tag(figure, 'gait parameters on the cohort bands', 'fig-bands')}"
        out += "<figcaption>Black line: this recording; boxes: training videos per label "
        out += "(25–75 %, whiskers 5–95 %).</figcaption></figure>\n"
    out += html_table(head, rows, table_id="feature-table")
    asym = [
        f"<tr>{td(k)}{td(_fmt(v), num=True)}</tr>" for k, v in record.get("asymmetry", {}).items()
    ]
    out += "<h3>Left − right</h3>\n" + html_table(["parameter", "left − right"], asym,
                                                    table_id="asymmetry-table")  # fmt: skip
    return out + "</section>\n"


def _cell(value) -> str:
    """A QC value as text: mappings as ``key: value``, lists joined, numbers formatted."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return _fmt(value)


def _qc_section(record: Mapping) -> str:
    qc = record.get("qc") or {}
    rows = [(k, _cell(v)) for k, v in qc.items() if k != "bouts"]
    out = '<section id="qc">\n<h2>Quality control</h2>\n' + kv_table(rows, table_id="qc-table")
    reasons = record.get("feature_reasons") or {}
    if reasons:
        body = [f"<tr>{td(k)}{td(v)}</tr>" for k, v in reasons.items()]
        out += "<h3>Features that are NaN, and why</h3>\n"
        out += html_table(["feature", "reason"], body, table_id="nan-table")
    return out + "</section>\n"


def write_html(record: Mapping, bundle: Bundle, out: str | os.PathLike, folder: Path) -> Path:
    """The report of one recording (``folder``: its stage files, for the figures)."""
    rec = record["recording"]
    labels = bundle.labels
    title = f"motorflow report: recording {rec['recording_id']}"
    status = record["status"] + (f": {record['reason']}" if record.get("reason") else "")
    who = [("recording", rec["recording_id"]), ("patient", rec["subject_id"]),
           ("session", rec.get("session") or "–"), ("date", rec.get("date") or "–"),
           ("status", status)]  # fmt: skip
    body = _header(title, record["bundle"]) + kv_table(who, table_id="recording-table")
    if record["status"] == "failed":
        body += f'<p id="failure"><b>No result for this recording:</b> {esc(record["reason"])}</p>'
        with atomic_path(out) as tmp:
            tmp.write_text(_page(title, body), encoding="utf-8")
        return Path(out)
    body += _prediction_section(record, labels)
    body += _ood_section(record)
    body += _features_section(record, labels, bands_figure(record, labels))
    if (folder / "curves.npz").exists():
        curves = load_mean_curves(folder / "curves.npz")
        png = curves_figure(curves, bundle.class_curves(), labels)
        body += _section("curves", "Cycle curves", _fig(png, "cycle curves", "fig-curves"))
    if record.get("keypoint_importance"):
        png = importance_figure(record["keypoint_importance"])
        fig = _fig(png, "keypoint importance", "fig-importance")
        body += _section("importance", "Keypoint importance (Grad-CAM)", fig)
    body += _qc_section(record)
    if (folder / "clean.npz").exists():
        png = preview_figure(folder / "clean.npz")
        fig = _fig(png, "skeleton preview", "fig-preview")
        body += _section("preview", "Skeleton preview (keypoints, no video)", fig)
    with atomic_path(out) as tmp:
        tmp.write_text(_page(title, body), encoding="utf-8")
    return Path(out)


def write_patient_html(record: Mapping, bundle: Bundle, out: str | os.PathLike) -> Path:
    """One patient's visits: the predicted label and each key gait parameter per visit."""
    labels = bundle.labels
    title = f"motorflow report: patient {record['subject_id']}"
    body = _header(title, record["bundle"])
    if record.get("mean_probabilities"):
        p = record["mean_probabilities"]
        shares = ", ".join(f"{lab} {100 * p[lab]:.1f} %" for lab in labels)
        body += f"<p>Over the scored recordings: most probable <b>{esc(record['label'])}</b>"
        body += f" ({esc(shares)})</p>\n"
    head = ["visit", "date", "session", "status", "prediction", *KEY_FEATURES]
    rows = []
    for v in record["visits"]:
        pred = v.get("prediction") or {}
        label = pred.get("label", "–")
        if pred.get("expected_level"):
            label += f" (level {pred['expected_level']['value']:.2f})"
        feats = v.get("features") or {}
        cells = [td(v["recording_id"]), td(v["date"] or "–"), td(v["session"] or "–"),
                 td(v["status"]), td(label)]  # fmt: skip
        cells += [td(_fmt(feats.get(f)), num=True) for f in KEY_FEATURES]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body += '<section id="visits">\n<h2>Visits</h2>\n'
    body += html_table(head, rows, table_id="visit-table") + "</section>\n"
    png = _trend_figure(record, labels, bundle.manifest.get("feature_bands", {}))
    if png:
        body += f"<figure>{img_tag(png, 'parameters over visits', 'fig-trend')}</figure>\n"
    with atomic_path(out) as tmp:
        tmp.write_text(_page(title, body), encoding="utf-8")
    return Path(out)


def _trend_figure(record: Mapping, labels: Sequence[str], bands: Mapping) -> bytes | None:
    """The expected level and key parameters per visit, over the training cohort's 25–75 %
    band of each label."""
    visits = record["visits"]
    if len(visits) < 2:
        return None
    feats = ["cadence_steps_per_min", "walking_speed_leg_per_s", "knee_rom_deg_left"]
    fig = Figure(figsize=(10, 2.6))
    x = np.arange(len(visits))
    names = [v["date"] or v["session"] or v["recording_id"] for v in visits]
    ax = fig.add_subplot(1, len(feats) + 1, 1)
    level = [
        (v["prediction"]["expected_level"]["value"] if (v.get("prediction") or {}).get(
            "expected_level") else np.nan) for v in visits
    ]  # fmt: skip
    ax.plot(x, level, "o-", color="#333")
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=7)
    ax.set_title("expected level", fontsize=8)
    for i, f in enumerate(feats):
        ax = fig.add_subplot(1, len(feats) + 1, i + 2)
        for j, label in enumerate(labels):
            q = (bands.get(f) or {}).get("per_label", {}).get(label)
            if q:
                c = COLOURS[j % len(COLOURS)]
                ax.axhspan(q["p25"], q["p75"], color=c, alpha=0.2, lw=0, label=label)
        y = [(v.get("features") or {}).get(f) for v in visits]
        ax.plot(x, [np.nan if val is None else val for val in y], "o-", color="#333")
        if i == 0:
            ax.legend(fontsize=6, frameon=False, title="training 25–75 %", title_fontsize=6)
        ax.set_title(f, fontsize=8)
    for ax in fig.axes:
        ax.set_xticks(x, names, fontsize=6, rotation=30)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- PDF

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def pdf_browser() -> str | None:
    """A headless Chromium to print reports with (Debian: `apt install chromium`), or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html: str | os.PathLike, out: str | os.PathLike, browser: str | None = None) -> Path:
    """Print a report page to PDF with headless Chromium (its print engine lays out the
    page's tables and inline figures as a browser shows them); written atomically."""
    browser = browser or pdf_browser()
    if browser is None:
        raise RuntimeError("PDF export needs Chromium (Debian: apt install chromium)")
    html = Path(html).resolve()
    with tempfile.TemporaryDirectory(prefix="motorflow-pdf-") as profile, atomic_path(out) as tmp:
        # No network, no first-run or sync machinery: the page is self-contained.
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-pdf-header-footer", f"--user-data-dir={profile}",
             f"--print-to-pdf={tmp}", html.as_uri()],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            raise RuntimeError(f"{html}: Chromium could not print it ({proc.stderr[-500:]})")
    return Path(out)
