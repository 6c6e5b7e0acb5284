"""Tests of the synthetic infant cohort (synth.infant_cohort, infant_motion, infant_render).

The cohort is the ground truth for Paper B's stages (pose, mask, alignment, movement
features), so the tests check the truth against what the rendering and the movement model
must satisfy: the placement convention, constant bones, exact masks, reproducible bytes,
and the clinical differences between the classes measured on the generated trajectories.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.signal import welch

from motorflow.poseio import PoseData, load_pose
from motorflow.skeleton import BONES, INDEX, flip_permutation
from motorflow.synth import infant_cohort, infant_motion, infant_render
from motorflow.synth.common import keyed_rng

CFG = infant_cohort.InfantCohortConfig()
SHORT = replace(CFG, duration_s=3.0)
TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
ENDS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")


def render(cfg: infant_cohort.InfantCohortConfig, video_id: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = out / video_id
    truth = infant_render.render_video(
        cfg,
        video_id,
        video_id.split("_")[0],
        f"{base}.mp4",
        f"{base}.npz",
        f"{base}.json",
        f"{base}.masks.npz",
    )
    return truth


def axis(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``transform`` convention, written out independently of the module: angle of
    neck - crotch from image-up towards image-right, centre, length."""
    xy = keypoints[..., :2]
    neck = (xy[:, INDEX["left_shoulder"]] + xy[:, INDEX["right_shoulder"]]) / 2
    crotch = (xy[:, INDEX["left_hip"]] + xy[:, INDEX["right_hip"]]) / 2
    dx, dy = (neck - crotch).T
    return np.degrees(np.arctan2(dx, -dy)), (neck + crotch) / 2, np.hypot(dx, dy)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("infant")
    return out, render(SHORT, "infW01_v1", out)


# --------------------------------------------------------------------------- config, sheet


def test_config_rejects_unknown_keys_and_bad_sizes():
    assert infant_cohort.cohort_config({"seed": 3, "duration_s": 5}).duration_s == 5
    with pytest.raises(ValueError, match="frobnicate"):
        infant_cohort.cohort_config({"seed": 3, "frobnicate": 1})
    with pytest.raises(ValueError, match="multiple of 16"):
        infant_cohort.cohort_config({"width": 650})
    with pytest.raises(ValueError, match="body_frac"):
        infant_cohort.InfantCohortConfig(body_frac_min=0.8, body_frac_max=0.5)


def test_sheet_is_deterministic_and_stable_when_subjects_are_added():
    small = infant_cohort.make_sheet(replace(CFG, subjects_per_class=3))
    again = infant_cohort.make_sheet(replace(CFG, subjects_per_class=3))
    big = infant_cohort.make_sheet(replace(CFG, subjects_per_class=7))
    assert small.equals(again)
    assert list(small.columns) == [
        "video_id",
        "subject_id",
        "path",
        "label",
        "view",
        "fps",
        "age_weeks",
    ]
    assert len(small) == 9 and len(big) == 21
    merged = small.merge(big, on="video_id", suffixes=("", "_big"))
    assert len(merged) == len(small)
    for col in ("subject_id", "path", "label", "age_weeks"):
        assert (merged[col] == merged[f"{col}_big"]).all(), col
    assert set(small["subject_id"]) == {f"inf{c}0{k}" for c in "WFP" for k in (1, 2, 3)}
    assert (small["video_id"] == small["subject_id"] + "_v1").all()
    assert (small["path"] == CFG.video_dir + "/" + small["video_id"] + ".mp4").all()
    assert (small["view"] == "top").all() and (small["fps"] == CFG.fps).all()
    for label, (lo, hi) in infant_cohort.AGE_WEEKS.items():
        ages = big.loc[big["label"] == label, "age_weeks"]
        assert ages.between(lo, hi).all() and ages.nunique() > 1
    two = infant_cohort.make_sheet(replace(CFG, subjects_per_class=1, videos_per_subject=2))
    assert list(two["video_id"][:2]) == ["infW01_v1", "infW01_v2"]
    assert two["age_weeks"].iloc[0] == two["age_weeks"].iloc[1]  # an infant's age per subject
    # Another seed, another cohort.
    other = infant_cohort.make_sheet(replace(CFG, seed=1, subjects_per_class=3))
    assert not np.allclose(other["age_weeks"], small["age_weeks"])


# --------------------------------------------------------------------------- movement model


