"""Tests of the cleaning stage against an analytic side-view walker with known truth."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from motorflow import clean
from motorflow.clean import CleanConfig, clean_pose, run
from motorflow.poseio import PoseData, load_pose, save_pose
from motorflow.skeleton import INDEX, N_JOINTS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEG_PARTS = ("hip", "knee", "ankle", "heel", "toe")
ARM_PARTS = ("shoulder", "elbow", "wrist")


# ---------------------------------------------------------------------------------------------
# Synthetic side-view walker
# ---------------------------------------------------------------------------------------------


def walker(
    fps: float = 30.0,
    duration_s: float = 6.0,
    height: float = 300.0,
    x0: float = 200.0,
    ground_y: float = 900.0,
    stride_hz: float = 0.9,
    speed: float | None = None,
    jump_hz: float = 0.0,
    jump_px: float = 0.0,
    view: str = "side",
) -> np.ndarray:
    """(T, 21, 3) truth of a person seen from the side, walking to the right (+x).

    Legs are two-segment pendulums with sinusoidal hip and knee angles in antiphase, arms
    swing opposite to the leg of their side, the hip centre translates at ``speed`` px/s
    (default: one stride length per stride).  ``height`` is nose-to-ground.  With
    ``speed=0`` and ``jump_*`` set it is a person jumping on the spot instead.
    ``view="front"`` keeps the vertical motion but replaces each joint's horizontal
    position by its lateral offset from ``x0`` (facing the camera: the subject's left on
    image right).
    """
    h = height
    t = np.arange(round(duration_s * fps)) / fps
    w = 2 * np.pi * stride_hz
    thigh, shank, upper_arm, forearm = 0.27 * h, 0.27 * h, 0.17 * h, 0.15 * h
    if speed is None:
        speed = 2 * 2 * np.sin(np.radians(25)) * (thigh + shank) * stride_hz
    hop = jump_px * np.abs(np.sin(np.pi * jump_hz * t)) if jump_hz else 0.0
    hip = np.stack(
        [x0 + speed * t, ground_y - 0.58 * h + 0.01 * h * np.sin(2 * w * t) - hop], axis=1
    )
    kp = np.zeros((t.size, N_JOINTS, 3))
    kp[..., 2] = 1.0

    def put(name: str, xy: np.ndarray) -> None:
        kp[:, INDEX[name], :2] = xy

    def unit(angle: np.ndarray) -> np.ndarray:  # angle from straight down, forward positive
        return np.stack([np.sin(angle), np.cos(angle)], axis=1)

    moving = 1.0 if speed else 0.0
    for side, phase, dx in (("left", 0.0, 2.0), ("right", np.pi, -2.0)):
        hip_angle = moving * np.radians(25) * np.sin(w * t + phase)
        knee_flex = moving * np.radians(5 + 30 * (1 + np.cos(w * t + phase)) / 2)
        hip_j = hip + [dx, 0.0]
        knee = hip_j + thigh * unit(hip_angle)
        ankle = knee + shank * unit(hip_angle - knee_flex)
        put(f"{side}_hip", hip_j)
        put(f"{side}_knee", knee)
        put(f"{side}_ankle", ankle)
        put(f"{side}_heel", ankle + [-0.04 * h, 0.04 * h])
        put(f"{side}_toe", ankle + [0.10 * h, 0.045 * h])
        shoulder = hip + [0.02 * h + dx, -0.30 * h]
        arm_angle = -moving * np.radians(20) * np.sin(w * t + phase)
        elbow = shoulder + upper_arm * unit(arm_angle)
        put(f"{side}_shoulder", shoulder)
        put(f"{side}_elbow", elbow)
        put(f"{side}_wrist", elbow + forearm * unit(arm_angle + np.radians(25)))
    nose = hip + [0.05 * h, -0.42 * h]
    put("nose", nose)
    for side, dx in (("left", 1.0), ("right", -1.0)):
        put(f"{side}_eye", nose + [-0.01 * h + dx, -0.02 * h])
        put(f"{side}_ear", nose + [-0.06 * h + dx, -0.015 * h])
    if view == "front":
        lateral = {
            "hip": 0.08,
            "knee": 0.075,
            "ankle": 0.07,
            "heel": 0.07,
            "toe": 0.075,
            "shoulder": 0.12,
            "elbow": 0.14,
            "wrist": 0.15,
            "eye": 0.02,
            "ear": 0.045,
        }
        kp[:, INDEX["nose"], 0] = x0  # walking on the spot, as on a treadmill
        for part, off in lateral.items():
            kp[:, INDEX[f"left_{part}"], 0] = x0 + off * h
            kp[:, INDEX[f"right_{part}"], 0] = x0 - off * h
    return kp


def as_pose(kp: np.ndarray, fps: float = 30.0, **kw) -> PoseData:
    return PoseData(keypoints=kp, fps=fps, frame_size=(1920, 1080), backend="synthetic", **kw)


def add_noise(kp: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    out = kp.copy()
    out[..., :2] += np.random.default_rng(seed).normal(0.0, std, out[..., :2].shape)
    return out


def exchange(kp: np.ndarray, frames: np.ndarray, parts: tuple[str, ...]) -> np.ndarray:
    out = kp.copy()
    left = [INDEX[f"left_{p}"] for p in parts]
    right = [INDEX[f"right_{p}"] for p in parts]
    out[np.ix_(frames, left + right)] = kp[np.ix_(frames, right + left)]
    return out


def random_runs(n: int, fraction: float, rng: np.random.Generator, max_len: int = 5):
    """Boolean mask of random runs of 1..max_len frames covering ~``fraction`` of n."""
    mask = np.zeros(n, dtype=bool)
    while mask.mean() < fraction:
        start = int(rng.integers(0, n))
        mask[start : start + int(rng.integers(1, max_len + 1))] = True
    return mask


def swapped_frames(kp: np.ndarray, truth: np.ndarray, height: float) -> np.ndarray:
    """Frames whose leg labels are exchanged relative to truth.

    Judged where the legs are apart (truth ankles > 5 % of body height), by whether the
    exchanged assignment of knees and ankles is closer to truth than the identity one.
    """
    parts = ("knee", "ankle")
    left = [INDEX[f"left_{p}"] for p in parts]
    right = [INDEX[f"right_{p}"] for p in parts]

    def cost(a: list[int], b: list[int]) -> np.ndarray:
        return np.linalg.norm(kp[:, a, :2] - truth[:, b, :2], axis=-1).sum(1)

    keep = cost(left, left) + cost(right, right)
    swap = cost(left, right) + cost(right, left)
    sep = np.linalg.norm(truth[:, left[1], :2] - truth[:, right[1], :2], axis=-1)
    apart = sep > 0.05 * height
    return apart & (swap < keep)


def nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of True runs in a 1-D mask."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


# ---------------------------------------------------------------------------------------------
# Swaps
# ---------------------------------------------------------------------------------------------


def test_generator_is_a_plausible_walker():
    kp = walker()
    assert kp.shape == (180, N_JOINTS, 3)
    la, ra = INDEX["left_ankle"], INDEX["right_ankle"]
    sep = np.abs(kp[:, la, 0] - kp[:, ra, 0])
    assert sep.max() > 0.25 * 300  # legs really open up...
    assert (np.diff(np.sign(kp[:, la, 0] - kp[:, ra, 0])) != 0).sum() >= 8  # ... and cross
    assert 250 < np.median(kp[:, la, 1] - kp[:, INDEX["nose"], 1]) < 320


@pytest.mark.parametrize("seed", range(5))
def test_leg_swaps_are_corrected(seed):
    rng = np.random.default_rng(seed)
    truth = walker()
    injected = random_runs(len(truth), 0.20, rng)
    raw = exchange(add_noise(truth, 2.0, seed), np.flatnonzero(injected), LEG_PARTS)
    assert swapped_frames(raw, truth, 300).mean() > 0.15  # the injection is real

    cleaned, qc = clean_pose(as_pose(raw), CleanConfig())

    assert swapped_frames(cleaned.keypoints, truth, 300).mean() <= 0.01
    assert qc["swaps_fixed"]["legs"] == pytest.approx(injected.sum(), abs=3)
    assert qc["swaps_fixed"]["arms"] == 0


def test_arm_swaps_are_corrected_independently_of_legs():
    rng = np.random.default_rng(7)
    truth = walker()
    arms = random_runs(len(truth), 0.15, rng, max_len=4)
    raw = exchange(add_noise(truth, 1.0, 7), np.flatnonzero(arms), ARM_PARTS)
    cleaned, qc = clean_pose(as_pose(raw), CleanConfig())
    lw, rw = INDEX["left_wrist"], INDEX["right_wrist"]
    err = np.linalg.norm(cleaned.keypoints[:, [lw, rw], :2] - truth[:, [lw, rw], :2], axis=-1)
    apart = np.linalg.norm(truth[:, lw, :2] - truth[:, rw, :2], axis=-1) > 15
    assert np.mean(err[apart].max(1) > 10) <= 0.01
    assert qc["swaps_fixed"]["arms"] == pytest.approx(arms.sum(), abs=3)
    assert qc["swaps_fixed"]["legs"] == 0


@pytest.mark.parametrize("view", ["side", "front"])
def test_no_swaps_means_no_corrections(view):
    for seed in range(3):
        _, qc = clean_pose(as_pose(add_noise(walker(view=view), 3.0, seed)), CleanConfig())
        assert qc["swaps_fixed"] == {"legs": 0, "arms": 0}


def test_frontal_whole_side_mirrors_are_corrected():
    """Facing the camera, detectors mirror the whole body; legs and arms are fixed together
    with their hips and shoulders."""
    rng = np.random.default_rng(3)
    truth = walker(view="front")
    mirrored = np.flatnonzero(random_runs(len(truth), 0.15, rng))
    raw = exchange(add_noise(truth, 2.0, 3), mirrored, LEG_PARTS + ARM_PARTS)
    cleaned, qc = clean_pose(as_pose(raw), CleanConfig())
    assert qc["swaps_fixed"] == {"legs": len(mirrored), "arms": len(mirrored)}
    limbs = [INDEX[f"{side}_{p}"] for side in ("left", "right") for p in LEG_PARTS + ARM_PARTS]
    err = np.linalg.norm(cleaned.keypoints[:, limbs, :2] - truth[:, limbs, :2], axis=-1)
    assert err.max() < 0.03 * 300


def test_mostly_swapped_detector_is_not_flipped_globally():
    """Continuity cannot tell a consistently mirrored video; the detector's labels stand."""
    truth = walker()
    everything = np.arange(len(truth))
    raw = exchange(truth, everything, LEG_PARTS)
    _, qc = clean_pose(as_pose(raw), CleanConfig())
    assert qc["swaps_fixed"]["legs"] == 0


