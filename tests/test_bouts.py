"""Walking bouts, turns and still periods, and the frontal-plane features built on them.

An analytic clinic walk (tests/frontal_walker.py) carries exact truth; the shared MediaPipe
clinic walks (../shared/data, skipped when absent) carry their visible structure.
"""

from __future__ import annotations

from pathlib import Path

import frontal_walker as fw
import numpy as np
import pytest

from motorflow import bouts, clean, importers
from motorflow.features import gait as featlib

CLINIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "keypoints"
CLINIC = CLINIC / "mediapipe_clinic_walk"
needs_clinic = pytest.mark.skipif(
    not (CLINIC / "clinic_walk_a.csv").is_file(),
    reason=f"shared data absent: {CLINIC} (see the data README)",
)


def kinds(segments):
    return [s.kind for s in segments]


def test_passes_turns_and_standing_are_found_and_timed():
    walk = fw.Walk()
    pose, truth = fw.render(walk)
    segments, _ = bouts.segment(pose)
    fps = pose.fps
    # Standing, then 6 passes with 5 turns between them, then standing.
    assert kinds(segments) == ["still"] + ["walk", "turn"] * 5 + ["walk", "still"]
    walks = [s for s in segments if s.kind == "walk"]
    true_walks = [s for s in truth["segments"] if s[0] == "walk"]
    assert [w.direction for w in walks] == [s[3] for s in true_walks]
    assert all(w.view == "frontal" for w in walks)
    true_turns = [s for s in truth["segments"] if s[0] == "turn"]
    for seg, (_, t0, t1, _) in zip([s for s in segments if s.kind == "turn"], true_turns,
                                   strict=True):  # fmt: skip
        # Timed from the shoulders' facing: within two frames of the truth at each end.
        assert abs(seg.start / fps - t0) <= 2 / fps and abs(seg.stop / fps - t1) <= 2 / fps
        assert seg.steps == walk.turn_steps
    # A straight bout holds its pass: starts and ends within a quarter second (the
    # progression's derivative window blurs them).
    for seg, (_, t0, t1, _) in zip(walks, true_walks, strict=True):
        assert abs(seg.start / fps - t0) < 0.3 and abs(seg.stop / fps - t1) < 0.3


def test_a_slower_turn_is_longer_and_has_its_steps():
    quick, _ = fw.render(fw.Walk(passes=2, turn_s=1.2, turn_steps=2))
    slow, _ = fw.render(fw.Walk(passes=2, turn_s=3.0, turn_steps=6))
    dur = {}
    for name, pose in (("quick", quick), ("slow", slow)):
        turns = [s for s in bouts.segment(pose)[0] if s.kind == "turn"]
        assert len(turns) == 1
        dur[name] = (turns[0].stop - turns[0].start) / pose.fps
        assert turns[0].steps == (2 if name == "quick" else 6)
    assert dur["quick"] == pytest.approx(1.2, abs=0.15)
    assert dur["slow"] == pytest.approx(3.0, abs=0.15)


def test_clinic_walk_features_recover_the_truth_and_agree_with_each_other():
    walk = fw.Walk(cadence=96.0, step_width=0.14)
    pose, truth = fw.render(walk)
    result = featlib.gait_features(pose)
    f, info = result.features, result.info
    assert info["status"] == "ok", info["reason"]
    assert info["view"] == "frontal" and info["direction"] == "both"
    assert info["n_bouts"] == 6 and info["n_turns"] == 5
    assert f["cadence_steps_per_min"] == pytest.approx(truth["cadence"], rel=0.02)
    assert f["step_width_hip"] == pytest.approx(truth["step_width_hip"], rel=0.05)
    assert f["turn_duration_s"] == pytest.approx(truth["turn_s"], abs=0.1)
    assert f["turn_steps"] == truth["turn_steps"]
    # The recording's steps are its bouts' steps; every bout says what it gave.
    assert info["n_steps"] == sum(b["n_steps"] for b in info["bouts"] if b["status"] == "ok")
    assert len(info["bouts"]) == 6 and all(b["status"] == "ok" for b in info["bouts"])
    assert featlib.consistency_problems(f) == []
    # Sagittal quantities are not observable from the front.
    assert np.isnan(f["step_length_leg"]) and np.isnan(f["knee_rom_deg_left"])


