"""Tests of the general-movement features against analytic limb trajectories."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from motorflow.features.movement import (
    DATA_DICTIONARY,
    LIMBS,
    MOVEMENT_COLUMNS,
    MovementConfig,
    data_dictionary_markdown,
    movement_features,
    sample_entropy,
)
from motorflow.poseio import PoseData
from motorflow.skeleton import INDEX, N_JOINTS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "movement_features.md"
FPS = 30.0
TRUNK_PX = 100.0

Signal = Callable[[np.ndarray], np.ndarray]  # t (T,) -> offset (T, 2) in trunk lengths


# ---------------------------------------------------------------------------------------------
# Synthetic supine infant
# ---------------------------------------------------------------------------------------------


def infant(
    limbs: dict[str, Signal] | None = None,
    duration_s: float = 30.0,
    fps: float = FPS,
    trunk_px: float = TRUNK_PX,
    centre: tuple[float, float] = (400.0, 300.0),
    body_shift: Signal | None = None,
) -> PoseData:
    """A still infant (trunk of ``trunk_px``) whose limb end points follow ``limbs``.

    ``limbs`` maps joint names to offsets in trunk lengths added to the rest position;
    ``body_shift`` (px) moves every keypoint alike (whole-body translation).
    """
    n = round(duration_s * fps)
    t = np.arange(n) / fps
    cx, cy = centre
    rest = {  # in trunk lengths from the trunk centre; image y grows downwards
        "left_shoulder": (0.4, -0.5),
        "right_shoulder": (-0.4, -0.5),
        "left_hip": (0.3, 0.5),
        "right_hip": (-0.3, 0.5),
        "left_wrist": (0.9, 0.0),
        "right_wrist": (-0.9, 0.0),
        "left_ankle": (0.3, 1.5),
        "right_ankle": (-0.3, 1.5),
    }
    kp = np.zeros((n, N_JOINTS, 3))
    kp[..., 2] = 1.0
    for name, j in INDEX.items():
        kp[:, j, :2] = np.array(rest.get(name, (0.0, -1.0))) * trunk_px + (cx, cy)
    for name, signal in (limbs or {}).items():
        kp[:, INDEX[name], :2] += trunk_px * signal(t)
    if body_shift is not None:
        kp[..., :2] += body_shift(t)[:, None, :]
    return PoseData(kp, fps, (800, 600), "synthetic")


def sine_x(amp: float, freq: float) -> Signal:
    return lambda t: np.stack([amp * np.sin(2 * np.pi * freq * t), np.zeros_like(t)], axis=1)


def circle(radius: float, freq: float) -> Signal:
    w = 2 * np.pi * freq
    return lambda t: radius * np.stack([np.cos(w * t) - 1, np.sin(w * t)], axis=1)


def ellipse(rx: float, ry: float, freq: float) -> Signal:
    w = 2 * np.pi * freq
    return lambda t: np.stack([rx * np.cos(w * t) - rx, ry * np.sin(w * t)], axis=1)


def noise(seed: int, sd: float = 0.05) -> Signal:
    """White noise positions, the same on every call (a signal may be evaluated twice)."""
    return lambda t: sd * np.random.default_rng(seed).standard_normal((t.size, 2))


def assert_failed(result: tuple[dict, dict], reason: str) -> None:
    features, qc = result
    assert qc["status"] == "failed"
    assert reason in qc["reason"]
    assert tuple(features) == MOVEMENT_COLUMNS
    assert all(math.isnan(v) for v in features.values())


# ---------------------------------------------------------------------------------------------
# Known signals
# ---------------------------------------------------------------------------------------------


def test_fidgety_sinusoid_speed_and_spectrum():
    amp, freq = 0.2, 1.2  # trunk lengths, Hz
    features, qc = movement_features(infant({"left_wrist": sine_x(amp, freq)}))
    assert qc["status"] == "ok" and qc["reason"] == ""
    assert qc["body_scale_px"] == pytest.approx(TRUNK_PX)
    assert tuple(features) == MOVEMENT_COLUMNS
    assert all(isinstance(v, float) for v in features.values())
    assert features["fidgety_power_fraction_wrist_left"] > 0.9
    assert features["peak_frequency_wrist_left"] == pytest.approx(freq, abs=0.1)
    # Mean |velocity| of a 1-D sinusoid is 4 A f.
    assert features["speed_mean_wrist_left"] == pytest.approx(4 * amp * freq, rel=0.03)
    assert features["speed_p95_wrist_left"] == pytest.approx(
        2 * np.pi * amp * freq * np.sin(np.radians(0.95 * 90)), rel=0.03
    )
    # Mean |acceleration| of a sinusoid is (2 pi f)^2 A * 2/pi.
    assert features["accel_mean_wrist_left"] == pytest.approx(
        (2 * np.pi * freq) ** 2 * amp * 2 / np.pi, rel=0.05
    )
    # The other limbs are still: no speed, no rhythm to measure.
    assert features["speed_mean_wrist_right"] == pytest.approx(0.0, abs=1e-9)
    assert features["moving_fraction_wrist_right"] == 0.0
    assert math.isnan(features["peak_frequency_wrist_right"])
    assert features["speed_mean"] == pytest.approx(features["speed_mean_wrist_left"] / 4)


def test_lowpass_removes_jitter_before_differentiation():
    movement = sine_x(0.2, 1.2)
    jitter = sine_x(0.01, 13.0)  # small, but its acceleration is ~9x the movement's
    noisy = lambda t: movement(t) + jitter(t)[:, ::-1]  # noqa: E731  (jitter along y)
    clean, _ = movement_features(infant({"left_wrist": movement}, fps=60.0))
    smoothed, _ = movement_features(infant({"left_wrist": noisy}, fps=60.0))
    no_filter = MovementConfig(lowpass_hz=0)
    raw, _ = movement_features(infant({"left_wrist": noisy}, fps=60.0), no_filter)
    for key in ("speed_mean_wrist_left", "accel_mean_wrist_left"):
        assert smoothed[key] == pytest.approx(clean[key], rel=0.05), key
    assert raw["accel_mean_wrist_left"] > 3 * clean["accel_mean_wrist_left"]


def test_slow_movement_is_slow_band_dominant():
    features, _ = movement_features(infant({"right_ankle": sine_x(0.3, 0.3)}))
    assert features["slow_power_fraction_ankle_right"] > 0.9
    assert features["fidgety_power_fraction_ankle_right"] < 0.1
    assert features["peak_frequency_ankle_right"] == pytest.approx(0.3, abs=0.1)
    bands = ("slow", "fidgety", "fast")
    total = sum(features[f"{b}_power_fraction_ankle_right"] for b in bands)
    assert total == pytest.approx(1.0)  # the default bands tile the total band


def test_fast_movement_is_fast_band_dominant():
    features, _ = movement_features(infant({"left_ankle": sine_x(0.02, 3.5)}))
    assert features["fast_power_fraction_ankle_left"] > 0.9
    assert features["peak_frequency_ankle_left"] == pytest.approx(3.5, abs=0.1)


def _mixed_limbs() -> dict[str, Signal]:
    return {
        "left_wrist": sine_x(0.2, 1.2),
        "right_wrist": ellipse(0.15, 0.05, 0.8),  # not a circle: constant speed has no profile
        "left_ankle": sine_x(0.3, 0.3),
        "right_ankle": noise(1),
    }


def test_direction_invariance():
    """Speed and the x + y spectrum do not depend on the direction a limb moves in."""

    def rotated(signal: Signal, angle: float) -> Signal:
        c, s = np.cos(angle), np.sin(angle)
        return lambda t: signal(t) @ np.array([[c, s], [-s, c]])

    limbs = _mixed_limbs()
    ref, _ = movement_features(infant(limbs))
    turned, _ = movement_features(infant({k: rotated(v, 1.1) for k, v in limbs.items()}))
    for name in MOVEMENT_COLUMNS:
        assert turned[name] == pytest.approx(ref[name], rel=1e-3, abs=1e-6), name


def test_band_fractions_partition_broadband_power():
    features, _ = movement_features(infant({"left_wrist": noise(7)}))
    bands = ("slow", "fidgety", "fast")
    fractions = [features[f"{b}_power_fraction_wrist_left"] for b in bands]
    assert all(0.0 < f < 1.0 for f in fractions)
    assert sum(fractions) == pytest.approx(1.0, abs=1e-9)  # half-open bands: no bin twice


def test_size_invariance():
    small, _ = movement_features(infant(_mixed_limbs(), trunk_px=100.0))
    big, _ = movement_features(infant(_mixed_limbs(), trunk_px=200.0, centre=(700.0, 500.0)))
    for name in MOVEMENT_COLUMNS:
        assert big[name] == pytest.approx(small[name], rel=1e-3, abs=1e-6), name


def test_whole_body_translation_does_not_count():
    drift = lambda t: np.stack([40.0 * t, 25.0 * np.sin(2 * np.pi * 0.7 * t)], axis=1)  # noqa: E731
    still, _ = movement_features(infant(_mixed_limbs()))
    moved, qc = movement_features(infant(_mixed_limbs(), body_shift=drift))
    assert qc["status"] == "ok"
    for name in MOVEMENT_COLUMNS:
        assert moved[name] == pytest.approx(still[name], rel=1e-3, abs=1e-6), name


def test_moving_fraction_half_moving_half_still():
    def half(t: np.ndarray) -> np.ndarray:
        out = circle(0.1, 1.0)(t)  # constant speed 2 pi r f = 0.63 trunk lengths/s
        out[t >= t[-1] / 2] = out[t < t[-1] / 2][-1]  # then holds still
        return out

    features, _ = movement_features(infant({"left_ankle": half}))
    assert features["moving_fraction_ankle_left"] == pytest.approx(0.5, abs=0.02)
    assert features["moving_fraction_ankle_right"] == 0.0
    # A circle at constant speed moves in every frame.
    full, _ = movement_features(infant({"left_ankle": circle(0.1, 1.0)}))
    assert full["moving_fraction_ankle_left"] == 1.0
    assert full["speed_mean_ankle_left"] == pytest.approx(2 * np.pi * 0.1, rel=0.02)


# ---------------------------------------------------------------------------------------------
# Complexity and coupling
# ---------------------------------------------------------------------------------------------


def _sampen_brute_force(x: np.ndarray, m: int, r: float) -> float:
    """O(n^2) reference: Richman & Moorman with the first n - m templates."""
    tol = r * x.std()
    n = x.size
    counts = []
    for k in (m, m + 1):
        emb = np.stack([x[i : n - m + i] for i in range(k)], axis=1)
        d = np.abs(emb[:, None, :] - emb[None, :, :]).max(-1)
        counts.append((np.sum(d <= tol) - emb.shape[0]) / 2)
    return -np.log(counts[1] / counts[0])


def test_sample_entropy_known_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400)
    assert sample_entropy(x) == pytest.approx(_sampen_brute_force(x, 2, 0.2), rel=1e-12)
    assert sample_entropy(x, m=3, r=0.3) == pytest.approx(_sampen_brute_force(x, 3, 0.3))
    coarse = np.round(x, 1)  # many identical templates
    assert sample_entropy(coarse) == pytest.approx(_sampen_brute_force(coarse, 2, 0.2))
    # White noise: every extra template point matches with p = P(|x - y| <= 0.2 SD) for
    # independent x, y ~ N(0, 1), so SampEn = -ln p ~ 2.19.
    p = math.erf(0.2 / 2)
    assert sample_entropy(rng.standard_normal(3000)) == pytest.approx(-math.log(p), abs=0.1)
    # A periodic sequence: every template that matches keeps matching.
    assert sample_entropy(np.tile([0.0, 1.0, 0.0, -1.0], 200)) == pytest.approx(0.0, abs=1e-12)
    assert sample_entropy(np.sin(2 * np.pi * np.arange(2000) / 25)) < 0.35
    assert math.isnan(sample_entropy(np.ones(100)))  # no variability: undefined


def test_noise_is_more_complex_than_sinusoid():
    features, _ = movement_features(
        infant({"left_wrist": noise(2), "right_wrist": sine_x(0.2, 1.2)})
    )
    assert features["sample_entropy_wrist_left"] > features["sample_entropy_wrist_right"] + 1.0
    assert features["sample_entropy_wrist_right"] < 0.3


def test_coupling():
    same = sine_x(0.2, 1.2)
    features, _ = movement_features(infant({"left_wrist": same, "right_wrist": same}))
    assert features["coupling_wrists"] == pytest.approx(1.0, abs=1e-6)
    # A delayed copy within the lag window is found as well.
    delayed = lambda t: same(t - 0.2)  # noqa: E731
    features, _ = movement_features(infant({"left_wrist": same, "right_wrist": delayed}))
    assert features["coupling_wrists"] > 0.95
    # Coupling looks only within +/-0.5 s: the same irregular signal 1 s later is unrelated.
    irregular = noise(8)(np.arange(round(31 * FPS)) / FPS)
    early = lambda t: irregular[30:][: t.size]  # noqa: E731
    late = lambda t: irregular[: t.size]  # noqa: E731
    features, _ = movement_features(infant({"left_ankle": early, "right_ankle": late}))
    assert abs(features["coupling_ankles"]) < 0.3
    features, _ = movement_features(infant({"left_ankle": early, "right_ankle": early}))
    assert features["coupling_ankles"] == pytest.approx(1.0, abs=1e-6)
    features, _ = movement_features(
        infant(
            {
                "left_wrist": noise(3),
                "right_wrist": noise(4),
                "left_ankle": noise(5),
                "right_ankle": noise(6),
            }
        )
    )
    for name in ("coupling_wrists", "coupling_ankles", "coupling_arm_leg"):
        assert abs(features[name]) < 0.3, name


# ---------------------------------------------------------------------------------------------
# Missing data
# ---------------------------------------------------------------------------------------------


def test_short_gaps_are_bridged():
    full = infant({"left_wrist": sine_x(0.2, 1.2)})
    kp = full.keypoints.copy()
    kp[::10, INDEX["left_wrist"], :2] = np.nan  # single-frame gaps
    kp[100:105, INDEX["right_shoulder"], :2] = np.nan
    gappy = PoseData(kp, full.fps, full.frame_size, full.backend)
    ref, _ = movement_features(full)
    features, qc = movement_features(gappy)
    assert qc["status"] == "ok"
    assert qc["missing_fraction_wrist_left"] == pytest.approx(0.1)
    for name in ("speed_mean", "fidgety_power_fraction", "peak_frequency"):
        assert features[f"{name}_wrist_left"] == pytest.approx(ref[f"{name}_wrist_left"], rel=0.03)


def test_limb_missing_in_most_frames_is_nan_and_noted():
    pose = infant(_mixed_limbs())
    kp = pose.keypoints.copy()
    kp[: int(0.6 * pose.n_frames), INDEX["right_ankle"], :2] = np.nan
    features, qc = movement_features(PoseData(kp, pose.fps, pose.frame_size, pose.backend))
    assert qc["status"] == "ok"
    assert qc["limbs_excluded"] == "ankle_right" and qc["limbs_used"] == 3
    assert "ankle_right" in qc["notes"]
    assert all(math.isnan(v) for k, v in features.items() if k.endswith("ankle_right"))
    assert math.isnan(features["coupling_ankles"])
    assert np.isfinite(features["coupling_arm_leg"])  # the left side still counts
    ref, _ = movement_features(pose)
    left = [ref[f"speed_mean_{limb}"] for limb in LIMBS[:3]]
    assert features["speed_mean"] == pytest.approx(np.mean(left))


def test_imputed_frames_count_as_missing():
    pose = infant(_mixed_limbs())
    imputed = np.zeros(pose.keypoints.shape[:2], dtype=bool)
    imputed[: int(0.6 * pose.n_frames), INDEX["left_wrist"]] = True
    pose = PoseData(pose.keypoints, pose.fps, pose.frame_size, pose.backend, imputed=imputed)
    features, qc = movement_features(pose)
    assert qc["limbs_excluded"] == "wrist_left"
    assert math.isnan(features["speed_mean_wrist_left"])


# ---------------------------------------------------------------------------------------------
# Bad input: NaN features and a reason, never an exception
# ---------------------------------------------------------------------------------------------


def test_too_short():
    result = movement_features(infant(_mixed_limbs(), duration_s=3.0))
    assert_failed(result, "too short: 3.00 s < 5 s")
    assert_failed(movement_features(infant(duration_s=0.0)), "too short")


def test_no_trunk():
    pose = infant(_mixed_limbs())
    kp = pose.keypoints.copy()
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        kp[:, INDEX[name], :2] = np.nan
    result = movement_features(PoseData(kp, pose.fps, pose.frame_size, pose.backend))
    assert_failed(result, "no trunk keypoints (shoulders/hips) detected")
    nothing = PoseData(np.full_like(kp, np.nan), pose.fps, pose.frame_size, pose.backend)
    assert_failed(movement_features(nothing), "no trunk keypoints")


def test_trunk_missing_in_most_frames():
    pose = infant(_mixed_limbs())
    kp = pose.keypoints.copy()
    kp[: int(0.7 * pose.n_frames), INDEX["left_hip"], :2] = np.nan
    result = movement_features(PoseData(kp, pose.fps, pose.frame_size, pose.backend))
    assert_failed(result, "trunk keypoints (shoulders/hips) missing in 70 % of frames")


def test_all_limbs_missing():
    pose = infant(_mixed_limbs())
    kp = pose.keypoints.copy()
    for name in ("left_wrist", "right_wrist", "left_ankle", "right_ankle"):
        kp[:, INDEX[name], :2] = np.nan
    result = movement_features(PoseData(kp, pose.fps, pose.frame_size, pose.backend))
    assert_failed(result, "all limbs missing")
    assert result[1]["limbs_excluded"] == ",".join(LIMBS)


def test_no_movement():
    assert_failed(movement_features(infant()), "no movement detected")
    # Drifting along with the body is still no limb movement.
    drift = lambda t: np.stack([30.0 * t, 0.0 * t], axis=1)  # noqa: E731
    assert_failed(movement_features(infant(body_shift=drift)), "no movement detected")


def test_low_frame_rate_does_not_raise():
    features, qc = movement_features(infant(_mixed_limbs(), fps=8.0))
    assert qc["status"] == "ok"
    assert qc["lowpass_hz_used"] < 4.0
    assert "Nyquist" in qc["notes"]
    assert np.isfinite(features["speed_mean_wrist_left"])


# ---------------------------------------------------------------------------------------------
# Configuration, columns, documentation
# ---------------------------------------------------------------------------------------------


def test_config_from_mapping():
    cfg = MovementConfig.from_mapping({"fidgety_band_hz": [0.4, 2.5], "entropy_m": 3})
    assert cfg.fidgety_band_hz == (0.4, 2.5) and cfg.entropy_m == 3
    assert MovementConfig.from_mapping({}) == MovementConfig()
    assert MovementConfig.from_mapping(None) == MovementConfig()
    typos = r"'entropy_n' \(did you mean 'entropy_r'\?\), 'lowpas_hz' \(did you mean 'lowpass_hz'"
    with pytest.raises(ValueError, match=typos):
        MovementConfig.from_mapping({"lowpas_hz": 6, "entropy_n": 2})


@pytest.mark.parametrize(
    "values",
    [
        {"lowpass_hz": -1.0},
        {"moving_threshold": float("nan")},
        {"entropy_r": 0.0},
        {"entropy_m": 2.5},
        {"entropy_m": True},
        {"min_duration_s": "5"},
        {"fidgety_band_hz": (2.0, 0.5)},
        {"slow_band_hz": (0.1,)},
        {"fast_band_hz": 3.0},
    ],
)
def test_config_rejects_bad_values(values):
    with pytest.raises(ValueError, match=next(iter(values))):
        MovementConfig(**values)


def test_config_changes_features():
    pose = infant({"left_wrist": sine_x(0.2, 1.2)})
    narrow = MovementConfig(fidgety_band_hz=(1.5, 2.0))
    features, _ = movement_features(pose, narrow)
    assert features["fidgety_power_fraction_wrist_left"] < 0.1
    strict = MovementConfig(moving_threshold=10.0)
    assert_failed(movement_features(pose, strict), "no movement detected")


def test_columns_and_dictionary():
    assert len(MOVEMENT_COLUMNS) == len(set(MOVEMENT_COLUMNS)) == 9 * 4 + 8
    assert set(DATA_DICTIONARY) == set(MOVEMENT_COLUMNS)
    for name, (unit, definition) in DATA_DICTIONARY.items():
        assert unit and len(definition) > 20, name
    for limb in LIMBS:
        assert f"speed_mean_{limb}" in MOVEMENT_COLUMNS


def test_docs_page_lists_every_column():
    text = DOCS.read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", text, flags=re.MULTILINE))
    for name in MOVEMENT_COLUMNS:
        assert name in rows, f"{name} missing from {DOCS.name}"
        assert rows[name].strip() == DATA_DICTIONARY[name][0], name
    assert data_dictionary_markdown() in text  # the table is the generated one, verbatim
