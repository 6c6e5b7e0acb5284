"""Gait features: gait events, cycle-normalised kinematics and clinical gait features.

From a (cleaned) 2D pose, for a static camera and overground walking:

1. **Body scale** per frame: thigh + shank length in pixels (rolling median), plus the
   ankle height measured from the heel/toe keypoints, gives the leg length (hip joint to
   floor) in pixels.  Spatial features are expressed in leg lengths (``_leg``) and, when the
   subject's height is known, in metres via the leg length estimated from stature and age
   (:mod:`motorflow.anthropometry`: Winter's adult 0.530 × stature, less for children).
2. **View and direction**: sideways progression of the mid-hip (leg lengths/s) says side or
   oblique view and the walking direction per frame, so walks in either direction and walks
   with turns work; a walk towards or away from the camera (frontal view) keeps the temporal
   features only, since sagittal angles and step lengths are not observable in it.
3. **Gait events** (view independent): a foot is in contact while its heel or toe is still
   in the image (speed below ``contact_speed`` leg lengths/s).  Initial contact is the onset
   of contact and toe-off its end, both interpolated between frames.
4. **Cycles**: initial contact to the next initial contact of the same foot, kept when the
   walking direction is constant, the keypoints are present throughout and the duration is
   within ``max_cycle_ratio`` of the median stride.  Hip, knee and ankle sagittal angles of
   each cycle are resampled to 0–100 % (101 points).
5. **Features** (:data:`DATA_DICTIONARY`) are means over cycles or steps.

Every feature names the keypoints it needs (:data:`FEATURE_JOINTS`); the features of a subset
of keypoints are computed by masking the others, and :func:`supported_features` says which
features a subset supports.  Bad input never raises: features are NaN and the QC record says
why.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal

from motorflow import importers
from motorflow.anthropometry import leg_length_m
from motorflow.bouts import BoutConfig, Segment, segment
from motorflow.config import config_from_mapping
from motorflow.features import cohort
from motorflow.features.curves import (
    DEVIATION_COLUMNS,
    JOINTS3,
    N_POINTS,
    SIDES,
    DeviationReference,
    deviation_scores,
    fit_reference,
    load_mean_curves,
    nanmean,
    save_reference,
)
from motorflow.poseio import PoseData, atomic_path, write_json
from motorflow.skeleton import INDEX, JOINT_NAMES

# Winter: ankle height 0.039 H relative to thigh + shank 0.491 H; used when no heel/toe.
ANKLE_HEIGHT_PER_LEG_SEGMENTS = 0.039 / 0.491


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of the features stage (``features:`` in config/config.yaml)."""

    # A foot point slower than this (leg lengths per second) is on the floor.
    contact_speed: float = 0.3
    # Contact shorter than this is a foot passing slowly in swing; swing shorter than this is
    # jitter during stance (seconds).
    min_stance_s: float = 0.12
    min_swing_s: float = 0.12
    # Sideways progression (leg lengths/s) below which a frame is a stop, a turn or a
    # frontal-view walk.
    min_progression: float = 0.15
    # Cycles whose duration differs from the median stride by more than this factor are
    # discarded (a missed or spurious event).
    max_cycle_ratio: float = 1.5
    # Complete gait cycles per side needed for features.
    min_cycles: int = 2
    # Derivatives: Savitzky-Golay window (seconds) and polynomial order.
    derivative_window_s: float = 0.17
    # Relative change of body scale per second above which a non-progressing walk is frontal.
    min_depth_rate: float = 0.04
    # Fore-aft range of the feet around the hips (leg lengths, 5th-95th percentile) above
    # which the view is a side view (walking shows ~0.6-1.0; a frontal view ~0.2).
    min_foot_excursion: float = 0.35
    # Checks of every row (see consistency_problems): the event-based cadence may differ
    # from the label-free one (foot separation) by this fraction, and the relations between
    # features (cadence × stride time / 120 = 1, ...) may be off by this fraction.
    max_cadence_disagreement: float = 0.10
    consistency_tolerance: float = 0.05
    # Segmentation of a recording into walking bouts, turns and still periods.
    bouts: BoutConfig = BoutConfig()

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FeatureConfig:
        return config_from_mapping(cls, mapping, "features.gait")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- data dictionary

_S = "per side (_left, _right)"
DATA_DICTIONARY: dict[str, tuple[str, str]] = {
    "cadence_steps_per_min": ("steps/min", "60 / mean step time."),
    "stride_time_s": ("s", "Mean time from initial contact to the next of the same foot."),
    "step_time_s": ("s", "Mean time between consecutive initial contacts of opposite feet."),
    "stance_pct_left": ("% cycle", "Left initial contact to left toe-off, % of the cycle."),
    "stance_pct_right": ("% cycle", "Right stance, % of the right gait cycle."),
    "double_support_pct": (
        "% cycle",
        "Time with both feet in contact, % of the left gait cycle (both double-support periods).",
    ),
    "step_length_leg": (
        "leg lengths",
        "Mean fore-aft distance between footprints: from the trailing heel where it landed to "
        "the leading heel at its initial contact (ankles, else toes, when heels are missing). "
        "With a camera that pans with the walker: both heels at the leading heel's contact.",
    ),
    "stride_length_leg": (
        "leg lengths",
        "Mean left step length + mean right step length.",
    ),
    "walking_speed_leg_per_s": (
        "leg lengths/s",
        "Static camera: forward mid-hip displacement over the complete cycles divided by "
        "their duration; camera panning with the walker: stride length / stride time.",
    ),
    "step_length_m": ("m", "step_length_leg × leg length (from height_cm and age_months)."),
    "stride_length_m": ("m", "stride_length_leg × leg length (from height_cm and age_months)."),
    "walking_speed_m_per_s": ("m/s", "walking_speed_leg_per_s × leg length."),
    "knee_flexion_initial_contact_deg": ("deg", f"Knee flexion at initial contact, {_S}."),
    "knee_flexion_max_extension_deg": (
        "deg",
        f"Minimum knee flexion during stance (maximum extension), {_S}.",
    ),
    "knee_flexion_peak_swing_deg": ("deg", f"Maximum knee flexion of the cycle, {_S}."),
    "knee_rom_deg": ("deg", f"Knee flexion range over the cycle, {_S}."),
    "hip_rom_deg": ("deg", f"Hip flexion (thigh vs. vertical) range over the cycle, {_S}."),
    "ankle_rom_deg": ("deg", f"Ankle dorsi/plantarflexion range over the cycle, {_S}."),
    "trunk_sway_deg": (
        "deg",
        "Peak-to-peak sagittal trunk inclination (mid-hip → mid-shoulder vs. vertical) per "
        "left cycle, mean.",
    ),
    "step_length_asymmetry": (
        "ratio",
        "|mean left step − mean right step| / mean step (a step is named by the foot that lands).",
    ),
    "step_time_asymmetry": ("ratio", "|mean left step time − mean right| / mean step time."),
    "stride_time_cv": ("ratio", "Sample SD / mean of the stride times of both feet."),
    "n_cycles": ("count", "Complete gait cycles of the side with fewer of them."),
    "step_width_hip": (
        "hip widths",
        "Frontal bouts: mean mediolateral distance between the heels (ankles when heels are "
        "missing) at each initial contact, over the hip width (hip joint to hip joint) at "
        "that moment; both at one depth, so the ratio needs no camera model.",
    ),
    "arm_swing_left": (
        "trunk lengths",
        "Frontal bouts: extent (diagonal of the range box) of the left wrist's path relative "
        "to the left shoulder over each left cycle, over the trunk length, mean. Fore-aft "
        "swing is foreshortened in a frontal view: compare within one view only.",
    ),
    "arm_swing_right": ("trunk lengths", "As arm_swing_left, right arm, right cycles."),
    "arm_swing_asymmetry": ("ratio", "|arm_swing_left − arm_swing_right| / their mean."),
    "trunk_lateral_sway_deg": (
        "deg",
        "Frontal bouts: peak-to-peak lateral inclination of the trunk (mid-hip → mid-shoulder "
        "vs. the image vertical) per left cycle, mean.",
    ),
    "pelvic_obliquity_deg": (
        "deg",
        "Frontal bouts, proxy: peak-to-peak tilt of the hip line (left → right hip joint vs. "
        "the image horizontal) per left cycle, mean.",
    ),
    "knee_frontal_angle_deg": (
        "deg",
        f"Frontal bouts, valgus/varus proxy, {_S}: angle between thigh and shank in the image, "
        "+ when the knee lies medial to the hip–ankle line (valgus), − lateral (varus), mean "
        "over the side's cycles. Knee flexion seen from the front also bends this angle.",
    ),
    "turn_duration_s": (
        "s",
        "Median duration of the recording's turns (between straight bouts of opposite "
        "directions; see docs/features.md, 'Bouts and turns').",
    ),
    "turn_steps": ("count", "Median number of foot lifts per turn (both feet)."),
    "gait_deviation_index": (
        "score",
        "GDI-like: mean of the left and right indices. Per side: 100 − 10 × z of the log "
        "RMS distance of the side's mean cycle curves (hip, knee, ankle) from the reference "
        "group's mean curves, z relative to the reference group's own log distances "
        "(leave-one-subject-out). 100 = typical of the reference; every 10 points below = "
        "1 SD further away. Computed at aggregation (needs a reference).",
    ),
    "gait_deviation_index_left": ("score", "GDI-like index of the left side."),
    "gait_deviation_index_right": ("score", "GDI-like index of the right side."),
    "gait_profile_score_deg": (
        "deg",
        "GPS-like: RMS difference of the mean cycle curves (hip, knee, ankle; both sides) "
        "from the reference mean. Computed at aggregation.",
    ),
}
# Kinematic features reported per side (columns <name>_left, <name>_right).
SIDED_FEATURES: tuple[str, ...] = (
    "knee_flexion_initial_contact_deg",
    "knee_flexion_max_extension_deg",
    "knee_flexion_peak_swing_deg",
    "knee_rom_deg",
    "hip_rom_deg",
    "ankle_rom_deg",
    "knee_frontal_angle_deg",
)
for _name in SIDED_FEATURES:
    _unit, _text = DATA_DICTIONARY.pop(_name)
    for _side in SIDES:
        DATA_DICTIONARY[f"{_name}_{_side}"] = (_unit, _text.replace(_S, f"{_side} side"))