def test_swaps_are_corrected_across_short_gaps():
    rng = np.random.default_rng(11)
    truth = walker()
    injected = random_runs(len(truth), 0.20, rng)
    raw = exchange(add_noise(truth, 1.0, 11), np.flatnonzero(injected), LEG_PARTS)
    raw[rng.random(len(raw)) < 0.1, :, 2] = 0.0  # 10 % of frames lost entirely
    cleaned, _ = clean_pose(as_pose(raw), CleanConfig())
    assert swapped_frames(cleaned.keypoints, truth, 300).mean() <= 0.02


def test_swap_fixing_can_be_disabled():
    truth = walker()
    raw = exchange(truth, np.arange(10, 14), LEG_PARTS)
    _, qc = clean_pose(as_pose(raw), CleanConfig(fix_swaps=False))
    assert qc["swaps_fixed"] == {"legs": 0, "arms": 0}


# ---------------------------------------------------------------------------------------------
# Gaps
# ---------------------------------------------------------------------------------------------


def test_short_gaps_filled_and_flagged_long_gaps_left():
    truth = walker()
    raw = truth.copy()
    raw[..., 2] = 0.9
    la, lk = INDEX["left_ankle"], INDEX["left_knee"]
    raw[49, la, 2], raw[55, la, 2] = 0.8, 0.6
    raw[50:55, la, 2] = 0.1  # 5 frames of one joint, below min_confidence
    raw[100:105, :, :2] = np.nan  # 5 frames of everything
    raw[130:145, lk, :2] = np.nan  # 15 frames = 0.5 s > max_gap_s

    cleaned, qc = clean_pose(as_pose(raw), CleanConfig(lowpass_hz=0))
    kp, imputed = cleaned.keypoints, cleaned.imputed

    assert imputed[50:55, la].all() and imputed[100:105].all()
    assert np.isfinite(kp[50:55, la, :2]).all() and np.isfinite(kp[100:105, :, :2]).all()
    err = np.linalg.norm(kp[50:55, la, :2] - truth[50:55, la, :2], axis=-1)
    assert err.max() < 0.02 * 300  # PCHIP follows the swinging ankle
    np.testing.assert_allclose(kp[50:55, la, 2], 0.6)  # the weaker neighbour's confidence

    assert np.isnan(kp[130:145, lk, :2]).all() and not imputed[130:145, lk].any()
    assert (kp[130:145, lk, 2] == 0).all()
    assert imputed.sum() == 5 + 5 * N_JOINTS
    assert qc["frames_imputed"] == 10
    assert qc["joints_imputed_pct"] == pytest.approx(100 * imputed.sum() / imputed.size, rel=1e-3)


