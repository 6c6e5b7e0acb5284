"""Align stage: robust body-position normalisation against known similarity transforms.

Truth comes from a canonical body (neck-crotch axis upright, unit length) placed in the
image by a known rotation, offset and scale; keypoints get noise, missing frames and garbage
frames; rendered frames use gait_render.draw_person with exact figure masks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from motorflow import align
from motorflow.align import AlignConfig, AlignError, Transform
from motorflow.mask import save_masks
from motorflow.poseio import TEMP_SUFFIX, PoseData, load_pose, save_pose
from motorflow.skeleton import INDEX, JOINT_NAMES, N_JOINTS
from motorflow.synth import gait_render
from motorflow.video import VideoWriter

# Canonical frontal body in axis units: centre at the origin, neck (0, -0.5), crotch
# (0, 0.5), x right, y down; the subject's left on image right.
_BODY = {
    "nose": (0.0, -1.02),
    "left_eye": (0.09, -1.1),
    "right_eye": (-0.09, -1.1),
    "left_ear": (0.2, -1.05),
    "right_ear": (-0.2, -1.05),
    "left_shoulder": (0.4, -0.5),
    "right_shoulder": (-0.4, -0.5),
    "left_elbow": (0.62, -0.05),
    "right_elbow": (-0.62, -0.05),
    "left_wrist": (0.7, 0.35),
    "right_wrist": (-0.7, 0.35),
    "left_hip": (0.22, 0.5),
    "right_hip": (-0.22, 0.5),
    "left_knee": (0.3, 1.1),
    "right_knee": (-0.3, 1.1),
    "left_ankle": (0.32, 1.65),
    "right_ankle": (-0.32, 1.65),
    "left_heel": (0.32, 1.72),
    "right_heel": (-0.32, 1.72),
    "left_toe": (0.42, 1.76),
    "right_toe": (-0.42, 1.76),
}
CANON = np.array([_BODY[n] for n in JOINT_NAMES])
_LIMBS = [INDEX[n] for n in JOINT_NAMES if n.split("_")[-1] in
          ("elbow", "wrist", "knee", "ankle", "heel", "toe")]  # fmt: skip
_TRUNK = [INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
_FACE = [INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
HEAD_CENTRE = np.array([0.0, -1.05])  # midpoint of the ears: where draw_person puts the head
HEAD_RADIUS = 0.065 / 0.29  # draw_person's head radius in axis units (height 1 m)
# Bright clothes: the aligned figure is told from the black background by brightness.
LOOK = gait_render.Look(skin=(150, 190, 235), hair=(60, 90, 150), shirt=(200, 80, 40),
                  trousers=(60, 140, 200), shoes=(90, 90, 90))  # fmt: skip


def rot(deg: float) -> np.ndarray:
    """Rotation taking the canonical up (0, -1) to the axis at ``deg`` (see align's docs)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def body_motion(rng: np.random.Generator, n: int, sway_deg: float = 3.0) -> np.ndarray:
    """(n, V, 2) canonical body per frame: limbs wave, the trunk sways symmetrically."""
    t = np.arange(n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (1, N_JOINTS, 1))
    b = np.broadcast_to(CANON, (n, N_JOINTS, 2)).copy()
    wave = 0.1 * np.sin(2 * np.pi * t / 17.0 + phase)
    b[:, _LIMBS] += wave[:, _LIMBS]
    sway = np.radians(sway_deg) * np.sin(2 * np.pi * np.arange(n) / 23.0)
    c, s = np.cos(sway), np.sin(sway)
    r = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (n, 2, 2)
    return np.einsum("nij,nvj->nvi", r, b)


def place(body: np.ndarray, angle: float, centre: np.ndarray, length: float) -> np.ndarray:
    return centre + length * body @ rot(angle).T


def make_pose(body_img: np.ndarray, fps: float = 30.0, size=(640, 480)) -> PoseData:
    kp = np.concatenate([body_img, np.ones(body_img.shape[:2] + (1,))], -1)
    return PoseData(keypoints=kp, fps=fps, frame_size=size, backend="truth")


def corrupt(
    pose: PoseData, rng, missing=0.1, garbage=0.2, lowconf=0.05
) -> tuple[PoseData, np.ndarray]:
    """Missing frames (NaN), garbage frames (confident random trunk joints) and confident
    nonsense below min_confidence; returns the pose and the untouched-frame flags."""
    kp = pose.keypoints.copy()
    n = len(kp)
    kind = rng.choice(4, size=n, p=[1 - missing - garbage - lowconf, missing, garbage, lowconf])
    w, h = pose.frame_size
    kp[kind == 1] = np.nan
    g = np.flatnonzero(kind == 2)
    kp[np.ix_(g, _TRUNK)] = np.stack(
        [rng.uniform(0, w, (g.size, 4)), rng.uniform(0, h, (g.size, 4)),
         rng.uniform(0.5, 1.0, (g.size, 4))], -1)  # fmt: skip
    lc = np.flatnonzero(kind == 3)
    kp[np.ix_(lc, _TRUNK, [0, 1])] = rng.uniform(0, min(w, h), (lc.size, 4, 2))
    kp[np.ix_(lc, _TRUNK, [2])] = 0.1
    out = PoseData(keypoints=kp, fps=pose.fps, frame_size=pose.frame_size, backend="truth")
    return out, kind == 0


def axis_stats(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    neck = kp[:, _TRUNK[:2], :2].mean(1)
    crotch = kp[:, _TRUNK[2:], :2].mean(1)
    d = neck - crotch
    return np.degrees(np.arctan2(d[:, 0], -d[:, 1])), np.hypot(d[:, 0], d[:, 1])


def ang_err(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


# ---------------------------------------------------------------------------------------------
# Keypoints
# ---------------------------------------------------------------------------------------------


def test_convention_head_right_is_90_deg():
    kp = np.full((5, N_JOINTS, 3), np.nan)
    kp[:, INDEX["left_shoulder"]] = (300, 190, 1)
    kp[:, INDEX["right_shoulder"]] = (300, 210, 1)
    kp[:, INDEX["left_hip"]] = (200, 190, 1)
    kp[:, INDEX["right_hip"]] = (200, 210, 1)
    pose = PoseData(keypoints=kp, fps=30.0, frame_size=(640, 480), backend="truth")
    cfg = AlignConfig(min_valid_frames=1)
    tr = align.estimate_transform(pose, cfg)
    assert tr.axis_angle_deg == pytest.approx(90.0)
    assert tr.centre_px == pytest.approx((250.0, 200.0))
    assert tr.axis_len_px == pytest.approx(100.0)
    m = tr.matrix(112, 0.3)
    neck = m[:, :2] @ [300, 200] + m[:, 2]
    crotch = m[:, :2] @ [200, 200] + m[:, 2]
    assert neck == pytest.approx([56.0, 56.0 - 16.8])  # straight above the crotch
    assert crotch == pytest.approx([56.0, 56.0 + 16.8])
    out = align.transform_keypoints(pose, tr, cfg)
    assert out.frame_size == (112, 112)
    assert np.isnan(out.keypoints[:, INDEX["nose"], :2]).all()  # NaN stays NaN
    assert np.isnan(out.keypoints[:, INDEX["nose"], 2]).all()  # confidences kept
    assert (out.keypoints[:, INDEX["left_hip"], 2] == 1).all()


def test_recovers_random_transforms_despite_noise_gaps_and_garbage():
    rng = np.random.default_rng(7)
    cfg = AlignConfig()
    lc = cfg.axis_fraction * cfg.size
    worst = dict.fromkeys(("angle", "length", "centre", "up", "len_after", "frame_up"), 0.0)
    for _ in range(60):
        angle = rng.uniform(-180, 180)
        length = rng.uniform(20, 400)
        centre = rng.uniform([0, 0], [640, 480])
        n = int(rng.integers(40, 400))
        body = body_motion(rng, n)
        img = place(body, angle, centre, length)
        img += rng.normal(0, 0.01 * length, img.shape)  # keypoint noise: 1 % of the axis
        pose, clean = corrupt(make_pose(img), rng)  # 10 % missing, 20 % garbage, 5 % low conf
        tr = align.estimate_transform(pose, cfg)
        worst["angle"] = max(worst["angle"], ang_err(tr.axis_angle_deg, angle))
        worst["length"] = max(worst["length"], abs(tr.axis_len_px / length - 1))
        worst["centre"] = max(worst["centre"], np.hypot(*(np.array(tr.centre_px) - centre))
                              / length)  # fmt: skip
        out = align.transform_keypoints(pose, tr, cfg)
        a, ln = axis_stats(out.keypoints[clean])
        sway, _ = axis_stats(make_pose(body).keypoints[clean])  # each frame's true lean
        worst["up"] = max(worst["up"], abs(np.median(a)))
        worst["len_after"] = max(worst["len_after"], abs(np.median(ln) / lc - 1))
        worst["frame_up"] = max(worst["frame_up"], np.abs((a - sway + 180) % 360 - 180).max())
    assert worst["angle"] <= 5.0, worst
    assert worst["length"] <= 0.05, worst
    assert worst["centre"] <= 0.05, worst
    # After alignment the axis is upright within 5 deg and axis_fraction * size long within
    # 5 %; each untouched frame within 5 deg of its own true lean (+-3 deg sway), noise
    # (0.6 deg sd) included.
    assert worst["up"] <= 5.0, worst
    assert worst["len_after"] <= 0.05, worst
    assert worst["frame_up"] <= 5.0, worst


def test_garbage_frames_do_not_move_the_estimate():
    rng = np.random.default_rng(11)
    for angle in (-170.0, -45.0, 0.0, 100.0, 179.0):
        body = body_motion(rng, 300)
        img = place(body, angle, np.array([320.0, 240.0]), 150.0)
        clean_tr = align.estimate_transform(make_pose(img))
        dirty, _ = corrupt(make_pose(img), rng, missing=0.0, garbage=0.2, lowconf=0.0)
        tr = align.estimate_transform(dirty)
        assert ang_err(tr.axis_angle_deg, clean_tr.axis_angle_deg) <= 2.0
        assert tr.axis_len_px == pytest.approx(clean_tr.axis_len_px, rel=0.03)
        assert np.hypot(*np.subtract(tr.centre_px, clean_tr.centre_px)) <= 0.03 * 150
        assert ang_err(tr.axis_angle_deg, angle) <= 5.0
        assert tr.angle_mad_deg > clean_tr.angle_mad_deg  # the spread reports the garbage


def test_shoulders_never_detected_raise_with_reason():
    img = place(body_motion(np.random.default_rng(0), 60), 20.0, np.array([300.0, 200.0]), 80)
    pose = make_pose(img)
    pose.keypoints[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]] = np.nan
    with pytest.raises(AlignError, match="shoulders/hips never detected: no frame of 60"):
        align.estimate_transform(pose)
    pose = make_pose(img)
    pose.keypoints[8:, INDEX["left_hip"], 2] = 0.1  # seen in 8 frames only
    with pytest.raises(AlignError, match="too rarely detected: 8 of 60 frames"):
        align.estimate_transform(pose)


def test_transform_round_trips_through_dict():
    tr = Transform(12.5, (3.0, 4.0), 50.0, 10, 12, 1.5, 0.02, 2.0)
    back = Transform.from_dict(json.loads(json.dumps(tr.to_dict())))
    assert back == tr
    np.testing.assert_allclose(back.matrix(112, 0.3), tr.matrix(112, 0.3))


def test_config_rejects_unknown_and_bad_values():
    assert AlignConfig.from_mapping({"size": 64, "fps": 5}).size == 64
    with pytest.raises(ValueError, match="unknown align option.*szie"):
        AlignConfig.from_mapping({"szie": 64})
    for bad in (
        {"size": 8},
        {"fps": 0},
        {"axis_fraction": 1.5},
        {"blur_faces": "yes"},
        {"face_radius": -1},
        {"min_confidence": 2},
        {"max_sample_frames": 1.5},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AlignConfig.from_mapping(bad)


def test_clip_frames_are_picked_by_nearest_time():
    np.testing.assert_array_equal(align.clip_frame_index(90, 30.0, 10.0), np.arange(0, 90, 3))
    np.testing.assert_array_equal(align.clip_frame_index(11, 25.0, 10.0), [0, 3, 5, 8, 10])
    assert align.clip_frame_index(3, 30.0, 60.0).tolist() == [0, 1, 1, 2, 2]
    assert align.clip_frame_index(0, 30.0, 10.0).size == 0


# ---------------------------------------------------------------------------------------------
# Rendered frames
# ---------------------------------------------------------------------------------------------


def draw(img: np.ndarray, body_img: np.ndarray, length: float) -> None:
    depth = np.full(N_JOINTS, 3.0)
    depth[_FACE[:3]] = 2.9  # the face looks at the camera (eyes drawn)
    gait_render.draw_person(img, body_img, depth, np.full(N_JOINTS, length / 0.29), LOOK, 1.0)


def checker_head(img: np.ndarray, body_img: np.ndarray, length: float, square: int = 3) -> None:
    """A high-frequency 'face': black/white squares over the whole head disk."""
    c = body_img[_FACE[3:]].mean(0)
    r = HEAD_RADIUS * length
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    disk = np.hypot(xx - c[0], yy - c[1]) <= r
    board = ((xx // square + yy // square) % 2).astype(bool)
    img[disk & board] = 255
    img[disk & ~board] = 0


def render(tmp: Path, angle: float, centre, length: float, n: int = 12, seed: int = 0,
           face_pattern: bool = False, size=(256, 192)) -> dict:  # fmt: skip
    """Video (on a cluttered room), exact masks and truth pose of the placed body."""
    rng = np.random.default_rng(seed)
    w, h = size
    body = body_motion(rng, n)
    img_kp = place(body, angle, np.asarray(centre, float), length)
    bg = gait_render.room_background(w, h, rng, 0.5 * h)
    masks, frames = [], []
    for t in range(n):
        layers = []
        for base in (bg.copy(), np.zeros_like(bg), np.full_like(bg, 255)):
            draw(base, img_kp[t], length)
            if face_pattern:
                checker_head(base, img_kp[t], length)
            layers.append(base)
        frames.append(layers[0])
        masks.append((layers[1] == layers[2]).all(-1))
    video = tmp / f"body_{seed}.mp4"
    with VideoWriter(video, w, h, 30.0) as vw:
        for f in frames:
            vw.write(f)
    return {"video": video, "masks": np.array(masks), "pose": make_pose(img_kp, size=size),
            "body": body, "img_kp": img_kp}  # fmt: skip


def canonical_mask(body: np.ndarray, cfg: AlignConfig) -> np.ndarray:
    """Exact mask of the body drawn directly in crop px (upright, axis_fraction * size)."""
    lc = cfg.axis_fraction * cfg.size
    kp = cfg.size / 2.0 + lc * body
    layers = []
    for v in (0, 255):
        img = np.full((cfg.size, cfg.size, 3), v, np.uint8)
        draw(img, kp, lc)
        layers.append(img)
    return (layers[0] == layers[1]).all(-1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize(
    "angle,centre,length", [(0.0, (128, 90), 40.0), (75.0, (110, 100), 35.0),
                            (-150.0, (140, 95), 45.0), (180.0, (128, 96), 30.0)],
)  # fmt: skip
def test_rendered_body_is_aligned_upright_and_background_free(tmp_path, angle, centre, length):
    r = render(tmp_path, angle, centre, length, seed=int(angle) % 7)
    cfg = AlignConfig(fps=30.0, blur_faces=False)
    tr = align.estimate_transform(r["pose"], AlignConfig(min_valid_frames=5))
    assert ang_err(tr.axis_angle_deg, angle) <= 5.0
    assert tr.axis_len_px == pytest.approx(length, rel=0.05)
    frames, index = align.align_video(r["video"], r["masks"], r["pose"], tr, cfg)
    assert frames.shape == (12, 112, 112, 3) and frames.dtype == np.uint8
    assert index.tolist() == list(range(12))
    for t in range(12):
        truth = canonical_mask(r["body"][t], cfg)
        seen = frames[t].max(-1) > 40
        assert iou(seen, truth) >= 0.8, (t, iou(seen, truth))
        # Outside the figure (a 2 px margin for interpolation) everything is black: the
        # cluttered room is gone.
        outside = ~cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (frames[t][outside].max(-1) <= 10).mean() >= 0.995


def lap_var(img: np.ndarray, centre, radius: float) -> float:
    """Variance of the Laplacian inside a disk (the usual sharpness / detail measure)."""
    gray = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.Laplacian(gray, cv2.CV_64F)
    yy, xx = np.mgrid[: gray.shape[0], : gray.shape[1]]
    disk = np.hypot(xx - centre[0], yy - centre[1]) <= radius
    return float(lap[disk].var())


def run_align(tmp: Path, r: dict, cfg: AlignConfig, name: str, mask_info=None) -> dict:
    masks_file, pose_file = tmp / "masks.npz", tmp / "pose.npz"
    save_masks(masks_file, r["masks"], mask_info or {"status": "ok", "reason": ""})
    save_pose(r["pose"], pose_file)
    out = {k: tmp / f"{name}.{k}" for k in ("clip.npz", "pose.npz", "json", "png")}
    qc = align.run(r["video"], masks_file, pose_file, out["clip.npz"], out["pose.npz"],
                   out["json"], out["png"], cfg, video_id="vid")  # fmt: skip
    out["qc"] = qc
    return out


@pytest.mark.parametrize("face_keypoints", [True, False])
def test_face_is_blurred_in_clip_and_preview(tmp_path, face_keypoints):
    length = 40.0
    r = render(tmp_path, 30.0, (128, 100), length, n=15, seed=3, face_pattern=True)
    if not face_keypoints:  # blur must fall back on the expected head position
        r["pose"].keypoints[:, _FACE] = np.nan
    sharp = run_align(tmp_path, r, AlignConfig(fps=10.0, blur_faces=False), "sharp")
    blurred = run_align(tmp_path, r, AlignConfig(fps=10.0), "blurred")
    assert blurred["qc"]["face_blur_fallback_frames"] == (0 if face_keypoints else 5)

    cfg = AlignConfig()
    lc = cfg.axis_fraction * cfg.size
    head_r = HEAD_RADIUS * lc
    with np.load(sharp["clip.npz"]) as a, np.load(blurred["clip.npz"]) as b:
        assert str(b["status"]) == "ok" and b["frames"].shape == (5, 112, 112, 3)
        body = r["body"][b["frame_index"]]
        for k in range(len(body)):
            head = cfg.size / 2 + lc * body[k, _FACE[3:]].mean(0)
            v_sharp = lap_var(a["frames"][k], head, head_r)
            v_blur = lap_var(b["frames"][k], head, head_r)
            assert v_sharp > 1000, v_sharp  # the pattern survives alignment unblurred
            assert v_blur < 0.02 * v_sharp, (v_blur, v_sharp)

    # The preview: the masked source panel and the aligned panels.
    for out in (sharp, blurred):
        out["img"] = cv2.imread(str(out["png"]))[..., ::-1]
    lay = blurred["qc"]["preview_layout"]
    assert lay == sharp["qc"]["preview_layout"]
    x, y, _, _ = lay["source"]
    t = lay["source_frame"]
    src_head = r["img_kp"][t, _FACE[3:]].mean(0)
    regions = [((x, y) + src_head * lay["source_scale"], HEAD_RADIUS * length
                * lay["source_scale"])]  # fmt: skip
    with np.load(blurred["clip.npz"]) as b:
        fi = b["frame_index"]
    for (x, y, w, _), k in zip(lay["aligned"], lay["aligned_clip_frames"], strict=True):
        s = w / cfg.size
        head = cfg.size / 2 + lc * r["body"][fi[k], _FACE[3:]].mean(0)
        regions.append(((x, y) + head * s, head_r * s))
    for centre, radius in regions:
        v_sharp = lap_var(sharp["img"], centre, radius)
        v_blur = lap_var(blurred["img"], centre, radius)
        assert v_sharp > 300, v_sharp
        assert v_blur < 0.03 * v_sharp, (v_blur, v_sharp)


def test_outputs_of_a_good_video(tmp_path):
    r = render(tmp_path, -60.0, (120, 96), 38.0, n=30, seed=5)
    out = run_align(tmp_path, r, AlignConfig(fps=10.0), "ok")
    qc = json.loads(out["json"].read_text())
    assert qc["status"] == "ok" and qc["reason"] == "" and qc["n_frames"] == 30
    assert qc["n_clip_frames"] == 10 and qc["video_id"] == "vid"
    assert ang_err(qc["transform"]["axis_angle_deg"], -60.0) <= 5.0
    with np.load(out["clip.npz"]) as z:
        assert z["frames"].shape == (10, 112, 112, 3) and z["frames"].dtype == np.uint8
        assert z["frame_index"].tolist() == list(range(0, 30, 3))
        assert float(z["fps"]) == 10.0 and z["matrix"].shape == (2, 3)
        np.testing.assert_allclose(z["matrix"], qc["matrix"])
    p = load_pose(out["pose.npz"])
    assert p.n_frames == 30 and p.fps == 30.0 and p.frame_size == (112, 112)
    a, ln = axis_stats(p.keypoints)
    assert np.abs(a).max() <= 5.0 and np.abs(ln / 33.6 - 1).max() <= 0.05
    img = cv2.imread(str(out["png"]))
    assert img is not None and img.shape[0] == align.PREVIEW_PX + 18
    assert list(tmp_path.glob(".*" + TEMP_SUFFIX)) == []


def check_failed_outputs(out: dict, n_frames: int, reason: str) -> None:
    qc = json.loads(out["json"].read_text())
    assert qc["status"] == "failed" and reason in qc["reason"], qc["reason"]
    assert qc == out["qc"]
    with np.load(out["clip.npz"]) as z:
        assert z["frames"].shape == (0, 112, 112, 3) and z["frame_index"].shape == (0,)
        assert str(z["status"]) == "failed" and reason in str(z["reason"])
    p = load_pose(out["pose.npz"])
    assert p.n_frames == n_frames and np.isnan(p.keypoints[..., :2]).all()
    img = cv2.imread(str(out["png"]))
    assert img is not None and img.max() > 0  # the reason is written on it


def test_failed_mask_gives_failed_outputs_without_raising(tmp_path):
    r = render(tmp_path, 0.0, (128, 96), 40.0, n=6)
    r["masks"][:] = False
    reason = "x.mp4: segmentation found a person in 0 of 6 frames (< min_person_fraction 0.5)"
    out = run_align(tmp_path, r, AlignConfig(), "f", {"status": "failed", "reason": reason})
    check_failed_outputs(out, 6, "mask stage failed: " + reason)


def test_no_shoulders_gives_failed_outputs_without_raising(tmp_path):
    r = render(tmp_path, 0.0, (128, 96), 40.0, n=6)
    r["pose"].keypoints[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]] = np.nan
    out = run_align(tmp_path, r, AlignConfig(), "f")
    check_failed_outputs(out, 6, "shoulders/hips never detected")
    assert "pose.npz" in out["qc"]["reason"]


def test_inputs_from_different_videos_raise(tmp_path):
    r = render(tmp_path, 0.0, (128, 96), 40.0, n=6)
    with pytest.raises(AlignError, match="masks.npz is for 320x240 frames but .*pose.npz"):
        run_align(tmp_path, r, AlignConfig(), "x", {"status": "ok", "frame_size": [320, 240]})
    r["masks"] = r["masks"][:3]
    with pytest.raises(AlignError, match="masks.npz has 3 frames but .*pose.npz has 6"):
        run_align(tmp_path, r, AlignConfig(), "x")
    assert not list(tmp_path.glob("x.*"))
