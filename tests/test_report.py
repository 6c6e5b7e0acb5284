"""The standalone summary page (motorflow.report): content checked against its sources on a
small fake run, and the page as a browser draws it (headless Chromium)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from motorflow import cli, evaluate, gradcam, plots, report
from motorflow.features.curves import JOINTS3, N_POINTS, SIDES

LABELS = ["I", "II", "III", "IV"]
MODELS = ["stgcn", "gait_baseline"]
SPLITS = ["fold0", "fold1", "fold2"]
SUBJECTS = [f"syn{label}{i:02d}" for label in LABELS for i in range(1, 4)]  # 3 per label
EXCLUDED = "synII02_v1"  # dropped by the cleaning QC
NO_FEATURES = "synIV03_v2"  # no gait cycles found
PREVIEW = b"\x89PNG\r\n\x1a\n-a-video-frame-preview-"  # must never reach the page
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


# --------------------------------------------------------------------------- a fake run


def _label(subject: str) -> str:
    return re.fullmatch(r"syn([IV]+)\d\d", subject).group(1)


def _videos() -> list[tuple[str, str, str]]:
    return [(f"{s}_v{k}", s, _label(s)) for s in SUBJECTS for k in (1, 2)]


def _predictions(model: str, rng: np.random.Generator) -> pd.DataFrame:
    """Out-of-fold predictions: subject i tested in fold i % 3; stgcn right more often."""
    p_right = {"stgcn": 0.75, "gait_baseline": 0.5}[model]
    rows = []
    for video_id, subject, label in _videos():
        if video_id == EXCLUDED:
            continue
        fold = SUBJECTS.index(subject) % len(SPLITS)
        pred = label if rng.random() < p_right else rng.choice([x for x in LABELS if x != label])
        probs = {f"prob_{x}": 0.7 if x == pred else 0.1 for x in LABELS}
        rows.append(
            {"video_id": video_id, "subject_id": subject, "label": label, "pred": pred, **probs,
             "split": f"fold{fold}", "repeat": 0, "fold": fold}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _curves(label: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Cycle curves whose knee flexion rises with the level (like crouch gait)."""
    x = np.linspace(0, 2 * np.pi, N_POINTS)
    level = LABELS.index(label)
    base = {
        "hip": 15 * np.cos(x),
        "knee": 10 * level + 25 * np.sin(x / 2) ** 2,
        "ankle": 8 * np.sin(x),
    }
    out = {}
    for joint in JOINTS3:
        for side in SIDES:
            out[f"{joint}_{side}"] = base[joint] + rng.normal(0, 1.0, (3, N_POINTS))
    out["mean"] = np.stack([np.stack([out[f"{j}_{s}"].mean(0) for j in JOINTS3]) for s in SIDES])
    return out