def test_arm_swing_asymmetry_and_knee_valgus_have_their_sign_and_size():
    even, _ = fw.render(fw.Walk(passes=2, arm_swing=(0.2, 0.2)))
    weak_right, _ = fw.render(fw.Walk(passes=2, arm_swing=(0.2, 0.05)))
    fe = featlib.gait_features(even).features
    fw_ = featlib.gait_features(weak_right).features
    assert fe["arm_swing_asymmetry"] < 0.1
    assert fw_["arm_swing_left"] > 2.5 * fw_["arm_swing_right"]
    assert fw_["arm_swing_asymmetry"] > 0.8
    assert fw_["arm_swing_left"] == pytest.approx(fe["arm_swing_left"], rel=0.1)
    valgus = featlib.gait_features(fw.render(fw.Walk(passes=2, knee_medial=0.04))[0]).features
    varus = featlib.gait_features(fw.render(fw.Walk(passes=2, knee_medial=-0.04))[0]).features
    for side in ("left", "right"):
        assert valgus[f"knee_frontal_angle_deg_{side}"] > 3
        assert varus[f"knee_frontal_angle_deg_{side}"] < -3
        assert abs(fe[f"knee_frontal_angle_deg_{side}"]) < 1


def test_a_side_view_pass_is_one_bout_analysed_whole():
    # The synthetic cohort's single side-view walk keeps the whole-recording analysis.
    from test_features import Walker, render

    pose = render(Walker())
    result = featlib.gait_features(pose)
    segments = result.info["segments"]
    assert [s["kind"] for s in segments if s["kind"] != "still"] == ["walk"]
    assert segments[[s["kind"] for s in segments].index("walk")]["view"] == "side"
    assert result.info["bouts"][0]["analysed"] == "whole recording"
    assert result.info["n_turns"] == 0 and np.isnan(result.features["turn_duration_s"])


def test_bout_options_are_checked():
    with pytest.raises(ValueError, match="min_bout"):
        featlib.FeatureConfig.from_mapping({"bouts": {"min_bout": 2}})
    cfg = featlib.FeatureConfig.from_mapping({"bouts": {"min_bout_s": 30.0}})
    pose, _ = fw.render(fw.Walk(passes=2))
    result = featlib.gait_features(pose, cfg)
    # No pass lasts 30 s: no bout, the whole recording is analysed as one walk.
    assert not [s for s in result.info["segments"] if s["kind"] == "walk"]


@needs_clinic
def test_shared_clinic_walk_a_segments_into_three_round_trips():
    pose = importers.load_keypoints(CLINIC / "clinic_walk_a.csv", frame_size=(720, 1080))
    segments, _ = bouts.segment(pose)
    walks = [s for s in segments if s.kind == "walk"]
    turns = [s for s in segments if s.kind == "turn"]
    # About three round trips: 6 passes alternating towards / away, a turn between each.
    assert [w.direction for w in walks] == ["towards", "away"] * 3
    assert len(turns) == 5 and all(w.view == "frontal" for w in walks)
    order = [s for s in segments if s.kind in ("walk", "turn")]
    assert kinds(order) == ["walk", "turn"] * 5 + ["walk"]
    for t in turns:
        assert 0.8 < (t.stop - t.start) / pose.fps < 4.0 and 1 <= t.steps <= 10
    result = featlib.gait_features(pose)
    f = result.features
    assert result.info["status"] == "ok", result.info["reason"]
    assert featlib.consistency_problems(f) == []
    assert 80 < f["cadence_steps_per_min"] < 140
    assert f["cadence_steps_per_min"] == pytest.approx(result.info["cadence_label_free"], rel=0.10)
    assert f["turn_duration_s"] > 0.8 and result.info["n_turns"] == 5
    assert 0.2 < f["step_width_hip"] < 2.0


@needs_clinic
@pytest.mark.parametrize("name", ["clinic_walk_a.csv", "clinic_walk_b.csv"])
def test_shared_clinic_walks_give_consistent_temporal_and_frontal_features(name):
    # As the workflow runs them: imported, cleaned, then the features stage.
    pose = importers.load_keypoints(CLINIC / name, frame_size=(720, 1080))
    result = featlib.gait_features(clean.clean_pose(pose, clean.CleanConfig())[0])
    f, info = result.features, result.info
    assert info["status"] == "ok", info["reason"]
    assert featlib.consistency_problems(f) == []
    ok = [b for b in info["bouts"] if b["status"] == "ok"]
    assert info["n_bouts"] == len(ok) >= 1
    assert info["n_steps"] == sum(b["n_steps"] for b in ok)
    # Each bout that gave features agrees with the cadence that needs no leg labels; a bout
    # that did not says why.
    for b in info["bouts"]:
        assert b["status"] == "ok" or b["reason"]
    assert f["cadence_steps_per_min"] == pytest.approx(info["cadence_label_free"], rel=0.10)
    assert 80 < f["cadence_steps_per_min"] < 140 and 0.8 < f["stride_time_s"] < 1.6
    assert 0.2 < f["step_width_hip"] < 2.0 and 0 < f["trunk_lateral_sway_deg"] < 15
