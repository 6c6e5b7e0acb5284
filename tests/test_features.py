"""The features stage on analytic trajectories whose every feature is known in closed form.

The analytic walker is 2D keypoints built directly from prescribed signals: hips progress at
a constant speed; each heel's fore-aft offset from the hips is R·cos(2π·phase) (so initial
contact, the heel's most anterior point, falls at integer phases), each toe's is
-R·cos(2π·(phase - stance)) (toe-off, the toe's most posterior point, at phase = stance); the
thigh and the knee follow given sinusoids.  Keypoints need not form a rigid body for these
definitions, which is what lets each one be pinned exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import frontal_walker
import numpy as np
import pandas as pd
import pytest

from motorflow.features import curves
from motorflow.features import gait as F
from motorflow.poseio import PoseData
from motorflow.skeleton import INDEX, JOINT_NAMES

FPS = 60.0
PX = 200.0  # pixels per leg length (thigh + shank = 0.92 leg, ankle height 0.08 leg)


@dataclass(frozen=True)
class Walker:
    stride_s: float = 1.1
    stance: float = 0.62  # fraction of the cycle
    reach: float = 0.35  # R, leg lengths
    speed: float = 1.4 / 1.1  # leg lengths / s: stride length (4 R) / stride time
    offset: float = 0.5  # right phase lag (cycles)
    bias: tuple[float, float] = (0.0, 0.0)  # fixed fore-aft heel offsets (left, right)
    thigh_amp: float = 20.0  # deg
    knee_mean: float = 30.0
    knee_amp: float = 25.0
    knee_lag: float = 0.3  # rad
    lean: float = 5.0
    sway: float = 3.0
    strides: float = 6.0
    direction: int = 1
    stride_times: tuple[float, ...] | None = None  # per stride, overrides stride_s

    def phase(self, t: np.ndarray) -> np.ndarray:
        if self.stride_times is None:
            return t / self.stride_s
        edges = np.concatenate([[0.0], np.cumsum(self.stride_times)])
        return np.interp(t, edges, np.arange(len(edges)), right=np.nan)

    def duration(self) -> float:
        return float(sum(self.stride_times)) if self.stride_times else self.strides * self.stride_s

    def knee(self, ph: np.ndarray) -> np.ndarray:
        return self.knee_mean + self.knee_amp * np.sin(2 * np.pi * ph + self.knee_lag)

    def thigh(self, ph: np.ndarray) -> np.ndarray:
        return self.thigh_amp * np.cos(2 * np.pi * ph)

    def foot_elevation(self, ph: np.ndarray) -> np.ndarray:
        return 10.0 * np.sin(2 * np.pi * ph)

    def trunk(self, t: np.ndarray) -> np.ndarray:
        return self.lean + 0.5 * self.sway * np.sin(4 * np.pi * t / self.stride_s)


def render(w: Walker, width: int = 1600, height: int = 600) -> PoseData:
    t = np.arange(int(round(w.duration() * FPS)) + 1) / FPS
    if w.stride_times is not None:
        t = t[t < w.duration()]
    n = len(t)
    kp = np.full((n, len(JOINT_NAMES), 3), np.nan)
    kp[..., 2] = 1.0
    d = w.direction
    hip_x = width / 2 + d * PX * (w.speed * (t - t.mean()))
    hip_y = np.full(n, 250.0)
    xy = {}
    for k, side in enumerate(("left", "right")):
        ph = w.phase(t) - (w.offset if side == "right" else 0.0)
        heel_off = w.reach * np.cos(2 * np.pi * ph) + w.bias[k]
        toe_off = -w.reach * np.cos(2 * np.pi * (ph - w.stance)) + 0.4
        th = np.radians(w.thigh(ph))
        sh = np.radians(w.thigh(ph) - w.knee(ph))
        hip = np.stack([hip_x, hip_y], 1)
        knee = hip + 0.46 * PX * np.stack([d * np.sin(th), np.cos(th)], 1)
        ankle = knee + 0.46 * PX * np.stack([d * np.sin(sh), np.cos(sh)], 1)
        foot_y = ankle[:, 1] + 0.08 * PX
        el = np.radians(w.foot_elevation(ph))
        heel = np.stack([hip_x + d * PX * heel_off, foot_y], 1)
        toe = np.stack([hip_x + d * PX * toe_off, foot_y - 0.0 * el], 1)
        # The toe is placed along the foot's elevation from the heel only in y, so the foot
        # angle is set by a separate, known signal: y of the toe above the heel.
        toe[:, 1] = heel[:, 1] - np.tan(el) * d * (toe[:, 0] - heel[:, 0])
        xy |= {f"{side}_hip": hip + [0, 0], f"{side}_knee": knee, f"{side}_ankle": ankle,
               f"{side}_heel": heel, f"{side}_toe": toe}  # fmt: skip
    lean = np.radians(w.trunk(t))
    shoulder = np.stack([hip_x + d * 0.55 * PX * np.sin(lean), hip_y - 0.55 * PX * np.cos(lean)], 1)
    xy["left_shoulder"] = xy["right_shoulder"] = shoulder
    head = shoulder + [0, -40]
    xy["nose"] = head + [d * 12, 0]
    for side in ("left", "right"):
        xy[f"{side}_ear"] = head + [-d * 4, -3]
        xy[f"{side}_eye"] = head + [d * 8, -6]
        xy[f"{side}_elbow"] = shoulder + [0, 60]
        xy[f"{side}_wrist"] = shoulder + [0, 110]
    for name, v in xy.items():
        kp[:, INDEX[name], :2] = v
    return PoseData(keypoints=kp, fps=FPS, frame_size=(width, height), backend="analytic")


def dense_min(fn, a: float, b: float) -> float:
    x = np.linspace(a, b, 20001)
    return float(np.min(fn(x)))


def test_temporal_features_exact():
    w = Walker()
    r = F.gait_features(render(w))
    f = r.features
    assert r.info["status"] == "ok", r.info
    assert r.info["view"] == "side" and r.info["direction"] == "right"
    assert f["cadence_steps_per_min"] == pytest.approx(120 / w.stride_s, rel=0.005)
    assert f["stride_time_s"] == pytest.approx(w.stride_s, rel=0.005)
    assert f["step_time_s"] == pytest.approx(w.stride_s / 2, rel=0.005)
    for side in ("left", "right"):
        assert f[f"stance_pct_{side}"] == pytest.approx(100 * w.stance, abs=0.5)
    # Both stance phases overlap twice per cycle: 2 × (stance - 0.5).
    assert f["double_support_pct"] == pytest.approx(200 * (w.stance - 0.5), abs=1.0)
    assert f["stride_time_cv"] == pytest.approx(0.0, abs=0.005)
    assert f["step_time_asymmetry"] == pytest.approx(0.0, abs=0.01)
    assert f["n_cycles"] >= 4


def test_spatial_features_exact():
    w = Walker()
    f = F.gait_features(render(w), height_cm=150.0).features
    # Heels at the leading heel's contact: R in front of the hips, R behind.
    assert f["step_length_leg"] == pytest.approx(2 * w.reach, rel=0.02)
    assert f["stride_length_leg"] == pytest.approx(4 * w.reach, rel=0.02)
    assert f["walking_speed_leg_per_s"] == pytest.approx(w.speed, rel=0.01)
    assert f["walking_speed_leg_per_s"] == pytest.approx(
        f["stride_length_leg"] / f["stride_time_s"], rel=0.02
    )
    leg_m = 0.530 * 1.5  # no age: Winter's adult proportion
    assert f["step_length_m"] == pytest.approx(2 * w.reach * leg_m, rel=0.02)
    assert f["walking_speed_m_per_s"] == pytest.approx(w.speed * leg_m, rel=0.01)
    assert f["step_length_asymmetry"] == pytest.approx(0.0, abs=0.01)
    # A five-year-old of the same stature has legs of 0.49 of it: shorter steps in metres.
    child = F.gait_features(render(w), height_cm=150.0, age_months=60.0).features
    assert child["step_length_leg"] == f["step_length_leg"]
    assert child["step_length_m"] == pytest.approx(2 * w.reach * 0.490 * 1.5, rel=0.02)
    assert child["walking_speed_m_per_s"] / f["walking_speed_m_per_s"] == pytest.approx(0.49 / 0.53)


def test_sinusoidal_knee_hip_and_trunk_exact():
    w = Walker()
    f = F.gait_features(render(w)).features

    def ankle(ph):
        return w.foot_elevation(ph) - (w.thigh(ph) - w.knee(ph))

    for side in ("left", "right"):
        assert f[f"knee_rom_deg_{side}"] == pytest.approx(2 * w.knee_amp, abs=0.3)
        assert f[f"knee_flexion_peak_swing_deg_{side}"] == pytest.approx(
            w.knee_mean + w.knee_amp, abs=0.3
        )
        # At initial contact (phase 0) and its minimum over stance (phase 0 .. stance).
        assert f[f"knee_flexion_initial_contact_deg_{side}"] == pytest.approx(
            float(w.knee(np.array(0.0))), abs=0.5
        )
        assert f[f"knee_flexion_max_extension_deg_{side}"] == pytest.approx(
            dense_min(w.knee, 0.0, w.stance), abs=0.5
        )
        assert f[f"hip_rom_deg_{side}"] == pytest.approx(2 * w.thigh_amp, abs=0.3)
        rom = -dense_min(lambda p: -ankle(p), 0, 1) - dense_min(ankle, 0, 1)
        assert f[f"ankle_rom_deg_{side}"] == pytest.approx(rom, abs=0.5)
    assert f["trunk_sway_deg"] == pytest.approx(w.sway, abs=0.2)


def test_walking_left_equals_walking_right():
    right = F.gait_features(render(Walker())).features
    left_r = F.gait_features(render(Walker(direction=-1)))
    assert left_r.info["direction"] == "left"
    for name, value in right.items():
        assert left_r.features[name] == pytest.approx(value, rel=1e-3, abs=1e-3, nan_ok=True)


def test_known_asymmetry():
    delta, b = 0.04, 0.05
    w = Walker(offset=0.5 + delta, bias=(b, -b))
    f = F.gait_features(render(w)).features
    # Steps ending at the right foot last (0.5 + delta) strides, at the left (0.5 - delta).
    assert f["step_time_asymmetry"] == pytest.approx(4 * delta, abs=0.01)
    # Between footprints: the hips travel speed × step time, and the heels land b ahead of
    # (left) or behind (right) their usual place.
    left = w.speed * w.stride_s * (0.5 - delta) + 2 * b
    right = w.speed * w.stride_s * (0.5 + delta) - 2 * b
    expected = abs(left - right) / ((left + right) / 2)
    assert f["step_length_asymmetry"] == pytest.approx(expected, rel=0.05)
    assert f["stance_pct_left"] == pytest.approx(100 * w.stance, abs=0.5)


def test_known_stride_variability():
    times = (1.0, 1.2, 0.9, 1.1, 1.0, 1.15, 0.95)
    w = Walker(stride_times=times, offset=0.5)
    r = F.gait_features(render(w))
    # Left contacts at the stride edges, right ones half-way through each stride.
    edges = np.concatenate([[0.0], np.cumsum(times)])
    mids = edges[:-1] + 0.5 * np.array(times)
    left, right = (np.array(r.events["initial_contact"][s]) for s in ("left", "right"))
    assert np.abs(left[:, None] - edges[None]).min(1) == pytest.approx(0, abs=0.5 / FPS)
    assert np.abs(right[:, None] - mids[None]).min(1) == pytest.approx(0, abs=0.5 / FPS)
    strides = np.concatenate([np.diff(left), np.diff(right)])
    assert r.features["stride_time_s"] == pytest.approx(strides.mean(), rel=0.01)
    assert r.features["stride_time_cv"] == pytest.approx(
        strides.std(ddof=1) / strides.mean(), rel=0.03
    )
    assert r.features["stride_time_cv"] > 0.05


def test_panning_camera_gives_the_same_features():
    """A camera that follows the walker: hips still in the image, feet swing around them."""
    static = render(Walker())
    panned = render(Walker())
    hip_x = panned.keypoints[:, INDEX["left_hip"], 0].copy()
    panned.keypoints[..., 0] -= (hip_x - hip_x.mean())[:, None]
    a = F.gait_features(static)
    b = F.gait_features(panned)
    assert b.info["camera"] == "panning" and b.info["view"] == "side"
    for name in ("cadence_steps_per_min", "step_length_leg", "knee_rom_deg_left",
                 "stance_pct_right", "double_support_pct"):  # fmt: skip
        assert b.features[name] == pytest.approx(a.features[name], rel=0.01, abs=0.3), name
    assert b.features["walking_speed_leg_per_s"] == pytest.approx(1.4 / 1.1, rel=0.03)


def test_noise_robust_cadence():
    pose = render(Walker())
    rng = np.random.default_rng(0)
    pose.keypoints[..., :2] += rng.normal(0, 1.5, pose.keypoints[..., :2].shape)
    f = F.gait_features(pose).features
    assert f["cadence_steps_per_min"] == pytest.approx(120 / 1.1, rel=0.02)
    assert f["step_length_leg"] == pytest.approx(0.7, rel=0.05)


# --------------------------------------------------------------------------- bad input


def test_standing_still_gives_nan_and_reason():
    pose = render(Walker(speed=0.0, reach=0.0, thigh_amp=0.0, knee_amp=0.0, sway=0.0))
    pose.keypoints[..., :2] += np.random.default_rng(1).normal(
        0, 0.3, pose.keypoints[..., :2].shape
    )
    r = F.gait_features(pose)
    assert r.info["status"] == "failed"
    assert "does not walk" in r.info["reason"]
    assert all(np.isnan(v) for v in r.features.values())


@pytest.mark.parametrize("turn", [1, -1], ids=["clockwise", "counter-clockwise"])
def test_a_walk_turned_on_its_side_is_named_rotated_not_a_non_walk(turn):
    # A portrait phone clip that lost its rotation metadata: the same walk, turned 90
    # degrees in the image.  Its reason must say so, not "does not walk".
    pose = render(Walker())
    w, h = pose.frame_size
    x, y = pose.keypoints[..., 0].copy(), pose.keypoints[..., 1].copy()
    pose.keypoints[..., 0], pose.keypoints[..., 1] = (h - y, x) if turn > 0 else (y, w - x)
    pose.frame_size = (h, w)
    r = F.gait_features(pose)
    assert r.info["status"] == "failed"
    assert "rotated" in r.info["reason"] and "transpose" in r.info["reason"]
    assert all(np.isnan(v) for v in r.features.values())


def test_missing_foot_keypoints_give_nan_and_reason():
    pose = render(Walker())
    for p in ("heel", "toe", "ankle"):
        pose.keypoints[:, INDEX[f"left_{p}"], :2] = np.nan
    r = F.gait_features(pose)
    assert r.info["status"] == "failed"
    assert "missing foot keypoints" in r.info["reason"] and "left" in r.info["reason"]
    assert all(np.isnan(v) for v in r.features.values())


def test_too_few_cycles_give_nan_and_reason():
    r = F.gait_features(render(Walker(strides=1.6)))
    assert r.info["status"] == "failed"
    assert "too few gait cycles" in r.info["reason"]
    assert all(np.isnan(v) for v in r.features.values())


def test_heels_missing_fall_back_to_ankles_and_toes():
    pose = render(Walker())
    pose.keypoints[:, [INDEX["left_heel"], INDEX["right_heel"]], :2] = np.nan
    f = F.gait_features(pose).features
    assert f["cadence_steps_per_min"] == pytest.approx(120 / 1.1, rel=0.01)
    assert np.isnan(f["ankle_rom_deg_left"])  # needs heel and toe


# --------------------------------------------------------------------------- keypoint subsets


def test_subsets_compute_exactly_the_supported_features():
    pose = render(Walker())
    rng = np.random.default_rng(3)
    names = list(JOINT_NAMES)
    subsets = [names, ["left_heel", "right_heel", "left_hip", "left_knee", "left_ankle"]]
    subsets += [list(rng.choice(names, size=k, replace=False)) for k in (6, 9, 12, 15, 18)]
    leg = ["hip", "knee", "ankle"]
    subsets += [[f"{s}_{p}" for s in ("left", "right") for p in leg]]
    for subset in subsets:
        f = F.gait_features(pose, joints=subset).features
        computed = {k for k, v in f.items() if np.isfinite(v)}
        expected = set(F.supported_features(subset)) - set(curves.DEVIATION_COLUMNS)
        # Metric columns need a height; none given here.
        expected -= {"step_length_m", "stride_length_m", "walking_speed_m_per_s"}
        # One side-view pass: no frontal-plane features, no turns.
        expected -= set(F.FRONTAL_COLUMNS) | set(F.TURN_COLUMNS)
        assert computed == expected, (sorted(subset), computed ^ expected)


def test_frontal_subsets_compute_exactly_the_supported_features():
    # Clinic passes towards and away with turns: the frontal-plane and turn features are
    # there exactly when their keypoints are; the sagittal ones never are.
    pose, _ = frontal_walker.render(frontal_walker.Walk(passes=3))
    rng = np.random.default_rng(4)
    names = list(JOINT_NAMES)
    subsets = [names] + [list(rng.choice(names, size=k, replace=False)) for k in (12, 15, 18)]
    subsets += [[n for n in names if "wrist" not in n], [n for n in names if "knee" not in n]]
    sagittal = {
        c for c in F.GAIT_COLUMNS
        if c.startswith(("step_length", "stride_length", "walking_speed", "knee_flexion",
                         "knee_rom", "hip_rom", "ankle_rom", "trunk_sway"))
    }  # fmt: skip
    for subset in subsets:
        result = F.gait_features(pose, joints=subset)
        computed = {k for k, v in result.features.items() if np.isfinite(v)}
        expected = set(F.supported_features(subset)) - set(curves.DEVIATION_COLUMNS) - sagittal
        if result.info["status"] != "ok":  # no body scale or facing: nothing, with a reason
            assert not computed and result.info["reason"]
            continue
        assert computed == expected, (sorted(subset), computed ^ expected)


def test_feature_joint_mapping_is_explicit():
    assert set(F.FEATURE_JOINTS) == set(F.GAIT_COLUMNS) | set(curves.DEVIATION_COLUMNS)
    assert "knee_rom_deg_left" in F.supported_features(
        ["left_heel", "right_toe", "left_hip", "left_knee", "left_ankle"]
    )
    assert "knee_rom_deg_right" not in F.supported_features(
        ["left_heel", "right_toe", "left_hip", "left_knee", "left_ankle"]
    )
    assert F.supported_features(["nose", "left_wrist"]) == []
    with pytest.raises(ValueError, match="unknown keypoint"):
        F.supported_features(["left_foot"])


# --------------------------------------------------------------------------- deviation scores


def _mean_curves(w: Walker) -> np.ndarray:
    return F.gait_features(render(w)).mean_curves()


def test_deviation_index_orders_by_distance_from_reference():
    rng = np.random.default_rng(5)
    ref = {}
    for k in range(6):
        w = Walker(knee_mean=30 + rng.normal(0, 2), thigh_amp=20 + rng.normal(0, 1.5))
        ref[f"v{k}"] = _mean_curves(w)
    reference = curves.DeviationReference.from_videos(ref, {f"v{k}": f"s{k}" for k in range(6)})
    typical = reference.score(_mean_curves(Walker(knee_mean=30.5)))
    crouch = reference.score(_mean_curves(Walker(knee_mean=45.0)))
    severe = reference.score(_mean_curves(Walker(knee_mean=60.0, thigh_amp=10.0)))
    # Closer to the reference mean than its members are on average: above 100, as in GDI.
    assert typical["gait_deviation_index"] > 95
    assert severe["gait_deviation_index"] < crouch["gait_deviation_index"] < 90
    assert crouch["gait_profile_score_deg"] > typical["gait_profile_score_deg"]
    # A reference subject is scored without its own curves (leave-one-subject-out).
    own = reference.score(ref["v0"], subject="s0")
    naive = reference.score(ref["v0"])
    assert own["gait_profile_score_deg"] > naive["gait_profile_score_deg"]


def test_deviation_reference_needs_three_subjects(tmp_path):
    c = _mean_curves(Walker())
    with pytest.raises(ValueError, match="at least 3 subjects"):
        curves.DeviationReference.from_videos({"a": c, "b": c}, {"a": "s1", "b": "s2"})
    curves.save_reference(None, tmp_path / "none.npz", "no reference")
    assert curves.load_reference(tmp_path / "none.npz") is None


def test_run_and_aggregate_write_tables(tmp_path):
    videos = {}
    for k, knee in enumerate((28, 30, 32, 31, 50)):
        pose_path = tmp_path / f"v{k}.npz"
        from motorflow.poseio import save_pose

        save_pose(render(Walker(knee_mean=knee)), pose_path)
        F.run(pose_path, tmp_path / f"v{k}.parquet", tmp_path / f"v{k}.curves.npz",
              tmp_path / f"v{k}.json", height_cm=140.0)  # fmt: skip
        videos[f"v{k}"] = ("I" if k < 4 else "III", f"s{k}")
    table = F.aggregate(
        [tmp_path / f"v{k}.parquet" for k in range(5)],
        [tmp_path / f"v{k}.curves.npz" for k in range(5)],
        tmp_path / "features.parquet",
        subjects={v: s for v, (_, s) in videos.items()},
        labels={v: lab for v, (lab, _) in videos.items()},
        out_reference=tmp_path / "reference.npz",
    )
    back = pd.read_parquet(tmp_path / "features.parquet")
    assert list(back["video_id"]) == [f"v{k}" for k in range(5)]
    assert set(F.GAIT_COLUMNS) <= set(back.columns)
    assert back.loc[4, "gait_deviation_index"] < back.loc[:3, "gait_deviation_index"].min()
    assert table.attrs["deviation_reference"].startswith("videos labelled I")
    assert len(curves.load_reference(tmp_path / "reference.npz").curves) == 8  # 4 videos × 2 sides


def test_excluded_by_cleaning_gives_nan_and_the_reason(tmp_path):
    import json

    from motorflow.poseio import save_pose

    save_pose(render(Walker()), tmp_path / "v.npz")
    (tmp_path / "qc.json").write_text(json.dumps({"excluded": True, "reason": "detected 20 %"}))
    r = F.run(tmp_path / "v.npz", tmp_path / "v.parquet", clean_qc=tmp_path / "qc.json")
    assert r.info["status"] == "failed" and "detected 20 %" in r.info["reason"]
    assert np.isnan(pd.read_parquet(tmp_path / "v.parquet")["cadence_steps_per_min"][0])


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="contact_sped"):
        F.FeatureConfig.from_mapping({"contact_sped": 0.2})
    assert F.FeatureConfig.from_mapping({"min_cycles": 3}).min_cycles == 3


def test_data_dictionary_covers_every_column():
    assert set(F.GAIT_COLUMNS) | set(curves.DEVIATION_COLUMNS) <= set(F.DATA_DICTIONARY)
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "features.md").read_text()
    for name in (*F.GAIT_COLUMNS, *curves.DEVIATION_COLUMNS):
        assert f"`{name}`" in doc, name


# --------------------------------------------------------------------------- checks


def _swap_legs(pose: PoseData, frames: np.ndarray) -> PoseData:
    """Exchange the left and right leg labels on ``frames`` (a pose model's leg swap)."""
    kp = pose.keypoints.copy()
    for p in ("hip", "knee", "ankle", "heel", "toe"):
        a, b = INDEX[f"left_{p}"], INDEX[f"right_{p}"]
        kp[np.ix_(frames, [a, b])] = kp[np.ix_(frames, [b, a])]
    return PoseData(keypoints=kp, fps=pose.fps, frame_size=pose.frame_size, backend="analytic")


@pytest.mark.parametrize("stride_s", [0.9, 1.1, 1.5])
def test_label_free_cadence_is_blind_to_leg_swaps(stride_s):
    w = Walker(stride_s=stride_s, speed=1.4 / stride_s)
    pose = render(w)
    rng = np.random.default_rng(4)
    n = pose.n_frames
    swapped = np.zeros(n, bool)
    for start in rng.choice(n - 20, 6, replace=False):  # long stretches, ~40 % of frames
        swapped[start : start + int(rng.integers(8, 20))] = True
    for p in (pose, _swap_legs(pose, np.flatnonzero(swapped))):
        r = F.gait_features(p)
        assert r.info["cadence_label_free"] == pytest.approx(120 / stride_s, rel=0.01)


def test_leg_swaps_never_give_a_contradictory_row():
    """Swapped stretches add or drop contacts: the row is either right or NaN with a reason."""
    w = Walker()
    pose = render(w)
    rng = np.random.default_rng(5)
    outcomes = set()
    for _ in range(12):
        swapped = np.zeros(pose.n_frames, bool)
        for start in rng.choice(pose.n_frames - 30, 4, replace=False):
            swapped[start : start + int(rng.integers(10, 30))] = True
        r = F.gait_features(_swap_legs(pose, np.flatnonzero(swapped)))
        f = r.features
        if r.info["status"] == "ok":
            assert F.consistency_problems(f) == []
            if np.isfinite(f["cadence_steps_per_min"]):
                assert f["cadence_steps_per_min"] == pytest.approx(120 / w.stride_s, rel=0.10)
            outcomes.add(r.info["events_method"])
        else:
            assert all(np.isnan(v) for v in f.values())
            assert r.info["reason"]
            outcomes.add(r.info["reason"].split(":")[0])
    # The check is exercised: some swap patterns do corrupt the per-foot events (then the
    # contacts come from the feet's alternation, or the row is void).
    assert outcomes - {"labels"}, outcomes


def test_cadence_disagreement_voids_the_row_and_names_both_values():
    pose = render(Walker())
    r = F.gait_features(pose, F.FeatureConfig(max_cadence_disagreement=0.10))
    assert r.info["status"] == "ok"
    free = r.info["cadence_label_free"]
    # No two estimates agree to 1e-9: the check then voids the row.
    r2 = F.gait_features(pose, F.FeatureConfig(max_cadence_disagreement=1e-9))
    assert r2.info["status"] == "failed"
    assert "disagrees with the foot separation" in r2.info["reason"]
    assert f"{free:.1f}" in r2.info["reason"]
    assert all(np.isnan(v) for v in r2.features.values())


def test_consistency_problems_catch_contradictions():
    ok = {"cadence_steps_per_min": 120.0, "stride_time_s": 1.0, "step_time_s": 0.5,
          "stance_pct_left": 62.0, "stance_pct_right": 60.0, "double_support_pct": 22.5,
          "step_length_leg": 0.7, "stride_length_leg": 1.41}  # fmt: skip
    assert F.consistency_problems(ok) == []
    # The user-reported case: 193 steps/min with a stride of 1.35 s.
    bad = ok | {"cadence_steps_per_min": 193.0, "stride_time_s": 1.35, "step_time_s": 0.31}
    texts = [t for t, _ in F.consistency_problems(bad)]
    assert any("193.0" in t and "1.350" in t for t in texts)
    assert all(cols == F.GAIT_COLUMNS for _, cols in F.consistency_problems(bad))
    stance = F.consistency_problems(ok | {"double_support_pct": 70.0})
    assert len(stance) == 1 and "double support" in stance[0][0]
    assert "stance_pct_left" in stance[0][1] and "cadence_steps_per_min" not in stance[0][1]
    assert F.consistency_problems(ok | {"stance_pct_right": 101.0})
    assert F.consistency_problems(ok | {"step_length_leg": 0.5})
    # NaN is an answer, not a contradiction.
    assert F.consistency_problems({k: float("nan") for k in ok}) == []


def test_stance_needs_the_toes():
    pose = render(Walker())
    names = [n for n in JOINT_NAMES if not n.endswith("_toe")]
    f = F.gait_features(pose, joints=names).features
    assert all(np.isnan(f[c]) for c in ("stance_pct_left", "stance_pct_right",
                                        "double_support_pct"))  # fmt: skip
    assert np.isfinite(f["cadence_steps_per_min"])


def test_label_free_contacts_rescue_the_temporal_features():
    """Leg swaps that corrupt the per-foot events: the contacts come from the feet's
    alternation, the temporal features are right, the label-dependent ones NaN."""
    w = Walker(strides=6.0)
    pose = render(w)
    rng = np.random.default_rng(5)
    rescued = 0
    for _ in range(12):
        swapped = np.zeros(pose.n_frames, bool)
        for start in rng.choice(pose.n_frames - 30, 4, replace=False):
            swapped[start : start + int(rng.integers(10, 30))] = True
        r = F.gait_features(_swap_legs(pose, np.flatnonzero(swapped)))
        if r.info["events_method"] != "label-free":
            continue
        rescued += 1
        f = r.features
        assert r.info["status"] == "ok" and "feet's alternation" in r.info["reason"]
        assert f["cadence_steps_per_min"] == pytest.approx(120 / w.stride_s, rel=0.02)
        assert f["stride_time_s"] == pytest.approx(w.stride_s, rel=0.02)
        assert F.consistency_problems(f) == []
        for c in ("stance_pct_left", "double_support_pct", "step_length_leg",
                  "walking_speed_leg_per_s", "knee_rom_deg_left", "trunk_sway_deg"):  # fmt: skip
            assert np.isnan(f[c]), c
        assert r.curves == {} or all(len(v) == 0 for v in r.curves.values())
    assert rescued >= 2
    # Clean labels keep the per-foot events.
    assert F.gait_features(pose).info["events_method"] == "labels"
