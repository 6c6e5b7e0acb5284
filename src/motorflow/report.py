"""The standalone summary page of a finished run: one HTML file that needs no server.

Everything the page shows is inside the file (inline CSS, figures as base64 PNG data URIs, no
scripts, no external URLs), so it can be archived with the results, attached to a report or
opened offline in any browser.  It shows aggregate results only: metrics, per-fold results,
confusion matrices, Grad-CAM and feature importances, cohort gait curves (or the infant
movement features), QC counts and the synthetic-truth validation.  It never embeds video
frames or alignment previews: the videos are of children.

Inputs (under ``results/``; a missing one raises FileNotFoundError naming it):
``eval/summary.json`` (:func:`motorflow.evaluate.write_summary`),
``eval/{model}/{split}/metrics.json`` (:func:`motorflow.evaluate.write_fold_metrics`),
``eval/{model}_confusion_subject.png``, ``interpret/{stgcn,gait_baseline,movement_baseline}/
importance.png`` for the models that ran, ``features/features.parquet``, gait task:
``features/{video_id}.curves.npz``; infant task: ``features/figures/movement_features.png``,
``qc/summary.tsv``, and the ``validation/*.json`` summaries when present.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from motorflow import __version__, tasks
from motorflow import evaluate as ev
from motorflow.layout import Layout
from motorflow.poseio import atomic_path

# The models whose interpretation figure the workflow draws, with what it shows.
INTERPRET = {
    "stgcn": "ST-GCN Grad-CAM keypoint importance (mean over folds): joints on the skeleton "
    "coloured by importance; the top-k joints feed fusion_xattn.",
    "gait_baseline": "gait_baseline: importance of the gait features (mean ± SD over folds).",
    "movement_baseline": "movement_baseline: importance of the movement features "
    "(mean ± SD over folds).",
}
VALIDATION = {
    "pose_accuracy": "Pose accuracy against the synthetic truth",
    "feature_accuracy": "Gait-feature accuracy against the synthetic truth",
    "preprocess_accuracy": "Masking and alignment accuracy against the synthetic truth",
}
# (summary.json metric, column title); QWK only for ordered labels (GMFCS levels).
TABLE_METRICS = (
    ("accuracy", "accuracy (%)"),
    ("balanced_accuracy", "balanced accuracy (%)"),
    ("macro_f1", "macro F1 (%)"),
    ("mcc", "MCC"),
    ("cohen_kappa", "Cohen's κ"),
    ("qwk", "QWK"),
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Greys only: the browser test tells figures from page chrome by colour saturation.
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: #222; background: #fff; margin: 0 auto; max-width: 1340px; padding: 16px 28px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; padding-top: 8px; border-top: 1px solid #ccc; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.note, figcaption, .caption { color: #555; font-size: 13px; }
nav a, a { color: #333; }
nav { margin: 8px 0 4px; font-size: 13px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num, td.stat { text-align: right; font-variant-numeric: tabular-nums; }
td.num, td.stat span { white-space: nowrap; }
table.kv th { width: 14em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0 0 12px; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.grid figure { flex: 0 1 640px; }
code { background: #f2f2f2; padding: 0 3px; }
"""


