"""Tests of the pose-file format (poseio) and the skeleton helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motorflow import poseio
from motorflow.poseio import PoseData, PoseFileError, atomic_path, load_pose, save_pose, write_json
from motorflow.skeleton import (
    BONES,
    INDEX,
    JOINT_NAMES,
    N_JOINTS,
    body_height_px,
    flip_permutation,
    side_pairs,
)


def _pose(t: int = 12, with_optional: bool = True, seed: int = 0) -> PoseData:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0, 500, (t, N_JOINTS, 3)).astype(np.float32)
    kp[..., 2] = rng.uniform(0, 1, (t, N_JOINTS))
    kp[3, INDEX["left_wrist"], :2] = np.nan  # a missing joint
    kp[5:7, INDEX["nose"], :2] = np.nan
    imputed = candidates = None
    if with_optional:
        imputed = np.zeros((t, N_JOINTS), bool)
        imputed[3, INDEX["left_wrist"]] = True
        candidates = rng.uniform(0, 500, (t, 2, N_JOINTS, 3)).astype(np.float32)
        candidates[0, 1] = np.nan  # second person absent in frame 0
    return PoseData(
        keypoints=kp,
        fps=29.97,
        frame_size=(854, 480),
        backend="mediapipe",
        backend_version="0.10.21",
        imputed=imputed,
        candidates=candidates,
    )


def _savez(path: Path, arrays: dict) -> Path:
    """Write raw arrays as an .npz, bypassing save_pose's checks (to craft bad files)."""
    np.savez(path, **arrays)
    return path


def _raw_arrays(pose: PoseData) -> dict:
    return {
        "keypoints": pose.keypoints,
        "joint_names": np.array(pose.joint_names),
        "fps": np.float64(pose.fps),
        "frame_size": np.asarray(pose.frame_size, dtype=np.int64),
        "backend": np.array(pose.backend),
        "backend_version": np.array(pose.backend_version),
    }


# ------------------------------------------------------------------------------ round trip


def test_round_trip_keeps_everything(tmp_path):
    pose = _pose()
    path = tmp_path / "sub" / "p.npz"  # parent created on demand
    save_pose(pose, path)
    back = load_pose(path)
    np.testing.assert_array_equal(back.keypoints, pose.keypoints)  # NaN == NaN here
    assert back.keypoints.dtype == np.float32
    assert np.isnan(back.keypoints[3, INDEX["left_wrist"], 0])
    assert np.isnan(back.keypoints[5:7, INDEX["nose"], :2]).all()
    assert np.isfinite(back.keypoints[3, INDEX["right_wrist"]]).all()
    np.testing.assert_array_equal(back.imputed, pose.imputed)
    assert back.imputed.dtype == bool
    np.testing.assert_array_equal(back.candidates, pose.candidates)
    assert back.candidates.shape == (12, 2, N_JOINTS, 3)
    assert back.fps == pytest.approx(29.97)
    assert back.frame_size == (854, 480)
    assert back.backend == "mediapipe"
    assert back.backend_version == "0.10.21"
    assert back.joint_names == JOINT_NAMES
    assert back.n_frames == 12
    np.testing.assert_array_equal(back.joint("right_knee"), pose.keypoints[:, INDEX["right_knee"]])


def test_round_trip_without_optional_arrays(tmp_path):
    pose = _pose(with_optional=False)
    save_pose(pose, tmp_path / "p.npz")
    back = load_pose(tmp_path / "p.npz")
    assert back.imputed is None
    assert back.candidates is None
    np.testing.assert_array_equal(back.keypoints, pose.keypoints)


def test_save_leaves_no_temp_files(tmp_path):
    save_pose(_pose(), tmp_path / "p.npz")
    save_pose(_pose(seed=1), tmp_path / "p.npz")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
    np.testing.assert_array_equal(load_pose(tmp_path / "p.npz").keypoints, _pose(seed=1).keypoints)


# ------------------------------------------------------------------------------ bad files


@pytest.mark.parametrize(
    "shape", [(10, N_JOINTS - 1, 3), (10, N_JOINTS, 2), (10, N_JOINTS * 3), (N_JOINTS, 3)]
)
def test_wrong_keypoint_shape_names_file(tmp_path, shape):
    arrays = _raw_arrays(_pose(with_optional=False))
    arrays["keypoints"] = np.zeros(shape, np.float32)
    path = _savez(tmp_path / "badshape.npz", arrays)
    with pytest.raises(PoseFileError, match="badshape.npz"):
        load_pose(path)