def test_leading_and_trailing_gaps_are_not_extrapolated():
    raw = walker()
    raw[:3, :, 2] = 0.0
    raw[-2:, :, 2] = 0.0
    cleaned, _ = clean_pose(as_pose(raw), CleanConfig())
    assert np.isnan(cleaned.keypoints[:3, :, :2]).all()
    assert np.isnan(cleaned.keypoints[-2:, :, :2]).all()
    assert not cleaned.imputed[:3].any() and not cleaned.imputed[-2:].any()


def test_max_gap_follows_fps():
    # 0.25 s is 15 frames at 60 fps: a 12-frame gap is filled there, not at 30 fps.
    for fps, filled in ((60.0, True), (30.0, False)):
        raw = walker(fps=fps)
        raw[60:72, INDEX["nose"], 2] = 0.0
        cleaned, _ = clean_pose(as_pose(raw, fps=fps), CleanConfig())
        assert cleaned.imputed[60:72, INDEX["nose"]].all() == filled


# ---------------------------------------------------------------------------------------------
# Low-pass
# ---------------------------------------------------------------------------------------------


def _rms(kp: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((kp[..., :2] - truth[..., :2]) ** 2)))


def test_lowpass_reduces_white_noise():
    # At 60 fps a 6 Hz zero-lag Butterworth passes ~20 % of white-noise power (RMS / 2.3).
    truth = walker(fps=60.0)
    noisy = add_noise(truth, 3.0, 5)
    cleaned, _ = clean_pose(as_pose(noisy, fps=60.0), CleanConfig())
    assert _rms(cleaned.keypoints, truth) <= _rms(noisy, truth) / 2


