"""Bundle stage: a final model as a self-describing bundle that needs nothing else to predict.

``results/bundle/{model}/`` holds three members, and ``results/bundle/{model}.zip`` the same
three as one file for sharing:

* ``bundle.json``: the manifest: the model, its family and task, the label order (and the
  numeric levels of ordered labels), the settings of every stage a new recording goes
  through (pose, clean, features, with the deviation reference label), what the final model
  was refitted with (subjects, videos per label, epochs or ``C``), the sha256 of its training
  data, the cross-validated metrics it was validated with (mean over splits and the subject
  bootstrap CI), the calibration (the map fitted on the out-of-fold predictions: a
  temperature, or isotonic maps where enough predictions; applied only where it lowered the
  cross-fitted NLL), the training cohort's
  band of every gait feature per label, the out-of-distribution statistics, the motorflow
  version and git commit, and the sha256 of the other members;
* the weights: ``model.pt`` (a self-describing torch checkpoint) or ``model.pkl`` (the
  feature baseline's scikit-learn pipeline; a pickle, so load bundles you trust only);
* ``reference.npz``: the deviation reference the model scores gait against (mean cycle
  curves of the training subjects with the reference label; subject ids replaced by
  ``r000``…) and the training cohort's mean cycle curves per label.

Identifiable data never enters a bundle: video and subject ids are left out, curves are
per-video means of joint angles.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow import __version__, registry
from motorflow.data.features import MODEL_FEATURES, gait_rows, training_reference
from motorflow.data.table import SplitData, VideoTable, split_data
from motorflow.features import gait as featlib
from motorflow.features.curves import DEVIATION_COLUMNS, DeviationReference
from motorflow.poseio import atomic_path
from motorflow.provenance import canonical_json, git_state, sha256_file, sha256_json

FORMAT = "motorflow-bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"
REFERENCE = "reference.npz"
# Quantiles of the per-label feature bands (the report draws the 25-75 % box, 5-95 % whiskers).
BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# A recording whose Mahalanobis distance from the training videos exceeds this quantile of
# the training videos' own (leave-one-out) distances is flagged out of distribution.
OOD_QUANTILE = 0.99
# Families whose inputs `motorflow predict` can compute from a new recording (the RGB/flow
# models would need the video preprocessing stages as well).
PREDICTABLE = ("skeleton", "features", "fusion")


class BundleError(ValueError):
    """A bundle that cannot be built or loaded; names the file and the reason."""


def weights_name(model: str) -> str:
    return "model.pkl" if registry.SPECS[model].family == "features" else "model.pt"


@dataclass
class Bundle:
    """A loaded bundle: its manifest and its members' bytes."""

    manifest: dict
    members: dict[str, bytes]
    source: str

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def family(self) -> str:
        return self.manifest["family"]

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    def weights(self) -> io.BytesIO:
        return io.BytesIO(self.members[weights_name(self.model)])

    def pipeline(self) -> dict:
        """The feature baseline's fitted pipeline blob (``pipeline``, ``columns``, ``labels``)."""
        return pickle.loads(self.members[weights_name(self.model)])

    def deviation_reference(self) -> DeviationReference | None:
        with np.load(io.BytesIO(self.members[REFERENCE]), allow_pickle=False) as z:
            if "deviation_curves" not in z.files:
                return None
            return DeviationReference(z["deviation_curves"], z["deviation_subjects"])

    def class_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """label → {"mean", "sd", "n"} of the training videos' mean cycle curves (2, 3, 101)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        with np.load(io.BytesIO(self.members[REFERENCE]), allow_pickle=False) as z:
            for i, label in enumerate(self.labels):
                if f"class{i}_mean" in z.files:
                    out[label] = {k: np.array(z[f"class{i}_{k}"]) for k in ("mean", "sd", "n")}
        return out


# --------------------------------------------------------------------------- building


def _usable_final(table: VideoTable, splits: pd.DataFrame) -> SplitData:
    data = split_data(table, splits, "final")
    if not data.val.empty or not data.test.empty:
        raise BundleError("the final split must have every subject in training")
    return data


def _bands(rows: pd.DataFrame, labels: Sequence[str], reference_label: str | None) -> dict:
    """Per gait feature: unit and quantiles per label (and of the reference label's group)."""
    ok = rows[rows["status"] == "ok"]
    out = {}
    for col in featlib.GAIT_COLUMNS:
        if col not in ok or not ok[col].notna().any():
            continue
        per = {}
        for label in labels:
            x = ok.loc[ok["label"] == label, col].dropna().to_numpy(float)
            if len(x):
                q = np.quantile(x, BAND_QUANTILES)
                names = [f"p{round(100 * p)}" for p in BAND_QUANTILES]
                per[label] = {"n": int(len(x)), **dict(zip(names, map(float, q), strict=True))}
        unit = featlib.DATA_DICTIONARY.get(col, ("", ""))[0]
        out[col] = {"unit": unit, "per_label": per, "reference_label": reference_label}
    return out


def _ood(rows: pd.DataFrame, columns: Sequence[str]) -> dict:
    """Robust centre/scale per feature and a shrunk Mahalanobis distance with its threshold.

    The threshold is the ``OOD_QUANTILE`` of the training videos' leave-one-out distances,
    so that a typical training video is not flagged (its own distance is not optimistic)."""
    from sklearn.covariance import LedoitWolf

    ok = rows[rows["status"] == "ok"]
    cols = [c for c in columns if c in ok and ok[c].notna().mean() >= 0.8]
    x = ok[cols].to_numpy(float)
    centre = np.nanmedian(x, axis=0)
    mad = np.nanmedian(np.abs(x - centre), axis=0) * 1.4826
    sd = np.nanstd(x, axis=0)
    scale = np.where(mad > 1e-9, mad, np.where(sd > 1e-9, sd, 1.0))
    z = np.where(np.isfinite(x), (x - centre) / scale, 0.0)
    out = {"columns": cols, "centre": centre.tolist(), "scale": scale.tolist(),
           "n": int(len(z)), "quantile": OOD_QUANTILE}  # fmt: skip
    if len(z) < len(cols) + 3:
        out["mahalanobis"] = None
        out["note"] = f"{len(z)} training videos for {len(cols)} features: no distance"
        return out
    loo = []
    for i in range(len(z)):
        rest = np.delete(z, i, axis=0)
        lw = LedoitWolf().fit(rest)
        d = z[i] - lw.location_
        loo.append(float(np.sqrt(d @ lw.precision_ @ d)))
    lw = LedoitWolf().fit(z)
    out["mahalanobis"] = {
        "location": lw.location_.tolist(),
        "precision": lw.precision_.tolist(),
        "threshold": float(np.quantile(loo, OOD_QUANTILE)),
    }
    return out


def _reference_arrays(
    model: str,
    data: SplitData,
    labels: Sequence[str],
    reference_label: str | None,
    gait_cfg: featlib.FeatureConfig,
    keypoints: list[str] | None,
    curves: Mapping[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], str]:
    """``curves``: the training videos' mean cycle curves (the features stage's)."""
    arrays: dict[str, np.ndarray] = {}
    # The training cohort's mean curves per label (the report's cycle-curve bands).
    for i, label in enumerate(labels):
        c = [curves[v] for v, lab in zip(data.train["video_id"], data.train["label"], strict=True)
             if lab == label and v in curves and np.isfinite(curves[v]).all()]  # fmt: skip
        if c:
            stack = np.stack(c)
            arrays[f"class{i}_mean"] = stack.mean(0)
            arrays[f"class{i}_sd"] = stack.std(0, ddof=1) if len(c) > 1 else np.zeros_like(c[0])
            arrays[f"class{i}_n"] = np.array(len(c))
    note = "no deviation scores"
    spec = registry.SPECS[model]
    if spec.reference or spec.family == "fusion":
        # The same reference the model was trained with: the training videos' curves (from
        # the fusion's keypoints only, as its features are), reference label only.
        ref_curves = gait_rows(data.train, keypoints, gait_cfg)[1] if keypoints else curves
        ref, note = training_reference(dict(ref_curves), data.train, data, reference_label)
        if ref is not None:
            anon = {s: f"r{i:03d}" for i, s in enumerate(dict.fromkeys(ref.subjects))}
            arrays["deviation_curves"] = ref.curves
            arrays["deviation_subjects"] = np.array([anon[s] for s in ref.subjects])
    return arrays, note


def _calibration(summary: Mapping, model: str) -> dict:
    cal = (summary.get("calibration") or {}).get(model) or {}
    nll = (cal.get("nll") or {}).get("video") or {}
    before, after = nll.get("before", np.nan), nll.get("after", np.nan)
    applied = bool(np.isfinite(before) and np.isfinite(after) and after < before)
    reason = (
        f"cross-fitted NLL {before:.3f} -> {after:.3f}"
        if np.isfinite(before) and np.isfinite(after)
        else "no out-of-fold predictions"
    )
    temperature = float(cal.get("temperature", 1.0))
    return {
        "method": cal.get("method", "temperature"),
        "map": cal.get("map") or {"method": "temperature", "temperature": temperature},
        "temperature": temperature,
        "applied": applied,
        "reason": reason + ("" if applied else ": not applied (it did not lower the NLL)"),
        "ece": cal.get("ece", {}),
        "nll": cal.get("nll", {}),
        "n": cal.get("n", 0),
    }


def _cv_metrics(summary: Mapping, model: str) -> dict:
    metrics = (summary.get("metrics") or {}).get(model)
    if metrics is None:
        raise BundleError(f"the CV summary has no metrics for {model}")
    return {
        "metrics": metrics,
        "n": (summary.get("n") or {}).get(model, {}),
        "repeats": len((summary.get("repeats") or {}).get(model, {}).get("subject", [])) or None,
        "alpha": summary.get("alpha"),
        "n_boot": summary.get("n_boot"),
    }


def build(
    model: str,
    final_dir: str | os.PathLike,
    table: VideoTable,
    splits: pd.DataFrame,
    summary: Mapping,
    settings: Mapping,
    out_dir: str | os.PathLike,
    out_zip: str | os.PathLike,
    task: str,
    ordinal: bool,
    workdir: str | os.PathLike = ".",
) -> dict:
    """Write the bundle of the final model in ``final_dir`` (``results/train/{model}/final``)
    to ``out_dir`` and ``out_zip``; returns the manifest.

    ``table``: the final split's videos (their features and curves declared); ``summary``:
    ``results/eval/summary.json``; ``settings``: the config sections a new recording goes
    through (``pose``, ``clean``, ``features``; ``reference_label``)."""
    spec = registry.SPECS[model]
    if spec.family not in PREDICTABLE:
        raise BundleError(f"{model}: bundles of the {spec.family} family are not supported")
    final_dir = Path(final_dir)
    info = json.loads((final_dir / "train.json").read_text())
    data = _usable_final(table, splits)
    labels = list(table.labels)
    gait_cfg = featlib.FeatureConfig.from_mapping((settings.get("features") or {}).get("gait"))
    reference_label = settings.get("reference_label")
    keypoints = None
    if spec.family == "fusion":
        keypoints = json.loads((final_dir / "keypoints.json").read_text())["keypoints"]
    rows, curves = gait_rows(data.train)
    arrays, deviation_note = _reference_arrays(
        model, data, labels, reference_label, gait_cfg, keypoints, curves
    )
    rows["label"] = pd.Series(dict(zip(data.train["video_id"], data.train["label"], strict=True)))
    # The OOD check compares the walker, not the recording: counts of cycles and turns grow
    # with the recording's length.
    not_walker = {*DEVIATION_COLUMNS, "n_cycles", *featlib.TURN_COLUMNS}
    gait_columns = [c for c in MODEL_FEATURES if c not in not_walker]
    trained_on = [
        p for col in ("pose", "features", "curves") for p in data.train[col] if p
    ]  # the files the final model and its bands were fitted on
    per_label = data.train.groupby("label")["subject_id"].nunique()
    members = {
        weights_name(model): (final_dir / weights_name(model)).read_bytes(),
        REFERENCE: _npz_bytes(arrays),
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "family": spec.family,
        "task": task,
        "labels": labels,
        "ordinal": bool(ordinal),
        "levels": list(range(1, len(labels) + 1)) if ordinal else None,
        "created_by": {"motorflow": __version__, "git": git_state(workdir)},
        "settings": {k: settings[k] for k in sorted(settings)},
        "keypoints": keypoints,
        "training": {
            "n_subjects": int(data.train["subject_id"].nunique()),
            "n_videos": int(len(data.train)),
            "subjects_per_label": {str(k): int(v) for k, v in per_label.items()},
            "left_out_videos": len(data.skipped),
            "epochs": info.get("epochs_run"),
            "C": info.get("best_C"),
            "features": info.get("features"),
            "deviation_reference": deviation_note,
            "data_sha256": sha256_json(
                sorted(sha256_file(p) for p in trained_on)
            ),  # of the files' contents, independent of where they lie
        },
        "cross_validation": _cv_metrics(summary, model),
        "calibration": _calibration(summary, model),
        "feature_bands": _bands(rows, labels, reference_label),
        "ood": _ood(rows, gait_columns),
        "members": {name: _sha256(blob) for name, blob in members.items()},
    }
    _write(manifest, members, Path(out_dir), Path(out_zip))
    return manifest


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **dict(sorted(arrays.items())))
    return buf.getvalue()


