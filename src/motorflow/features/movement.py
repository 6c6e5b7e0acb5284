"""Infant general-movement features (Paper B: Prechtl's general movements).

Quantities that describe how much, how fast, in which rhythm, how irregularly and how
symmetrically an infant moves its four limbs, for the writhing / fidgety / poor-repertoire
task.  Everything is normalised by body size so that camera distance and infant age do not
enter the features:

* body scale = median over frames of the trunk length (mid-shoulder to mid-hip, px);
* the four limb end points (wrists, ankles) are taken relative to the trunk centre (midpoint
  of mid-shoulder and mid-hip) in every frame, so moving the whole body (the camera, or the
  infant being shifted on the mat) is not limb movement;
* positions are divided by the body scale: speeds are in trunk lengths per second.

Pipeline per limb: short gaps are filled linearly, the relative trajectory is split into
finite runs, each run is low-passed (zero-lag Butterworth) and differentiated; speed, its
spectrum (Welch), its sample entropy and the coupling between limbs follow.  See
``docs/movement_features.md`` for every column.

Bad data never raises: the features are NaN and the QC record says ``failed`` and why.
Only a bad configuration raises ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, correlate, correlation_lags, sosfiltfilt, welch
from scipy.spatial import cKDTree

from motorflow.config import config_from_mapping
from motorflow.features import cohort
from motorflow.poseio import PoseData, atomic_path, write_json

LIMBS: tuple[str, ...] = ("wrist_left", "wrist_right", "ankle_left", "ankle_right")
_LIMB_JOINT: dict[str, str] = {
    "wrist_left": "left_wrist",
    "wrist_right": "right_wrist",
    "ankle_left": "left_ankle",
    "ankle_right": "right_ankle",
}
_TRUNK_JOINTS = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")

_FILTER_ORDER = 4
_MAX_GAP_S = 0.5  # longer gaps split a trajectory: a straight line over them would be invented
_MIN_RUN_S = 1.0  # shorter finite islands are too short to filter and to carry a rhythm
_MAX_MISSING = 0.5  # a point missing (or imputed) in more frames than this is not used
# 10 s windows resolve 0.1 Hz, the resolution the 0.1-0.5 Hz slow band needs.
_SPECTRUM_WINDOW_S = 10.0
_COUPLING_MAX_LAG_S = 0.5
# Speeds below this (trunk lengths/s) are round-off of a perfectly still point, not movement:
# spectra and entropy of such a signal would be numbers made of floating-point noise.
_STILL_EPS = 1e-6
# "No movement" = no limb moves in at least this fraction of the time.  A strict zero would
# let a single noisy frame count as a moving infant.
_MIN_MOVING_FRACTION = 0.01


def _check_number(name: str, value: Any, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}; got {value!r}")


@dataclass(frozen=True)
class MovementConfig:
    """Parameters of the general-movement features; every field takes plain YAML values.

    ``lowpass_hz = 0`` disables smoothing.  The bands are half-open ``[low, high)`` in Hz;
    the fidgety band (0.5-2 Hz) targets the small, moderate-speed, roughly circular movements
    of the fidgety period, between slow writhing (0.1-0.5 Hz) and fast, jerky or tremulous
    movement (2-5 Hz).  ``entropy_r`` is in units of the speed signal's standard deviation.
    """

    lowpass_hz: float = 8.0
    moving_threshold: float = 0.1
    fidgety_band_hz: tuple[float, float] = (0.5, 2.0)
    slow_band_hz: tuple[float, float] = (0.1, 0.5)
    fast_band_hz: tuple[float, float] = (2.0, 5.0)
    entropy_m: int = 2
    entropy_r: float = 0.2
    min_duration_s: float = 5.0

    def __post_init__(self) -> None:
        _check_number("lowpass_hz", self.lowpass_hz, positive=False)
        _check_number("moving_threshold", self.moving_threshold, positive=False)
        _check_number("entropy_r", self.entropy_r, positive=True)
        _check_number("min_duration_s", self.min_duration_s, positive=False)
        if (
            isinstance(self.entropy_m, bool)
            or not isinstance(self.entropy_m, int)
            or not 1 <= self.entropy_m <= 10
        ):
            raise ValueError(f"entropy_m must be an integer in 1..10; got {self.entropy_m!r}")
        for name in ("fidgety_band_hz", "slow_band_hz", "fast_band_hz"):
            band = getattr(self, name)
            if not isinstance(band, tuple | list) or len(band) != 2:
                raise ValueError(f"{name} must be a pair [low, high] in Hz; got {band!r}")
            for edge in band:
                _check_number(name, edge, positive=False)
            if not band[0] < band[1]:
                raise ValueError(f"{name} must have low < high; got {band!r}")
            # Frozen: normalise a list given directly to a tuple (hashable, comparable).
            object.__setattr__(self, name, (float(band[0]), float(band[1])))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> MovementConfig:
        return config_from_mapping(cls, m, "features.movement")

    @property
    def total_band_hz(self) -> tuple[float, float]:
        """Denominator of the band fractions: the span of the three bands (0.1-5 Hz)."""
        bands = (self.slow_band_hz, self.fidgety_band_hz, self.fast_band_hz)
        return min(b[0] for b in bands), max(b[1] for b in bands)


# =============================================================================================
# Columns
# =============================================================================================

_SPEED = "trunk lengths/s"
_PER_LIMB: tuple[tuple[str, str, str], ...] = (
    ("speed_mean", _SPEED, "mean speed of the {limb} relative to the trunk centre"),
    ("speed_p95", _SPEED, "95th percentile of the {limb} speed (vigour of its fastest moves)"),
    (
        "accel_mean",
        "trunk lengths/s^2",
        "mean magnitude of the {limb} acceleration relative to the trunk centre",
    ),
    (
        "moving_fraction",
        "fraction (0-1)",
        "fraction of valid frames in which the {limb} speed exceeds moving_threshold",
    ),
    (
        "fidgety_power_fraction",
        "fraction (0-1)",
        "power of the {limb} velocity (Welch, x + y) in the fidgety band (default 0.5-2 Hz) "
        "/ power in the total band (default 0.1-5 Hz)",
    ),
    (
        "slow_power_fraction",
        "fraction (0-1)",
        "as fidgety_power_fraction, for the slow (writhing) band (default 0.1-0.5 Hz)",
    ),
    (
        "fast_power_fraction",
        "fraction (0-1)",
        "as fidgety_power_fraction, for the fast band (default 2-5 Hz)",
    ),
    (
        "sample_entropy",
        "nats",
        "sample entropy of the {limb} speed signal (m = entropy_m, r = entropy_r x SD): "
        "movement complexity, ~0 for a periodic movement",
    ),
    (
        "peak_frequency",
        "Hz",
        "frequency of the maximum of the {limb} velocity power spectrum within the total band",
    ),
)

_WHOLE_BODY: tuple[tuple[str, str, str], ...] = (
    ("speed_mean", _SPEED, "mean over the available limbs of speed_mean_<limb>"),
    (
        "fidgety_power_fraction",
        "fraction (0-1)",
        "mean over the available limbs of fidgety_power_fraction_<limb>",
    ),
    (
        "moving_fraction",
        "fraction (0-1)",
        "mean over the available limbs of moving_fraction_<limb>",
    ),
    ("sample_entropy", "nats", "mean over the available limbs of sample_entropy_<limb>"),
    (
        "speed_cv_between_limbs",
        "dimensionless",
        "coefficient of variation (SD / mean) of speed_mean_<limb> across the available limbs: "
        "asymmetry / uneven use of the limbs",
    ),
    (
        "coupling_wrists",
        "correlation (-1 to 1)",
        "maximum normalised cross-correlation of the left and right wrist speeds within "
        "+/-0.5 s lag",
    ),
    (
        "coupling_ankles",
        "correlation (-1 to 1)",
        "maximum normalised cross-correlation of the left and right ankle speeds within "
        "+/-0.5 s lag",
    ),
    (
        "coupling_arm_leg",
        "correlation (-1 to 1)",
        "mean over the sides of the maximum normalised cross-correlation of the same-side wrist "
        "and ankle speeds within +/-0.5 s lag",
    ),
)


def _limb_phrase(limb: str) -> str:
    """Limb column part to words: wrist_left -> left wrist."""
    return " ".join(reversed(limb.split("_")))


MOVEMENT_COLUMNS: tuple[str, ...] = tuple(
    f"{name}_{limb}" for name, _, _ in _PER_LIMB for limb in LIMBS
) + tuple(name for name, _, _ in _WHOLE_BODY)

DATA_DICTIONARY: dict[str, tuple[str, str]] = {
    **{
        f"{name}_{limb}": (unit, text.format(limb=_limb_phrase(limb)))
        for name, unit, text in _PER_LIMB
        for limb in LIMBS
    },
    **{name: (unit, text) for name, unit, text in _WHOLE_BODY},
}


def data_dictionary_markdown() -> str:
    """The data dictionary as a Markdown table (name | unit | definition), in column order."""
    rows = ["| name | unit | definition |", "|---|---|---|"]
    rows += [
        f"| `{c}` | {DATA_DICTIONARY[c][0]} | {DATA_DICTIONARY[c][1]} |" for c in MOVEMENT_COLUMNS
    ]
    return "\n".join(rows) + "\n"


# =============================================================================================
# Signal helpers
# =============================================================================================


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def _fill_short_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation over interior gaps of at most ``max_gap`` frames; (T, D) -> (T, D).

    A frame is missing when any coordinate is NaN.  Leading / trailing gaps stay NaN.
    """
    x = x.copy()
    ok = np.isfinite(x).all(-1)
    idx = np.flatnonzero(ok)
    if idx.size < 2 or max_gap < 1:
        return x
    for s, e in _runs(~ok):
        if s == 0 or e == x.shape[0] or e - s > max_gap:
            continue
        w = (np.arange(s, e) - (s - 1)) / (e - s + 1)
        x[s:e] = x[s - 1] + w[:, None] * (x[e] - x[s - 1])
    return x


