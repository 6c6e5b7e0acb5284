"""Predict on new recordings with a bundle: pose → clean → features → model, with the bundle's
own settings, and a report per recording and per patient.

For each recording ``OUT/<recording>/`` holds the stages' files (keypoints, never frames),
``report.json`` and the self-contained ``report.html``; a patient with several recordings
gets ``OUT/patients/<subject>/report.{json,html}`` (each gait parameter and the predicted
level per visit).  A recording that cannot be read, shows nobody or is too short gets a
report that names it and the reason; the others still complete.

What a report states, and where it comes from:

* the class probabilities, calibrated with the bundle's temperature where calibration lowered
  the cross-fitted NLL of the out-of-fold predictions (else as the model gives them, and the
  report says so); for ordered labels the expected level with its 80 % interval;
* every gait parameter beside the training cohort's band per label (5/25/50/75/95 %);
* QC from the cleaning and features stages, and every NaN feature's reason;
* an out-of-distribution flag: robust z-scores per feature and a Ledoit-Wolf Mahalanobis
  distance against a threshold set on the training videos (leave-one-out);
* for the ST-GCN, the recording's Grad-CAM keypoint importance.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow import bundle as bundlelib
from motorflow import calibration, importers
from motorflow.features import gait as featlib
from motorflow.poseio import write_json

log = logging.getLogger(__name__)

# Inputs read as keypoint files (the `precomputed` pose backend); anything else is a video.
KEYPOINT_SUFFIXES = (".json", ".csv", ".pkl", ".pickle")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
SHEET_SUFFIXES = (".tsv",)
INTERVAL = 0.8  # coverage of the expected level's interval


class PredictError(ValueError):
    """An input that cannot be predicted on; names it and the reason."""


@dataclass
class Recording:
    recording_id: str
    path: str
    subject_id: str
    session: str = ""
    date: str = ""
    fps: float | None = None
    height_cm: float | None = None
    age_months: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def is_keypoints(self) -> bool:
        p = Path(importers.split_recording(self.path)[0])
        return p.is_dir() or p.suffix.lower() in KEYPOINT_SUFFIXES


# --------------------------------------------------------------------------- inputs


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "recording"


def _is_openpose_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*_keypoints.json"))


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def read_sheet(path: str | os.PathLike) -> list[Recording]:
    """Recordings of a TSV sheet without labels: ``path`` (required), ``video_id``,
    ``subject_id``, ``session``, ``date``, ``fps``, ``height_cm``, ``age_months``, ``width``,
    ``height``; relative paths are taken from the sheet's folder."""
    path = Path(path)
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PredictError(f"{path}: unreadable sheet ({err})") from err
    if "path" not in sheet.columns:
        raise PredictError(f"{path}: the sheet needs a 'path' column")
    out = []
    for _, row in sheet.iterrows():
        src = Path(row["path"])
        if not src.is_absolute() and not src.exists():
            src = path.parent / src
        rid = row.get("video_id") or Path(row["path"]).name.split(".")[0]
        w, h = _number(row.get("width")), _number(row.get("height"))
        out.append(
            Recording(
                recording_id=_safe_id(rid),
                path=str(src),
                subject_id=row.get("subject_id") or rid,
                session=row.get("session", ""),
                date=row.get("date", ""),
                fps=_number(row.get("fps")),
                height_cm=_number(row.get("height_cm")),
                age_months=_number(row.get("age_months")),
                width=int(w) if w else None,
                height=int(h) if h else None,
            )
        )
    if not out:
        raise PredictError(f"{path}: the sheet lists no recordings")
    return out