def make_run(root: Path, *, ordinal: bool = True) -> Path:
    """A finished run's results/ folder, written by the functions the workflow uses."""
    rng = np.random.default_rng(3)
    results = root / "results"
    paths: dict[str, list[Path]] = {}
    for model in MODELS:
        preds = _predictions(model, rng)
        for split in SPLITS:
            out = results / "eval" / model / split
            out.mkdir(parents=True)
            preds[preds["split"] == split].to_csv(out / "predictions.tsv", sep="\t", index=False)
            evaluate.write_fold_metrics(out / "predictions.tsv", LABELS, out / "metrics.json")
            paths.setdefault(model, []).append(out / "predictions.tsv")
    result = evaluate.summarise_files(
        paths, LABELS, n_boot=50, seed=1, baseline="stgcn", ordinal=ordinal
    )
    result["task"] = "gait"  # as the workflow's aggregate_metrics records it
    evaluate.write_summary(result, results / "metrics.json", results / "eval")

    gradcam.plot_skeleton_importance(
        np.linspace(0.01, 0.1, len(gradcam.JOINT_NAMES)), results / "interpret/stgcn/importance.png"
    )
    tables = []
    for split in SPLITS:
        table = results / "train" / "gait_baseline" / split / "importance.tsv"
        table.parent.mkdir(parents=True)
        importance = pd.DataFrame(
            {
                "feature": ["cadence", "knee_rom", "step_length"],
                "importance": rng.dirichlet([3, 2, 1]),
            }
        )
        importance.to_csv(table, sep="\t", index=False)
        tables.append(table)
    plots.feature_importance_figure(
        tables,
        results / "interpret/gait_baseline/importance.tsv",
        results / "interpret/gait_baseline/importance.png",
    )

    features, qc = [], []
    (results / "features" / "figures").mkdir(parents=True)
    for video_id, subject, label in _videos():
        np.savez_compressed(results / "features" / f"{video_id}.curves.npz", **_curves(label, rng))
        # Per-video figures exist in a run but are not cohort figures: not on the page.
        (results / "features" / "figures" / f"{video_id}.png").write_bytes(PREVIEW)
        failed = video_id in (EXCLUDED, NO_FEATURES)
        features.append({"video_id": video_id, "subject_id": subject, "label": label,
                         "status": "failed" if failed else "ok"})  # fmt: skip
        qc.append({
            "video_id": video_id,
            "excluded": video_id == EXCLUDED,
            "reason": "detection rate 0.41 < 0.5" if video_id == EXCLUDED else "",
            "features_status": "failed" if failed else "ok",
            "features_reason": {EXCLUDED: "excluded by the cleaning QC",
                                NO_FEATURES: "no complete gait cycle"}.get(video_id, ""),
        })  # fmt: skip
    pd.DataFrame(features).to_parquet(results / "features" / "features.parquet")
    (results / "qc").mkdir()
    pd.DataFrame(qc).to_csv(results / "qc" / "summary.tsv", sep="\t", index=False)
    (results / "align" / "previews").mkdir(parents=True)
    (results / "align" / "previews" / "synI01_v1.png").write_bytes(PREVIEW)
    (results / "validation").mkdir()
    pose = {"goal_met": {"detection_rate": True, "mean_error_pct": False},
            "median": {"detection_rate": 0.9912, "mean_error_pct": 3.456789},
            "n_videos": 24, "passed": False}  # fmt: skip
    (results / "validation" / "pose_accuracy.json").write_text(json.dumps(pose))
    return results


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def page(run: Path) -> str:
    out = report.render_summary(
        run, run / "report" / "summary.html", models=MODELS, splits=SPLITS, task="gait",
        labels=LABELS,
    )  # fmt: skip
    return out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- HTML parsing


class Tables(HTMLParser):
    """Rows (cell texts and row attributes) of every table with an id; every <img>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[dict, list[str]]]] = {}
        self.headers: dict[str, list[str]] = {}
        self.images: list[dict] = []
        self._table: str | None = None
        self._row: tuple[dict, list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self._table = attrs["id"]
            self.tables[self._table], self.headers[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table:
            self._row = (attrs, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.headers[self._table] if self._in_head else self._row[1]).append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if not self._in_head:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    return parser


def fmt(value: float, digits: int) -> str:
    """Independent of evaluate's helpers: fixed digits, a true minus sign."""
    text = f"{value:.{digits}f}"
    return text.replace("-", "\u2212") if float(text) != 0 else text.lstrip("-")


def cell(stats: dict, percent: bool) -> str:
    scale, digits = (100, 1) if percent else (1, 3)
    mean, sd, low, high = (
        fmt(scale * stats[k], digits) for k in ("mean", "std", "ci_low", "ci_high")
    )
    return f"{mean} ± {sd} [{low}, {high}]"


# --------------------------------------------------------------------------- unit tests