def _lowpass(x: np.ndarray, sos: np.ndarray | None) -> np.ndarray:
    if sos is None:
        return x
    # Default sosfiltfilt padding, shortened for short runs (the runs are >= 1 s anyway).
    padlen = min(3 * (2 * len(sos) + 1), x.shape[0] - 1)
    return sosfiltfilt(sos, x, axis=0, padlen=padlen)


def _sampen_counts(x: np.ndarray, m: int, tol: float) -> tuple[int, int]:
    """Richman & Moorman template matches (B for length m, A for m + 1) of one signal.

    Pairs i < j of the first ``n - m`` templates whose Chebyshev distance is <= ``tol``.  A
    Chebyshev k-d tree counts them without forming the n^2 distance matrix.  Identical
    templates (quantised pose, still stretches) enter once, weighted by their multiplicity:
    many duplicates would otherwise degrade the tree to brute force.
    """
    n = x.size
    if n < m + 2:
        return 0, 0
    emb = sliding_window_view(x, m + 1)  # (n - m, m + 1): the same templates for m and m + 1
    counts = []
    for k in (m, m + 1):
        unique, mult = np.unique(emb[:, :k], axis=0, return_counts=True)
        w = mult.astype(np.float64)
        tree = cKDTree(unique)
        # Weighted count of ordered pairs, i == j included; exact below 2**53.
        pairs = round(tree.count_neighbors(tree, tol, p=np.inf, weights=(w, w)))
        counts.append((pairs - emb.shape[0]) // 2)
    return counts[0], counts[1]


def _sampen_pooled(signals: list[np.ndarray], m: int, r: float) -> float:
    """Sample entropy of several segments of one signal, with matches pooled across them.

    Templates never straddle two segments (that would join samples across a gap).  The
    tolerance is ``r`` times the SD of all segments together.  NaN where undefined: no
    variability, or no matches of length m + 1.
    """
    pooled = np.concatenate(signals) if signals else np.empty(0)
    sd = float(np.std(pooled)) if pooled.size else 0.0
    if sd <= _STILL_EPS:
        return float("nan")
    b = a = 0
    for x in signals:
        bi, ai = _sampen_counts(x, m, r * sd)
        b, a = b + bi, a + ai
    if a == 0 or b == 0:
        return float("nan")
    return float(-np.log(a / b))


def sample_entropy(x: np.ndarray, m: int = 2, r: float = 0.2) -> float:
    """Sample entropy (nats) of a 1-D signal; tolerance ``r`` times the signal's SD.

    ~0 for a periodic signal, larger for an irregular one; NaN when undefined.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    return _sampen_pooled([x], m, r)


def _max_xcorr(a: np.ndarray, b: np.ndarray, max_lag: int, min_len: int) -> float:
    """Maximum normalised cross-correlation of a and b within +/-max_lag samples.

    Only frames where both are valid count: both are centred on those, other frames read 0.
    """
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < min_len:
        return float("nan")
    a0 = np.where(both, a - a[both].mean(), 0.0)
    b0 = np.where(both, b - b[both].mean(), 0.0)
    denom = np.sqrt(np.sum(a0**2) * np.sum(b0**2))
    if denom <= _STILL_EPS**2 * both.sum():
        return float("nan")
    c = correlate(a0, b0, mode="full")
    lags = correlation_lags(a0.size, b0.size, mode="full")
    return float(np.max(c[np.abs(lags) <= max_lag]) / denom)


def _band_fraction(
    f: np.ndarray, psd: np.ndarray, band: tuple[float, float], total: float
) -> float:
    sel = (f >= band[0]) & (f < band[1])
    return float(psd[sel].sum() / total)


# =============================================================================================
# Features
# =============================================================================================


def _joint_xy(pose: PoseData, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) float64 xy of a joint (NaN where missing) and its (T,) observed mask.

    Frames imputed by the cleaning stage are usable values but not observations.
    """
    if name not in pose.joint_names:
        t = pose.n_frames
        return np.full((t, 2), np.nan), np.zeros(t, dtype=bool)
    j = pose.joint_names.index(name)
    xy = pose.keypoints[:, j, :2].astype(np.float64)
    finite = np.isfinite(xy).all(-1)
    xy[~finite] = np.nan
    observed = finite if pose.imputed is None else finite & ~pose.imputed[:, j]
    return xy, observed


@dataclass
class _Limb:
    """Per-limb intermediate results."""

    speed_full: np.ndarray  # (T,) NaN outside used runs: for coupling
    speed_runs: list[np.ndarray]
    accel_runs: list[np.ndarray]
    vel_runs: list[np.ndarray]


def _limb_signals(
    rel: np.ndarray, fps: float, sos: np.ndarray | None, min_run: int
) -> _Limb | None:
    """Filter and differentiate each long-enough finite run of a relative trajectory."""
    speed_full = np.full(rel.shape[0], np.nan)
    speed_runs, accel_runs, vel_runs = [], [], []
    for s, e in _runs(np.isfinite(rel).all(-1)):
        if e - s < min_run:
            continue
        pos = _lowpass(rel[s:e], sos)
        vel = np.gradient(pos, axis=0) * fps
        acc = np.gradient(vel, axis=0) * fps
        speed = np.linalg.norm(vel, axis=1)
        speed_full[s:e] = speed
        speed_runs.append(speed)
        accel_runs.append(np.linalg.norm(acc, axis=1))
        vel_runs.append(vel)
    if not speed_runs:
        return None
    return _Limb(speed_full, speed_runs, accel_runs, vel_runs)


def _spectrum(vel_runs: list[np.ndarray], fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD of the velocity (x + y), averaged over runs weighted by their length.

    One segment length for all runs (so the frequency grids agree): the spectrum window, or
    the longest run if shorter; runs shorter than that are left out of the spectrum.
    """
    nperseg = _nperseg(vel_runs, fps)
    acc, weight, f = 0.0, 0, np.empty(0)
    for v in vel_runs:
        if v.shape[0] < nperseg:
            continue
        f, p = welch(v, fs=fps, nperseg=nperseg, axis=0)
        acc = acc + p.sum(axis=1) * v.shape[0]
        weight += v.shape[0]
    return f, np.asarray(acc) / weight


def _nperseg(vel_runs: list[np.ndarray], fps: float) -> int:
    return min(round(_SPECTRUM_WINDOW_S * fps), max(v.shape[0] for v in vel_runs))


def _limb_features(limb: _Limb, fps: float, cfg: MovementConfig) -> dict[str, float]:
    speed = np.concatenate(limb.speed_runs)
    out = {
        "speed_mean": float(speed.mean()),
        "speed_p95": float(np.percentile(speed, 95)),
        "accel_mean": float(np.concatenate(limb.accel_runs).mean()),
        "moving_fraction": float(np.mean(speed > cfg.moving_threshold)),
        "fidgety_power_fraction": float("nan"),
        "slow_power_fraction": float("nan"),
        "fast_power_fraction": float("nan"),
        "sample_entropy": float("nan"),
        "peak_frequency": float("nan"),
    }
    if speed.max() <= _STILL_EPS:  # perfectly still: no rhythm, no complexity to measure
        return out
    f, psd = _spectrum(limb.vel_runs, fps)
    lo, hi = cfg.total_band_hz
    in_total = (f >= lo) & (f < hi)
    total = float(psd[in_total].sum())
    if total > _STILL_EPS**2:
        out["fidgety_power_fraction"] = _band_fraction(f, psd, cfg.fidgety_band_hz, total)
        out["slow_power_fraction"] = _band_fraction(f, psd, cfg.slow_band_hz, total)
        out["fast_power_fraction"] = _band_fraction(f, psd, cfg.fast_band_hz, total)
        out["peak_frequency"] = float(f[in_total][np.argmax(psd[in_total])])
    out["sample_entropy"] = _sampen_pooled(limb.speed_runs, cfg.entropy_m, cfg.entropy_r)
    return out


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def movement_features(
    pose: PoseData, cfg: MovementConfig = MovementConfig()
) -> tuple[dict[str, float], dict]:
    """General-movement features of one pose, and a QC record.

    Returns ``(features, qc)``: ``features`` has exactly :data:`MOVEMENT_COLUMNS` as keys
    (floats, NaN where not measurable); ``qc`` has ``status`` ("ok" or "failed"), ``reason``
    ('' when ok) and the numbers behind the decision.  A limb whose end point is missing (or
    imputed) in more than half of the frames gets NaN features and is named in
    ``qc["limbs_excluded"]``; the whole-body summaries average the remaining limbs.
    """
    fps = float(pose.fps)
    n_frames = pose.n_frames
    duration = n_frames / fps
    features = dict.fromkeys(MOVEMENT_COLUMNS, float("nan"))
    qc: dict[str, Any] = {
        "status": "ok",
        "reason": "",
        "n_frames": n_frames,
        "fps": fps,
        "duration_s": round(duration, 4),
        "body_scale_px": float("nan"),
        "trunk_missing_fraction": float("nan"),
        **{f"missing_fraction_{limb}": float("nan") for limb in LIMBS},
        "limbs_used": 0,
        "limbs_excluded": "",
        "lowpass_hz_used": 0.0,
        "spectral_resolution_hz": float("nan"),
        "max_moving_fraction": float("nan"),
        "notes": "",
    }
    notes: list[str] = []

    def failed(reason: str) -> tuple[dict[str, float], dict]:
        qc.update(status="failed", reason=reason, notes="; ".join(notes))
        return dict.fromkeys(MOVEMENT_COLUMNS, float("nan")), qc

    if duration < cfg.min_duration_s:
        return failed(f"too short: {duration:.2f} s < {cfg.min_duration_s:g} s")

    # --- trunk: centre and body scale ----------------------------------------------------
    (ls, ls_obs), (rs, rs_obs), (lh, lh_obs), (rh, rh_obs) = (
        _joint_xy(pose, name) for name in _TRUNK_JOINTS
    )
    mid_shoulder, mid_hip = (ls + rs) / 2, (lh + rh) / 2  # NaN unless both sides present
    trunk_ok = np.isfinite(mid_shoulder).all(-1) & np.isfinite(mid_hip).all(-1)
    trunk_observed = trunk_ok & ls_obs & rs_obs & lh_obs & rh_obs
    trunk_missing = 1.0 - float(trunk_observed.mean())
    qc["trunk_missing_fraction"] = round(trunk_missing, 4)
    if not trunk_ok.any():
        return failed("no trunk keypoints (shoulders/hips) detected")
    if trunk_missing > _MAX_MISSING:
        return failed(
            f"trunk keypoints (shoulders/hips) missing in {100 * trunk_missing:.0f} % of frames "
            f"(> {100 * _MAX_MISSING:.0f} %)"
        )
    scale = float(np.median(np.linalg.norm(mid_shoulder - mid_hip, axis=1)[trunk_ok]))
    qc["body_scale_px"] = round(scale, 4)
    if not scale > 1e-6:
        return failed(f"degenerate trunk: median trunk length {scale:g} px")
    max_gap = int(np.floor(_MAX_GAP_S * fps + 1e-9))
    centre = _fill_short_gaps((mid_shoulder + mid_hip) / 2, max_gap)

    # --- filter design -------------------------------------------------------------------
    sos = None
    if cfg.lowpass_hz > 0:
        cutoff = float(cfg.lowpass_hz)
        nyquist = fps / 2
        if cutoff >= 0.95 * nyquist:
            cutoff = 0.9 * nyquist
            notes.append(
                f"lowpass_hz {cfg.lowpass_hz:g} >= Nyquist at {fps:g} fps; {cutoff:.3g} Hz used"
            )
        sos = butter(_FILTER_ORDER, cutoff, btype="low", fs=fps, output="sos")
        qc["lowpass_hz_used"] = round(cutoff, 4)
    if cfg.total_band_hz[1] > fps / 2:
        notes.append(f"bands above the Nyquist frequency {fps / 2:g} Hz hold no power")

    # --- limbs ---------------------------------------------------------------------------
    min_run = max(round(_MIN_RUN_S * fps), cfg.entropy_m + 2)
    limbs: dict[str, _Limb] = {}
    excluded = []
    resolution = []
    for limb in LIMBS:
        xy, observed = _joint_xy(pose, _LIMB_JOINT[limb])
        missing = 1.0 - float(observed.mean())
        qc[f"missing_fraction_{limb}"] = round(missing, 4)
        if missing > _MAX_MISSING:
            excluded.append(limb)
            notes.append(f"{limb} missing in {100 * missing:.0f} % of frames: features NaN")
            continue
        rel = _fill_short_gaps((xy - centre) / scale, max_gap)
        signals = _limb_signals(rel, fps, sos, min_run)
        if signals is None:
            excluded.append(limb)
            notes.append(f"{limb} has no valid stretch of {_MIN_RUN_S:g} s: features NaN")
            continue
        limbs[limb] = signals
        resolution.append(fps / _nperseg(signals.vel_runs, fps))
    qc["limbs_excluded"] = ",".join(excluded)
    qc["limbs_used"] = len(limbs)
    if not limbs:
        return failed(
            "all limbs missing: no wrist or ankle present in at least "
            f"{100 * (1 - _MAX_MISSING):.0f} % of frames"
        )
    qc["spectral_resolution_hz"] = round(max(resolution), 4)

    per_limb = {limb: _limb_features(sig, fps, cfg) for limb, sig in limbs.items()}
    max_moving = max(f["moving_fraction"] for f in per_limb.values())
    qc["max_moving_fraction"] = round(max_moving, 4)
    if max_moving < _MIN_MOVING_FRACTION:
        return failed(
            f"no movement detected: no limb faster than {cfg.moving_threshold:g} trunk lengths/s "
            f"in {100 * _MIN_MOVING_FRACTION:g} % of frames"
        )

    for limb, values in per_limb.items():
        for name, value in values.items():
            features[f"{name}_{limb}"] = value
    for name in ("speed_mean", "fidgety_power_fraction", "moving_fraction", "sample_entropy"):
        features[name] = _nanmean([v[name] for v in per_limb.values()])
    means = np.array([v["speed_mean"] for v in per_limb.values()])
    if means.size >= 2 and means.mean() > _STILL_EPS:
        features["speed_cv_between_limbs"] = float(means.std() / means.mean())

    max_lag = round(_COUPLING_MAX_LAG_S * fps)

    def coupling(a: str, b: str) -> float:
        if a not in limbs or b not in limbs:
            return float("nan")
        return _max_xcorr(limbs[a].speed_full, limbs[b].speed_full, max_lag, min_run)

    features["coupling_wrists"] = coupling("wrist_left", "wrist_right")
    features["coupling_ankles"] = coupling("ankle_left", "ankle_right")
    features["coupling_arm_leg"] = _nanmean(
        [coupling("wrist_left", "ankle_left"), coupling("wrist_right", "ankle_right")]
    )
    qc["notes"] = "; ".join(notes)
    return features, qc


# =============================================================================================
# Stage entry points (workflow rules and the CLI)
# =============================================================================================


def run(
    pose_path: str | Path,
    out_table: str | Path,
    out_qc: str | Path,
    cfg: MovementConfig | None = None,
    *,
    video_id: str | None = None,
    clean_qc: str | Path | None = None,
    fps: float | None = None,
) -> tuple[dict[str, float], dict]:
    """Features of one pose file → a one-row table (``video_id, status, reason, …``) and a
    QC record.  A video the cleaning QC excluded gets NaN features and that reason."""
    from motorflow.importers import load_any_pose

    cfg = cfg or MovementConfig()
    pose_path = Path(pose_path)
    video_id = video_id or pose_path.name.split(".")[0]
    rec = json.loads(Path(clean_qc).read_text()) if clean_qc is not None else {}
    pose = load_any_pose(pose_path, fps=fps)
    if rec.get("excluded"):
        reason = f"excluded by the cleaning QC: {rec.get('reason', 'no reason given')}"
        feats = dict.fromkeys(MOVEMENT_COLUMNS, float("nan"))
        qc: dict[str, Any] = {"status": "failed", "reason": reason}
    else:
        feats, qc = movement_features(pose, cfg)
    row = {"video_id": video_id, "status": qc["status"], "reason": qc["reason"], **feats}
    with atomic_path(out_table) as tmp:
        pd.DataFrame([row]).to_parquet(tmp, index=False)
    write_json({"video_id": video_id, **qc, "config": asdict(cfg)}, out_qc)
    return feats, qc


def aggregate(
    tables: list[str | Path],
    out_table: str | Path,
    *,
    subjects: dict[str, str],
    labels: dict[str, str],
) -> pd.DataFrame:
    """The cohort table: one row per video with subject and label (descriptive: the models
    read the per-video tables of their own split's videos)."""
    rows = cohort.read_rows(tables, subjects, labels, "movement feature")
    return cohort.write_table(rows, out_table)