def test_wrong_imputed_shape_names_file(tmp_path):
    arrays = _raw_arrays(_pose(with_optional=False))
    arrays["imputed"] = np.zeros((5, N_JOINTS), bool)  # keypoints have 12 frames
    path = _savez(tmp_path / "badimputed.npz", arrays)
    with pytest.raises(PoseFileError, match="badimputed.npz"):
        load_pose(path)


@pytest.mark.parametrize(
    "shape", [(12, N_JOINTS, 3), (11, 2, N_JOINTS, 3), (12, 2, N_JOINTS - 1, 3)]
)
def test_wrong_candidates_shape_names_file(tmp_path, shape):
    arrays = _raw_arrays(_pose(with_optional=False))
    arrays["candidates"] = np.zeros(shape, np.float32)
    path = _savez(tmp_path / "badcands.npz", arrays)
    with pytest.raises(PoseFileError, match=r"badcands\.npz.*candidates"):
        load_pose(path)


def test_wrong_joint_names_names_file(tmp_path):
    arrays = _raw_arrays(_pose(with_optional=False))
    names = list(JOINT_NAMES)
    names[0], names[1] = names[1], names[0]  # same set, wrong order
    arrays["joint_names"] = np.array(names)
    path = _savez(tmp_path / "badnames.npz", arrays)
    with pytest.raises(PoseFileError, match=r"badnames\.npz.*joint_names"):
        load_pose(path)


def test_missing_key_names_file(tmp_path):
    arrays = _raw_arrays(_pose(with_optional=False))
    del arrays["fps"]
    path = _savez(tmp_path / "nofps.npz", arrays)
    with pytest.raises(PoseFileError, match="nofps.npz"):
        load_pose(path)