def simulate(subject: str, duration_s: float = 40.0, fps: float = 25.0) -> infant_motion.Motion:
    move, body, rest, _ = infant_cohort.subject_params(CFG, subject)
    rng = keyed_rng("test", subject)
    return infant_motion.simulate_motion(move, body, rest, duration_s, fps, rng)


@pytest.mark.parametrize("subject", ["infW01", "infF02", "infP03"])
def test_bones_keep_their_length(subject):
    m = simulate(subject, 20.0)
    J = m.joints
    bones = [(a, b) for a, b in BONES if "eye" not in a + b and "ear" not in a + b]
    bones = [b for b in bones if b not in {("left_shoulder", "right_shoulder")}]
    bones = [b for b in bones if b not in {("left_hip", "right_hip")}]  # trunk roll
    bones = [b for b in bones if not (b[0].endswith("shoulder") and b[1].endswith("hip"))]
    for a, b in bones:
        length = np.linalg.norm(J[:, INDEX[a]] - J[:, INDEX[b]], axis=-1)
        assert np.ptp(length) < 1e-9, (a, b)
    neck = 0.5 * (J[:, INDEX["left_shoulder"]] + J[:, INDEX["right_shoulder"]])
    crotch = 0.5 * (J[:, INDEX["left_hip"]] + J[:, INDEX["right_hip"]])
    np.testing.assert_allclose(np.linalg.norm(neck - crotch, axis=-1), 1.0, atol=1e-12)
    hand = np.linalg.norm(m.hands[:, 0] - J[:, INDEX["left_wrist"]], axis=-1)
    assert np.ptp(hand) < 1e-9
    # The limbs do move, and the infant's left is on +x (the camera sees its front).
    assert np.ptp(J[:, INDEX["left_wrist"]], axis=0).max() > 0.05
    assert (J[:, INDEX["left_shoulder"], 0] > J[:, INDEX["right_shoulder"], 0]).all()
    assert (J[:, INDEX["nose"], 1] < neck[:, 1]).all()


def movement_measures(m: infant_motion.Motion) -> dict:
    """Dominant frequency and amplitude of the limb end points relative to the trunk centre,
    periodicity (autocorrelation peak over 1-6 s lags) and left/right synchrony."""
    J, fps = m.joints, m.fps
    centre = J[:, [INDEX[j] for j in TORSO]].mean(1)
    rel = np.stack([J[:, INDEX[e]] - centre for e in ENDS], 1)
    x = (rel - rel.mean(0)).reshape(len(rel), -1)
    f, p = welch(x, fs=fps, nperseg=int(20 * fps), axis=0)
    band = f >= 0.1
    acf = []
    for s in x.T:
        ac = np.correlate(s, s, "full")[len(s) - 1 :] / (s @ s)
        acf.append(ac / (1 - np.arange(len(s)) / len(s)))
    lags = slice(int(1 * fps), int(6 * fps))
    return {
        "freq": float(f[band][np.argmax(p.sum(1)[band])]),
        "amplitude": float(np.mean(np.sqrt((x.reshape(rel.shape) ** 2).sum(-1).mean(0)))),
        "periodicity": float(np.mean(acf, 0)[lags].max()),
        "synchrony": float(
            np.corrcoef(m.angles["left_shoulder"], m.angles["right_shoulder"])[0, 1]
        ),
    }


@pytest.fixture(scope="module")
def class_measures() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for label in infant_cohort.CLASSES:
        code = label[0].upper()
        rows = [movement_measures(simulate(f"inf{code}{k:02d}")) for k in range(1, 9)]
        out[label] = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    return out


def test_fidgety_is_faster_and_smaller_than_writhing(class_measures):
    w, f = class_measures["writhing"], class_measures["fidgety"]
    assert 0.2 <= np.median(w["freq"]) <= 0.65
    assert 0.8 <= np.median(f["freq"]) <= 2.0
    assert np.median(f["freq"]) > 2 * np.median(w["freq"])
    assert np.median(f["amplitude"]) < 0.6 * np.median(w["amplitude"])
    assert np.mean(f["freq"] > 0.7) >= 0.75  # most fidgety infants, not necessarily all


def test_poor_repertoire_is_monotonous_and_synchronous(class_measures):
    w, p = class_measures["writhing"], class_measures["poor_repertoire"]
    assert np.median(p["periodicity"]) > 0.8 > 0.5 > np.median(w["periodicity"])
    assert np.median(p["synchrony"]) > np.median(w["synchrony"]) + 0.3
    # Writhing-like amplitude and speed, not a small fidgety one.
    assert np.median(p["amplitude"]) > 0.5 * np.median(w["amplitude"])
    assert np.median(p["freq"]) < 0.7