def test_lowpass_reduces_white_noise_at_30fps():
    # At 30 fps, 6 Hz is 40 % of the noise band: at best RMS / 1.6 (6 Hz is a gait standard).
    truth = walker()
    noisy = add_noise(truth, 3.0, 6)
    cleaned, _ = clean_pose(as_pose(noisy), CleanConfig())
    assert _rms(cleaned.keypoints, truth) <= _rms(noisy, truth) / 1.5
    cleaned, _ = clean_pose(as_pose(noisy), CleanConfig(lowpass_hz=4.0))
    assert _rms(cleaned.keypoints, truth) <= _rms(noisy, truth) / 1.9


def test_lowpass_passes_movement_band_without_lag():
    fps, f = 30.0, 1.5
    t = np.arange(300) / fps
    kp = np.zeros((t.size, N_JOINTS, 3))
    kp[..., 2] = 1.0
    wave = 40.0 * np.sin(2 * np.pi * f * t)
    kp[..., 0] = 500.0 + wave[:, None]
    kp[..., 1] = 400.0 + np.arange(N_JOINTS) * 20.0
    cleaned, _ = clean_pose(as_pose(kp), CleanConfig())
    out = cleaned.keypoints[:, INDEX["left_knee"], 0] - 500.0
    mid = slice(30, 270)  # away from the padding at the ends
    assert np.ptp(out[mid]) == pytest.approx(np.ptp(wave[mid]), rel=0.02)
    peaks_in = np.flatnonzero((wave[1:-1] > wave[:-2]) & (wave[1:-1] >= wave[2:])) + 1
    peaks_out = np.flatnonzero((out[1:-1] > out[:-2]) & (out[1:-1] >= out[2:])) + 1
    assert len(peaks_in) == len(peaks_out)
    assert np.abs(peaks_in - peaks_out).max() <= 1


@pytest.mark.parametrize("cadence", [110.0, 140.0, 170.0])
def test_lowpass_keeps_the_knee_swing_peak_of_a_fast_child_walk(cadence):
    # The knee's swing flexion peak is the fastest angle of gait; on noise-free joints of the
    # kinematic walker at 30 fps (up to a fast child's 170 steps/min) cleaning must not
    # flatten it: knee ROM and peak swing flexion within 1 deg of the unfiltered joints'.  A
    # 4 Hz cut-off fails (2-4 deg lost at the peak), so the knee ROM error of MediaPipe poses
    # (a median 5-6 deg, with a peak swing flexion ~9 deg low) is not the cleaning's.
    from motorflow.features.gait import gait_features
    from motorflow.synth import gait_motion

    p = gait_motion.GaitParams(
        height_m=1.2, cadence_steps_per_min=cadence, step_length_leg=0.8,
        knee_flexion_ic_deg=(5.0, 5.0), knee_rom_deg=(60.0, 60.0), hip_flexion_mean_deg=10.0,
        ankle_rom_deg=(25.0, 25.0), step_time_offset=0.0, hip_amplitude_deg=(22.0, 22.0),
        trunk_lean_deg=3.0, trunk_sway_deg=4.0, stride_cv=0.0, arm_swing_deg=(15.0, 15.0),
        elbow_flexion_deg=(15.0, 15.0),
    )  # fmt: skip
    w = gait_motion.simulate_walk(p, 6.0, 30.0, np.random.default_rng(0))
    kp = np.ones((len(w.t), N_JOINTS, 3))
    kp[..., 0] = 100.0 + 250.0 * w.joints[..., 0]  # side view, 250 px per metre
    kp[..., 1] = 700.0 - 250.0 * w.joints[..., 1]
    raw = gait_features(as_pose(kp)).features
    cleaned = gait_features(clean_pose(as_pose(kp), CleanConfig())[0]).features
    for name in ("knee_rom_deg", "knee_flexion_peak_swing_deg"):
        for s in ("left", "right"):
            assert cleaned[f"{name}_{s}"] == pytest.approx(raw[f"{name}_{s}"], abs=1.0), (name, s)
    # The test can tell: a lower cut-off does flatten the peak.
    low = gait_features(clean_pose(as_pose(kp), CleanConfig(lowpass_hz=4.0))[0]).features
    peak = "knee_flexion_peak_swing_deg_left"
    assert raw[peak] - low[peak] > 1.0


def test_cutoff_above_nyquist_is_clamped_and_noted():
    kp = walker(fps=10.0)
    cleaned, qc = clean_pose(as_pose(kp, fps=10.0), CleanConfig(lowpass_hz=6.0))
    assert qc["lowpass_hz_used"] < 5.0
    assert any("Nyquist" in note for note in qc["notes"])
    assert np.isfinite(cleaned.keypoints[..., :2]).all()


