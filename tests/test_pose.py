"""Pose stage with the real MediaPipe model: synthetic truth, real public videos, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motorflow import clean, pose
from motorflow.poseio import TEMP_SUFFIX, load_pose
from motorflow.skeleton import INDEX
from motorflow.synth import gait_cohort, gait_render
from motorflow.validate import pose as validate
from motorflow.video import VideoWriter

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.slow


def need_shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"../shared/data not present: {path} is needed for this real-data test")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """One side-view synthetic walk with a bystander, posed and cleaned."""
    d = tmp_path_factory.mktemp("synthetic")
    cfg = gait_cohort.CohortConfig(seed=3, width=640, height=360, strides=2.5, p_second_person=1.0,
                             p_oblique=0.0)  # fmt: skip
    row = gait_cohort.make_sheet(cfg).iloc[2]
    paths = {k: d / f"{row.video_id}.{k}" for k in ("mp4", "npz", "json")}
    gait_render.render_video(cfg, row.video_id, row.subject_id, row["view"], paths["mp4"],
                             paths["npz"], paths["json"])  # fmt: skip
    raw = d / "raw.npz"
    pose.run(paths["mp4"], raw, pose.PoseConfig(max_people=2))
    cleaned = d / "clean.npz"
    qc = clean.run(raw, cleaned, d / "qc.json", clean.CleanConfig(), video_id=row.video_id)
    return {"truth": paths["npz"], "info": paths["json"], "raw": raw, "clean": cleaned, "qc": qc}


def test_mediapipe_detects_the_synthetic_walker(rendered):
    acc = validate.video_accuracy(rendered["truth"], rendered["info"], rendered["raw"],
                                  rendered["clean"])  # fmt: skip
    assert json.loads(rendered["info"].read_text())["second_person"]
    assert acc["detection_rate"] >= 0.95
    assert not rendered["qc"]["excluded"]


def _labels_oracle_error_pct(pose_npz: Path, truth_npz: Path, stature_px: float) -> float:
    """Mean joint error of ``pose_npz`` with each frame's left/right labels set by the truth."""
    kp, truth = load_pose(pose_npz).keypoints, load_pose(truth_npz).keypoints
    n = min(len(kp), len(truth))
    kp, truth = kp[:n, :, :2], truth[:n, :, :2]
    left = [i for name, i in INDEX.items() if name.startswith("left_")]
    right = [INDEX["right_" + name[5:]] for name in INDEX if name.startswith("left_")]
    flipped = kp.copy()
    flipped[:, left], flipped[:, right] = kp[:, right], kp[:, left]
    err = np.linalg.norm(kp - truth, axis=-1)
    err_flipped = np.linalg.norm(flipped - truth, axis=-1)
    with np.errstate(invalid="ignore"):
        better = np.nansum(err_flipped, 1) < np.nansum(err, 1)
    return float(100 * np.nanmean(np.where(better[:, None], err_flipped, err)) / stature_px)


# Known defect, kept as a strict regression test: on this video (a child walking 3 s past a
# bystander) MediaPipe's leg labels are wrong on most frames, for whole stretches between
# crossings, the case the alternation step exists for.  Measured history: 33 % -> 79 %
# swapped while the swap fix oriented stretches by the raw labels; with the alternation
# step, on the adult-proportioned render of this seed, 62.8 % -> 17.1 % (error 9.6 -> 7.7 %
# of stature, below the 8.4 % of the raw pose with truth-set labels), which passed.  Since
# the walkers have children's leg proportions the render differs: raw 59.5 % swapped, and
# the first lead is decided by the labels' majority (6 steps: perspective t = 0.97 against
# it, below the threshold of 1 that an orthographic view's noise reaches), which is wrong:
# 93.2 % swapped after cleaning, error 15.9 -> 10.4 %.  (A threshold of 0.5 defers to
# continuity, 68.2 %, but blocks the orthographic case of tests/test_clean.py.)  Remove the
# marker when a stretch this short can be oriented.
@pytest.mark.xfail(strict=True, reason="legs mis-oriented where raw labels are mostly wrong")
def test_mediapipe_on_synthetic_walk_is_accurate(rendered):
    acc = validate.video_accuracy(rendered["truth"], rendered["info"], rendered["raw"],
                                  rendered["clean"])  # fmt: skip
    assert json.loads(rendered["info"].read_text())["second_person"]
    assert acc["detection_rate"] >= 0.95
    assert acc["raw_swapped_pct"] > 50  # the raw labels are mostly wrong
    assert acc["swapped_pct"] <= acc["raw_swapped_pct"] / 3
    # No worse than the raw pose with perfect labels (the cleaning also smooths the joints).
    oracle = _labels_oracle_error_pct(rendered["raw"], rendered["truth"], acc["stature_px"])
    assert acc["mean_error_pct"] <= oracle
    assert not acc["cleaning_worse"]
    assert not rendered["qc"]["excluded"]