# --------------------------------------------------------------------------- placement


def test_placement_covers_rotations_and_keeps_the_infant_in_frame():
    angles, fracs = [], []
    for k in range(1, 11):
        for code in "WFP":
            subject = f"inf{code}{k:02d}"
            move, body, rest, _ = infant_cohort.subject_params(CFG, subject)
            rng = keyed_rng("placement", subject)
            m = infant_motion.simulate_motion(move, body, rest, 4.0, CFG.fps, rng)
            place = infant_render.sample_placement(CFG, m, body, rng)
            kp = place.apply(m.joints)
            ang, centre, length = axis(kp)
            np.testing.assert_allclose(infant_render.body_axis(kp)[0], ang)
            tf = place.to_dict()
            assert abs(np.median(ang) - tf["axis_angle_deg"]) < 0.5
            assert np.linalg.norm(np.median(centre, 0) - tf["centre_px"]) < 0.005 * length[0]
            assert abs(np.median(length) / tf["axis_len_px"] - 1) < 0.005
            assert (kp >= 0).all() and (kp[..., 0] < CFG.width).all()
            assert (kp[..., 1] < CFG.height).all()
            angles.append(tf["axis_angle_deg"])
            fracs.append(body.length * tf["axis_len_px"] / CFG.height)
    angles = np.array(angles)
    assert angles.min() < -90 and angles.max() > 90  # head down in some videos
    assert 0.4 < min(fracs) and max(fracs) < 0.8 and max(fracs) - min(fracs) > 0.1


def test_truth_transform_matches_the_rendered_joints(rendered):
    out, truth = rendered
    pose = load_pose(out / "infW01_v1.npz")
    assert pose.backend == "truth" and pose.frame_size == (CFG.width, CFG.height)
    assert pose.n_frames == truth["n_frames"] == 75
    assert (pose.keypoints[..., 2] == 1).all()
    ang, centre, length = axis(pose.keypoints)
    tf = truth["transform"]
    d_ang = (np.median(ang) - tf["axis_angle_deg"] + 180) % 360 - 180
    assert abs(d_ang) < 0.5
    assert np.linalg.norm(np.median(centre, 0) - tf["centre_px"]) < 0.005 * tf["axis_len_px"]
    assert abs(np.median(length) / tf["axis_len_px"] - 1) < 0.005
    # The trunk may move a little, but the placement is constant.
    assert np.ptp(length) < 0.01 * tf["axis_len_px"]
    # The head points along the axis angle (0 = up, 90 = right).
    face = pose.keypoints[:, [INDEX[j] for j in ("nose", "left_eye", "right_eye")], :2]
    dx, dy = (face.mean(1) - np.median(centre, 0)).T
    head = np.degrees(np.arctan2(dx, -dy))
    assert abs((np.median(head) - tf["axis_angle_deg"] + 180) % 360 - 180) < 30


def test_truth_json_records_the_infant(rendered):
    out, truth = rendered
    stored = json.loads((out / "infW01_v1.json").read_text())
    assert stored["video_id"] == "infW01_v1" and stored["subject_id"] == "infW01"
    assert stored["label"] == "writhing"
    sheet = infant_cohort.make_sheet(replace(CFG, subjects_per_class=1))
    assert stored["age_weeks"] == sheet.loc[0, "age_weeks"]
    move, body, _, _ = infant_cohort.subject_params(CFG, "infW01")
    assert stored["movement"] == json.loads(json.dumps(move.to_dict()))
    assert stored["body"] == json.loads(json.dumps(body.to_dict()))
    assert set(stored["transform"]) == {"axis_angle_deg", "centre_px", "axis_len_px"}
    assert stored["n_frames"] == truth["n_frames"]


# --------------------------------------------------------------------------- masks