def test_metrics_table_has_one_row_per_model_and_level_with_the_summary_numbers(run, page):
    result = json.loads((run / "eval" / "summary.json").read_text())
    doc = parse(page)
    header = doc.headers["metrics-table"]
    rows = {(a["data-model"], a["data-level"]): dict(zip(header, c, strict=True))
            for a, c in doc.tables["metrics-table"]}  # fmt: skip
    assert list(rows) == [(m, level) for m in MODELS for level in ("video", "subject")]
    assert len(doc.tables["metrics-table"]) == len(rows)
    for (model, level), row in rows.items():
        values = result["metrics"][model][level]
        assert row["model"] == model and row["level"] == level
        assert row["n"] == str(result["n"][model][level])
        assert row["accuracy (%)"] == cell(values["accuracy"], percent=True)
        assert row["balanced accuracy (%)"] == cell(values["balanced_accuracy"], percent=True)
        assert row["macro F1 (%)"] == cell(values["macro_f1"], percent=True)
        assert row["MCC"] == cell(values["mcc"], percent=False)
        assert row["Cohen's κ"] == cell(values["cohen_kappa"], percent=False)
        assert row["QWK"] == cell(values["qwk"], percent=False)
        rate = result["majority_rate"][model][level]
        assert row["majority-class rate (%)"] == fmt(100 * rate, 1)
        above = values["accuracy"]["ci_low"] > rate
        assert row["accuracy CI above majority?"] == ("yes" if above else "no")
    # 12 subjects, 3 per label; one video excluded but its subject keeps the other video.
    assert rows[("stgcn", "subject")]["n"] == "12" and rows[("stgcn", "video")]["n"] == "23"
    assert rows[("stgcn", "subject")]["majority-class rate (%)"] == "25.0"
    # The paired comparison with the baseline, as evaluate words it.
    (comparison,) = result["comparison"]
    assert comparison["model"] == "gait_baseline"
    assert evaluate.comparison_line(comparison).replace("'", "&#x27;") in page


def test_qwk_is_shown_only_for_ordered_labels(tmp_path):
    results = make_run(tmp_path, ordinal=False)
    out = report.render_summary(
        results, tmp_path / "s.html", models=MODELS, splits=SPLITS, task="gait", labels=LABELS
    )
    doc = parse(out.read_text(encoding="utf-8"))
    header = doc.headers["metrics-table"]
    assert "QWK" not in header and "MCC" in header and "Cohen's κ" in header
    assert all(len(cells) == len(header) for _, cells in doc.tables["metrics-table"])
    assert doc.tables["run"][1][1] == ["labels", "I, II, III, IV"]


def test_per_fold_rows_come_from_each_splits_metrics(run, page):
    doc = parse(page)
    rows = {(a["data-model"], a["data-split"]): c for a, c in doc.tables["fold-table"]}
    assert list(rows) == [(m, s) for m in MODELS for s in SPLITS]
    for (model, split), cells in rows.items():
        fold = json.loads((run / "eval" / model / split / "metrics.json").read_text())
        preds = pd.read_csv(run / "eval" / model / split / "predictions.tsv", sep="\t")
        assert cells[:2] == [model, split]
        assert cells[2] == str(preds["subject_id"].nunique()) == str(fold["n_subjects"])
        assert cells[3] == str(len(preds))
        assert cells[4] == f"{100 * fold['subject']['accuracy']:.1f}"
        assert cells[5] == f"{100 * fold['subject']['macro_f1']:.1f}"


def test_figures_are_embedded_pngs_and_nothing_else(run, page):
    doc = parse(page)
    ids = [img["id"] for img in doc.images]
    assert ids == [
        "confusion-stgcn",
        "confusion-gait_baseline",
        "fig-reliability",
        "importance-stgcn",
        "importance-gait_baseline",
        "fig-gait-curves",
    ]
    sources = {
        "confusion-stgcn": run / "eval" / "stgcn_confusion_subject.png",
        "confusion-gait_baseline": run / "eval" / "gait_baseline_confusion_subject.png",
        "importance-stgcn": run / "interpret" / "stgcn" / "importance.png",
        "importance-gait_baseline": run / "interpret" / "gait_baseline" / "importance.png",
    }
    for img in doc.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix) :], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        if img["id"] in sources:
            assert png == sources[img["id"]].read_bytes()
        assert img["alt"]
    assert "Videos with gait features per label: I: 6, II: 5, III: 6, IV: 5." in page
    # Privacy: previews and per-video figures are never embedded.
    assert base64.b64encode(PREVIEW).decode()[:24] not in page