def test_pose_file_format(rendered):
    p = load_pose(rendered["raw"])
    assert p.keypoints.dtype == np.float32 and p.keypoints.shape[1:] == (21, 3)
    assert p.backend == "mediapipe" and "0.10.21" in p.backend_version
    assert p.frame_size == (640, 360) and p.fps == pytest.approx(30.0)
    c = load_pose(rendered["clean"])
    assert c.imputed is not None and c.imputed.shape == c.keypoints.shape[:2]


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps) as vw:
        for f in frames:
            vw.write(f)


def test_video_with_nobody_is_rejected(tmp_path):
    rng = np.random.default_rng(0)
    bg = gait_render.room_background(320, 240, rng, 120)
    path = tmp_path / "empty_room.mp4"
    _write_video(path, [bg] * 45)
    with pytest.raises(pose.PoseError, match="no person") as err:
        pose.run(path, tmp_path / "out.npz", pose.PoseConfig(max_people=1))
    assert "empty_room.mp4" in str(err.value)
    assert not (tmp_path / "out.npz").exists()
    assert list(tmp_path.glob("*" + TEMP_SUFFIX)) == []


def test_too_short_video_is_rejected(tmp_path, rendered):
    from motorflow.video import iter_frames

    src = rendered["truth"].with_suffix(".mp4")
    frames = [f for _, f in zip(range(10), iter_frames(src), strict=False)]
    path = tmp_path / "short.mp4"
    _write_video(path, frames)
    with pytest.raises(pose.PoseError, match=r"short.mp4: too short, 10 frames"):
        pose.run(path, tmp_path / "out.npz", pose.PoseConfig(min_frames=30))


@pytest.mark.parametrize("content", [b"", b"this is a clinic note, not a video\n"])
def test_unreadable_input_names_file(tmp_path, content):
    path = tmp_path / "walk.mp4"
    path.write_bytes(content)
    with pytest.raises(pose.PoseError, match="walk.mp4"):
        pose.run(path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.shared_data
def test_sports2d_keeps_the_walking_woman(tmp_path):
    video = need_shared("videos/walk_side_sports2d.mp4")
    raw, out = tmp_path / "raw.npz", tmp_path / "clean.npz"
    p = pose.run(video, raw, pose.PoseConfig(max_people=2))
    assert p.n_frames == 230 and p.frame_size == (1768, 994)
    qc = clean.run(raw, out, tmp_path / "qc.json", clean.CleanConfig(person="walks_across"))
    kp = load_pose(out).keypoints
    hips = kp[:, [INDEX["left_hip"], INDEX["right_hip"]], 0].mean(1)
    # She is fully in view from about 1.5 s to 6.5 s; stay inside that window.
    window = slice(int(2.0 * p.fps), int(6.0 * p.fps))
    seen = np.isfinite(hips[window])
    assert seen.mean() >= 0.95, qc
    x = hips[window][seen]
    # Walking right-to-left across the frame (the gymnast stays by her box).
    assert x[0] - x[-1] > 0.3 * p.frame_size[0]
    assert np.mean(np.diff(x) < 0) > 0.7


@pytest.mark.shared_data
def test_frontal_video_and_its_alphapose_json_load(tmp_path):
    video = need_shared("videos/walk_frontal_pose2gait.mp4")
    ap = need_shared("videos/walk_frontal_pose2gait.alphapose.json")
    v = pose.run(video, tmp_path / "v.npz", pose.PoseConfig(max_people=1))
    j = pose.run(ap, tmp_path / "j.npz", pose.PoseConfig(backend="precomputed"), fps=v.fps,
                 frame_size=v.frame_size)  # fmt: skip
    assert abs(v.n_frames - j.n_frames) <= 5
    # The walker comes close to the camera and leaves the frame at the end (measured: 81 %).
    det = np.isfinite(v.keypoints[:, INDEX["left_hip"], 0]).mean()
    assert det >= 0.75
    # Both see the same person: hip centres agree within 10 % of the frame height.
    n = min(v.n_frames, j.n_frames)
    hv = v.keypoints[:n, [INDEX["left_hip"], INDEX["right_hip"]], :2].mean(1)
    hj = j.keypoints[:n, [INDEX["left_hip"], INDEX["right_hip"]], :2].mean(1)
    d = np.linalg.norm(hv - hj, axis=-1)
    assert np.nanmedian(d) < 0.1 * v.frame_size[1]


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel", ["keypoints/cp_child_openpose", "keypoints/older_adult_openpose/raw"]
)
def test_precomputed_keypoints_load_and_clean(tmp_path, rel):
    src = need_shared(rel)
    inputs = [src] if src.name == "cp_child_openpose" else sorted(src.glob("*.csv"))
    assert inputs
    for i, path in enumerate(inputs):
        raw, out = tmp_path / f"raw{i}.npz", tmp_path / f"clean{i}.npz"
        p = pose.run(path, raw, pose.PoseConfig(backend="precomputed"),
                     fps=29.97 if src.name == "cp_child_openpose" else None)  # fmt: skip
        qc = clean.run(raw, out, tmp_path / f"qc{i}.json", clean.CleanConfig())
        c = load_pose(out)
        assert c.n_frames == p.n_frames
        # Gaps no longer than max_gap_s are filled: every interior NaN run left is longer.
        max_gap = int(np.floor(clean.CleanConfig().max_gap_s * c.fps + 1e-9))
        for v in range(c.keypoints.shape[1]):
            for length in _interior_nan_runs(c.keypoints[:, v, 0]):
                assert length > max_gap, (path.name, v, length)
        assert c.imputed.any(), "real recordings have gaps to fill"
        assert not qc["excluded"], qc