def test_masks_cover_the_body_and_nothing_far_from_it(rendered):
    out, truth = rendered
    frames, masks = infant_render.load_masks(out / "infW01_v1.masks.npz")
    kp = load_pose(out / "infW01_v1.npz").keypoints
    T, H, W = truth["n_frames"], CFG.height, CFG.width
    np.testing.assert_array_equal(frames, np.arange(0, T, CFG.mask_every))
    assert masks.shape == (len(frames), H, W) and masks.dtype == bool
    L = truth["transform"]["axis_len_px"]
    segments = [(INDEX[a], INDEX[b]) for a, b in BONES]
    for i, t in enumerate(frames):
        m = masks[i]
        xy = kp[t, :, :2]
        for name in TORSO:
            x, y = np.round(xy[INDEX[name]]).astype(int)
            assert m[y, x], (t, name)
        neck = 0.5 * (xy[INDEX["left_shoulder"]] + xy[INDEX["right_shoulder"]])
        crotch = 0.5 * (xy[INDEX["left_hip"]] + xy[INDEX["right_hip"]])
        for f in np.linspace(0, 1, 5):
            x, y = np.round(neck + f * (crotch - neck)).astype(int)
            assert m[y, x]
        # Every figure pixel lies within half a trunk length of the skeleton.
        skel = np.full((H, W), 255, np.uint8)
        for a, b in segments + [(INDEX["nose"], INDEX["left_shoulder"])]:
            cv2.line(skel, tuple(map(int, xy[a])), tuple(map(int, xy[b])), 0, 1)
        cv2.line(skel, tuple(map(int, neck)), tuple(map(int, crotch)), 0, 1)
        dist = cv2.distanceTransform(skel, cv2.DIST_L2, 5)
        assert dist[m].max() < 0.5 * L
        area = m.sum() / L**2
        assert 1.0 < area < 4.0  # trunk, head and limbs: a few trunk lengths squared


# --------------------------------------------------------------------------- reproducibility


def test_video_is_byte_reproducible_and_independent_of_cohort_size(rendered, tmp_path):
    out, truth = rendered
    cfg = replace(SHORT, subjects_per_class=2, videos_per_subject=3)
    again = render(cfg, "infW01_v1", tmp_path)
    assert (tmp_path / "infW01_v1.mp4").read_bytes() == (out / "infW01_v1.mp4").read_bytes()
    a, b = load_pose(out / "infW01_v1.npz"), load_pose(tmp_path / "infW01_v1.npz")
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(
        infant_render.load_masks(out / "infW01_v1.masks.npz")[1],
        infant_render.load_masks(tmp_path / "infW01_v1.masks.npz")[1],
    )
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(
        truth, sort_keys=True, default=str
    )


# --------------------------------------------------------------------------- MediaPipe


@pytest.fixture(scope="module", params=["infW02_v1", "infF02_v1", "infP02_v1"])
def mediapipe_run(request, tmp_path_factory) -> tuple[dict, PoseData, np.ndarray]:
    """One short video per class through the pose stage: (truth dict, MediaPipe pose, truth
    keypoints)."""
    from motorflow.pose import PoseConfig, estimate_video

    video_id = request.param
    out = tmp_path_factory.mktemp(video_id)
    truth = render(replace(CFG, duration_s=4.0), video_id, out)
    pose = estimate_video(out / f"{video_id}.mp4", PoseConfig(max_people=1))
    return truth, pose, load_pose(out / f"{video_id}.npz").keypoints


@pytest.mark.slow
def test_mediapipe_detects_the_infant(mediapipe_run):
    truth, pose, tru = mediapipe_run
    est = pose.keypoints
    torso = [INDEX[j] for j in TORSO]
    detected = np.isfinite(est[:, torso, :2]).all(axis=(1, 2))
    assert detected.mean() >= 0.95
    # Found where the infant is (a left/right mix-up aside): torso error per frame.
    e = np.linalg.norm(est[detected][:, torso, :2] - tru[detected][:, torso, :2], axis=-1)
    swapped = est[detected][:, flip_permutation()]
    es = np.linalg.norm(swapped[:, torso, :2] - tru[detected][:, torso, :2], axis=-1)
    err = np.minimum(e.mean(1), es.mean(1))
    assert np.median(err) < 0.15 * truth["transform"]["axis_len_px"]


@pytest.mark.slow
def test_alignment_recovers_the_transform_from_mediapipe(mediapipe_run):
    """The align stage, fed MediaPipe's shoulders and hips, recovers the rendered placement
    (the alignment goal: 5 % in length and centre): the drawing puts the visible shoulders
    and hips where the truth joints are, as a pose model trained on human annotations sees
    them."""
    from motorflow.align import AlignConfig, estimate_transform

    truth, pose, _ = mediapipe_run
    tf = estimate_transform(pose, AlignConfig())
    want = truth["transform"]
    L = want["axis_len_px"]
    d_ang = (tf.axis_angle_deg - want["axis_angle_deg"] + 180) % 360 - 180
    assert abs(d_ang) < 5.0
    assert abs(tf.axis_len_px / L - 1) < 0.05
    assert np.hypot(*np.subtract(tf.centre_px, want["centre_px"])) < 0.05 * L