def recordings(inputs: Sequence[str | os.PathLike], **common) -> list[Recording]:
    """The recordings named by ``inputs``: videos, keypoint files, OpenPose folders, folders
    of those, or TSV sheets.  ``common`` (fps, height_cm, age_months, subject_id) applies to
    every recording not from a sheet."""
    out: list[Recording] = []
    for item in inputs:
        p = Path(item)
        if p.suffix.lower() in SHEET_SUFFIXES and p.is_file():
            out += read_sheet(p)
            continue
        if p.is_dir() and not _is_openpose_dir(p):
            found = sorted(
                q
                for q in p.iterdir()
                if q.suffix.lower() in VIDEO_SUFFIXES + KEYPOINT_SUFFIXES or _is_openpose_dir(q)
            )
            if not found:
                raise PredictError(f"{p}: no videos or keypoint files in this folder")
            paths = found
        else:
            paths = [p]
        for q in paths:
            rid = _safe_id(q.name.split(".")[0])
            out.append(
                Recording(
                    rid,
                    str(q),
                    common.get("subject_id") or rid,
                    **{k: common.get(k) for k in ("fps", "height_cm", "age_months")},  # fmt: skip
                )
            )
    ids = [r.recording_id for r in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PredictError(f"recordings with the same id: {', '.join(dup)} (name them apart)")
    return out


# --------------------------------------------------------------------------- the model


def video_rows(recs: Sequence[tuple[str, str, Path]]) -> pd.DataFrame:
    """(recording id, subject, work folder) → the table the models read (paths per video)."""
    return pd.DataFrame(
        {
            "video_id": [r for r, _, _ in recs],
            "subject_id": [s for _, s, _ in recs],
            "pose": [str(w / "clean.npz") for _, _, w in recs],
            "features": [str(w / "features.parquet") for _, _, w in recs],
            "curves": [str(w / "curves.npz") for _, _, w in recs],
        }
    )


def model_probabilities(bundle: bundlelib.Bundle, videos: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The bundle's uncalibrated (N, K) probabilities for ``videos`` (:func:`video_rows`), NaN
    rows for videos it cannot score, and why (video id → reason)."""
    from motorflow.data.features import gait_rows, with_deviation_scores

    labels = bundle.labels
    n = len(videos)
    probs = np.full((n, len(labels)), np.nan)
    why: dict[str, str] = {}
    settings = bundle.manifest["settings"]
    gait_cfg = featlib.FeatureConfig.from_mapping((settings.get("features") or {}).get("gait"))
    nobody = {v: None for v in videos["video_id"]}  # new subjects: scored against everyone
    if bundle.family == "features":
        blob = bundle.pipeline()
        if blob["pipeline"] is None:
            return probs, dict.fromkeys(
                videos["video_id"], f"the model abstains: {blob['abstain']}"
            )
        df, curves = gait_rows(videos)
        df = with_deviation_scores(df, curves, nobody, bundle.deviation_reference())
        ok = list(df.index[df["status"] == "ok"])
        for v in df.index[df["status"] != "ok"]:
            why[v] = f"no gait features: {df.at[v, 'reason']}"
        if ok:
            from motorflow.train.baselines import full_probs

            p = blob["pipeline"].predict_proba(df.loc[ok, blob["columns"]])
            p = full_probs(p, blob["pipeline"].classes_, len(labels))
            rows = [list(videos["video_id"]).index(v) for v in ok]
            probs[rows] = p
        return probs, why
    import torch

    from motorflow.data.clips import Video, normalise_skeleton
    from motorflow.poseio import load_pose
    from motorflow.train.checkpoint import load_model
    from motorflow.train.config import TrainConfig
    from motorflow.train.fusion import FeatureScaler, fusion_forward
    from motorflow.train.loop import predict_videos
    from motorflow.train.skeleton import skeleton_forward

    model, ckpt = load_model(bundle.weights())
    clip = TrainConfig.from_mapping(ckpt["training"]).clip
    clips = [
        Video(r.video_id, r.subject_id, 0, normalise_skeleton(load_pose(r.pose), clip.fps))
        for r in videos.itertuples()
    ]
    forward = skeleton_forward
    if bundle.family == "fusion":
        df, curves = gait_rows(videos, ckpt["keypoints"], gait_cfg)
        df = with_deviation_scores(df, curves, nobody, bundle.deviation_reference())
        scaler = FeatureScaler(
            ckpt["feature_columns"], np.asarray(ckpt["scaler_mean"]), np.asarray(ckpt["scaler_sd"])
        )
        z, miss = scaler.transform(df.loc[list(videos["video_id"])])
        forward = fusion_forward(z, miss, torch.device("cpu"))
    if clips:
        probs = predict_videos(model, forward, clips, clip, torch.device("cpu"))
    return probs, why


def calibrated(bundle: bundlelib.Bundle, probs: np.ndarray) -> np.ndarray:
    """``probs`` through the bundle's calibration map, where its calibration is applied."""
    cal = bundle.manifest["calibration"]
    if not cal["applied"] or not np.isfinite(probs).all():
        return probs
    chosen = cal.get("map") or {"method": "temperature", "temperature": cal["temperature"]}
    return calibration.apply_map(chosen, probs)


def gradcam_importance(bundle: bundlelib.Bundle, pose_path: Path) -> dict[str, float] | None:
    """The recording's Grad-CAM joint importance (ST-GCN bundles; None for other models)."""
    if bundle.model != "stgcn":
        return None
    import torch

    from motorflow import gradcam
    from motorflow.data.clips import Video, normalise_skeleton, test_clips, to_tensor
    from motorflow.poseio import load_pose
    from motorflow.skeleton import JOINT_NAMES
    from motorflow.train.checkpoint import load_model
    from motorflow.train.config import TrainConfig

    model, ckpt = load_model(bundle.weights())
    clip = TrainConfig.from_mapping(ckpt["training"]).clip
    video = Video("r", "s", 0, normalise_skeleton(load_pose(pose_path), clip.fps))
    clips, _ = test_clips([video], clip)
    clips = clips[::2]  # unmirrored: joint identities stay put
    imp = gradcam.joint_importance(model, to_tensor(clips, torch.device("cpu"))).mean(axis=0)
    imp = imp / imp.sum() if imp.sum() > 0 else np.full_like(imp, 1 / len(imp))
    return {name: float(v) for name, v in zip(JOINT_NAMES, imp, strict=True)}


# --------------------------------------------------------------------------- one recording


def _ood(bundle: bundlelib.Bundle, row: Mapping) -> dict:
    ood = bundle.manifest["ood"]
    cols = ood["columns"]
    x = np.array([np.nan if (v := _number(row.get(c))) is None else v for c in cols])
    z = (x - np.asarray(ood["centre"])) / np.asarray(ood["scale"])
    out: dict = {
        "z": {c: (float(v) if np.isfinite(v) else None) for c, v in zip(cols, z, strict=True)},
        "n_missing": int((~np.isfinite(z)).sum()),
        "n_features": len(cols),
    }
    extreme = [c for c, v in out["z"].items() if v is not None and abs(v) > 4]
    out["extreme_features"] = extreme
    maha = ood.get("mahalanobis")
    if maha is None or not len(cols):
        out.update(distance=None, threshold=None, flag=bool(extreme),
                   note=ood.get("note", "no distance"))  # fmt: skip
        return out
    if out["n_missing"] > len(cols) / 2:
        out.update(distance=None, threshold=maha["threshold"], flag=True,
                   note=f"{out['n_missing']} of {len(cols)} features missing: the recording "
                        "cannot be compared with the training data")  # fmt: skip
        return out
    d = np.where(np.isfinite(z), z, 0.0) - np.asarray(maha["location"])
    dist = float(np.sqrt(d @ np.asarray(maha["precision"]) @ d))
    out.update(distance=dist, threshold=maha["threshold"], flag=bool(dist > maha["threshold"]
               or extreme), note="missing features counted at the training centre"
               if out["n_missing"] else "")  # fmt: skip
    return out


def _bands(bundle: bundlelib.Bundle, row: Mapping) -> list[dict]:
    out = []
    for col, band in bundle.manifest["feature_bands"].items():
        value = _number(row.get(col))
        out.append({"feature": col, "unit": band["unit"], "value": value,
                    "per_label": band["per_label"]})  # fmt: skip
    return out


def _nan_reasons(row: Mapping, info: Mapping) -> dict[str, str]:
    """Every NaN gait feature of the row, with the reason the features stage gave."""
    notes = str(info.get("reason", "")) or "not measurable in this recording"
    reasons = {}
    for col in featlib.GAIT_COLUMNS:
        if _number(row.get(col)) is None:
            if col in featlib.FRONTAL_COLUMNS:
                reasons[col] = "frontal-plane feature: no frontal walking bout"
            elif col in featlib.TURN_COLUMNS:
                reasons[col] = "no turn in the recording"
            elif col.endswith(("_m", "_m_per_s")) and info.get("status") == "ok":
                reasons[col] = "metric feature: needs the stature (height_cm) or age"
            else:
                reasons[col] = notes
    return reasons


def _qc(clean_qc: Mapping, feat_info: Mapping) -> dict:
    keys = ("n_frames", "fps", "duration_s", "detection_rate", "person_rule", "person_coverage",
            "swaps_fixed", "frames_imputed", "joints_imputed_pct", "joints_missing_pct",
            "lowpass_hz_used", "excluded", "reason", "notes")  # fmt: skip
    qc = {k: clean_qc[k] for k in keys if k in clean_qc}
    qc["features_status"] = feat_info.get("status", "")
    qc["features_reason"] = feat_info.get("reason", "")
    qc["view"] = feat_info.get("view", "")
    qc["n_bouts"] = feat_info.get("n_bouts")
    qc["bouts"] = [
        {k: b.get(k) for k in ("start_s", "end_s", "view", "direction", "status", "reason")}
        for b in feat_info.get("bouts", []) or []
    ]
    return qc


def _stages(bundle: bundlelib.Bundle, rec: Recording, work: Path) -> None:
    from motorflow import clean, pose

    settings = bundle.manifest["settings"]
    work.mkdir(parents=True, exist_ok=True)
    backend = "precomputed" if rec.is_keypoints else "mediapipe"
    pose_cfg = pose.PoseConfig.from_mapping({**(settings.get("pose") or {}), "backend": backend})
    size = (rec.width, rec.height) if rec.width and rec.height else None
    pose.run(rec.path, work / "pose.npz", pose_cfg, fps=rec.fps, frame_size=size)
    clean.run(
        work / "pose.npz",
        work / "clean.npz",
        work / "qc.json",
        clean.CleanConfig.from_mapping(settings.get("clean")),
        video_id=rec.recording_id,
    )
    featlib.run(
        work / "clean.npz",
        work / "features.parquet",
        work / "curves.npz",
        work / "features.json",
        featlib.FeatureConfig.from_mapping((settings.get("features") or {}).get("gait")),
        video_id=rec.recording_id,
        height_cm=rec.height_cm,
        age_months=rec.age_months,
        clean_qc=work / "qc.json",
    )


# The failures a recording may have: they become its report, not a traceback.
def _expected_errors() -> tuple[type[Exception], ...]:
    from motorflow import clean, pose
    from motorflow.video import VideoError

    return (pose.PoseError, clean.PoseFileError, importers.KeypointImportError, VideoError,
            PredictError, OSError)  # fmt: skip


def predict_recording(bundle: bundlelib.Bundle, rec: Recording, work: Path) -> dict:
    """The report record of one recording (status ``ok``, ``not scored`` or ``failed``)."""
    base = {
        "recording": asdict(rec),
        "bundle": _bundle_summary(bundle),
    }
    try:
        _stages(bundle, rec, work)
    except _expected_errors() as err:
        return {**base, "status": "failed", "reason": str(err)}
    clean_qc = json.loads((work / "qc.json").read_text())
    feat_info = json.loads((work / "features.json").read_text())
    row = pd.read_parquet(work / "features.parquet").iloc[0].to_dict()
    record = {
        **base,
        "status": "ok",
        "reason": "",
        "qc": _qc(clean_qc, feat_info),
        "features": {c: _number(row.get(c)) for c in featlib.GAIT_COLUMNS},
        "feature_reasons": _nan_reasons(row, feat_info),
        "bands": _bands(bundle, row),
        "ood": _ood(bundle, row),
        "asymmetry": _asymmetry(row),
    }
    if clean_qc.get("excluded"):
        record.update(status="not scored", reason=f"excluded by the cleaning QC: "
                      f"{clean_qc.get('reason', '')}")  # fmt: skip
        return record
    raw, why = model_probabilities(bundle, video_rows([(rec.recording_id, rec.subject_id, work)]))
    if rec.recording_id in why or not np.isfinite(raw).all():
        record.update(status="not scored", reason=why.get(rec.recording_id, "no probabilities"))
        return record
    record["prediction"] = _prediction(bundle, raw[0])
    imp = gradcam_importance(bundle, work / "clean.npz")
    record["keypoint_importance"] = imp
    return record


def _asymmetry(row: Mapping) -> dict[str, float | None]:
    """Left − right of each sided feature (and the stance share)."""
    out = {}
    for name in (*featlib.SIDED_FEATURES, "stance_pct"):
        left, right = _number(row.get(f"{name}_left")), _number(row.get(f"{name}_right"))
        out[name] = None if left is None or right is None else left - right
    return out


def _prediction(bundle: bundlelib.Bundle, raw: np.ndarray) -> dict:
    labels = bundle.labels
    cal = calibrated(bundle, raw[None])[0]
    out = {
        "label": labels[int(np.argmax(cal))],
        "probabilities": {lab: float(p) for lab, p in zip(labels, cal, strict=True)},
        "uncalibrated": {lab: float(p) for lab, p in zip(labels, raw, strict=True)},
        "calibrated": bool(bundle.manifest["calibration"]["applied"]),
    }
    levels = bundle.manifest.get("levels")
    if bundle.manifest.get("ordinal") and levels:
        e, lo, hi = calibration.expected_level(cal[None], levels, INTERVAL)
        out["expected_level"] = {
            "value": float(e[0]),
            "low": labels[levels.index(int(lo[0]))],
            "high": labels[levels.index(int(hi[0]))],
            "coverage": INTERVAL,
        }
    return out


def _bundle_summary(bundle: bundlelib.Bundle) -> dict:
    m = bundle.manifest
    subject = (m["cross_validation"]["metrics"] or {}).get("subject", {})
    return {
        "source": bundle.source,
        "model": m["model"],
        "task": m["task"],
        "labels": m["labels"],
        "git": m["created_by"]["git"],
        "motorflow": m["created_by"]["motorflow"],
        "training": {k: m["training"][k] for k in ("n_subjects", "n_videos", "data_sha256")},
        "cv_subject": {k: subject.get(k) for k in ("accuracy", "balanced_accuracy")},
        "calibration": {k: m["calibration"][k] for k in ("applied", "temperature", "reason")},
    }


# --------------------------------------------------------------------------- patients


def patient_record(bundle: bundlelib.Bundle, subject: str, records: Sequence[dict]) -> dict:
    """One patient's recordings in visit order (date, else session, else id), the mean
    probabilities over the scored recordings, and each gait parameter per visit."""

    def key(r):
        rec = r["recording"]
        return (rec.get("date") or "", rec.get("session") or "", rec["recording_id"])

    records = sorted(records, key=key)
    scored = [r for r in records if r.get("prediction")]
    visits = []
    for r in records:
        rec = r["recording"]
        visits.append({
            "recording_id": rec["recording_id"], "session": rec.get("session", ""),
            "date": rec.get("date", ""), "status": r["status"], "reason": r.get("reason", ""),
            "prediction": r.get("prediction"), "features": r.get("features", {}),
            "ood_flag": (r.get("ood") or {}).get("flag"),
        })  # fmt: skip
    out: dict = {"subject_id": subject, "bundle": _bundle_summary(bundle), "visits": visits}
    if scored:
        labels = bundle.labels
        p = np.mean([[r["prediction"]["probabilities"][lab] for lab in labels] for r in scored], 0)
        out["mean_probabilities"] = {lab: float(v) for lab, v in zip(labels, p, strict=True)}
        out["label"] = labels[int(np.argmax(p))]
    return out


# --------------------------------------------------------------------------- run


def run(
    bundle_path: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    html: bool = True,
    pdf: bool = False,
    **common,
) -> dict:
    """Predict on every recording of ``inputs``; write the reports; return an overview
    (``recordings``: id → status and reason, ``patients``: subject → report path).
    ``pdf``: also report.pdf beside each report.html (printed by headless Chromium)."""
    from motorflow import recording_report

    if pdf and not html:
        raise PredictError("a PDF report is printed from the HTML one: drop --no-html")
    if pdf and recording_report.pdf_browser() is None:
        raise PredictError("--pdf needs Chromium (Debian: apt install chromium)")
    bundle = bundlelib.load(bundle_path)
    if bundle.family not in bundlelib.PREDICTABLE:
        raise PredictError(f"{bundle_path}: {bundle.model} bundles cannot predict on recordings")
    out_dir = Path(out_dir)
    recs = recordings(inputs, **common)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for rec in recs:
        folder = out_dir / rec.recording_id
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{rec.recording_id}.") as tmp:
            record = predict_recording(bundle, rec, Path(tmp))
            # The stages' keypoint files join the report only when the recording completes.
            folder.mkdir(exist_ok=True)
            for name in ("pose.npz", "clean.npz", "qc.json", "features.parquet",
                         "curves.npz", "features.json"):  # fmt: skip
                if (Path(tmp) / name).exists():
                    os.replace(Path(tmp) / name, folder / name)
        write_json(record, folder / "report.json")
        if html:
            recording_report.write_html(record, bundle, folder / "report.html", folder)
        if pdf:
            recording_report.write_pdf(folder / "report.html", folder / "report.pdf")
        results[rec.recording_id] = record
        log.info("%s: %s %s", rec.recording_id, record["status"], record.get("reason", ""))
    patients: dict[str, str] = {}
    by_subject: dict[str, list[dict]] = {}
    for rec in recs:
        by_subject.setdefault(rec.subject_id, []).append(results[rec.recording_id])
    for subject, recs_of in by_subject.items():
        folder = out_dir / "patients" / _safe_id(subject)
        folder.mkdir(parents=True, exist_ok=True)
        record = patient_record(bundle, subject, recs_of)
        write_json(record, folder / "report.json")
        if html:
            recording_report.write_patient_html(record, bundle, folder / "report.html")
        if pdf:
            recording_report.write_pdf(folder / "report.html", folder / "report.pdf")
        patients[subject] = str(folder / "report.json")
    overview = {
        "bundle": str(bundle_path),
        "recordings": {
            k: {"status": v["status"], "reason": v.get("reason", "")} for k, v in results.items()
        },  # fmt: skip
        "patients": patients,
    }
    write_json(overview, out_dir / "predictions.json")
    return overview