def _interior_nan_runs(x: np.ndarray) -> list[int]:
    """Lengths of NaN runs with valid samples on both sides."""
    nan = np.isnan(x)
    valid = np.flatnonzero(~nan)
    if len(valid) < 2:
        return []
    inner = nan[valid[0] : valid[-1] + 1].astype(int)
    edges = np.diff(np.concatenate([[0], inner, [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


@pytest.mark.parametrize("fps", [0.0, -5.0, float("nan")])
def test_a_non_positive_frame_rate_is_refused_before_any_work(tmp_path, fps):
    path = tmp_path / "walk.mp4"
    path.write_bytes(b"not even read")
    with pytest.raises(pose.PoseError, match=r"walk\.mp4: fps must be a positive number"):
        pose.run(path, tmp_path / "out.npz", pose.PoseConfig(max_people=1), fps=fps)
    assert not (tmp_path / "out.npz").exists()


def test_a_container_without_a_frame_rate_needs_one_given(tmp_path, monkeypatch):
    from motorflow.video import VideoInfo

    path = tmp_path / "no_rate.mp4"
    path.write_bytes(b"not read either")
    info = VideoInfo(str(path), 640, 360, float("nan"), 0, "h264", float("nan"))
    monkeypatch.setattr(pose, "probe", lambda p: info)
    with pytest.raises(pose.PoseError, match=r"no_rate\.mp4: the container states no frame rate"):
        pose.run(path, tmp_path / "out.npz", pose.PoseConfig(max_people=1))
    assert not (tmp_path / "out.npz").exists()


def test_frame_slots_follow_the_timestamps():
    t = [i / 30 for i in range(10)] + [i / 30 for i in range(13, 20)]  # frames 10-12 dropped
    slots, rate, notes = pose.frame_slots(t, 30.0)
    assert list(slots) == [*range(10), *range(13, 20)] and rate == 30.0
    assert notes == [
        "3 dropped frames in 1 gaps (from the timestamps): kept as missing frames, so that "
        "time stays true"
    ]
    # A stated rate the timestamps contradict gives way to theirs, unless the user gave it.
    even = [i / 30 for i in range(20)]
    slots, rate, notes = pose.frame_slots(even, 25.0)
    assert rate == pytest.approx(30.0) and list(slots) == list(range(20))
    assert "states 25 fps, its timestamps 30 fps" in notes[0]
    _, rate, notes = pose.frame_slots(even, 25.0, given=True)
    assert rate == 25.0 and "the given rate is used" in notes[0]
    # No usable timestamps: evenly spaced, as before.
    assert list(pose.frame_slots([None] * 5, 30.0)[0]) == list(range(5))
    assert "do not increase" in pose.frame_slots([0.0, 0.0, 0.1], 30.0)[2][0]


def test_dropped_frames_stay_missing_in_the_pose_file(tmp_path, rendered):
    import av

    from motorflow.video import iter_frames

    src = rendered["truth"].with_suffix(".mp4")
    frames = list(iter_frames(src, rgb=True))
    gap = range(40, 46)
    path = tmp_path / "dropped.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i, f in enumerate(frames):
            if i in gap:
                continue  # a phone that drops frames keeps the others' times
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    out = pose.run(path, tmp_path / "dropped.npz", pose.PoseConfig(max_people=2))
    assert out.n_frames == len(frames) and out.fps == pytest.approx(30.0)
    assert np.isnan(out.keypoints[list(gap), :, 0]).all()
    assert np.isfinite(out.keypoints[gap.stop : gap.stop + 5, :, 0]).any(axis=1).all()
    assert any("6 dropped frames in 1 gaps" in n for n in out.notes)
    qc = clean.run(tmp_path / "dropped.npz", tmp_path / "c.npz", tmp_path / "qc.json",
                   clean.CleanConfig())  # fmt: skip
    assert any("6 dropped frames" in n for n in qc["notes"])