def test_calibration_table_shows_the_summarys_ece(run, page):
    result = json.loads((run / "eval" / "summary.json").read_text())
    rows = {cells[0]: cells for _, cells in parse(page).tables["calibration-table"]}
    assert list(rows) == MODELS
    for model, cells in rows.items():
        rec = result["calibration"][model]
        assert cells[1] == f"{rec['temperature']:.4g}"
        ece = rec["ece"]
        expected = [ece[lv][k] for lv in ("video", "subject") for k in ("before", "after")]
        assert cells[2:6] == [fmt(100 * v, 1) for v in expected]
        assert cells[6] == rec["method"]


def test_page_references_no_external_resource(page):
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(script|link|iframe|object|embed)\b", page, re.I)
    assert "url(" not in page and "@import" not in page
    for ref in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page):
        assert ref.startswith(("data:image/png;base64,", "#")), ref[:60]


def test_header_qc_and_validation(page):
    doc = parse(page)
    run_rows = {cells[0]: cells[1] for _, cells in doc.tables["run"]}
    assert run_rows["cohort"].startswith("24 videos of 12 subjects")
    assert "I: 3, II: 3, III: 3, IV: 3" in run_rows["cohort"]
    assert run_rows["models"] == "stgcn, gait_baseline"
    assert run_rows["motorflow version"] == report.__version__
    assert "results/lineage.json" in page and "motorflow audit" in page
    qc_rows = {cells[0]: cells[1] for _, cells in doc.tables["qc-counts"]}
    assert qc_rows == {"videos": "24", "included by the QC": "23", "excluded by the QC": "1"}
    assert [c for _, c in doc.tables["qc-reasons"]] == [["detection rate 0.41 < 0.5", "1"]]
    # Every excluded recording by name, with its stage (a summary without the column: clean).
    assert [c for _, c in doc.tables["qc-excluded"]] == [
        [EXCLUDED, "clean", "detection rate 0.41 < 0.5"]
    ]
    assert sorted(c[0] for _, c in doc.tables["feature-reasons"]) == [
        "excluded by the cleaning QC",
        "no complete gait cycle",
    ]
    pose = {cells[0]: cells[1] for _, cells in doc.tables["validation-pose_accuracy"]}
    assert pose["goal_met.mean_error_pct"] == "no"
    assert pose["median.mean_error_pct"] == "3.457"
    assert "goal missed, 24 videos" in page
    assert "validation-feature_accuracy" not in doc.tables  # absent file: no table


def test_cohort_gait_curves_per_label(run, tmp_path):
    table = pd.read_parquet(run / "features" / "features.parquet")
    ok = table[table["status"] == "ok"]
    files = {v: run / "features" / f"{v}.curves.npz" for v in ok["video_id"]}
    nan_video = tmp_path / "nan.curves.npz"
    np.savez(nan_video, mean=np.full((2, 3, N_POINTS), np.nan))
    files["synI01_nan"] = nan_video
    labels = dict(zip(ok["video_id"], ok["label"], strict=True)) | {"synI01_nan": "I"}
    drawn = plots.cohort_gait_curves_figure(files, labels, tmp_path / "c.png", label_order=LABELS)
    assert drawn == {"I": 6, "II": 5, "III": 6, "IV": 5}  # one excluded, one without cycles
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG" and im.width > 1000


def test_video_mean_curve_weighs_sides_equally_and_keeps_one_sided_walks():
    left = np.full((3, N_POINTS), 10.0)
    right = np.full((3, N_POINTS), 30.0)
    both = plots.video_mean_curve({"mean": np.stack([left, right])})
    np.testing.assert_allclose(both, 20.0)
    one = plots.video_mean_curve({"mean": np.stack([left, np.full_like(right, np.nan)])})
    np.testing.assert_allclose(one, 10.0)
    # Without the stored means: each side's cycles averaged first (3 vs 1 cycles).
    curves = {f"{j}_left": np.zeros((3, N_POINTS)) for j in JOINTS3}
    curves |= {f"{j}_right": np.full((1, N_POINTS), 8.0) for j in JOINTS3}
    np.testing.assert_allclose(plots.video_mean_curve(curves), 4.0)