GAIT_COLUMNS: tuple[str, ...] = (
    "cadence_steps_per_min",
    "stride_time_s",
    "step_time_s",
    "stance_pct_left",
    "stance_pct_right",
    "double_support_pct",
    "step_length_leg",
    "stride_length_leg",
    "walking_speed_leg_per_s",
    "step_length_m",
    "stride_length_m",
    "walking_speed_m_per_s",
    *(f"{name}_{side}" for name in SIDED_FEATURES for side in SIDES),
    "trunk_sway_deg",
    "step_length_asymmetry",
    "step_time_asymmetry",
    "stride_time_cv",
    "n_cycles",
    "step_width_hip",
    "arm_swing_left",
    "arm_swing_right",
    "arm_swing_asymmetry",
    "trunk_lateral_sway_deg",
    "pelvic_obliquity_deg",
    "turn_duration_s",
    "turn_steps",
)
# Frontal-plane features: computed in frontal bouts only (NaN in side views).
FRONTAL_COLUMNS: tuple[str, ...] = (
    "step_width_hip",
    "arm_swing_left",
    "arm_swing_right",
    "arm_swing_asymmetry",
    "trunk_lateral_sway_deg",
    "pelvic_obliquity_deg",
    "knee_frontal_angle_deg_left",
    "knee_frontal_angle_deg_right",
)
TURN_COLUMNS: tuple[str, ...] = ("turn_duration_s", "turn_steps")
# Descriptive columns of every row (not features).
INFO_COLUMNS: tuple[str, ...] = (
    "video_id",
    "status",
    "reason",
    "view",
    "direction",
    "leg_length_px",
    "imputed_fraction",
    "n_bouts",
    "n_turns",
    "n_steps",
)


# --------------------------------------------------------------------------- keypoint mapping
# Requirements are alternatives (any one set of joints suffices), combined by product.

Requirement = tuple[frozenset[str], ...]


def _any(*names: str) -> Requirement:
    return tuple(frozenset([n]) for n in names)


def _all(*reqs: Requirement) -> Requirement:
    """Every requirement at once: the minimal sets of the product of the alternatives."""
    sets = {frozenset().union(*combo) for combo in itertools.product(*reqs)}
    return tuple(sorted((s for s in sets if not any(o < s for o in sets)), key=sorted))


_FOOT = {s: _any(f"{s}_heel", f"{s}_toe", f"{s}_ankle") for s in SIDES}
_LEG = {s: (frozenset(f"{s}_{j}" for j in JOINTS3),) for s in SIDES}
# Events need a foot point of each side and a body scale (one whole leg).
_EVENTS = _all(_FOOT["left"], _FOOT["right"], _LEG["left"] + _LEG["right"])
_TRUNK = _all(_any("left_shoulder", "right_shoulder"), _any("left_hip", "right_hip"))
_ANKLE = {s: (frozenset([f"{s}_knee", f"{s}_ankle", f"{s}_heel", f"{s}_toe"]),) for s in SIDES}
_HIP = {s: (frozenset([f"{s}_hip", f"{s}_knee"]),) for s in SIDES}

_KINEMATIC = (
    {f"{n}_{side}" for n in SIDED_FEATURES for side in SIDES}
    | {"trunk_sway_deg"}
    | set(FRONTAL_COLUMNS)
    | set(TURN_COLUMNS)
)
_ARM = {s: (frozenset([f"{s}_shoulder", f"{s}_wrist"]),) for s in SIDES}
_HIPS = (frozenset(["left_hip", "right_hip"]),)
# Every non-kinematic gait feature needs the events only.
FEATURE_JOINTS: dict[str, Requirement] = {n: _EVENTS for n in GAIT_COLUMNS if n not in _KINEMATIC}
for _side in SIDES:
    for _name in (
        "knee_flexion_initial_contact_deg",
        "knee_flexion_max_extension_deg",
        "knee_flexion_peak_swing_deg",
        "knee_rom_deg",
    ):
        FEATURE_JOINTS[f"{_name}_{_side}"] = _all(_EVENTS, _LEG[_side])
    FEATURE_JOINTS[f"hip_rom_deg_{_side}"] = _all(_EVENTS, _HIP[_side])
    FEATURE_JOINTS[f"ankle_rom_deg_{_side}"] = _all(_EVENTS, _ANKLE[_side])
FEATURE_JOINTS["trunk_sway_deg"] = _all(_EVENTS, _TRUNK)
for _side in SIDES:
    FEATURE_JOINTS[f"knee_frontal_angle_deg_{_side}"] = _all(_EVENTS, _LEG[_side], _HIPS)
    FEATURE_JOINTS[f"arm_swing_{_side}"] = _all(_EVENTS, _ARM[_side], _TRUNK)
FEATURE_JOINTS["arm_swing_asymmetry"] = _all(_EVENTS, _ARM["left"], _ARM["right"], _TRUNK)
FEATURE_JOINTS["step_width_hip"] = _all(_EVENTS, _HIPS)
FEATURE_JOINTS["trunk_lateral_sway_deg"] = _all(_EVENTS, _TRUNK)
FEATURE_JOINTS["pelvic_obliquity_deg"] = _all(_EVENTS, _HIPS)
for _name in TURN_COLUMNS:
    FEATURE_JOINTS[_name] = _all(_EVENTS, _TRUNK)
for _name in ("stance_pct_left", "stance_pct_right", "double_support_pct"):
    FEATURE_JOINTS[_name] = _all(_EVENTS, _any("left_toe"), _any("right_toe"))
# The deviation scores use every curve of both sides.
for _name in DEVIATION_COLUMNS:
    FEATURE_JOINTS[_name] = _all(
        _EVENTS, *(r for s in SIDES for r in (_LEG[s], _HIP[s], _ANKLE[s]))
    )