def test_short_runs_are_left_unfiltered():
    raw = add_noise(walker(), 3.0, 8)
    island = slice(60, 70)  # 10 frames between two long gaps
    raw[50:60, :, 2] = 0.0
    raw[70:80, :, 2] = 0.0
    cleaned, qc = clean_pose(as_pose(raw), CleanConfig())
    np.testing.assert_allclose(cleaned.keypoints[island, :, :2], raw[island, :, :2], atol=1e-3)
    assert qc["frames_unfiltered"] == 10


# ---------------------------------------------------------------------------------------------
# Person choice
# ---------------------------------------------------------------------------------------------


def _scene(seed: int = 0):
    """Walker crossing the frame, a larger closer person jumping in place (whom the walker
    passes in front of), a small standing background person; slots shuffled per frame and 5 %
    of detections lost."""
    rng = np.random.default_rng(seed)
    fps, n = 30.0, 240
    walk = walker(duration_s=8.0, x0=-150.0, ground_y=900.0)  # enters, passes the jumper
    jump = walker(
        duration_s=8.0,
        height=450.0,
        x0=1000.0,
        ground_y=1000.0,
        speed=0.0,
        jump_hz=1.5,
        jump_px=80.0,
    )
    back = walker(duration_s=8.0, height=120.0, x0=1500.0, ground_y=650.0, speed=0.0)
    truth = np.stack([walk, jump, back], axis=1)  # (T, 3, V, 3)
    people = add_noise(truth.reshape(n, -1, 3), 1.5, seed).reshape(truth.shape)
    off_frame = (people[:, :, :, 0] < 0) | (people[:, :, :, 0] > 1920)
    people[off_frame] = np.nan
    lost = rng.random((n, 3)) < 0.05
    people[lost] = np.nan
    pad = np.full((n, 1, N_JOINTS, 3), np.nan)  # a padded slot, as importers write
    cand = np.concatenate([people, pad], axis=1)
    order = np.argsort(rng.random((n, 4)), axis=1)
    cand = np.take_along_axis(cand, order[:, :, None, None], axis=1)
    walker_seen = np.isfinite(people[:, 0, :, 0]).sum(1) >= 3
    keypoints = cand[:, 0]  # an importer's arbitrary guess
    return as_pose(keypoints, fps=fps, candidates=cand), truth, walker_seen