def _manifest_bytes(manifest: Mapping) -> bytes:
    # Canonical values (numpy as plain ones), indented for a reader.
    plain = json.loads(canonical_json(manifest))
    return (json.dumps(plain, indent=1, sort_keys=True) + "\n").encode()


def _write(manifest: dict, members: Mapping[str, bytes], out_dir: Path, out_zip: Path) -> None:
    files = {MANIFEST: _manifest_bytes(manifest), **members}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        with atomic_path(out_dir / name) as tmp:
            tmp.write_bytes(blob)
    export(out_dir, out_zip)


def export(bundle_dir: str | os.PathLike, out_zip: str | os.PathLike) -> Path:
    """The bundle in ``bundle_dir`` as one zip file (members in a fixed order, fixed times:
    the same bundle gives the same bytes)."""
    bundle_dir = Path(bundle_dir)
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    names = [MANIFEST, *sorted(manifest["members"])]
    with atomic_path(out_zip) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, (bundle_dir / name).read_bytes())
    return Path(out_zip)


# --------------------------------------------------------------------------- loading


def load(path: str | os.PathLike) -> Bundle:
    """A bundle from its folder or its zip file; checks the format and every member's hash."""
    path = Path(path)
    try:
        if path.is_dir():
            files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                files = {n: zf.read(n) for n in zf.namelist()}
        elif path.exists():
            raise BundleError(f"{path}: not a bundle (neither a folder nor a zip file)")
        else:
            raise BundleError(f"{path}: no such bundle")
        manifest = json.loads(files[MANIFEST])
    except KeyError:
        raise BundleError(f"{path}: not a bundle (no {MANIFEST})") from None
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: unreadable bundle ({err})") from err
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: {MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {manifest.get('format_version')}, this motorflow reads "
            f"{FORMAT_VERSION}"
        )
    members = {}
    for name, digest in manifest["members"].items():
        if name not in files:
            raise BundleError(f"{path}: member {name} is missing")
        if _sha256(files[name]) != digest:
            raise BundleError(f"{path}: member {name} does not match its sha256 in {MANIFEST}")
        members[name] = files[name]
    return Bundle(manifest, members, str(path))
