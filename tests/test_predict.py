"""motorflow predict without a run: inputs, the out-of-distribution check, calibration, the
bundle format (the end-to-end tests on a real run are in tests/test_workflow.py)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from motorflow import bundle as bundlelib
from motorflow import calibration, predict


def test_inputs_from_files_folders_and_sheets(tmp_path):
    (tmp_path / "walks").mkdir()
    for name in ("b.mp4", "a.csv", "notes.txt"):
        (tmp_path / "walks" / name).write_bytes(b"")
    op = tmp_path / "walks" / "child_openpose"
    op.mkdir()
    (op / "x_000_keypoints.json").write_text("{}")
    recs = predict.recordings([tmp_path / "walks"], fps=25.0)
    assert [r.recording_id for r in recs] == ["a", "b", "child_openpose"]
    assert [r.is_keypoints for r in recs] == [True, False, True]
    assert all(r.fps == 25.0 and r.subject_id == r.recording_id for r in recs)
    sheet = tmp_path / "new.tsv"
    pd.DataFrame(
        {"path": ["walks/b.mp4", "walks/a.csv"], "subject_id": ["P1", "P1"],
         "session": ["1", "2"], "date": ["2026-01-05", "2026-06-01"], "fps": ["", "30"]}
    ).to_csv(sheet, sep="\t", index=False)  # fmt: skip
    recs = predict.recordings([sheet])
    assert [r.subject_id for r in recs] == ["P1", "P1"]
    assert recs[0].path == str(tmp_path / "walks/b.mp4")  # relative to the sheet
    assert recs[0].fps is None and recs[1].fps == 30.0 and recs[1].date == "2026-06-01"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: [d / "empty"], "no videos or keypoint files"),
        (lambda d: [d / "x" / "a.mp4", d / "y" / "a.mp4"], "same id: a"),
        (lambda d: [d / "nopath.tsv"], "needs a 'path' column"),
    ],
)
def test_bad_inputs_are_named(tmp_path, make, message):
    (tmp_path / "empty").mkdir()
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "a.mp4").write_bytes(b"")
    (tmp_path / "nopath.tsv").write_text("video_id\tsubject_id\nv\ts\n")
    with pytest.raises(predict.PredictError, match=message):
        predict.recordings(make(tmp_path))


def _bundle(rows: pd.DataFrame, applied: bool = True, temperature: float = 2.0):
    rows = rows.assign(status="ok")
    manifest = {
        "model": "gait_baseline", "family": "features", "labels": ["I", "II"],
        "ood": bundlelib._ood(rows, list(rows.columns.drop("status"))),
        "calibration": {"applied": applied, "temperature": temperature},
        "ordinal": True, "levels": [1, 2],
    }  # fmt: skip
    return bundlelib.Bundle(manifest, {}, "test")


def test_out_of_distribution_flags_a_far_recording_and_not_a_typical_one():
    rng = np.random.default_rng(0)
    cov = [[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 1.0]]
    x = rng.multivariate_normal([100.0, 1.0, 50.0], cov, size=200) * [10, 0.1, 5]
    rows = pd.DataFrame(x, columns=["cadence", "speed", "knee"])
    b = _bundle(rows)
    typical = predict._ood(b, {"cadence": 1000.0, "speed": 0.1, "knee": 250.0})
    assert not typical["flag"] and typical["distance"] < typical["threshold"]
    # Each value within 2.5 SD, but against the strong cadence-speed correlation.
    odd = predict._ood(b, {"cadence": 1000 + 25.0, "speed": 0.1 - 0.25, "knee": 250.0})
    assert odd["flag"] and odd["distance"] > odd["threshold"] and not odd["extreme_features"]
    far = predict._ood(b, {"cadence": 2000.0, "speed": 0.1, "knee": 250.0})
    assert far["flag"] and far["extreme_features"] == ["cadence"]
    # Most features missing: not comparable, flagged with the reason.
    blank = predict._ood(b, {"cadence": 1000.0})
    assert (
        blank["flag"] and blank["distance"] is None and "2 of 3 features missing" in blank["note"]
    )
    # The threshold leaves the training videos themselves mostly unflagged.
    flagged = [predict._ood(b, r)["flag"] for r in rows.to_dict("records")]
    assert np.mean(flagged) <= 0.05


def test_calibration_is_applied_only_where_it_helped():
    raw = np.array([[0.9, 0.1]])
    soft = predict.calibrated(_bundle(pd.DataFrame({"a": [1.0] * 9}), temperature=2.0), raw)
    assert soft[0, 0] == pytest.approx(calibration.apply_temperature(raw, 2.0)[0, 0])
    assert 0.5 < soft[0, 0] < 0.9
    kept = predict.calibrated(_bundle(pd.DataFrame({"a": [1.0] * 9}), applied=False), raw)
    assert np.array_equal(kept, raw)
    uncalibrated = _bundle(pd.DataFrame({"a": [1.0] * 9}), applied=False)
    pred = predict._prediction(uncalibrated, np.array([0.7, 0.3]))
    assert pred["label"] == "I" and pred["expected_level"]["value"] == pytest.approx(1.3)
    assert pred["expected_level"]["low"] == "I" and pred["expected_level"]["high"] == "II"


def test_bundle_files_are_checked_on_load(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    blob = io.BytesIO()
    np.savez(blob, x=np.arange(3))
    members = {"reference.npz": blob.getvalue(), "model.pkl": b"weights"}
    manifest = {"format": bundlelib.FORMAT, "format_version": bundlelib.FORMAT_VERSION,
                "members": {k: bundlelib._sha256(v) for k, v in members.items()}}  # fmt: skip
    for name, data in members.items():
        (folder / name).write_bytes(data)
    (folder / "bundle.json").write_text(json.dumps(manifest))
    zipped = bundlelib.export(folder, tmp_path / "b.zip")
    assert bundlelib.export(folder, tmp_path / "again.zip").read_bytes() == zipped.read_bytes()
    assert bundlelib.load(zipped).members == bundlelib.load(folder).members == members
    (folder / "model.pkl").unlink()
    with pytest.raises(bundlelib.BundleError, match="member model.pkl is missing"):
        bundlelib.load(folder)
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(bundlelib.BundleError, match="not a bundle"):
        bundlelib.load(tmp_path / "plain.txt")
    manifest["format_version"] = 99
    (tmp_path / "b" / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(bundlelib.BundleError, match="bundle format 99"):
        bundlelib.load(folder)


def test_a_patient_report_orders_visits_by_date_and_averages_scored_ones():
    b = _bundle(pd.DataFrame({"a": [1.0] * 9}))
    b.manifest.update(
        task="gait", created_by={"git": {}, "motorflow": "x"},
        training={"n_subjects": 1, "n_videos": 1, "data_sha256": "0"},
        cross_validation={"metrics": {}},
        calibration={"applied": False, "temperature": 1.0, "reason": ""},
    )  # fmt: skip

    def rec(rid, date, probs):
        pred = {"probabilities": dict(zip(["I", "II"], probs, strict=True))} if probs else None
        return {"recording": {"recording_id": rid, "date": date, "session": ""},
                "status": "ok" if probs else "failed", "prediction": pred}  # fmt: skip

    out = predict.patient_record(
        b,
        "P1",
        [
            rec("late", "2026-09-01", [0.2, 0.8]),
            rec("bad", "2026-05-01", None),
            rec("early", "2026-01-01", [0.6, 0.4]),
        ],  # fmt: skip
    )
    assert [v["recording_id"] for v in out["visits"]] == ["early", "bad", "late"]
    assert out["mean_probabilities"] == pytest.approx({"I": 0.4, "II": 0.6})
    assert out["label"] == "II"


def test_pdf_export_prints_the_page_with_its_figures(tmp_path):
    from motorflow import recording_report
    from motorflow.report import img_tag

    if recording_report.pdf_browser() is None:
        pytest.fail("chromium is not installed: `make browser` installs Debian's chromium")
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    html = tmp_path / "report.html"
    html.write_text(
        "<html><body><h1>motorflow report</h1><table><tr><td>cadence</td><td>112</td></tr>"
        f"</table>{img_tag(buf.getvalue(), 'a figure', 'fig')}</body></html>"
    )
    pdf = recording_report.write_pdf(html, tmp_path / "out" / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 1  # one page
    assert b"/Subtype /Image" in data or b"/Subtype/Image" in data  # the figure is in it
    assert list((tmp_path / "out").iterdir()) == [pdf]  # no temporary left beside it