def render_summary(
    results: str | Path,
    out_html: str | Path,
    *,
    models: Sequence[str],
    splits: Sequence[str],
    task: str,
    labels: Sequence[str],
) -> Path:
    """Write the summary page of the run in ``results`` to ``out_html`` (atomically)."""
    results = Path(results)
    spec = tasks.get(task)
    if not models:
        raise ValueError("the summary page needs at least one model")
    tree = Layout(results)
    summary = _read_json(tree.eval_summary, "evaluation summary")
    missing = [m for m in models if m not in summary.get("metrics", {})]
    if missing:
        raise ValueError(f"{tree.eval_summary}: no metrics for {missing}")
    cohort = _read_table(tree.features_table, "cohort feature table")
    qc = _read_table(tree.qc_summary, "QC summary")
    sections = [
        _header(summary, cohort, qc, models=models, splits=splits, task=task),
        _metrics_section(summary, models),
        _folds_section(results, models, splits),
        _confusion_section(results, models),
        _calibration_section(summary, models),
        _interpret_section(results, models),
        _gait_section(results, cohort, labels) if spec.curves else _movement_section(results),
        _qc_section(qc),
        _validation_section(results),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>motorflow run summary: {esc(task)} task</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
    out_html = Path(out_html)
    with atomic_path(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out_html


def discover_run(results: str | Path) -> dict:
    """Models, splits, labels and task of a finished run, read from its files (for the CLI).

    Models, labels and the task come from the run's record ``eval/summary.json`` (models in
    its order), splits from the folders of ``eval/{model}/``.  A run recorded before the task
    was written gives task None (the caller must be told it).
    """
    tree = Layout(results)
    summary = _read_json(tree.eval_summary, "evaluation summary")
    models = list(summary.get("metrics", {}))
    if not models:
        raise ValueError(f"{tree.eval_summary}: no models")
    pattern = tree.fold_metrics(models[0], "*")
    splits = sorted((p.parent.name for p in tree.glob(pattern)), key=_natural_key)
    if not splits:
        raise FileNotFoundError(f"no {pattern}")
    task = summary.get("task")
    return {"models": models, "splits": splits, "labels": list(summary["labels"]), "task": task}


# --------------------------------------------------------------------------- sections


def _header(
    summary: Mapping,
    cohort: pd.DataFrame,
    qc: pd.DataFrame,
    *,
    models: Sequence[str],
    splits: Sequence[str],
    task: str,
) -> str:
    labels = [str(label) for label in summary["labels"]]
    # Subjects carrying each label at some visit (one whose visits differ counts under each).
    pairs = cohort.assign(label=cohort["label"].astype(str)).drop_duplicates(
        ["subject_id", "label"]
    )
    per_label = pairs["label"].value_counts()
    subjects = ", ".join(f"{label}: {int(per_label.get(label, 0))}" for label in labels)
    n_mixed = int((pairs.groupby("subject_id").size() > 1).sum())
    if n_mixed:
        subjects += f"; {n_mixed} subject(s) with different labels at different visits"
    alpha = float(summary.get("alpha", 0.05))
    rows = [
        ("task", f"{task}: {tasks.get(task).title}"),
        ("labels", ", ".join(labels) + (" (ordered)" if summary.get("ordinal", True) else "")),
        (
            "cohort",
            f"{len(qc)} videos of {cohort['subject_id'].nunique()} subjects "
            f"(subjects per label: {subjects})",
        ),
        ("models", ", ".join(models)),
        ("baseline of the comparisons", str(summary.get("baseline", "n/a"))),
        ("cross-validation", f"{len(splits)} subject-wise splits: {', '.join(splits)}"),
        (
            "confidence intervals",
            f"{100 * (1 - alpha):g} % subject bootstrap, {summary.get('n_boot', '?')} "
            f"resamples (seed {summary.get('seed', '?')})",
        ),
        ("motorflow version", __version__),
    ]
    nav = " ".join(
        f'<a href="#{anchor}">{title}</a>'
        for anchor, title in (
            ("metrics", "metrics"),
            ("folds", "per fold"),
            ("confusion", "confusion matrices"),
            ("interpretability", "interpretability"),
            ("features", tasks.get(task).features_title),
            ("qc", "QC"),
            ("validation", "validation"),
        )
    )
    return (
        "<header>\n<h1>motorflow run summary</h1>\n"
        f'<p class="note">{esc(tasks.get(task).title)}. Aggregate results only: no video frames or '
        "previews are embedded.</p>\n"
        + kv_table(rows, table_id="run")
        + '<p class="note">The exact lineage of every result (sha256, rule, inputs, params, '
        "code and package versions) is in <code>results/lineage.json</code>; "
        "<code>motorflow audit</code> checks the files against it.</p>\n"
        f"<nav>{nav}</nav>\n</header>"
    )


def _metrics_section(summary: Mapping, models: Sequence[str]) -> str:
    metrics, majority = summary["metrics"], summary.get("majority_rate", {})
    counts, alpha = summary.get("n", {}), float(summary.get("alpha", 0.05))
    shown = [m for m in TABLE_METRICS if m[0] != "qwk" or summary.get("ordinal", True)]
    head = ["model", "level", "n", *(title for _, title in shown), "majority-class rate (%)"]
    head.append("accuracy CI above majority?")
    body = []
    for model in models:
        for level in ev.summary_levels(summary):
            values = metrics[model].get(level, {})
            low = ev._get(values, "accuracy", "ci_low")
            rate = ev._get(majority, model, level)
            above = math.isfinite(low) and math.isfinite(rate) and low > rate
            cells = [
                td(model),
                td(level),
                td(counts.get(model, {}).get(level, "n/a"), num=True),
                *(
                    _stat_td(ev._cell(values.get(name), percent=name in ev.PERCENT_METRICS))
                    for name, _ in shown
                ),
                td(ev._fmt(100 * rate, 1), num=True),
                td("yes" if above else "no"),
            ]
            row = f'<tr data-model="{esc(model)}" data-level="{esc(level)}">'
            body.append(row + "".join(cells) + "</tr>")
    comparisons = [row for row in summary.get("comparison", []) if row["model"] in models]
    if comparisons:
        items = "".join(f"<li>{esc(ev.comparison_line(row))}</li>" for row in comparisons)
        paired = (
            f'<ul id="comparisons">{items}</ul>\n<p class="caption">Test: '
            f"{esc(ev.MCNEMAR_TEST)}; Δaccuracy CI: paired bootstrap over the subjects scored "
            "by both models.</p>"
        )
    else:
        paired = (
            f'<p id="comparisons">None: the baseline {esc(summary.get("baseline", "?"))} was not '
            "evaluated.</p>"
        )
    return (
        '<section id="metrics">\n<h2>Metrics</h2>\n'
        f'<p class="caption">Cells: mean ± SD over splits [{100 * (1 - alpha):g} % '
        "subject-bootstrap CI of the pooled out-of-fold predictions]; percent for accuracy, "
        "balanced accuracy and macro F1. Subject level: video probabilities averaged per "
        "subject"
        + (
            "; visit level: per subject and session (the sheet's session column)"
            if "visit" in ev.summary_levels(summary)
            else ""
        )
        + ". n: scored videos, visits or subjects. The majority-class rate is the accuracy of "
        "always predicting the most frequent label.</p>\n"
        + html_table(head, body, table_id="metrics-table")
        + _excluded_note(summary, models)
        + f"<h3>Paired comparisons with the baseline ({esc(summary.get('baseline', '?'))})</h3>\n"
        + paired
        + "\n</section>"
    )


def _excluded_note(summary: Mapping, models: Sequence[str]) -> str:
    """Subjects (visits) left out of an aggregated level: their videos' labels differ."""
    notes = ev.excluded_notes(summary, models)
    if not notes:
        return ""
    items = "".join(f"<li>{esc(note)}</li>" for note in notes)
    return (
        '<p class="caption">A label belongs to a recording (visit): a subject whose visits '
        "carry different labels has no subject-level label and is left out of the subject "
        "level (its videos and visits count at those levels).</p>\n"
        f'<ul id="excluded">{items}</ul>\n'
    )


def _folds_section(results: Path, models: Sequence[str], splits: Sequence[str]) -> str:
    head = ["model", "split", "test subjects", "test videos", "accuracy (%)", "macro F1 (%)"]
    body = []
    for model in models:
        for split in splits:
            path = Layout(results).fold_metrics(model, split)
            fold = _read_json(path, f"metrics of {model} on {split}")
            subject = fold["subject"]
            body.append(
                f'<tr data-model="{esc(model)}" data-split="{esc(split)}">'
                + td(model)
                + td(split)
                + td(fold["n_subjects"], num=True)
                + td(fold["n_videos"], num=True)
                + td(_percent(subject.get("accuracy")), num=True)
                + td(_percent(subject.get("macro_f1")), num=True)
                + "</tr>"
            )
    return (
        '<section id="folds">\n<h2>Per-fold results (subject level)</h2>\n'
        '<p class="caption">Each split\'s model on its own test subjects.</p>\n'
        + html_table(head, body, table_id="fold-table")
        + "</section>"
    )


def _confusion_section(results: Path, models: Sequence[str]) -> str:
    figures = [
        _figure(
            Layout(results).confusion(model),
            f"confusion-{model}",
            f"{model}: subject-level confusion matrix",
            f"{model}: rows true, columns predicted; colour row-normalised, numbers subjects.",
        )
        for model in models
    ]
    return (
        '<section id="confusion">\n<h2>Confusion matrices (subject level, pooled '
        'out-of-fold)</h2>\n<div class="grid">\n' + "\n".join(figures) + "\n</div>\n</section>"
    )


def _calibration_section(summary: Mapping, models: Sequence[str]) -> str:
    """ECE before/after calibration and the reliability diagrams (drawn here)."""
    from motorflow import calibration, plots

    cal = {m: summary["calibration"][m] for m in models if m in summary.get("calibration", {})}
    if not cal:
        return (
            '<section id="calibration">\n<h2>Calibration</h2>\n<p class="caption">Not '
            "recorded: this run's evaluation summary predates calibration.</p>\n</section>"
        )
    body = []
    for model, rec in cal.items():
        cells = [td(model), td(_value(rec.get("temperature")), num=True)]
        for level in ("video", "subject"):
            ece = rec.get("ece", {}).get(level, {})
            cells += [td(_percent(ece.get("before")), num=True),
                      td(_percent(ece.get("after")), num=True)]  # fmt: skip
        cells.append(td(rec.get("method", "temperature")))
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = ["model", "temperature", "ECE video, as trained", "ECE video, calibrated",
            "ECE subject, as trained", "ECE subject, calibrated", "method"]  # fmt: skip
    buffer = io.BytesIO()
    plots.reliability_figure(cal, buffer, level="subject")
    img = img_tag(buffer.getvalue(), "reliability diagrams, subject level", "fig-reliability")
    return (
        '<section id="calibration">\n<h2>Calibration</h2>\n'
        + html_table(head, body, table_id="calibration-table")
        + f"<figure>{img}<figcaption>Expected calibration error of the top label (10 bins) "
        "on the out-of-fold predictions, as trained and after calibration fitted on the other "
        "test splits of the same repeat (cross-fitted, no leakage): temperature scaling, or "
        "per-class isotonic maps where every class has at least "
        f"{calibration.ISOTONIC_MIN_PER_CLASS} predictions and they give the lower "
        "cross-fitted NLL (method); the temperature shown is the one fitted on all of them. "
        "Reliability: accuracy against confidence per bin, subject level.</figcaption>"
        "</figure>\n</section>"
    )


def _interpret_section(results: Path, models: Sequence[str]) -> str:
    figures = [
        _figure(
            Layout(results).importance(model),
            f"importance-{model}",
            f"{model} importance",
            caption,
        )
        for model, caption in INTERPRET.items()
        if model in models
    ]
    body = (
        '<div class="grid">\n' + "\n".join(figures) + "\n</div>"
        if figures
        else '<p class="note">No interpretation figure: neither stgcn nor a feature baseline '
        "ran.</p>"
    )
    return f'<section id="interpretability">\n<h2>Interpretability</h2>\n{body}\n</section>'


def _gait_section(results: Path, cohort: pd.DataFrame, labels: Sequence[str]) -> str:
    from motorflow import plots

    ok = cohort[cohort["status"].astype(str) == "ok"] if "status" in cohort else cohort
    curve_files = {}
    for video_id in cohort["video_id"].astype(str):
        path = Layout(results).curves(video_id)
        if not path.is_file():
            raise FileNotFoundError(f"summary page: missing input {path} (gait curves)")
        curve_files[video_id] = path
    used = ok["video_id"].astype(str)
    buffer = io.BytesIO()
    drawn = plots.cohort_gait_curves_figure(
        {v: curve_files[v] for v in used},
        dict(zip(used, ok["label"].astype(str), strict=True)),
        buffer,
        label_order=[str(label) for label in labels],
    )
    counts = ", ".join(f"{label}: {n}" for label, n in drawn.items())
    img = img_tag(buffer.getvalue(), "cohort gait curves per label", "fig-gait-curves")
    return (
        '<section id="features">\n<h2>Gait curves per label</h2>\n'
        f"<figure>{img}<figcaption>Cycle-normalised sagittal hip, knee and ankle angles (0 % "
        "= initial contact): per label, the mean ± 1 SD over videos of each video's mean cycle "
        f"(both sides). Videos with gait features per label: {esc(counts)}.</figcaption>"
        "</figure>\n</section>"
    )


def _movement_section(results: Path) -> str:
    figure = _figure(
        Layout(results).movement_figure,
        "movement-features",
        "general-movement features per class",
        "Whole-body general-movement features per class, one point per video.",
    )
    return f'<section id="features">\n<h2>Movement features per class</h2>\n{figure}\n</section>'


def _qc_section(qc: pd.DataFrame) -> str:
    excluded = qc["excluded"].map(_as_bool) if "excluded" in qc else pd.Series(False, qc.index)
    reasons = qc.loc[excluded, "reason"] if "reason" in qc else pd.Series(dtype=str)
    rows = [
        ("videos", str(len(qc))),
        ("included by the QC", str(int((~excluded).sum()))),
        ("excluded by the QC", str(int(excluded.sum()))),
    ]
    parts = [kv_table(rows, table_id="qc-counts")]
    parts.append(_reason_table(reasons, "qc-reasons", "No video was excluded by the QC."))
    if excluded.any():
        stage = qc["excluded_stage"] if "excluded_stage" in qc else pd.Series("", qc.index)
        body = [
            f"<tr>{td(v)}{td(st if isinstance(st, str) and st else 'clean')}{td(why)}</tr>"
            for v, st, why in zip(
                qc.loc[excluded, "video_id"], stage[excluded], reasons, strict=True
            )  # fmt: skip
        ]
        parts.append(html_table(["video", "stage", "reason"], body, table_id="qc-excluded"))
    if "features_status" in qc:
        failed = qc["features_status"].astype(str) != "ok"
        parts.append(
            f'<p class="caption">Features stage: {int((~failed).sum())} videos with features, '
            f"{int(failed.sum())} without.</p>"
        )
        parts.append(
            _reason_table(
                qc.loc[failed, "features_reason"], "feature-reasons", "Every video has features."
            )
        )
    return (
        '<section id="qc">\n<h2>Quality control</h2>\n<p class="caption">Cleaning (and video '
        "preprocessing) QC decides which videos the models see; excluded videos keep their "
        "reason in <code>results/qc/summary.tsv</code>.</p>\n" + "\n".join(parts) + "\n</section>"
    )


def _validation_section(results: Path) -> str:
    parts = []
    for name, title in VALIDATION.items():
        path = Layout(results).validation(name)
        if not path.is_file():
            continue
        record = _read_json(path, title)
        flat = _flatten(record)
        verdict = "all goals met" if record.get("passed") else "goal missed"
        if "passed" not in record:
            verdict = "no goals"
        head = f"{title}: {verdict}, {record.get('n_videos', '?')} videos"
        rows = [(key, _value(value)) for key, value in flat]
        parts.append(
            f"<details{' open' if len(rows) <= 16 else ''}><summary>{esc(head)}</summary>"
            + kv_table(rows, table_id=f"validation-{name}")
            + "</details>"
        )
    body = "\n".join(parts) or '<p class="note">No validation (not a synthetic cohort).</p>'
    return f'<section id="validation">\n<h2>Validation</h2>\n{body}\n</section>'


# --------------------------------------------------------------------------- HTML helpers


# Page pieces, shared with the per-recording reports (motorflow.recording_report).
def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def td(value: object, *, num: bool = False) -> str:
    return f'<td class="num">{esc(value)}</td>' if num else f"<td>{esc(value)}</td>"


def _stat_td(text: str) -> str:
    """A "mean ± SD [low, high]" cell that may wrap before the CI only (the table fits)."""
    parts = text.split(" [", 1)
    if len(parts) == 1:
        return td(text, num=True)
    return f'<td class="stat"><span>{esc(parts[0])}</span> <span>[{esc(parts[1])}</span></td>'


def html_table(head: Sequence[str], body: Sequence[str], *, table_id: str) -> str:
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    rows = "\n".join(body)
    return (
        f'<table id="{table_id}">\n<thead><tr>{header}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table>\n"
    )


def kv_table(rows: Sequence[tuple[str, str]], *, table_id: str) -> str:
    body = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv" id="{table_id}">\n<tbody>\n{body}\n</tbody>\n</table>\n'


def _reason_table(reasons: pd.Series, table_id: str, none: str) -> str:
    counts = reasons.fillna("").astype(str).replace("", "(no reason recorded)").value_counts()
    if counts.empty:
        return f'<p class="caption" id="{table_id}">{esc(none)}</p>'
    body = [f"<tr>{td(reason)}{td(int(n), num=True)}</tr>" for reason, n in counts.items()]
    return html_table(["reason", "videos"], body, table_id=table_id)


def img_tag(png: bytes, alt: str, img_id: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{esc(img_id)}" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _figure(path: Path, img_id: str, alt: str, caption: str) -> str:
    """An embedded PNG; only the aggregate figures named in this module ever get here."""
    if not path.is_file():
        raise FileNotFoundError(f"summary page: missing input {path} ({alt})")
    png = path.read_bytes()
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG image")
    return f"<figure>{img_tag(png, alt, img_id)}<figcaption>{esc(caption)}</figcaption></figure>"


# --------------------------------------------------------------------------- reading


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"summary page: missing input {path} ({what})")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"summary page: missing input {path} ({what})")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t", keep_default_na=False)


def _flatten(record: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    """Nested validation summaries as (dotted key, value) rows, lists left out (per video)."""
    out: list[tuple[str, object]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _flatten(value, f"{name}.")
        elif not isinstance(value, list):
            out.append((name, value))
    return out


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return str(value)


def _percent(value: float | None) -> str:
    return ev._fmt(None if value is None else 100 * float(value), 1)


def _as_bool(value: object) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _natural_key(name: str) -> list:
    """fold2 before fold10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