def _closest(kp: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Per frame, which person's true hips the cleaned pose's are nearest (-1 where NaN)."""
    hips = [INDEX["left_hip"], INDEX["right_hip"]]
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(kp[:, None, hips, :2] - people[:, :, hips, :2], axis=-1).mean(-1)
    d = np.where(np.isfinite(d), d, np.inf)
    return np.where(np.isfinite(d.min(1)), d.argmin(1), -1)


@pytest.mark.parametrize("seed", [0, 1])
def test_walks_across_chooses_the_walker(seed):
    pose, people, walker_seen = _scene(seed)
    cleaned, qc = clean_pose(pose, CleanConfig(person="walks_across"))
    who = _closest(cleaned.keypoints, people)
    assert np.mean(who[walker_seen] == 0) >= 0.95  # the walker, in ≥ 95 % of its frames
    assert not (who > 0).any()  # never someone else, not even imputed
    assert qc["person_rule"] == "walks_across"
    assert qc["n_tracks"] >= 3
    assert qc["person_coverage"] >= 0.95 * walker_seen.mean()
    assert cleaned.candidates is None


def test_largest_chooses_the_jumper():
    pose, people, _ = _scene(0)
    cleaned, qc = clean_pose(pose, CleanConfig(person="largest"))
    who = _closest(cleaned.keypoints, people)
    assert np.mean(who[who >= 0] == 1) >= 0.95
    assert qc["person_rule"] == "largest"


def test_most_detected_does_not_choose_the_partly_visible_walker():
    pose, people, _ = _scene(0)
    cleaned, _ = clean_pose(pose, CleanConfig(person="most_detected"))
    who = _closest(cleaned.keypoints, people)
    assert np.mean(who[who >= 0] == 0) < 0.05


def test_without_candidates_the_single_track_is_used():
    _, qc = clean_pose(as_pose(walker()), CleanConfig())
    assert qc["person_rule"] == "single" and qc["n_tracks"] == 1
    assert qc["person_coverage"] == 1.0


# ---------------------------------------------------------------------------------------------
# QC, config, run()
# ---------------------------------------------------------------------------------------------


def test_good_video_is_not_excluded():
    _, qc = clean_pose(as_pose(add_noise(walker(), 1.0)), CleanConfig())
    assert qc["excluded"] is False and qc["reason"] == ""
    assert qc["detection_rate"] == 1.0
    assert qc["n_frames"] == 180 and qc["fps"] == 30.0 and qc["duration_s"] == 6.0
    json.dumps(qc)  # plain JSON types only


def test_low_detection_rate_is_excluded():
    raw = walker()
    lost = np.random.default_rng(4).permutation(len(raw))[: int(0.7 * len(raw))]
    raw[lost, :, 2] = 0.0
    cleaned, qc = clean_pose(as_pose(raw), CleanConfig())
    assert qc["excluded"] is True
    assert "detection" in qc["reason"]
    assert qc["detection_rate"] == pytest.approx(0.3, abs=0.01)
    assert cleaned.n_frames == len(raw)


def test_too_short_is_excluded():
    _, qc = clean_pose(as_pose(walker(duration_s=0.6)), CleanConfig())
    assert qc["excluded"] is True
    assert "duration" in qc["reason"]
    assert "detection" not in qc["reason"]


def test_config_validation():
    with pytest.raises(ValueError, match="walks_across, largest, most_detected"):
        CleanConfig(person="tallest")
    with pytest.raises(ValueError, match="min_confidence"):
        CleanConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match="unknown clean option"):
        CleanConfig.from_mapping({"lowpass": 6})
    cfg = CleanConfig.from_mapping({"lowpass_hz": 8, "person": "largest", "fix_swaps": False})
    assert cfg.lowpass_hz == 8 and cfg.person == "largest"


def test_run_writes_atomically(tmp_path):
    src = tmp_path / "in" / "walk01.pose.npz"
    save_pose(as_pose(add_noise(walker(), 1.0)), src)
    out_dir = tmp_path / "out"
    qc = run(src, out_dir / "walk01.npz", out_dir / "walk01.qc.json", CleanConfig())
    assert sorted(p.name for p in out_dir.iterdir()) == ["walk01.npz", "walk01.qc.json"]
    assert qc["video_id"] == "walk01"
    assert json.loads((out_dir / "walk01.qc.json").read_text()) == qc
    cleaned = load_pose(out_dir / "walk01.npz")
    assert cleaned.imputed is not None and cleaned.candidates is None


def test_run_writes_excluded_videos_too(tmp_path):
    src = tmp_path / "short.npz"
    save_pose(as_pose(walker(duration_s=0.5)), src)
    qc = run(src, tmp_path / "o.npz", tmp_path / "o.json", CleanConfig(), video_id="v1")
    assert qc["excluded"] and qc["video_id"] == "v1"
    assert (tmp_path / "o.npz").exists()


def test_run_rejects_empty_and_unreadable_files(tmp_path):
    empty = tmp_path / "empty.npz"
    save_pose(as_pose(np.zeros((0, N_JOINTS, 3))), empty)
    with pytest.raises(ValueError, match="empty.npz"):
        run(empty, tmp_path / "o.npz", tmp_path / "o.json", CleanConfig())
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a pose file")
    with pytest.raises(ValueError, match="junk.npz"):
        run(junk, tmp_path / "o.npz", tmp_path / "o.json", CleanConfig())
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "o.json").exists()


def test_recleaning_is_stable():
    raw = add_noise(walker(), 2.0)
    raw[80:85, INDEX["left_ankle"], 2] = 0.0
    once, _ = clean_pose(as_pose(raw), CleanConfig())
    twice, qc = clean_pose(once, CleanConfig())
    assert twice.imputed[80:85, INDEX["left_ankle"]].all()  # flags survive
    assert qc["swaps_fixed"] == {"legs": 0, "arms": 0}
    assert np.nanmax(np.abs(twice.keypoints[..., :2] - once.keypoints[..., :2])) < 2.0


def test_ten_minutes_clean_in_seconds():
    truth = np.concatenate([walker(duration_s=60.0, x0=0.0)] * 10)
    raw = add_noise(truth, 2.0)
    cand = np.stack([raw, raw + [0.0, 0.0, 0.0], raw], axis=1)
    cand[:, 1, :, 0] += 700.0  # two more people, far apart
    cand[:, 2, :, :2] *= 0.5
    pose = as_pose(raw, candidates=cand)
    start = time.perf_counter()
    clean_pose(pose, CleanConfig())
    assert time.perf_counter() - start < 30.0


# ---------------------------------------------------------------------------------------------
# Real data (../shared/data)
# ---------------------------------------------------------------------------------------------

OLDER_ADULT = SHARED / "keypoints" / "older_adult_openpose" / "raw"
CP_CHILD = SHARED / "keypoints" / "cp_child_openpose"
BODY25_NAMES = {  # OpenPose BODY_25 name -> motorflow joint
    "Nose": "nose", "LEye": "left_eye", "REye": "right_eye", "LEar": "left_ear",
    "REar": "right_ear", "LShoulder": "left_shoulder", "RShoulder": "right_shoulder",
    "LElbow": "left_elbow", "RElbow": "right_elbow", "LWrist": "left_wrist",
    "RWrist": "right_wrist", "LHip": "left_hip", "RHip": "right_hip", "LKnee": "left_knee",
    "RKnee": "right_knee", "LAnkle": "left_ankle", "RAnkle": "right_ankle",
    "LHeel": "left_heel", "RHeel": "right_heel", "LBigToe": "left_toe", "RBigToe": "right_toe",
}  # fmt: skip
BODY25_ORDER = (
    "Nose Neck RShoulder RElbow RWrist LShoulder LElbow LWrist MidHip RHip RKnee RAnkle LHip "
    "LKnee LAnkle REye LEye REar LEar LBigToe LSmallToe LHeel RBigToe RSmallToe RHeel"
).split()


def _older_adult_files() -> list[Path]:
    return sorted(OLDER_ADULT.glob("*.csv")) if OLDER_ADULT.is_dir() else []


def _load_openpose_csv(path: Path) -> PoseData:
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(path)
    kp = np.full((len(df), N_JOINTS, 3), np.nan)
    for src, dst in BODY25_NAMES.items():
        if f"{src}_x" in df:
            kp[:, INDEX[dst]] = df[[f"{src}_x", f"{src}_y", f"{src}_conf"]].to_numpy(float)
    fps = float(df["fps"].iloc[0]) if "fps" in df else 1.0 / np.median(np.diff(df["time"]))
    return PoseData(kp, fps, (int(df["width"].iloc[0]), int(df["height"].iloc[0])), "openpose")


def _big_jumps(kp: np.ndarray, joint: str, fraction: float = 0.25) -> int:
    """Frames where ``joint`` moves more than ``fraction`` of the per-frame body height."""
    xy = kp[:, INDEX[joint], :2]
    with warnings.catch_warnings():  # frames without ankles are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        body = np.nanmax(kp[:, [INDEX["left_ankle"], INDEX["right_ankle"]], 1], axis=1)
    body = np.abs(body - kp[:, INDEX["nose"], 1])
    body = np.fmax(body, np.nanmedian(body))  # partly visible frames: no smaller than usual
    with np.errstate(invalid="ignore"):
        return int((np.linalg.norm(np.diff(xy, axis=0), axis=1) > fraction * body[1:]).sum())


def _interior_gaps(kp: np.ndarray) -> list[int]:
    lengths = []
    for j in range(kp.shape[1]):
        finite = np.isfinite(kp[:, j, 0])
        if finite.sum() < 2:
            continue
        first, last = np.flatnonzero(finite)[[0, -1]]
        lengths += [n for _, n in nan_runs(~finite[first : last + 1])]
    return lengths


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "path", _older_adult_files() or [None], ids=lambda p: p.stem[-12:] if p else "absent"
)
def test_real_older_adult_openpose(path):
    if path is None:
        pytest.skip(f"no shared data at {OLDER_ADULT} (../shared/data absent)")
    pose = _load_openpose_csv(path)
    cfg = CleanConfig()
    cleaned, qc = clean_pose(pose, cfg)
    raw_nan = np.isnan(pose.keypoints[..., 0]).sum()
    clean_nan = np.isnan(cleaned.keypoints[..., 0]).sum()
    provided = np.isfinite(pose.keypoints[..., 0]).any(0)
    assert np.isnan(cleaned.keypoints[:, provided, 0]).sum() < raw_nan
    assert clean_nan - np.isnan(cleaned.keypoints[:, ~provided, 0]).sum() < raw_nan
    max_gap = int(cfg.max_gap_s * pose.fps)
    assert all(n > max_gap for n in _interior_gaps(cleaned.keypoints))
    for ankle in ("left_ankle", "right_ankle"):
        assert _big_jumps(cleaned.keypoints, ankle) <= 1
    # Walking towards the camera the subject's left ankle stays on the image's right.
    la, ra = INDEX["left_ankle"], INDEX["right_ankle"]
    with np.errstate(invalid="ignore"):
        right_of = cleaned.keypoints[:, la, 0] > cleaned.keypoints[:, ra, 0]
    both = np.isfinite(cleaned.keypoints[:, [la, ra], 0]).all(1)
    assert right_of[both].mean() >= 0.95
    assert not qc["excluded"], qc["reason"]


@pytest.mark.shared_data
def test_real_cp_child_side_view_swaps():
    files = sorted(CP_CHILD.glob("*_keypoints.json")) if CP_CHILD.is_dir() else []
    if not files:
        pytest.skip(f"no shared data at {CP_CHILD} (../shared/data absent)")
    kp = np.full((len(files), N_JOINTS, 3), np.nan)
    for t, f in enumerate(files):
        people = json.loads(f.read_text())["people"]
        if people:
            a = np.asarray(people[0]["pose_keypoints_2d"], dtype=float).reshape(25, 3)
            for i, name in enumerate(BODY25_ORDER):
                if name in BODY25_NAMES and a[i, 2] > 0:  # OpenPose writes 0,0,0 if unseen
                    kp[t, INDEX[BODY25_NAMES[name]]] = a[i]
    pose = PoseData(kp, 29.97, (320, 480), "openpose")
    cleaned, qc = clean_pose(pose, CleanConfig())
    raw_jumps = sum(_big_jumps(kp, a) for a in ("left_ankle", "right_ankle"))
    clean_jumps = sum(_big_jumps(cleaned.keypoints, a) for a in ("left_ankle", "right_ankle"))
    assert raw_jumps >= 10  # this sequence really has swaps...
    assert clean_jumps <= 1  # ... and they are gone
    assert 0 < qc["swaps_fixed"]["legs"] < 0.2 * len(files)
    assert all(n > int(0.25 * 29.97) for n in _interior_gaps(cleaned.keypoints))


def test_alternation_fixes_labels_wrong_from_passing_to_passing():
    """MediaPipe's side-view failure: labels wrong for whole steps, between two passings.

    Continuity cannot see it (the labels change where the feet pass, where they are close
    together); the alternation of the leading foot can, given a majority of right steps.
    """
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_features import Walker, render

    truth = render(Walker(strides=5.0, direction=-1))
    kp = truth.keypoints.astype(np.float64).copy()
    lead_left = -(kp[:, INDEX["left_ankle"], 0] - kp[:, INDEX["right_ankle"], 0]) > 0
    cols_l = [INDEX[f"left_{p}"] for p in ("hip", "knee", "ankle", "heel", "toe")]
    cols_r = [INDEX[f"right_{p}"] for p in ("hip", "knee", "ankle", "heel", "toe")]
    step = np.cumsum(np.r_[0, np.diff(lead_left.astype(int)) != 0])
    wrong = np.flatnonzero(step % 3 == 1)  # every third step mislabelled throughout
    kp[np.ix_(wrong, cols_l + cols_r)] = kp[np.ix_(wrong, cols_r + cols_l)]
    # The pose model smooths each label's track over time, so where a label moves from one
    # foot to the other it glides: no jump, no kink for continuity to see.
    kp[..., :2] = uniform_filter1d(kp[..., :2], size=9, axis=0, mode="nearest")
    kp[..., :2] += np.random.default_rng(0).normal(0, 1.0, kp[..., :2].shape)
    fixed, _ = clean.fix_swaps(kp, truth.fps, 7)
    err_same = np.abs(fixed[:, cols_l, :2] - truth.keypoints[:, cols_l, :2]).sum((1, 2))
    err_swap = np.abs(fixed[:, cols_l, :2] - truth.keypoints[:, cols_r, :2]).sum((1, 2))
    apart = np.abs(truth.keypoints[:, INDEX["left_ankle"], 0]
                   - truth.keypoints[:, INDEX["right_ankle"], 0]) > 20  # fmt: skip
    assert 0.2 < np.isin(np.flatnonzero(apart), wrong).mean() < 0.45
    # Continuity alone keeps all 37 % (measured); what remains lies where the smoothed labels
    # glide from one foot to the other, around the passings.
    assert np.mean(err_swap[apart] < err_same[apart]) <= 0.12


def test_alternation_leaves_a_step_to_gait_alone():
    """Feet that never pass (step-to gait): one foot leads throughout; nothing is relabelled."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_features import Walker, render

    pose = render(Walker(strides=5.0))
    kp = pose.keypoints.astype(np.float64).copy()
    # The right foot's fore-aft offset folded behind the left's: it comes up to it, never past.
    for p in ("ankle", "heel", "toe"):
        left, right = kp[:, INDEX[f"left_{p}"], 0], kp[:, INDEX[f"right_{p}"], 0]
        hip = kp[:, INDEX["left_hip"], 0]
        kp[:, INDEX[f"right_{p}"], 0] = np.minimum(right, left) - 0.0 * hip
    states, relabelled = clean.alternation_states(kp, np.zeros(len(kp), bool), pose.fps,
                                                  clean.body_scale(kp[..., :2], pose.fps))
    assert relabelled == 0 and not states.any()


def test_a_spliced_walk_keeps_its_longest_piece_and_says_so():
    walk = walker(duration_s=4.0)
    spliced = np.concatenate([walk[:90], walk[:30]])  # looped back to the start
    cleaned, qc = clean_pose(as_pose(spliced), CleanConfig())
    assert np.isfinite(cleaned.keypoints[:90, :, 0]).all()
    assert np.isnan(cleaned.keypoints[90:, :, 0]).all()
    assert any("spliced recording: the body jumps at 3.00 s" in n for n in qc["notes"])
    # A one-frame detector glitch is not a splice: the walk stays whole, the glitch goes.
    glitch = walk.copy()
    glitch[50, :, 0] += 400.0
    cleaned, qc = clean_pose(as_pose(glitch), CleanConfig())
    assert not any("spliced" in n for n in qc["notes"])
    assert np.isfinite(cleaned.keypoints[:, :, 0]).all()  # the frame is filled again
    assert abs(cleaned.keypoints[50, 0, 0] - walk[50, 0, 0]) < 5.0
    # A continuous walk, even a fast one, is left alone.
    _, qc = clean_pose(as_pose(walker(stride_hz=1.6)), CleanConfig())
    assert not any("spliced" in n or "glitch" in n for n in qc["notes"])