@pytest.mark.parametrize(
    "missing",
    [
        "eval/summary.json",
        "eval/gait_baseline/fold2/metrics.json",
        "eval/stgcn_confusion_subject.png",
        "interpret/stgcn/importance.png",
        "features/synIII01_v2.curves.npz",
        "features/features.parquet",
        "qc/summary.tsv",
    ],
)
def test_a_missing_input_is_named(run, tmp_path, missing):
    results = shutil.copytree(run, tmp_path / "results")
    (results / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(results / missing))):
        report.render_summary(
            results, tmp_path / "s.html", models=MODELS, splits=SPLITS, task="gait", labels=LABELS
        )
    assert not (tmp_path / "s.html").exists()


def test_infant_task_embeds_the_movement_figure(run, tmp_path):
    results = shutil.copytree(run, tmp_path / "results")
    with pytest.raises(FileNotFoundError, match="movement_features.png"):
        report.render_summary(
            results, tmp_path / "s.html", models=MODELS, splits=SPLITS, task="infant",
            labels=LABELS,
        )  # fmt: skip
    figure = results / "features" / "figures" / "movement_features.png"
    shutil.copy(results / "interpret" / "gait_baseline" / "importance.png", figure)
    out = report.render_summary(
        results, tmp_path / "s.html", models=MODELS, splits=SPLITS, task="infant", labels=LABELS
    )
    doc = parse(out.read_text(encoding="utf-8"))
    assert [i["id"] for i in doc.images][-1] == "movement-features"
    assert "fig-gait-curves" not in {i["id"] for i in doc.images}
    assert "Paper B" in doc.tables["run"][0][1][1]