def supported_features(joints: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Features (in column order) computable from the given keypoints alone."""
    unknown = sorted(set(joints) - set(JOINT_NAMES))
    if unknown:
        raise ValueError(f"unknown keypoint name(s) {unknown}; known: {list(JOINT_NAMES)}")
    have = frozenset(joints)
    order = GAIT_COLUMNS + DEVIATION_COLUMNS
    return [f for f in order if any(req <= have for req in FEATURE_JOINTS[f])]


def describe_requirement(req: Requirement) -> str:
    """Readable form of a requirement: alternatives joined by ' | '."""
    return " | ".join("+".join(sorted(s)) for s in req)


# --------------------------------------------------------------------------- result type


@dataclass
class GaitResult:
    """Features of one walk, with the events and curves they come from."""

    features: dict[str, float]
    info: dict[str, object]  # status, reason, view, direction, ...
    events: dict[str, dict[str, list[float]]]  # initial_contact/toe_off → side → times (s)
    curves: dict[str, np.ndarray]  # "<joint>_<side>" → (n_cycles, 101) degrees

    def row(self) -> dict[str, object]:
        return {**{k: self.info.get(k) for k in INFO_COLUMNS}, **self.features}

    def mean_curves(self) -> np.ndarray:
        """(2 sides, 3 joints, 101) mean cycle curves; NaN where a side has no cycles."""
        out = np.full((2, len(JOINTS3), N_POINTS), np.nan)
        for i, side in enumerate(SIDES):
            for j, joint in enumerate(JOINTS3):
                c = self.curves.get(f"{joint}_{side}")
                if c is not None and len(c):
                    with warnings.catch_warnings():
                        # A subset without this joint has all-NaN curves: NaN is the answer.
                        warnings.simplefilter("ignore", RuntimeWarning)
                        out[i, j] = np.nanmean(c, axis=0)
        return out


def _failed(reason: str, info: dict | None = None) -> GaitResult:
    info = dict(info or {})
    info.update(status="failed", reason=reason)
    return GaitResult(
        features={c: float("nan") for c in GAIT_COLUMNS},
        info=info,
        events={"initial_contact": {}, "toe_off": {}},
        curves={},
    )


# --------------------------------------------------------------------------- signal helpers


def _interp_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN along axis 0 (edges held); all-NaN columns stay NaN."""
    x = np.array(x, dtype=float)
    flat = x.reshape(len(x), -1)
    idx = np.arange(len(x))
    for k in range(flat.shape[1]):
        ok = np.isfinite(flat[:, k])
        if ok.sum() >= 2:
            flat[:, k] = np.interp(idx, idx[ok], flat[ok, k])
    return flat.reshape(x.shape)


def _savgol_window(fps: float, seconds: float, n: int) -> int:
    w = max(5, int(round(seconds * fps)) | 1)
    return min(w, n - 1 if n % 2 == 0 else n)


def _velocity(xy: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """Savitzky-Golay derivative (units/s) of (T, ..., 2) positions; NaN where input is NaN."""
    filled = _interp_nan(xy)
    w = _savgol_window(fps, window_s, len(xy))
    if w < 5 or not np.isfinite(filled).any():
        return np.full_like(filled, np.nan)
    v = signal.savgol_filter(filled, w, 2, deriv=1, delta=1.0 / fps, axis=0, mode="interp")
    v[~np.isfinite(xy)] = np.nan
    return v


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _drop_short_runs(mask: np.ndarray, value: bool, min_len: int) -> np.ndarray:
    """Flip interior runs equal to ``value`` shorter than ``min_len`` frames."""
    out = mask.copy()
    for a, b in _runs(mask == value):
        if b - a < min_len and a > 0 and b < len(mask):
            out[a:b] = not value
    return out


def _parabolic(x: np.ndarray, i: int) -> float:
    """Sub-frame position of the extremum at sample ``i`` (parabola through 3 samples)."""
    if 0 < i < len(x) - 1 and np.isfinite(x[i - 1 : i + 2]).all():
        a, b, c = x[i - 1], x[i], x[i + 1]
        den = a - 2 * b + c
        if den != 0:
            return i + float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return float(i)


def _stride_frequency(x: np.ndarray, fps: float) -> float:
    """Dominant frequency (Hz) of a foot-minus-pelvis signal: once per stride."""
    ok = np.isfinite(x)
    y = signal.detrend(x[ok]) if ok.sum() > 8 else np.zeros(1)
    if len(y) < 8 or not np.any(y):
        return float("nan")
    f, p = signal.periodogram(y, fs=fps, nfft=max(1024, 8 * len(y)), window="hann")
    band = (f >= 0.25) & (f <= 3.0)  # strides from 0.33 s to 4 s
    return float(f[band][np.argmax(p[band])]) if band.any() else float("nan")


def _extrema(x: np.ndarray, fps: float, valid: np.ndarray) -> np.ndarray:
    """Times (s) of the once-per-stride maxima of ``x`` within valid frames."""
    f0 = _stride_frequency(np.where(valid, x, np.nan), fps)
    if not np.isfinite(f0):
        return np.array([])
    filled = _interp_nan(np.where(valid, x, np.nan))
    lo, hi = np.nanpercentile(filled, [5, 95])
    peaks, _ = signal.find_peaks(
        np.nan_to_num(filled, nan=lo), distance=max(1, int(0.6 * fps / f0)),
        prominence=0.3 * (hi - lo),
    )  # fmt: skip
    peaks = [i for i in peaks if valid[i]]
    return np.array([_parabolic(filled, i) / fps for i in peaks])


def label_free_cadence(
    feet: dict[str, np.ndarray],
    scale: np.ndarray,
    fps: float,
    valid: np.ndarray,
    vertical_only: bool = False,
) -> float:
    """Cadence (steps/min) from the separation of the two feet, blind to their labels.

    The distance between the feet (T, 2 → T) peaks once per step whichever foot is in front,
    and it is the same whether or not the pose model exchanged the left and right labels, so
    it checks the event-based cadence independently of the leg-label errors that corrupt it.
    The dominant frequency of the detrended separation within 30–240 steps/min (Hann-windowed,
    zero-padded periodogram, parabolic peak) over the ``valid`` frames (NaN elsewhere,
    interpolated).  NaN with less than 1.5 s of valid frames.  ``vertical_only`` for a
    frontal view: there the sideways separation is the step width, nearly constant, while
    the leading foot stands lower in the image (nearer the camera), once per step.
    """
    diff = feet["left"] - feet["right"]
    sep = np.abs(diff[:, 1]) if vertical_only else np.linalg.norm(diff, axis=-1)
    sep = sep / scale
    sep = np.where(valid, sep, np.nan)
    ok = np.flatnonzero(np.isfinite(sep))
    if len(ok) < 1.5 * fps:
        return float("nan")
    x = _interp_nan(sep[ok[0] : ok[-1] + 1])
    y = signal.detrend(x)
    if not np.any(y):
        return float("nan")
    f, p = signal.periodogram(y, fs=fps, nfft=max(8192, 16 * len(y)), window="hann")
    band = np.flatnonzero((f >= 0.5) & (f <= 4.0))
    if not band.size:
        return float("nan")
    i = band[int(np.argmax(p[band]))]
    if vertical_only:
        # From the front, a heel lifting at push-off (seen walking away) nears the leading
        # foot's height: two separation peaks per step, a strong harmonic at twice the step
        # frequency.  The signed separation (which foot leads: once per stride) says which
        # peak is the steps': the separation's spectrum must hold a peak within 10 % of
        # twice the stride frequency with at least a quarter of the band's greatest power;
        # else there is no label-free cadence.
        signed = diff[:, 1] / scale
        signed = np.where(valid, signed, np.nan)[ok[0] : ok[-1] + 1]
        stride_hz = _stride_frequency(signed, fps)
        if not np.isfinite(stride_hz):
            return float("nan")
        near = np.flatnonzero(np.abs(f / (2.0 * stride_hz) - 1.0) <= 0.1)
        near = near[(f[near] >= 0.5) & (f[near] <= 4.0)]
        if not near.size:
            return float("nan")
        j = near[int(np.argmax(p[near]))]
        local = 0 < j < len(p) - 1 and p[j] >= p[j - 1] and p[j] >= p[j + 1]
        if not local or p[j] < 0.25 * p[i]:
            return float("nan")
        return float(60.0 * np.interp(_parabolic(p, j), np.arange(len(f)), f))
    # Unequal left and right steps (hemiplegia) add a once-per-stride component that can
    # outweigh the steps: the step frequency is then the strong harmonic at twice it.
    j = int(np.argmin(np.abs(f - 2 * f[i])))
    near = p[max(j - 3, 0) : j + 4]
    if f[j] <= 4.0 and near.size and near.max() >= 0.25 * p[i]:
        i = max(j - 3, 0) + int(np.argmax(near))
    return float(60.0 * np.interp(_parabolic(p, i), np.arange(len(f)), f))


# Columns that rest on the toe-off events, and on the footprints of the steps.
_STANCE_COLUMNS = ("stance_pct_left", "stance_pct_right", "double_support_pct")
_LENGTH_COLUMNS = (
    "step_length_leg",
    "stride_length_leg",
    "step_length_m",
    "stride_length_m",
    "step_length_asymmetry",
)


def consistency_problems(f: dict[str, float], tol: float = 0.05) -> list[tuple[str, tuple]]:
    """Relations every feature row must satisfy: (sentence, columns it voids) per violation.

    * cadence × stride time / 120 = 1 and two mean step times = one mean stride: else the
      initial contacts are wrong and every column is void (``GAIT_COLUMNS``);
    * 0 < stance < 100 % on each side and 0 ≤ double support ≤ each stance (within
      ``100 × tol`` pp): else the toe-offs are wrong and the stance columns are void;
    * two mean step lengths = the stride length: else the footprints are.

    ``tol`` is the relative tolerance of the ratios.  NaN values are not checked (NaN is an
    answer with a reason, not a contradiction).
    """

    def val(name: str) -> float:
        v = f.get(name, float("nan"))
        return float(v) if v is not None else float("nan")

    out: list[tuple[str, tuple]] = []
    cad, stride, step = val("cadence_steps_per_min"), val("stride_time_s"), val("step_time_s")
    if np.isfinite(cad * stride) and abs(cad * stride / 120.0 - 1.0) > tol:
        out.append((
            f"cadence {cad:.1f} steps/min × stride time {stride:.3f} s / 120 = "
            f"{cad * stride / 120.0:.2f}, not 1",
            GAIT_COLUMNS,
        ))  # fmt: skip
    if np.isfinite(step * stride) and abs(2 * step / stride - 1.0) > tol:
        out.append((
            f"two step times (2 × {step:.3f} s) differ from the stride time {stride:.3f} s",
            GAIT_COLUMNS,
        ))  # fmt: skip
    stance = {s: val(f"stance_pct_{s}") for s in SIDES}
    for s, v in stance.items():
        if np.isfinite(v) and not 0.0 < v < 100.0:
            out.append((f"{s} stance {v:.1f} % outside 0–100 %", _STANCE_COLUMNS))
    ds = val("double_support_pct")
    known = [v for v in stance.values() if np.isfinite(v)]
    if np.isfinite(ds) and (ds > min(known + [100.0]) + 100 * tol or ds < -100 * tol):
        out.append((f"double support {ds:.1f} % outside 0 and the shorter stance", _STANCE_COLUMNS))
    sl, stl = val("step_length_leg"), val("stride_length_leg")
    if np.isfinite(sl * stl) and stl > 0 and abs(2 * sl / stl - 1.0) > tol:
        out.append((
            f"two step lengths (2 × {sl:.3f}) differ from the stride length {stl:.3f}",
            _LENGTH_COLUMNS,
        ))  # fmt: skip
    return out


def _label_free_side_events(
    heel: dict[str, np.ndarray],
    toe: dict[str, np.ndarray],
    hips_x: np.ndarray,
    fwd: np.ndarray,
    scale: np.ndarray,
    fps: float,
    valid: np.ndarray,
    frontal: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Side-view contacts that no left/right label error can add or drop.

    Initial contact: the feet are furthest apart (the leading heel furthest forward, Zeni's
    event, seen as the peak of the heels' fore-aft distance, once per step).  The contacts
    belong to the left and the right foot in turn; which foot made the first is the majority
    of the labels at the peaks.  Toe-off of the trailing foot: the toe furthest behind the
    pelvis, either foot's, before the next contact.  ``heel``/``toe``: side → (T,) image x.
    """
    sep = fwd * (heel["left"] - heel["right"]) / scale  # > 0: the left-labelled heel leads
    dist = np.where(valid, np.abs(sep), np.nan)
    empty = {s: np.array([]) for s in SIDES}
    ok = np.isfinite(dist)
    if ok.sum() < 1.5 * fps:
        return empty, {s: np.array([]) for s in SIDES}
    filled = _interp_nan(dist)
    if frontal:  # image y: the cadence needs the frontal rule (see label_free_cadence)
        feet = {s: np.stack([np.zeros_like(heel[s]), heel[s]], 1) for s in SIDES}
    else:
        feet = {s: heel[s][:, None] for s in SIDES}
    free = label_free_cadence(feet, scale, fps, valid, vertical_only=frontal)
    if not np.isfinite(free):
        return empty, {s: np.array([]) for s in SIDES}
    period = 60.0 * fps / free  # frames per step
    lo, hi = np.nanpercentile(filled, [5, 95])
    peaks, _ = signal.find_peaks(filled, distance=max(1, int(0.6 * period)),
                                 prominence=0.3 * (hi - lo))  # fmt: skip
    peaks = np.array([i for i in peaks if valid[i]], dtype=int)
    if len(peaks) < 3:
        return empty, {s: np.array([]) for s in SIDES}
    lead_left = sep[peaks] > 0
    first_left = np.mean(lead_left[::2]) + np.mean(~lead_left[1::2]) >= 1.0
    behind = np.fmin(fwd * (toe["left"] - hips_x), fwd * (toe["right"] - hips_x)) / scale
    ic: dict[str, list[float]] = {s: [] for s in SIDES}
    to: dict[str, list[float]] = {s: [] for s in SIDES}
    for k, i in enumerate(peaks):
        side = "left" if (k % 2 == 0) == first_left else "right"
        ic[side].append(_parabolic(filled, int(i)) / fps)
        end = int(peaks[k + 1]) if k + 1 < len(peaks) else min(len(sep), int(i + period))
        window = behind[i:end]
        if np.isfinite(window).sum() >= 3 and valid[i:end].all():
            j = i + int(np.nanargmin(window))
            if i < j < end - 1:  # an extreme inside the step, not at its edge
                to["right" if side == "left" else "left"].append(_parabolic(behind, j) / fps)
    return {s: np.array(v) for s, v in ic.items()}, {s: np.array(v) for s, v in to.items()}


def _still_events(
    speed: np.ndarray, fps: float, cfg: FeatureConfig, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contact onsets/ends where a foot point is still in the image (any view).

    The threshold adapts to the swing speed (a fraction of its 95th percentile), so keypoint
    jitter of a few pixels does not break a stance.
    """
    ok = np.isfinite(speed)
    if ok.sum() < 5:
        return np.array([]), np.array([])
    thr = max(cfg.contact_speed, 0.15 * float(np.percentile(speed[ok], 95)))
    c = np.where(ok, speed < thr, False)
    c = _drop_short_runs(c, False, max(1, int(round(cfg.min_swing_s * fps))))
    c = _drop_short_runs(c, True, max(1, int(round(cfg.min_stance_s * fps))))

    def cross(i: int) -> float:
        a, b = speed[i - 1], speed[i]
        frac = np.clip((a - thr) / (a - b), 0.0, 1.0) if np.isfinite(a - b) and a != b else 1
        return float((i - 1 + frac) / fps)

    on = [i for i in np.flatnonzero(~c[:-1] & c[1:]) + 1 if valid[i - 1] and valid[i]]
    off = [i for i in np.flatnonzero(c[:-1] & ~c[1:]) + 1 if valid[i - 1] and valid[i]]
    return np.array([cross(i) for i in on]), np.array([cross(i) for i in off])


def _facing(kp: np.ndarray, fps: float) -> np.ndarray:
    """Per frame: +1 facing image right, -1 left, 0 while turning or unknown.

    Votes of the feet (toes ahead of heels and ankles) and the head (nose ahead of the
    ears), smoothed over one second; frames within half a second of a change of the smoothed
    sign are a turn.
    """
    votes = []
    for a, b in (("toe", "heel"), ("toe", "ankle")):
        for s in SIDES:
            votes.append(np.sign(kp[:, INDEX[f"{s}_{a}"], 0] - kp[:, INDEX[f"{s}_{b}"], 0]))
    ears = np.nanmean(kp[:, [INDEX["left_ear"], INDEX["right_ear"]], 0], axis=1)
    votes.append(np.sign(kp[:, INDEX["nose"], 0] - ears))
    vote = np.nanmean(np.stack(votes, 1), axis=1)
    win = max(3, int(round(fps)))
    smooth = pd.Series(vote).rolling(win, center=True, min_periods=1).mean().to_numpy()
    facing = np.sign(np.nan_to_num(smooth))
    change = np.flatnonzero(np.diff(facing) != 0)
    half = int(round(0.5 * fps))
    for i in change:
        facing[max(0, i - half) : i + half + 1] = 0
    return facing


def _wrap(deg: np.ndarray) -> np.ndarray:
    """Angles in degrees wrapped to [-180, 180)."""
    return (deg + 180.0) % 360.0 - 180.0


def _seg_angle(p0: np.ndarray, p1: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Angle (deg) of the segment p0 → p1 from the image's downward vertical, forward +."""
    d = p1 - p0
    return np.degrees(np.arctan2(fwd * d[..., 0], d[..., 1]))


# --------------------------------------------------------------------------- the analysis


def gait_features(
    pose: PoseData,
    cfg: FeatureConfig | None = None,
    *,
    joints: list[str] | tuple[str, ...] | None = None,
    height_cm: float | None = None,
    age_months: float | None = None,
) -> GaitResult:
    """Gait events, cycle curves and features of one recording (see the module docstring).

    The recording is first cut into straight walking bouts, turns and still periods
    (:mod:`motorflow.bouts`).  Several bouts, or a frontal one, are analysed bout by bout and
    the recording's features are the median over the bouts that gave features (the QC record
    lists every bout and what it gave); a single side-view walk is analysed whole, since
    its stops and turns are handled frame by frame.  Turns add their duration and steps.

    ``joints``: compute from this subset of keypoints only (the others are ignored).
    ``height_cm``, ``age_months``: the subject's stature and age, for the metric columns
    (:func:`motorflow.anthropometry.leg_length_m`; without an age, adult proportions).
    """
    cfg = cfg or FeatureConfig()
    leg_m = leg_length_m(height_cm, age_months)
    # All-NaN slices are expected (absent joints) and handled explicitly below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        masked = _mask(pose, joints)
        segments, _ = segment(masked, cfg.bouts)
        walks = [s for s in segments if s.kind == "walk"]
        turns = [s for s in segments if s.kind == "turn"]
        fps = float(pose.fps)
        frontal = any(w.view == "frontal" for w in walks)
        result = None
        if len(walks) > 1 or frontal:
            result = _bout_features(pose, cfg, joints, leg_m, walks)
            if result.info["status"] != "ok" and not frontal:
                # Side-view passes too short on their own (a slow walker's pause cuts one
                # pass in two): the whole recording, whose stops are handled frame by frame.
                result = None
        if result is None:
            result = _walk_features(pose, cfg, joints, leg_m)
            result.info["n_bouts"] = int(result.info["status"] == "ok")
            if len(walks) == 1:
                result.info["bouts"] = [
                    {**walks[0].to_dict(fps), "status": result.info["status"],
                     "analysed": "whole recording"}
                ]  # fmt: skip
        result.info["segments"] = [s.to_dict(fps) for s in segments]
        result.info["n_turns"] = len(turns)
        if turns and result.info["status"] == "ok":
            result.features["turn_duration_s"] = float(
                np.median([(s.stop - s.start) / fps for s in turns])
            )
            result.features["turn_steps"] = float(np.median([s.steps or 0 for s in turns]))
        return result


def _mask(pose: PoseData, joints: list[str] | tuple[str, ...] | None) -> PoseData:
    """The pose with every keypoint outside ``joints`` NaN (all of them when None)."""
    if joints is None:
        return pose
    unknown = sorted(set(joints) - set(JOINT_NAMES))
    if unknown:
        raise ValueError(f"unknown keypoint name(s) {unknown}")
    kp = np.array(pose.keypoints)
    kp[:, [i for i, n in enumerate(JOINT_NAMES) if n not in set(joints)], :2] = np.nan
    return replace(pose, keypoints=kp, candidates=None)


def _slice(pose: PoseData, a: int, b: int) -> PoseData:
    return replace(
        pose,
        keypoints=pose.keypoints[a:b],
        imputed=None if pose.imputed is None else pose.imputed[a:b],
        candidates=None if pose.candidates is None else pose.candidates[a:b],
    )


def _walk_features(
    pose: PoseData,
    cfg: FeatureConfig,
    joints: list[str] | tuple[str, ...] | None,
    leg_m: float | None,
    forced: tuple[str, str] | None = None,
) -> GaitResult:
    """Features of one walk (a whole recording, or one bout of it)."""
    result = _gait_features(pose, cfg, joints, leg_m, forced=forced)
    result.info["events_method"] = "labels"
    reason = str(result.info.get("reason", ""))
    if (
        result.info["status"] != "ok"
        and result.info.get("view") in ("side", "frontal")
        and (reason.startswith(("inconsistent gait events", "too few gait cycles")))
    ):
        # Leg-label errors that outlived the cleaning (side view), or contacts lost in the
        # jitter of distant feet (frontal view), corrupt the per-foot events: take the
        # contacts from the feet's alternation instead.  The row passes the same checks and
        # keeps the features that need no per-foot labels.
        retry = _gait_features(pose, cfg, joints, leg_m, label_free=True, forced=forced)
        if retry.info["status"] == "ok":
            retry.info["events_method"] = "label-free"
            lost = (
                "stance, arm swing and knee angles NaN"
                if retry.info["view"] == "frontal"
                else "stance, lengths, speed and angles NaN"
            )
            retry.info["reason"] = "; ".join(
                [f"contacts from the feet's alternation: {lost} (with the leg labels: {reason})"]
                + [str(retry.info["reason"])] * bool(retry.info["reason"])
            )  # fmt: skip
            return retry
    return result


def _bout_features(
    pose: PoseData,
    cfg: FeatureConfig,
    joints: list[str] | tuple[str, ...] | None,
    leg_m: float | None,
    walks: list[Segment],
) -> GaitResult:
    """Features per straight bout; the recording's are their median (counts: sums)."""
    fps = float(pose.fps)
    done: list[tuple[Segment, GaitResult]] = []
    records = []
    for w in walks:
        forced = (w.view, w.direction) if w.view == "frontal" else None
        r = _walk_features(_slice(pose, w.start, w.stop), cfg, joints, leg_m, forced)
        rec = {**w.to_dict(fps), "status": r.info["status"], "reason": r.info.get("reason", ""),
               "events_method": r.info.get("events_method")}  # fmt: skip
        if r.info["status"] == "ok":
            rec.update(
                cadence_steps_per_min=round(r.features["cadence_steps_per_min"], 2),
                n_steps=int(r.info.get("n_steps", 0)),
                n_cycles=int(r.features["n_cycles"]),
            )
            done.append((w, r))
        records.append(rec)
    info: dict[str, object] = {"status": "ok", "reason": "", "bouts": records, "camera": "static"}
    if pose.imputed is not None and pose.n_frames:
        info["imputed_fraction"] = round(float(np.mean(pose.imputed)), 4)
    views = sorted({w.view for w in walks})
    info["view"] = views[0] if len(views) == 1 else "mixed"
    dirs = sorted({w.direction for w in walks})
    info["direction"] = dirs[0] if len(dirs) == 1 else "both"
    if not done:
        why = "; ".join(
            f"bout {k} ({rec['start_s']:.1f}–{rec['end_s']:.1f} s, {rec['view']} "
            f"{rec['direction']}): {rec['reason']}"
            for k, rec in enumerate(records, 1)
        )
        return _failed(f"no straight walking bout gave features: {why}", info)
    f = {c: float("nan") for c in GAIT_COLUMNS}
    for c in GAIT_COLUMNS:
        vals = np.array([r.features[c] for _, r in done], dtype=float)
        if np.isfinite(vals).any():
            f[c] = float(np.nanmedian(vals))
    f["n_cycles"] = float(sum(r.features["n_cycles"] for _, r in done))
    info["n_bouts"] = len(done)
    info["n_steps"] = int(sum(int(r.info.get("n_steps", 0)) for _, r in done))
    info["leg_length_px"] = round(float(np.median([r.info["leg_length_px"] for _, r in done])), 2)
    free = [r.info.get("cadence_label_free") for _, r in done]
    free = [v for v in free if v is not None]
    info["cadence_label_free"] = round(float(np.median(free)), 2) if free else None
    methods = sorted({str(r.info.get("events_method")) for _, r in done})
    info["events_method"] = methods[0] if len(methods) == 1 else "mixed"
    checks = [f"bout {k}: {c}" for k, (_, r) in enumerate(done, 1)
              for c in r.info.get("checks_failed", [])]  # fmt: skip
    events: dict[str, dict[str, list[float]]] = {
        "initial_contact": {s: [] for s in SIDES},
        "toe_off": {s: [] for s in SIDES},
    }
    curves: dict[str, list[np.ndarray]] = {}
    for w, r in done:
        for kind in events:
            for s in SIDES:
                events[kind][s] += [round(v + w.start / fps, 4) for v in r.events[kind].get(s, [])]
        for key, arr in r.curves.items():
            curves.setdefault(key, []).append(arr)
    notes = [f"median over {len(done)} of {len(walks)} straight bouts ({info['n_steps']} steps)"]
    if "frontal" in views:
        notes.append("frontal view: spatial features and sagittal angles are not observable (NaN)")
    problems = consistency_problems(f, cfg.consistency_tolerance)
    if problems:
        checks += [text for text, _ in problems]
        void = {c for _, cols in problems for c in cols}
        if void >= set(GAIT_COLUMNS):
            info["checks_failed"] = checks
            reason = "inconsistent gait events: " + "; ".join(t for t, _ in problems)
            return _failed_with_events(reason, info, events)
        for c in void:
            f[c] = float("nan")
        notes += [f"{text} ({', '.join(cols)} NaN)" for text, cols in problems]
    if checks:
        info["checks_failed"] = checks
    info["reason"] = "; ".join(notes)
    return GaitResult(
        features=f,
        info=info,
        events=events,
        curves={k: np.concatenate(v) for k, v in curves.items()},
    )


@dataclass
class _Walk:
    """What the phases of one walk's analysis share (see :func:`_gait_features`)."""

    kp: np.ndarray  # (T, V, 2) px, NaN where missing (and for joints outside the subset)
    fps: float
    frame_size: tuple[int, int]
    info: dict[str, object]
    present: dict[str, np.ndarray] = field(default_factory=dict)  # joint → (T,) bool
    legseg: np.ndarray | None = None  # thigh + shank, px, 1-s rolling median
    scale0: np.ndarray | None = None  # provisional leg length (Winter's ankle height), px
    scale: np.ndarray | None = None  # leg length with the measured ankle height, px
    hips: np.ndarray | None = None  # (T, 2) mid-hip
    foot_pts: dict[str, list[str]] = field(default_factory=dict)
    direction: np.ndarray | None = None  # per frame: ±1 walking direction (frontal: 1), 0
    fwd: np.ndarray | None = None  # per frame: direction, the overall one where 0
    known: np.ndarray | None = None  # per frame: a foot point of each side present

    @property
    def n(self) -> int:
        return len(self.kp)

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n) / self.fps

    @property
    def walking(self) -> np.ndarray:
        return self.direction != 0

    def J(self, name: str) -> np.ndarray:
        return self.kp[:, INDEX[name]]

    def first(self, side: str, order: tuple[str, ...], share: float = 0.0) -> str:
        """The first of the side's foot points (in ``order``) present on more than ``share``
        of the frames (any frame when 0)."""
        return next(
            f"{side}_{p}" for p in order
            if (self.present[f"{side}_{p}"].mean() > share if share else
                self.present[f"{side}_{p}"].any())
        )  # fmt: skip

    def at(self, arr: np.ndarray, tt: float) -> float:
        return float(np.interp(tt, self.t, arr))


def _gait_features(
    pose: PoseData,
    cfg: FeatureConfig,
    joints: list[str] | tuple[str, ...] | None,
    leg_m: float | None,
    label_free: bool = False,
    forced: tuple[str, str] | None = None,
) -> GaitResult:
    """One walk, phase by phase: body scale, feet, view, events, leg length, cycles,
    temporal, spatial and angular features, checks.  ``label_free``: contacts from the
    feet's alternation; ``forced``: (view, direction) of a bout of the segmentation."""
    kp = np.array(_mask(pose, joints).keypoints[..., :2], dtype=float)
    info: dict[str, object] = {"status": "ok", "reason": "", "view": "", "direction": ""}
    w = _Walk(kp, float(pose.fps), pose.frame_size, info)
    if pose.imputed is not None and w.n:
        info["imputed_fraction"] = round(float(np.mean(pose.imputed)), 4)
    w.present = {name: np.isfinite(w.J(name)).all(-1) for name in JOINT_NAMES}
    if w.n < 5 or w.n / w.fps < 2 * cfg.min_stance_s:
        return _failed(f"too short: {w.n} frames", info)
    failure = _body_and_feet(w) or _view(w, cfg, forced)
    if failure:
        return _failed(failure, info)
    ic, to = _events(w, cfg, label_free)
    events = {
        "initial_contact": {s: ic[s].round(4).tolist() for s in SIDES},
        "toe_off": {s: to[s].round(4).tolist() for s in SIDES},
    }
    if min(len(ic[s]) for s in SIDES) < 2:
        few = min(SIDES, key=lambda s: len(ic[s]))
        return _failed_with_events(
            f"too few gait cycles: {len(ic[few])} initial contact(s) of the {few} foot "
            "(the subject stands still, or the walk is too short)",
            info,
            events,
        )
    _leg_length(w, ic, to)
    cycles, med_stride = _cycles(w, cfg, ic)
    n_cycles = min(len(cycles[s]) for s in SIDES)
    if n_cycles < cfg.min_cycles:
        return _failed_with_events(
            f"too few gait cycles: {n_cycles} complete cycle(s) on the "
            f"{min(SIDES, key=lambda s: len(cycles[s]))} side, {cfg.min_cycles} needed",
            info,
            events,
        )
    f = {c: float("nan") for c in GAIT_COLUMNS}
    f["n_cycles"] = float(n_cycles)
    steps = _temporal(w, cfg, ic, to, cycles, med_stride, f)
    if not steps:
        return _failed_with_events("no alternating steps between the feet", info, events)
    info["n_steps"] = len(steps)
    # Contacts taken from the feet's alternation (see gait_features): the poses that
    # confused the leg labels are not trusted for toe-offs, footprints or angles either
    # (measured on the realistic cohort: stance off by up to 12 pp, step lengths by 40 %).
    if label_free:
        for c in _STANCE_COLUMNS:
            f[c] = float("nan")
    curves: dict[str, np.ndarray] = {}
    if info["view"] == "side" and not label_free:
        _spatial(w, steps, cycles, leg_m, f)
        curves = _sagittal(w, to, cycles, f)
    if info["view"] == "frontal":
        info["reason"] = (
            "frontal view: spatial features and sagittal angles are not observable (NaN)"
        )
        f.update(_frontal_features(kp, cycles, steps, w.fps, label_free))
    void_all = _checks(w, cfg, f, label_free)
    if void_all:
        return _failed_with_events(void_all, info, events)
    return GaitResult(features=f, info=info, events=events, curves=curves)


def _body_and_feet(w: _Walk) -> str:
    """Body scale and foot points; the reason when either is missing, else ''."""
    # Body scale: thigh + shank per frame (either side), then a 1-s rolling median.
    seg = []
    for s in SIDES:
        thigh = np.linalg.norm(w.J(f"{s}_knee") - w.J(f"{s}_hip"), axis=-1)
        shank = np.linalg.norm(w.J(f"{s}_ankle") - w.J(f"{s}_knee"), axis=-1)
        seg.append(thigh + shank)
    with np.errstate(all="ignore"):
        legseg = np.nanmean(np.stack(seg, 1), axis=1) if w.n else np.array([])
    if not np.isfinite(legseg).any():
        return "no complete leg (hip, knee, ankle) detected: no body scale"
    win = max(3, int(round(w.fps)))
    legseg = pd.Series(legseg).rolling(win, center=True, min_periods=1).median().to_numpy()
    w.legseg = _interp_nan(legseg)
    # Feet: the points available per side (heel and toe preferred).
    for s in SIDES:
        pts = [f"{s}_{p}" for p in ("heel", "toe") if w.present[f"{s}_{p}"].mean() > 0.5]
        if not pts and w.present[f"{s}_ankle"].mean() > 0.5:
            pts = [f"{s}_ankle"]
        w.foot_pts[s] = pts
    missing = [s for s in SIDES if not w.foot_pts[s]]
    if missing:
        return (
            "missing foot keypoints: no heel, toe or ankle on most frames for the "
            + " and ".join(missing)
            + " foot"
        )
    # Ankle height: measured after contact detection (_leg_length); a provisional scale
    # with Winter's proportion serves the thresholds until then.
    w.scale0 = w.legseg * (1 + ANKLE_HEIGHT_PER_LEG_SEGMENTS)
    with np.errstate(all="ignore"):
        w.hips = np.nanmean(np.stack([w.J("left_hip"), w.J("right_hip")], 0), axis=0)
    return ""


def _view(w: _Walk, cfg: FeatureConfig, forced: tuple[str, str] | None) -> str:
    """View, camera and walking direction per frame; the reason when nobody walks.

    In a side view the feet swing far in front of and behind the hips; a static camera
    also sees the hips progress, a panning camera (following the walker) does not.
    """
    info, n, fps, hips, scale0 = w.info, w.n, w.fps, w.hips, w.scale0
    # A walker is upright.  A trunk lying across the image is a video turned on its side (a
    # phone clip without its rotation metadata, or filmed sideways), not a walk to measure.
    with np.errstate(all="ignore"):
        shoulders = np.nanmean(np.stack([w.J("left_shoulder"), w.J("right_shoulder")], 0), 0)
        trunk = shoulders - hips
        tilt = np.degrees(np.arctan2(np.abs(trunk[:, 0]), -trunk[:, 1]))
    if np.isfinite(tilt).any() and np.nanmedian(tilt) > 60.0:
        info["view"] = "none"
        return (
            f"the body lies across the image (trunk {np.nanmedian(tilt):.0f} degrees from "
            "upright, median): the video looks rotated; turn it upright (e.g. ffmpeg -i IN "
            "-vf transpose=1 OUT, transpose=2 the other way) and run again"
        )
    cx = w.frame_size[0] / 2.0
    prog = (hips[:, 0] - cx) / scale0  # leg lengths, exact across depth for a pinhole camera
    vprog = _velocity(prog[:, None], fps, 1.0)[:, 0]
    moving_side = np.abs(vprog) >= cfg.min_progression
    side_frac = float(np.mean(moving_side[np.isfinite(vprog)])) if np.isfinite(vprog).any() else 0
    # Per foot: in a frontal view each foot stays on its own side of the hips, so pooling
    # the feet would mistake the step width for a fore-aft swing.
    ranges = []
    for s in SIDES:
        rel = (w.J(w.foot_pts[s][0])[:, 0] - hips[:, 0]) / scale0
        rel = rel[np.isfinite(rel)]
        if len(rel):
            ranges.append(float(np.ptp(np.percentile(rel, [5, 95]))))
    swing_range = float(np.mean(ranges)) if ranges else 0.0
    rate = _velocity(np.log(scale0)[:, None], fps, 1.0)[:, 0]
    info["camera"] = "static"
    if forced is not None and forced[0] == "frontal":
        # A frontal bout of the segmentation (bouts.py): the whole slice walks one way.
        info["view"], info["direction"] = forced
        direction = np.ones(n)
        fwd_sign = 1.0
    elif swing_range >= cfg.min_foot_excursion and side_frac >= 0.3:
        info["view"] = "side"
        direction = np.where(moving_side, np.sign(vprog), 0.0)
        fwd_sign = float(np.sign(np.nansum(vprog)))
        info["direction"] = "right" if fwd_sign > 0 else "left"
        if np.any(direction == -fwd_sign):
            info["direction"] = "both"
    elif swing_range >= cfg.min_foot_excursion:
        # A camera that pans with the walker: the direction is where the feet point.
        info["view"], info["camera"] = "side", "panning"
        direction = _facing(w.kp, fps)
        fwd_sign = 1.0 if np.sum(direction) >= 0 else -1.0
        info["direction"] = "right" if fwd_sign > 0 else "left"
        if np.any(direction == -fwd_sign):
            info["direction"] = "both"
    elif np.nanmedian(np.abs(rate)) >= cfg.min_depth_rate:
        info["view"] = "frontal"
        info["direction"] = "towards" if np.nansum(rate) > 0 else "away"
        direction = np.where(np.abs(rate) >= 0.5 * cfg.min_depth_rate, 1.0, 0.0)
        fwd_sign = 1.0
    else:
        info["view"] = "none"
        return "subject does not walk: no sideways or depth progression of the hips"
    w.direction = direction
    w.fwd = np.where(direction != 0, direction, fwd_sign)
    known = np.ones(n, bool)
    for s in SIDES:
        known &= np.isfinite(np.stack([w.J(p) for p in w.foot_pts[s]], 1)).any(1).all(-1)
    w.known = known
    return ""


def _events(
    w: _Walk, cfg: FeatureConfig, label_free: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Initial contacts and toe-offs (s) per side, by view and method."""
    fps, hips, scale0, valid = w.fps, w.hips, w.scale0, w.walking & w.known
    heel_order, toe_order = ("heel", "ankle", "toe"), ("toe", "ankle", "heel")
    ic: dict[str, np.ndarray] = {}
    to: dict[str, np.ndarray] = {}
    if w.info["view"] == "side" and not label_free:
        # Zeni et al. (2008): initial contact when the heel is furthest in front of the
        # pelvis, toe-off when the toe is furthest behind it; large, noise-robust extrema.
        for s in SIDES:
            rel_heel = w.fwd * (w.J(w.first(s, heel_order))[:, 0] - hips[:, 0]) / scale0
            rel_toe = w.fwd * (w.J(w.first(s, toe_order))[:, 0] - hips[:, 0]) / scale0
            ic[s] = _extrema(rel_heel, fps, valid)
            to[s] = _extrema(-rel_toe, fps, valid)
    elif w.info["view"] == "side":
        heel = {s: w.J(w.first(s, heel_order))[:, 0] for s in SIDES}
        toe = {s: w.J(w.first(s, toe_order))[:, 0] for s in SIDES}
        ic, to = _label_free_side_events(heel, toe, hips[:, 0], w.fwd, scale0, fps, valid)
    elif label_free:
        # Frontal: the leading foot stands lower in the image walking towards the camera
        # (nearer), higher walking away, so the feet's signed vertical separation swings
        # once per stride; its phase gives the contacts (see _phase_events).
        ahead = 1.0 if w.info["direction"] == "towards" else -1.0
        y = {s: w.J(w.first(s, ("ankle", "heel", "toe")))[:, 1] for s in SIDES}
        ic = _phase_events(ahead * (y["left"] - y["right"]) / scale0, fps, valid)
        to = {s: np.array([]) for s in SIDES}
    else:
        for s in SIDES:
            pts = np.stack([w.J(p) for p in w.foot_pts[s]], 1)  # (T, P, 2)
            v = _velocity(pts, fps, cfg.derivative_window_s)
            sp = np.nanmin(np.linalg.norm(v, axis=-1), axis=1) / scale0
            ic[s], to[s] = _still_events(sp, fps, cfg, valid)
    return ic, to


def _phase_events(sep: np.ndarray, fps: float, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Initial contacts from a signed once-per-stride separation (> 0: the left foot leads):
    band-passed around its dominant stride frequency (0.5–1.6 ×, zero-phase Butterworth),
    its maxima are left contacts and its minima right ones.  Distant feet jitter and a heel
    lifting at push-off (two separation peaks per step seen walking away) are outside the
    band; the contacts alternate by construction, so the checks' independent cadence must
    confirm them (see _checks)."""
    empty = {s: np.array([]) for s in SIDES}
    x = np.where(valid, sep, np.nan)
    ok = np.flatnonzero(np.isfinite(x))
    if len(ok) < 1.5 * fps:
        return empty
    a, b = ok[0], ok[-1] + 1
    y = _interp_nan(x[a:b])
    f0 = _stride_frequency(y, fps)
    if not np.isfinite(f0) or len(y) < 3 * fps / f0 / 2:
        return empty
    sos = signal.butter(2, [0.5 * f0, min(1.6 * f0, 0.45 * fps)], btype="band", fs=fps,
                        output="sos")  # fmt: skip
    z = signal.sosfiltfilt(sos, y - y.mean())
    dist = max(1, int(0.6 * fps / f0))
    out = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        peaks, _ = signal.find_peaks(sign * z, distance=dist)
        peaks = [i for i in peaks if valid[a + i]]
        out[side] = np.array([(a + _parabolic(sign * z, int(i))) / fps for i in peaks])
    return out


def _leg_length(w: _Walk, ic: dict[str, np.ndarray], to: dict[str, np.ndarray]) -> None:
    """Leg length: the ankle height over the lowest foot point in flat-foot contact frames
    (initial contact to the following toe-off), added to thigh + shank."""
    t = w.t
    ankle_h = []
    for s in SIDES:
        if not (w.present[f"{s}_heel"].any() or w.present[f"{s}_toe"].any()):
            continue
        contact = np.zeros(w.n, bool)
        for t0 in ic[s]:
            offs = to[s][to[s] > t0]
            if len(offs):
                contact[(t >= t0) & (t <= offs[0])] = True
        low = np.nanmax(np.stack([w.J(f"{s}_heel")[:, 1], w.J(f"{s}_toe")[:, 1]], 1), axis=1)
        h = (low - w.J(f"{s}_ankle")[:, 1]) / w.legseg
        ok = contact & np.isfinite(h) & (h > 0)
        if ok.sum() >= 3:
            ankle_h.append(np.percentile(h[ok], 10))
    ratio = float(np.median(ankle_h)) if ankle_h else ANKLE_HEIGHT_PER_LEG_SEGMENTS
    w.scale = w.legseg * (1 + ratio)
    w.info["leg_length_px"] = round(float(np.median(w.scale)), 2)


def _cycles(
    w: _Walk, cfg: FeatureConfig, ic: dict[str, np.ndarray]
) -> tuple[dict[str, list[tuple[float, float]]], float]:
    """IC to IC of the same foot, in one direction, with the foot points present and a
    duration within ``max_cycle_ratio`` of the median stride; and that median."""
    all_strides = np.concatenate([np.diff(ic[s]) for s in SIDES])
    med_stride = float(np.median(all_strides)) if len(all_strides) else float("nan")
    cycles: dict[str, list[tuple[float, float]]] = {}
    for s in SIDES:
        good = []
        for t0, t1 in zip(ic[s][:-1], ic[s][1:], strict=True):
            i0, i1 = int(np.floor(t0 * w.fps)), int(np.ceil(t1 * w.fps))
            i1 = min(i1, w.n - 1)
            dirs = w.direction[i0 : i1 + 1]
            ratio_ok = 1 / cfg.max_cycle_ratio <= (t1 - t0) / med_stride <= cfg.max_cycle_ratio
            if ratio_ok and np.all(dirs == dirs[0]) and dirs[0] != 0 and w.known[i0 : i1 + 1].all():
                good.append((float(t0), float(t1)))
        cycles[s] = good
    return cycles, med_stride


def _stance_of(to: dict[str, np.ndarray], s: str, t0: float, t1: float) -> float:
    """Stance duration (s) of the cycle t0…t1 of side ``s``: NaN unless one toe-off."""
    offs = to[s][(to[s] > t0) & (to[s] < t1)]
    return float(offs[0] - t0) if len(offs) == 1 else float("nan")


def _temporal(
    w: _Walk,
    cfg: FeatureConfig,
    ic: dict[str, np.ndarray],
    to: dict[str, np.ndarray],
    cycles: dict[str, list[tuple[float, float]]],
    med_stride: float,
    f: dict[str, float],
) -> list[tuple[float, str, float, str]]:
    """Stance, stride, step and double-support features into ``f``; the steps."""
    for s in SIDES:
        vals = [100 * _stance_of(to, s, t0, t1) / (t1 - t0) for t0, t1 in cycles[s]]
        f[f"stance_pct_{s}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
    strides = np.array([t1 - t0 for s in SIDES for t0, t1 in cycles[s]])
    f["stride_time_s"] = float(strides.mean())
    f["stride_time_cv"] = (
        float(strides.std(ddof=1) / strides.mean()) if len(strides) > 1 else math.nan
    )
    # Steps: consecutive alternating initial contacts inside one walking direction, and
    # inside a complete cycle of either foot, so that step and stride times describe the
    # same walking (a step the cycles left out would make them disagree).
    ev = sorted([(float(tt), s) for s in SIDES for tt in ic[s]])
    steps: list[tuple[float, str, float, str]] = []  # (t_from, side_from, t_to, side_to)
    spans = [c for s in SIDES for c in cycles[s]]
    for (ta, sa), (tb, sb) in zip(ev[:-1], ev[1:], strict=True):
        ia, ib = int(round(ta * w.fps)), int(round(tb * w.fps))
        same_dir = w.direction[ia] == w.direction[min(ib, w.n - 1)] != 0
        inside = any(t0 - 1e-9 <= ta and tb <= t1 + 1e-9 for t0, t1 in spans)
        if sa != sb and same_dir and inside and tb - ta < 0.5 * cfg.max_cycle_ratio * med_stride:
            steps.append((ta, sa, tb, sb))
    if not steps:
        return steps
    step_t = {s: np.array([tb - ta for ta, _, tb, sb in steps if sb == s]) for s in SIDES}
    all_st = np.concatenate([step_t[s] for s in SIDES])
    f["step_time_s"] = float(all_st.mean())
    f["cadence_steps_per_min"] = 60.0 / f["step_time_s"]
    if all(len(step_t[s]) for s in SIDES):
        f["step_time_asymmetry"] = float(
            abs(step_t["left"].mean() - step_t["right"].mean()) / all_st.mean()
        )
    # Double support over left cycles: overlap of both stance intervals.
    st_int = {}
    for s in SIDES:
        st_int[s] = []
        for tt in ic[s]:
            offs = to[s][to[s] > tt]
            if len(offs):
                st_int[s].append((float(tt), float(offs[0])))
    ds = []
    for t0, t1 in cycles["left"]:
        both = 0.0
        for a0, a1 in st_int["left"]:
            for b0, b1 in st_int["right"]:
                lo, hi = max(a0, b0, t0), min(a1, b1, t1)
                both += max(0.0, hi - lo)
        ds.append(100 * both / (t1 - t0))
    f["double_support_pct"] = float(np.mean(ds))
    # Toe-off is when the toes leave the floor; read off a heel or an ankle it comes early
    # (the heel rises first), so stance needs both toes, in every view.
    if not all(f"{s}_toe" in w.foot_pts[s] for s in SIDES):
        for c in _STANCE_COLUMNS:
            f[c] = float("nan")
    return steps


def _spatial(
    w: _Walk,
    steps: list[tuple[float, str, float, str]],
    cycles: dict[str, list[tuple[float, float]]],
    leg_m: float | None,
    f: dict[str, float],
) -> None:
    """Step and stride lengths, walking speed (side view) into ``f``."""
    cx = w.frame_size[0] / 2.0
    # Step length between footprints: from where the trailing heel landed to where the
    # leading heel lands.  A camera panning with the walker moves the footprints in the
    # image, so there both heels are read at the leading heel's contact instead (the
    # trailing heel has then begun to rise: a slight underestimate).
    foot_ref = {
        s: (_interp_nan(w.J(w.first(s, ("heel", "ankle", "toe"), 0.5))[:, 0]) - cx) / w.scale
        for s in SIDES
    }  # leg lengths
    static = w.info["camera"] == "static"
    step_len: dict[str, list[float]] = {s: [] for s in SIDES}
    for ta, sa, tb, sb in steps:
        d = w.fwd[min(int(round(tb * w.fps)), w.n - 1)]
        t_trail = ta if static else tb
        step_len[sb].append(d * (w.at(foot_ref[sb], tb) - w.at(foot_ref[sa], t_trail)))
    all_sl = np.array(step_len["left"] + step_len["right"])
    f["step_length_leg"] = float(all_sl.mean())
    if all(step_len[s] for s in SIDES):
        f["step_length_asymmetry"] = float(
            abs(np.mean(step_len["left"]) - np.mean(step_len["right"])) / all_sl.mean()
        )
        # A stride is a left and a right step.
        f["stride_length_leg"] = float(np.mean(step_len["left"]) + np.mean(step_len["right"]))
    if static:
        # Mid-hip displacement over the complete cycles (hips move smoothly: the most
        # precise speed a static camera gives).
        disp, dur = 0.0, 0.0
        mid = (_interp_nan(w.hips[:, 0]) - cx) / w.scale
        for s in SIDES:
            for t0, t1 in cycles[s]:
                disp += w.fwd[int(round(t0 * w.fps))] * (w.at(mid, t1) - w.at(mid, t0))
                dur += t1 - t0
        f["walking_speed_leg_per_s"] = disp / dur
    else:
        f["walking_speed_leg_per_s"] = f["stride_length_leg"] / f["stride_time_s"]
    if leg_m is not None:
        f["step_length_m"] = f["step_length_leg"] * leg_m
        f["stride_length_m"] = f["stride_length_leg"] * leg_m
        f["walking_speed_m_per_s"] = f["walking_speed_leg_per_s"] * leg_m


def _sagittal(
    w: _Walk,
    to: dict[str, np.ndarray],
    cycles: dict[str, list[tuple[float, float]]],
    f: dict[str, float],
) -> dict[str, np.ndarray]:
    """Sagittal angles (side view only: frontal projections of sagittal angles are not
    angles): the cycle curves, and the knee, hip, ankle and trunk features into ``f``."""
    J, fwd, t, fps, n = w.J, w.fwd, w.t, w.fps, w.n
    curves: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        shoulders = np.nanmean(np.stack([J("left_shoulder"), J("right_shoulder")], 0), 0)
    trunk = _wrap(-_seg_angle(w.hips, shoulders, fwd) + 180.0)  # 0 = upright, forward lean +
    for s in SIDES:
        thigh = _seg_angle(J(f"{s}_hip"), J(f"{s}_knee"), fwd)
        shank = _seg_angle(J(f"{s}_knee"), J(f"{s}_ankle"), fwd)
        foot = J(f"{s}_toe") - J(f"{s}_heel")
        elev = np.degrees(np.arctan2(-foot[:, 1], fwd * foot[:, 0]))  # toe up +
        angles = {"hip": thigh, "knee": _wrap(thigh - shank), "ankle": _wrap(elev - shank)}
        for joint, ang in angles.items():
            rows = []
            for t0, t1 in cycles[s]:
                tt = t0 + (t1 - t0) * np.linspace(0, 1, N_POINTS)
                i0, i1 = int(np.floor(t0 * fps)), min(int(np.ceil(t1 * fps)), n - 1)
                seg_ok = np.isfinite(ang[i0 : i1 + 1]).all()
                rows.append(np.interp(tt, t, ang) if seg_ok else np.full(N_POINTS, np.nan))
            curves[f"{joint}_{s}"] = np.array(rows)
        knee, hip, ank = (curves[f"{j}_{s}"] for j in ("knee", "hip", "ankle"))
        stance_end = []
        for t0, t1 in cycles[s]:
            st = _stance_of(to, s, t0, t1)
            stance_end.append(int(round(100 * st / (t1 - t0))) if np.isfinite(st) else N_POINTS - 1)
        with np.errstate(all="ignore"):
            f[f"knee_flexion_initial_contact_deg_{s}"] = nanmean(knee[:, 0])
            f[f"knee_flexion_max_extension_deg_{s}"] = nanmean(
                [np.min(r[: e + 1]) for r, e in zip(knee, stance_end, strict=True)]
            )
            f[f"knee_flexion_peak_swing_deg_{s}"] = nanmean(np.max(knee, axis=1))
            f[f"knee_rom_deg_{s}"] = nanmean(np.ptp(knee, axis=1))
            f[f"hip_rom_deg_{s}"] = nanmean(np.ptp(hip, axis=1))
            f[f"ankle_rom_deg_{s}"] = nanmean(np.ptp(ank, axis=1))
    sway = []
    for t0, t1 in cycles["left"]:
        tt = t0 + (t1 - t0) * np.linspace(0, 1, N_POINTS)
        sway.append(np.ptp(np.interp(tt, t, trunk)))
    f["trunk_sway_deg"] = nanmean(sway)
    return curves


def _checks(w: _Walk, cfg: FeatureConfig, f: dict[str, float], label_free: bool = False) -> str:
    """An independent cadence and the relations between the features.  A row that fails
    them is never published: the events behind it are wrong (typically leg-label errors
    adding or dropping contacts), so every feature built on them is NaN.  Returns the
    reason when the whole row is void, else '' (columns voided in ``f``, noted in info)."""
    info = w.info
    with np.errstate(all="ignore"):
        feet = {s: np.nanmean(np.stack([w.J(p) for p in w.foot_pts[s]], 1), axis=1) for s in SIDES}
    free = label_free_cadence(feet, w.scale, w.fps, w.walking & w.known, info["view"] == "frontal")
    info["cadence_label_free"] = round(free, 2) if np.isfinite(free) else None
    problems: list[tuple[str, tuple]] = []
    cad = f["cadence_steps_per_min"]
    if label_free and info["view"] == "frontal" and not np.isfinite(free):
        # Contacts from the separation's phase alternate by construction: unconfirmed, void.
        problems.append((
            "no cadence from the feet's separation confirms the contacts from its phase",
            GAIT_COLUMNS,
        ))  # fmt: skip
    if np.isfinite(free) and abs(cad / free - 1.0) > cfg.max_cadence_disagreement:
        problems.append((
            f"cadence from the gait events {cad:.1f} steps/min disagrees with the foot "
            f"separation's {free:.1f} steps/min ({100 * (cad / free - 1):+.0f} %)",
            GAIT_COLUMNS,
        ))  # fmt: skip
    problems += consistency_problems(f, cfg.consistency_tolerance)
    if not problems:
        return ""
    info["checks_failed"] = [text for text, _ in problems]
    void = {c for _, cols in problems for c in cols}
    if void >= set(GAIT_COLUMNS):
        return "inconsistent gait events: " + "; ".join(info["checks_failed"])
    for c in void:
        f[c] = float("nan")
    info["reason"] = "; ".join(
        [str(info["reason"])] * bool(info["reason"])
        + [f"{text} ({', '.join(cols)} NaN)" for text, cols in problems]
    )
    return ""


def _frontal_features(
    kp: np.ndarray,
    cycles: dict[str, list[tuple[float, float]]],
    steps: list[tuple[float, str, float, str]],
    fps: float,
    label_free: bool,
) -> dict[str, float]:
    """Frontal-plane features (see :data:`DATA_DICTIONARY`) of a frontal walk.

    With contacts from the feet's alternation (``label_free``) the per-side labels are not
    trusted: only what needs no left/right label is kept (step width, trunk sway, pelvis).
    """
    n = len(kp)
    t = np.arange(n) / fps

    def J(name: str) -> np.ndarray:
        return kp[:, INDEX[name]]

    def at(x: np.ndarray, tt: float) -> float:
        ok = np.isfinite(x)
        return float(np.interp(tt, t[ok], x[ok])) if ok.sum() >= 2 else float("nan")

    def span(t0: float, t1: float) -> slice:
        return slice(int(np.floor(t0 * fps)), min(int(np.ceil(t1 * fps)) + 1, n))

    out = {c: float("nan") for c in FRONTAL_COLUMNS}
    lh, rh = J("left_hip"), J("right_hip")
    hip_w = np.abs(lh[:, 0] - rh[:, 0])
    hip_w = pd.Series(hip_w).rolling(max(3, int(round(0.5 * fps))), center=True,
                                     min_periods=1).median().to_numpy()  # fmt: skip
    foot = {}
    for s in SIDES:
        name = next((f"{s}_{p}" for p in ("heel", "ankle")
                     if np.isfinite(J(f"{s}_{p}")).all(-1).mean() > 0.5), None)  # fmt: skip
        foot[s] = J(name)[:, 0] if name else np.full(n, np.nan)
    widths = [abs(at(foot["left"], tb) - at(foot["right"], tb)) / at(hip_w, tb)
              for _, _, tb, _ in steps]  # fmt: skip
    out["step_width_hip"] = nanmean(widths)
    with np.errstate(all="ignore"):
        sh = np.nanmean(np.stack([J("left_shoulder"), J("right_shoulder")]), 0)
        hp = np.nanmean(np.stack([lh, rh]), 0)
    trunk = np.linalg.norm(sh - hp, axis=-1)
    lateral = np.degrees(np.arctan2(sh[:, 0] - hp[:, 0], hp[:, 1] - sh[:, 1]))
    # The hip line from the image-left hip to the image-right one: a label swap cannot
    # flip its tilt.
    first = np.where((lh[:, 0] <= rh[:, 0])[:, None], lh, rh)
    second = np.where((lh[:, 0] <= rh[:, 0])[:, None], rh, lh)
    tilt = np.degrees(np.arctan2(second[:, 1] - first[:, 1], second[:, 0] - first[:, 0]))
    # Peak-to-peak of a short line between keypoints picks up their jitter: a median over
    # a sixth of a second keeps the once-per-stride tilt and drops single-frame spikes.
    k = max(3, int(round(fps / 6)) | 1)
    lateral, tilt = (
        pd.Series(a).rolling(k, center=True, min_periods=1).median().to_numpy()
        for a in (lateral, tilt)
    )
    sway, pelvis = [], []
    for t0, t1 in cycles["left"]:
        sl = span(t0, t1)
        sway.append(np.ptp(lateral[sl]) if np.isfinite(lateral[sl]).all() else np.nan)
        pelvis.append(np.ptp(tilt[sl]) if np.isfinite(tilt[sl]).all() else np.nan)
    out["trunk_lateral_sway_deg"] = nanmean(sway)
    out["pelvic_obliquity_deg"] = nanmean(pelvis)
    if label_free:
        return out
    for s in SIDES:
        o = "right" if s == "left" else "left"
        rel = (J(f"{s}_wrist") - J(f"{s}_shoulder")) / trunk[:, None]
        swings = []
        for t0, t1 in cycles[s]:
            seg = rel[span(t0, t1)]
            swings.append(float(np.hypot(*np.ptp(seg, axis=0))) if np.isfinite(seg).all()
                          else np.nan)  # fmt: skip
        out[f"arm_swing_{s}"] = nanmean(swings)
        # Valgus +: the thigh heads towards the midline (the other hip) and the shank back.
        medial = np.sign(J(f"{o}_hip")[:, 0] - J(f"{s}_hip")[:, 0])
        hip, knee, ankle = J(f"{s}_hip"), J(f"{s}_knee"), J(f"{s}_ankle")
        thigh = np.arctan2(knee[:, 0] - hip[:, 0], knee[:, 1] - hip[:, 1])
        shank = np.arctan2(ankle[:, 0] - knee[:, 0], ankle[:, 1] - knee[:, 1])
        angle = medial * np.degrees(thigh - shank)
        out[f"knee_frontal_angle_deg_{s}"] = nanmean(
            [np.nanmean(angle[span(t0, t1)]) for t0, t1 in cycles[s]]
        )
    a, b = out["arm_swing_left"], out["arm_swing_right"]
    out["arm_swing_asymmetry"] = abs(a - b) / ((a + b) / 2) if a + b > 0 else float("nan")
    return out


def _failed_with_events(reason: str, info: dict, events: dict) -> GaitResult:
    out = _failed(reason, info)
    out.events = events
    return out


# --------------------------------------------------------------------------- stage I/O


def save_curves(result: GaitResult, path: str | Path) -> None:
    arrays = {
        f"{j}_{s}": result.curves.get(f"{j}_{s}", np.empty((0, N_POINTS)))
        for j in JOINTS3
        for s in SIDES
    }
    arrays["mean"] = result.mean_curves()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def run(
    pose_path: str | Path,
    out_table: str | Path,
    out_curves: str | Path | None = None,
    out_qc: str | Path | None = None,
    cfg: FeatureConfig | None = None,
    *,
    video_id: str | None = None,
    height_cm: float | None = None,
    age_months: float | None = None,
    joints: list[str] | None = None,
    clean_qc: str | Path | None = None,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
) -> GaitResult:
    """Features of one pose file → a one-row table (+ curves, + QC record with events).

    A video the cleaning QC excluded gets NaN features and that reason, so the decision made
    upstream stays visible in the feature table.
    """
    cfg = cfg or FeatureConfig()
    pose_path = Path(pose_path)
    video_id = video_id or pose_path.name.split(".")[0]
    excluded = ""
    if clean_qc is not None:
        with open(clean_qc) as fh:
            rec = json.load(fh)
        if rec.get("excluded"):
            excluded = f"excluded by the cleaning QC: {rec.get('reason', 'no reason given')}"
    pose = importers.load_any_pose(pose_path, fps=fps, frame_size=frame_size)
    if excluded:
        result = _failed(excluded, {"view": "", "direction": ""})
    else:
        result = gait_features(pose, cfg, joints=joints, height_cm=height_cm, age_months=age_months)
    result.info["video_id"] = video_id
    row = pd.DataFrame([result.row()])
    with atomic_path(out_table) as tmp:
        row.to_parquet(tmp, index=False)
    if out_curves is not None:
        save_curves(result, out_curves)
    if out_qc is not None:
        write_json(
            {
                **{k: result.info.get(k) for k in INFO_COLUMNS},
                "n_cycles": result.features.get("n_cycles"),
                "cadence_label_free": result.info.get("cadence_label_free"),
                "events_method": result.info.get("events_method", "labels"),
                "checks_failed": result.info.get("checks_failed", []),
                "segments": result.info.get("segments", []),
                "bouts": result.info.get("bouts", []),
                "joints": sorted(joints) if joints is not None else "all",
                "events": result.events,
                "config": cfg.to_dict(),
            },
            out_qc,
        )
    return result


def aggregate(
    tables: list[str | Path],
    curves: list[str | Path],
    out_table: str | Path,
    *,
    subjects: dict[str, str],
    labels: dict[str, str],
    reference_label: str | None = "I",
    reference_file: str | Path | None = None,
    out_reference: str | Path | None = None,
) -> pd.DataFrame:
    """One row per video with subject and label, plus the GDI-like/GPS-like scores.

    The reference is ``reference_file`` when given, else the mean curves of the videos
    labelled ``reference_label`` (every such subject is scored leave-one-subject-out).  The
    models stage refits it on each fold's training subjects; this table is descriptive.
    """
    rows = cohort.read_rows(tables, subjects, labels, "feature")
    mean = {}
    for p in curves:
        vid = Path(p).name.split(".")[0]
        mean[vid] = load_mean_curves(p)
    reference, note = None, ""
    if reference_file:
        reference = DeviationReference.load(reference_file)
        note = f"reference file {reference_file}"
    elif reference_label is not None:
        reference, why = fit_reference(mean, subjects, labels, reference_label, rows["video_id"])
        note = (
            f"videos labelled {reference_label}"
            if reference is not None
            else f"no deviation scores: label {reference_label}: {why}"
        )
    else:
        note = "no deviation scores: no reference label or file configured"
    ok = dict(zip(rows["video_id"], rows["status"] == "ok", strict=True))
    scores = deviation_scores(reference, mean, subjects, ok)
    for col in DEVIATION_COLUMNS:
        rows[col] = rows["video_id"].map(scores[col]).astype(float)
    if out_reference is not None:
        save_reference(reference, out_reference, note)
    rows = cohort.write_table(rows, out_table)
    rows.attrs["deviation_reference"] = note
    return rows