def test_bad_fps_names_file(tmp_path):
    arrays = _raw_arrays(_pose(with_optional=False))
    arrays["fps"] = np.float64(0.0)
    path = _savez(tmp_path / "zerofps.npz", arrays)
    with pytest.raises(PoseFileError, match="zerofps.npz"):
        load_pose(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"])
def test_not_a_pose_file_names_file(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(PoseFileError, match="junk.npz"):
        load_pose(path)


def test_missing_file_names_file(tmp_path):
    with pytest.raises(PoseFileError, match="absent.npz"):
        load_pose(tmp_path / "absent.npz")


def test_posedata_validates_shapes():
    with pytest.raises(PoseFileError):
        PoseData(keypoints=np.zeros((4, N_JOINTS, 2)), fps=30, frame_size=(1, 1), backend="x")
    with pytest.raises(PoseFileError):
        PoseData(
            keypoints=np.zeros((4, N_JOINTS, 3)), fps=float("nan"), frame_size=(1, 1), backend="x"
        )
    with pytest.raises(PoseFileError):
        PoseData(
            keypoints=np.zeros((4, N_JOINTS, 3)),
            fps=30,
            frame_size=(1, 1),
            backend="x",
            imputed=np.zeros((4, N_JOINTS - 1), bool),
        )


# ------------------------------------------------------------------------------ atomic_path


def test_atomic_path_exception_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path
            assert tmp != target
            tmp.write_text("half written")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_exception_keeps_previous_result(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_success_replaces_existing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old content that is longer")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old content that is longer"  # not yet replaced
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_result_has_the_umask_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        fresh = tmp_path / "plain.txt"
        fresh.write_text("x")
        with atomic_path(tmp_path / "atomic.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    # The umask is read once per process: compare with the mode it implies.
    mode = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert mode == poseio.new_file_mode()
    assert mode & stat.S_IRUSR and mode & stat.S_IWUSR


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "sub" / "result.json"
    # A writer killed by SIGKILL inside atomic_path: its temporary stays behind.
    code = (
        "import os, signal\n"
        "from motorflow.poseio import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    (left,) = (tmp_path / "sub").iterdir()
    assert left.name.startswith(".result.json.") and left.name.endswith(poseio.TEMP_SUFFIX)
    assert not target.exists()
    # Files that merely look similar are not touched.
    keep = [tmp_path / "sub" / "notes.tmp", tmp_path / ".hidden.motorflow-tmp"]
    for path in keep:
        path.write_text("mine")
    assert poseio.remove_stale_temporaries(tmp_path) == [left]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["notes.tmp"]
    assert all(path.exists() for path in keep)
    assert poseio.remove_stale_temporaries(tmp_path / "absent") == []


def test_write_json_round_trip(tmp_path):
    obj = {"a": np.float32(1.5), "b": np.arange(3), "c": tmp_path, "d": np.int64(7)}
    write_json(obj, tmp_path / "x.json")
    back = json.loads((tmp_path / "x.json").read_text())
    assert back == {"a": 1.5, "b": [0, 1, 2], "c": str(tmp_path), "d": 7}
    with pytest.raises(TypeError):
        write_json({"bad": object()}, tmp_path / "y.json")
    assert not (tmp_path / "y.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# ------------------------------------------------------------------------------ skeleton


def test_skeleton_consistency():
    assert N_JOINTS == 21 == len(set(JOINT_NAMES))
    for a, b in BONES:
        assert a in INDEX and b in INDEX
    for i, j in side_pairs(("knee", "toe")):
        assert JOINT_NAMES[i].startswith("left_") and JOINT_NAMES[j].startswith("right_")
        assert JOINT_NAMES[i][5:] == JOINT_NAMES[j][6:]


def test_flip_permutation_is_involution_swapping_sides():
    perm = flip_permutation()
    assert sorted(perm.tolist()) == list(range(N_JOINTS))  # a permutation
    np.testing.assert_array_equal(perm[perm], np.arange(N_JOINTS))  # involution
    assert perm[INDEX["nose"]] == INDEX["nose"]
    n_left = 0
    for name, i in INDEX.items():
        if name.startswith("left_"):
            n_left += 1
            assert JOINT_NAMES[perm[i]] == "right_" + name[len("left_") :]
        elif name.startswith("right_"):
            assert JOINT_NAMES[perm[i]] == "left_" + name[len("right_") :]
        else:
            assert perm[i] == i
    assert n_left == 10
    # Applying it to data swaps the trajectories.
    kp = np.arange(N_JOINTS, dtype=float)[None, :, None] * np.ones((2, 1, 3))
    flipped = kp[:, perm]
    assert flipped[0, INDEX["left_knee"], 0] == INDEX["right_knee"]


def test_body_height_px_synthetic():
    t = 50
    kp = np.full((t, N_JOINTS, 3), np.nan)
    kp[..., 2] = 1
    nose_y = 100 + 3 * np.sin(np.linspace(0, 6, t))
    kp[:, INDEX["nose"], 1] = nose_y
    kp[:, INDEX["left_ankle"], 1] = nose_y + 300
    kp[:, INDEX["right_ankle"], 1] = nose_y + 302
    kp[:, INDEX["left_heel"], 1] = nose_y + 310  # lowest foot point
    kp[:, INDEX["right_heel"], 1] = nose_y + 305
    kp[..., 0] = 50
    assert body_height_px(kp) == pytest.approx(310)
    # Robust to missing frames and outliers: the median ignores a few.
    kp[:5, INDEX["nose"]] = np.nan
    kp[5:8, INDEX["left_heel"], 1] = nose_y[5:8] + 2000
    assert body_height_px(kp) == pytest.approx(310)
    # One heel missing: the other foot points still count.
    kp[:, INDEX["left_heel"]] = np.nan
    assert body_height_px(kp) == pytest.approx(305)
    # No usable frame.
    kp[:, INDEX["nose"]] = np.nan
    assert np.isnan(body_height_px(kp))


def test_a_failure_record_round_trips_and_the_cleaning_passes_it_on(tmp_path):
    from motorflow import clean, pose

    missing = tmp_path / "gone.mp4"
    out = tmp_path / "gone.npz"
    with pytest.raises(pose.PoseError, match="gone.mp4"):
        pose.run(missing, out, pose.PoseConfig())
    assert not out.exists()
    record = pose.run(missing, out, pose.PoseConfig(), record_failure=True)
    back = load_pose(out)
    assert back.n_frames == 0 and back.failure == record.failure
    assert back.failure.startswith("pose: ") and "gone.mp4" in back.failure
    qc = clean.run(out, tmp_path / "clean.npz", tmp_path / "qc.json", clean.CleanConfig())
    assert qc["excluded"] and qc["excluded_stage"] == "pose" and "gone.mp4" in qc["reason"]
    assert load_pose(tmp_path / "clean.npz").failure == back.failure
    # A record with frames is not a failure record; nor is a rate missing without one.
    with pytest.raises(PoseFileError, match="no frames"):
        PoseData(np.zeros((2, len(back.joint_names), 3)), 30.0, (4, 4), "x", failure="why")
    with pytest.raises(PoseFileError, match="fps must be positive"):
        PoseData(np.zeros((0, len(back.joint_names), 3)), float("nan"), (4, 4), "x")