def test_cli_discovers_the_run(run, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert cli.main(["summary", "--results", str(run), "--output", str(out)]) == 0
    assert "gait task" in capsys.readouterr().out
    doc = parse(out.read_text(encoding="utf-8"))
    keys = [(a["data-model"], a["data-split"]) for a, _ in doc.tables["fold-table"]]
    assert keys == [(m, s) for m in sorted(MODELS) for s in SPLITS]  # summary.json's order
    assert cli.main(["summary", "--results", str(tmp_path / "none")]) == 1


def test_cli_takes_the_task_from_the_run_record_not_from_its_files(run, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(run, old)
    record = json.loads((old / "eval" / "summary.json").read_text())
    record["task"] = "infant"
    (old / "eval" / "summary.json").write_text(json.dumps(record))
    figure = old / "features" / "figures" / "movement_features.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(old / "interpret" / "gait_baseline" / "importance.png", figure)
    out = tmp_path / "page.html"
    # The gait curves are still there: the record decides.
    assert cli.main(["summary", "--results", str(old), "--output", str(out)]) == 0
    assert "infant task" in capsys.readouterr().out
    del record["task"]  # a run recorded before the task was: the user is asked for it
    (old / "eval" / "summary.json").write_text(json.dumps(record))
    assert cli.main(["summary", "--results", str(old), "--output", str(out)]) == 1
    assert "records no task; pass --task" in capsys.readouterr().err
    assert cli.main(["summary", "--results", str(old), "--output", str(out), "--task", "gait"]) == 0


# --------------------------------------------------------------------------- in a browser

# Colours that only the figures draw: the confusion matrices' Blues at full share, the
# Grad-CAM viridis at top importance, two of the gait-curve label colours (Dark2), and the
# reliability diagram's "after calibration" line.
FIGURE_COLOURS = {
    "confusion (Blues)": (8, 48, 107),
    "reliability, after": (0x4C, 0x72, 0xB0),
    "Grad-CAM (viridis)": (253, 231, 37),
    "gait curves, level I": (27, 158, 119),
    "gait curves, level II": (217, 95, 2),
}
WIDTH, HEIGHT = 1400, 5200


def chromium(html: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make browser` installs Debian's chromium")
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
         f"--user-data-dir={tmp / 'profile'}", f"--window-size={WIDTH},{HEIGHT}", *extra,
         html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip


def screenshot(html: Path, tmp: Path) -> np.ndarray:
    png = tmp / f"{html.stem}.png"
    chromium(html, tmp, f"--screenshot={png}")
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.size == (WIDTH, HEIGHT)
        return np.asarray(im.convert("RGB"), dtype=np.int32)


def near(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= tol).sum())


def saturated(pixels: np.ndarray) -> int:
    return int((pixels.max(axis=-1) - pixels.min(axis=-1) > 90).sum())


@pytest.mark.slow
def test_page_renders_in_headless_chromium(page, tmp_path):
    html = tmp_path / "summary.html"
    html.write_text(page, encoding="utf-8")
    bare = tmp_path / "bare.html"  # the same page without its figures
    bare.write_text(re.sub(r"<img\b[^>]*>", "", page), encoding="utf-8")

    dom = chromium(html, tmp_path, "--dump-dom").stdout
    doc = parse(dom)
    assert len(doc.tables["metrics-table"]) == len(MODELS) * 2
    assert len(doc.tables["fold-table"]) == len(MODELS) * len(SPLITS)
    # Confusion matrices, keypoint importance, gait curves and the reliability diagrams.
    assert len(doc.images) == 6
    assert "fig-reliability" in {im["id"] for im in doc.images}

    shot, blank = screenshot(html, tmp_path), screenshot(bare, tmp_path)
    assert (shot[-40:] == 255).all(), f"the page is taller than {HEIGHT} px"
    assert (shot[:, -20:] == 255).all(), f"the page is wider than {WIDTH} px"
    # The page's own CSS draws greys only; every strongly coloured pixel is a figure's.
    assert saturated(blank) < 50
    assert saturated(shot) > 20_000
    for what, rgb in FIGURE_COLOURS.items():
        assert near(blank, rgb) == 0, what
        assert near(shot, rgb) > 150, f"{what}: {near(shot, rgb)} pixels"
    # The text is drawn too (dark pixels in both, in the table area).
    assert (blank[:1200].sum(-1) < 200).sum() > 2000


_OPENED: list[str] | None = None


def _record_open(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_record_open)  # audit hooks cannot be removed: it records only when asked


def _render_summary_inputs() -> list[re.Pattern]:
    """The input path patterns render_summary declares in workflow/rules/report.smk."""
    text = (Path(__file__).resolve().parents[1] / "workflow/rules/report.smk").read_text()
    block = text[text.index("rule render_summary:") : text.index("    output:")]
    return [
        re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
        for path in re.findall(r'"(results/[^"]+)"', block)
    ]


@pytest.mark.parametrize("task", ["gait", "infant"])
def test_the_page_reads_only_what_its_rule_declares(run, tmp_path, task):
    """Every file of the results tree the page opens is an input of render_summary, so that
    the DAG and the code cannot disagree (parquet tables are read by pyarrow, unseen)."""
    global _OPENED
    results = shutil.copytree(run, tmp_path / "results")
    figure = results / "features" / "figures" / "movement_features.png"
    shutil.copy(results / "interpret" / "gait_baseline" / "importance.png", figure)
    declared = _render_summary_inputs()
    _OPENED = []
    try:
        report.render_summary(
            results, tmp_path / "s.html", models=MODELS, splits=SPLITS, task=task, labels=LABELS
        )
        opened = sorted({p for p in _OPENED if Path(p).is_relative_to(results)})
    finally:
        _OPENED = None
    assert len(opened) > 10  # the recorder sees the page's reads
    rel = ["results/" + Path(p).relative_to(results).as_posix() for p in opened]
    undeclared = [p for p in rel if not any(d.match(p) for d in declared)]
    assert not undeclared, undeclared
