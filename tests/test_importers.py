"""Tests for motorflow.importers: exact joint mapping on synthetic files, then real files."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from motorflow.importers import KeypointImportError, KeypointImportWarning, load_keypoints
from motorflow.poseio import load_pose, save_pose
from motorflow.skeleton import INDEX, JOINT_NAMES, N_JOINTS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# Written out independently of the module: source index -> motorflow joint.
BODY25_TO_OURS = {
    0: "nose", 2: "right_shoulder", 3: "right_elbow", 4: "right_wrist",
    5: "left_shoulder", 6: "left_elbow", 7: "left_wrist",
    9: "right_hip", 10: "right_knee", 11: "right_ankle",
    12: "left_hip", 13: "left_knee", 14: "left_ankle",
    15: "right_eye", 16: "left_eye", 17: "right_ear", 18: "left_ear",
    19: "left_toe", 21: "left_heel", 22: "right_toe", 24: "right_heel",
}  # fmt: skip
COCO17_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
FEET = ("left_heel", "right_heel", "left_toe", "right_toe")


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/data not present: {path} is missing")
    return path


def distinct(n: int, shift: float = 0.0) -> np.ndarray:
    """(n, 3) points where point k is (10 + k, 200 + k, 0.5 + k / 100): each one traceable."""
    k = np.arange(n, dtype=float)
    return np.stack([10 + k + shift, 200 + k + shift, 0.5 + k / 100], axis=1)


def write_openpose(folder: Path, frame: int, people: list[np.ndarray]) -> Path:
    doc = {
        "version": 1.3,
        "people": [
            {"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist(), "face_keypoints_2d": []}
            for p in people
        ],
    }
    path = folder / f"clip_{frame:012d}_keypoints.json"
    path.write_text(json.dumps(doc))
    return path


def assert_mapped(kp: np.ndarray, src: np.ndarray, mapping: dict[int, str]) -> None:
    """Every mapped joint holds its source point; every other joint is NaN with conf 0."""
    for k, name in mapping.items():
        np.testing.assert_allclose(kp[INDEX[name]], src[k], rtol=1e-6, err_msg=name)
    for name in set(JOINT_NAMES) - set(mapping.values()):
        assert np.isnan(kp[INDEX[name], :2]).all(), name
        assert kp[INDEX[name], 2] == 0, name


# --------------------------------------------------------------------------- OpenPose


def test_openpose_body25_mapping_exact(tmp_path):
    src = distinct(25)
    write_openpose(tmp_path, 0, [src])
    pose = load_keypoints(tmp_path)
    assert pose.n_frames == 1 and pose.candidates is None
    assert pose.backend == "precomputed" and pose.backend_version == "openpose-body25-json"
    assert pose.joint_names == JOINT_NAMES
    assert_mapped(pose.keypoints[0], src, BODY25_TO_OURS)
    # left/right not swapped: LShoulder (5) is the subject's left shoulder
    assert pose.joint("left_shoulder")[0, 0] == pytest.approx(15)
    assert pose.joint("right_heel")[0, 0] == pytest.approx(34)


def test_openpose_missing_and_zero_confidence_are_nan(tmp_path):
    src = distinct(25)
    src[17] = 0.0  # REar not detected: OpenPose writes 0, 0, 0
    src[11, 2] = 0.0  # RAnkle with coordinates but confidence 0
    write_openpose(tmp_path, 0, [src])
    kp = load_keypoints(tmp_path).keypoints[0]
    for name in ("right_ear", "right_ankle"):
        assert np.isnan(kp[INDEX[name], :2]).all() and kp[INDEX[name], 2] == 0
    assert np.isfinite(kp[INDEX["left_ear"]]).all()


def test_openpose_frames_sorted_numerically_gaps_and_empty_frames(tmp_path):
    for frame in (10, 2, 0, 1):  # frame 1 has nobody; frames 3-9 have no file
        write_openpose(tmp_path, frame, [] if frame == 1 else [distinct(25, shift=frame)])
    pose = load_keypoints(tmp_path, fps=25.0, frame_size=(640, 360))
    assert pose.n_frames == 11
    assert pose.fps == 25.0 and pose.frame_size == (640, 360)
    nose = pose.joint("nose")
    assert nose[0, 0] == pytest.approx(10) and nose[2, 0] == pytest.approx(12)
    assert nose[10, 0] == pytest.approx(20)
    assert np.isnan(nose[[1, 3, 9], :2]).all() and (nose[[1, 3, 9], 2] == 0).all()


def test_openpose_defaults_fps_30_and_estimates_frame_size(tmp_path):
    src = distinct(25)
    src[0, :2] = (639.2, 358.5)
    write_openpose(tmp_path, 0, [src])
    pose = load_keypoints(tmp_path)
    assert pose.fps == 30.0
    assert pose.frame_size == (640, 359)  # ceiling of the furthest point


def test_openpose_multi_person_candidates_and_choice(tmp_path):
    strong, weak = distinct(25), distinct(25, shift=100)
    weak[:, 2] = 0.1
    write_openpose(tmp_path, 0, [weak, strong])
    write_openpose(tmp_path, 1, [strong])
    pose = load_keypoints(tmp_path)
    assert pose.candidates.shape == (2, 2, N_JOINTS, 3)
    assert pose.candidates.dtype == np.float32
    assert pose.joint("nose")[0, 0] == pytest.approx(10)  # highest mean confidence
    assert pose.candidates[0, 0, INDEX["nose"], 0] == pytest.approx(110)
    assert np.isnan(pose.candidates[1, 1, :, :2]).all()  # padding


def test_openpose_coco18_model(tmp_path):
    src = distinct(18)
    write_openpose(tmp_path, 0, [src])
    pose = load_keypoints(tmp_path)
    assert pose.backend_version == "openpose-coco18-json"
    mapping = {k: v for k, v in BODY25_TO_OURS.items() if k < 8}
    mapping |= {
        8: "right_hip",
        9: "right_knee",
        10: "right_ankle",
        11: "left_hip",
        12: "left_knee",
        13: "left_ankle",
        14: "right_eye",
        15: "left_eye",
        16: "right_ear",
        17: "left_ear",
    }
    assert_mapped(pose.keypoints[0], src, mapping)


def test_single_openpose_frame_file(tmp_path):
    path = write_openpose(tmp_path, 7, [distinct(25)])
    pose = load_keypoints(path)
    assert pose.n_frames == 1
    assert_mapped(pose.keypoints[0], distinct(25), BODY25_TO_OURS)


def test_imported_pose_round_trips_through_pose_file(tmp_path):
    write_openpose(tmp_path, 0, [distinct(25), distinct(25, 50)])
    pose = load_keypoints(tmp_path, fps=29.97, frame_size=(320, 480))
    save_pose(pose, tmp_path / "out" / "pose.npz")
    back = load_pose(tmp_path / "out" / "pose.npz")
    np.testing.assert_array_equal(back.keypoints, pose.keypoints)
    np.testing.assert_array_equal(back.candidates, pose.candidates)
    assert (back.backend, back.backend_version) == ("precomputed", "openpose-body25-json")


# --------------------------------------------------------------------------- COCO family


def test_alphapose_list_mapping_gaps_and_multi_person(tmp_path):
    a, b = distinct(17), distinct(17, shift=300)
    a[3, 2] = 0.0  # left ear with zero confidence
    b[:, 2] = 0.2
    dets = [
        {"image_id": "0.jpg", "category_id": 1, "keypoints": a.ravel().tolist(), "score": 2.9},
        {"image_id": "2.jpg", "category_id": 1, "keypoints": b.ravel().tolist(), "idx": 2},
        {"image_id": "2.jpg", "category_id": 1, "keypoints": a.ravel().tolist(), "idx": 1},
    ]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(dets))
    pose = load_keypoints(path)
    assert pose.backend_version == "alphapose-coco17-json"
    assert pose.n_frames == 3
    assert np.isnan(pose.keypoints[1, :, :2]).all()  # frame 1 had no detection
    assert_mapped(pose.keypoints[0], a, {k: n for k, n in enumerate(COCO17_NAMES) if k != 3})
    assert pose.joint("left_ear")[0, 2] == 0
    assert pose.candidates.shape == (3, 2, N_JOINTS, 3)
    assert pose.joint("nose")[2, 0] == pytest.approx(10)  # the confident person
    assert np.isnan(pose.keypoints[:, [INDEX[f] for f in FEET], :2]).all()


def test_coco_result_list_with_integer_ids_and_halpe26_feet(tmp_path):
    src = distinct(26)
    path = tmp_path / "halpe.json"
    path.write_text(json.dumps([{"image_id": 0, "keypoints": src.ravel().tolist()}]))
    pose = load_keypoints(path)
    assert pose.backend_version == "alphapose-halpe26-json"
    mapping = dict(enumerate(COCO17_NAMES)) | {
        20: "left_toe",
        21: "right_toe",
        24: "left_heel",
        25: "right_heel",
    }
    assert_mapped(pose.keypoints[0], src, mapping)


def test_coco_annotations_with_images(tmp_path):
    src = distinct(17)
    doc = {
        "images": [
            {"id": 12, "file_name": "f12.jpg", "width": 1280, "height": 720},
            {"id": 10, "file_name": "f10.jpg", "width": 1280, "height": 720},
            {"id": 11, "file_name": "f11.jpg", "width": 1280, "height": 720},
        ],
        "annotations": [
            {"image_id": 12, "keypoints": src.ravel().tolist(), "score": 0.9},
            {"image_id": 10, "keypoints": distinct(17, 5).ravel().tolist(), "score": 0.9},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    pose = load_keypoints(path)
    assert pose.backend_version == "coco-coco17-json"
    assert pose.n_frames == 3 and pose.frame_size == (1280, 720)
    assert_mapped(pose.keypoints[2], src, dict(enumerate(COCO17_NAMES)))
    assert pose.joint("nose")[0, 0] == pytest.approx(15)
    assert np.isnan(pose.keypoints[1, :, :2]).all()
    assert load_keypoints(path, frame_size=(100, 50)).frame_size == (100, 50)


def test_coco_ground_truth_visibility_flags(tmp_path):
    kps = np.zeros((17, 3))
    kps[:, :2] = distinct(17)[:, :2]
    kps[:, 2] = 2
    kps[5, 2] = 1  # labelled, occluded
    kps[6] = 0  # not labelled
    path = tmp_path / "gt.json"
    ann = {"image_id": 0, "keypoints": kps.ravel().tolist()}
    path.write_text(json.dumps({"annotations": [ann]}))
    kp = load_keypoints(path).keypoints[0]
    assert kp[INDEX["left_shoulder"], 2] == 1 and kp[INDEX["nose"], 2] == 1
    assert np.isnan(kp[INDEX["right_shoulder"], :2]).all()


def _mmpose_instance(points: np.ndarray) -> dict:
    return {
        "keypoints": points[:, :2].tolist(),
        "keypoint_scores": points[:, 2].tolist(),
        "bbox": [[0, 0, 10, 10]],
        "bbox_score": 0.9,
    }


def test_mmpose_inferencer_list(tmp_path):
    src = distinct(17)
    frames = [
        {"frame_id": 0, "instances": [_mmpose_instance(src)]},
        {"frame_id": 1, "instances": []},
        {"frame_id": 2, "instances": [_mmpose_instance(distinct(17, 1))]},
    ]
    path = tmp_path / "video.json"
    path.write_text(json.dumps(frames))
    pose = load_keypoints(path)
    assert pose.backend_version == "mmpose-coco17-json"
    assert pose.n_frames == 3 and pose.candidates is None
    assert_mapped(pose.keypoints[0], src, dict(enumerate(COCO17_NAMES)))
    assert np.isnan(pose.keypoints[1, :, :2]).all()


def test_mmpose_demo_dict_is_one_based_and_multi_person(tmp_path):
    src = distinct(17)
    weak = distinct(17, 50)
    weak[:, 2] = 0.05
    doc = {
        "meta_info": {"dataset_name": "coco", "num_keypoints": 17},
        "instance_info": [
            {"frame_id": 1, "instances": [_mmpose_instance(weak), _mmpose_instance(src)]},
            {"frame_id": 2, "instances": [_mmpose_instance(src)]},
        ],
    }
    path = tmp_path / "results_walk.json"
    path.write_text(json.dumps(doc))
    pose = load_keypoints(path)
    assert pose.n_frames == 2
    assert pose.candidates.shape == (2, 2, N_JOINTS, 3)
    assert_mapped(pose.keypoints[0], src, dict(enumerate(COCO17_NAMES)))


def test_mmpose_single_image_instance_list(tmp_path):
    path = tmp_path / "img.json"
    doc = {"meta_info": {}, "instance_info": [_mmpose_instance(distinct(17))]}
    path.write_text(json.dumps(doc))
    assert load_keypoints(path).n_frames == 1


# --------------------------------------------------------------------------- CSV


def _csv_frame(names: list[str], src: np.ndarray, conf: str = "conf") -> dict:
    row = {}
    for k, name in enumerate(names):
        row |= {f"{name}_x": src[k, 0], f"{name}_y": src[k, 1], f"{name}_{conf}": src[k, 2]}
    return row


def test_csv_openpose_names_time_gaps_and_unknown_columns(tmp_path):
    names = (
        "Nose Neck RShoulder RElbow RWrist LShoulder LElbow LWrist MidHip RHip RKnee RAnkle "
        "LHip LKnee LAnkle REye LEye REar LEar LBigToe LSmallToe LHeel RBigToe RSmallToe RHeel"
    ).split()
    rows = [_csv_frame(names, distinct(25, shift=t)) for t in range(4)]
    rows[1]["LKnee_x"] = rows[1]["LKnee_y"] = rows[1]["LKnee_conf"] = np.nan  # gap
    rows[2]["Nose_conf"] = 0.0
    df = pd.DataFrame(rows)
    df.insert(0, "time", [0.0, 0.04, 0.08, 0.16])  # 25 fps, frame at 0.12 s dropped
    df["walk_name"], df["SAS_gait"], df["x_min"] = "w1", 1, 3.0
    path = tmp_path / "walk.csv"
    df.to_csv(path, index=False)
    pose = load_keypoints(path)
    assert pose.fps == pytest.approx(25.0)
    assert pose.n_frames == 5
    assert np.isnan(pose.keypoints[3, :, :2]).all()  # the dropped frame
    assert_mapped(pose.keypoints[0], distinct(25), BODY25_TO_OURS)
    assert_mapped(pose.keypoints[4], distinct(25, shift=3), BODY25_TO_OURS)
    assert np.isnan(pose.joint("left_knee")[1, :2]).all()
    assert np.isnan(pose.joint("nose")[2, :2]).all() and pose.joint("nose")[2, 2] == 0
    assert pose.imputed is None
    assert load_keypoints(path, fps=50.0).fps == 50.0


@pytest.mark.parametrize("style", ["coco", "short"])
def test_csv_coco_names(tmp_path, style):
    short = (
        "Nose LEye REye LEar REar LShoulder RShoulder LElbow RElbow LWrist RWrist "
        "LHip RHip LKnee RKnee LAnkle RAnkle"
    ).split()
    names = COCO17_NAMES if style == "coco" else short
    df = pd.DataFrame([_csv_frame(names, distinct(17), conf="score")] * 3)
    df["fps"], df["width"], df["height"] = 60, 1920, 1080
    path = tmp_path / "coco.csv"
    df.to_csv(path, index=False)
    pose = load_keypoints(path)
    assert pose.n_frames == 3
    assert pose.fps == 60.0  # no time column: the fps column
    assert pose.frame_size == (1920, 1080)
    assert_mapped(pose.keypoints[2], distinct(17), dict(enumerate(COCO17_NAMES)))


def test_csv_points_without_confidence_are_kept_as_imputed(tmp_path):
    df = pd.DataFrame([_csv_frame(COCO17_NAMES, distinct(17))] * 2)
    df.loc[1, "left_knee_conf"] = np.nan  # source interpolated this point
    path = tmp_path / "interp.csv"
    df.to_csv(path, index=False)
    pose = load_keypoints(path)
    assert pose.imputed is not None and pose.imputed.sum() == 1
    assert pose.imputed[1, INDEX["left_knee"]]
    assert np.isfinite(pose.joint("left_knee")[1, :2]).all() and pose.joint("left_knee")[1, 2] == 0


# --------------------------------------------------------------------------- bad input


def test_empty_folder(tmp_path):
    with pytest.raises(KeypointImportError, match="empty") as err:
        load_keypoints(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_folder_without_keypoint_json(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(KeypointImportError, match=r"_keypoints\.json"):
        load_keypoints(tmp_path)


def test_malformed_json_names_file(tmp_path):
    write_openpose(tmp_path, 0, [distinct(25)])
    bad = tmp_path / "clip_000000000001_keypoints.json"
    bad.write_text('{"people": [')
    with pytest.raises(KeypointImportError, match="malformed JSON") as err:
        load_keypoints(tmp_path)
    assert bad.name in str(err.value)


@pytest.mark.parametrize(
    "doc", [{"foo": 1}, [{"bar": 2}], [], {"people": "x"}, [{"image_id": 0, "keypoints": [1, 2]}]]
)
def test_unrecognised_json(tmp_path, doc):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(KeypointImportError, match="odd.json"):
        load_keypoints(path)


def test_json_with_unknown_keypoint_count(tmp_path):
    path = tmp_path / "k14.json"
    path.write_text(json.dumps([{"image_id": 0, "keypoints": distinct(14).ravel().tolist()}]))
    with pytest.raises(KeypointImportError, match="14 keypoints"):
        load_keypoints(path)


def test_json_with_no_person_at_all(tmp_path):
    write_openpose(tmp_path, 0, [])
    with pytest.raises(KeypointImportError, match="no person"):
        load_keypoints(tmp_path)


def test_csv_with_no_recognisable_columns(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame({"a": [1, 2], "b_x": [1, 2], "b_y": [3, 4]}).to_csv(path, index=False)
    with pytest.raises(KeypointImportError, match="table.csv") as err:
        load_keypoints(path)
    assert "<Joint>_x" in str(err.value) and "found columns: a, b_x, b_y" in str(err.value)


# --------------------------------------------------------------------------- Kinect

# Written out independently of the module: Kinect v2 SDK joint name -> motorflow joint.
KINECT_TO_OURS = {
    "ShoulderLeft": "left_shoulder", "ShoulderRight": "right_shoulder",
    "ElbowLeft": "left_elbow", "ElbowRight": "right_elbow",
    "WristLeft": "left_wrist", "WristRight": "right_wrist",
    "HipLeft": "left_hip", "HipRight": "right_hip",
    "KneeLeft": "left_knee", "KneeRight": "right_knee",
    "AnkleLeft": "left_ankle", "AnkleRight": "right_ankle",
    "FootLeft": "left_toe", "FootRight": "right_toe",  # the foot joint is at the toes' base
}  # fmt: skip
KINECT_UNMAPPED = ("Head", "Neck", "SpineShoulder", "SpineMid", "SpineBase", "HandLeft",
                   "HandTipRight", "ThumbLeft")  # fmt: skip
# Image-like heights (y down) of a standing body, per motorflow joint part.
HEIGHT = {"shoulder": 100.0, "elbow": 160.0, "wrist": 210.0, "hip": 220.0, "knee": 320.0,
          "ankle": 410.0, "toe": 430.0}  # fmt: skip


def kinect_table(n: int, y_sign: float = 1.0, z: np.ndarray | None = None) -> pd.DataFrame:
    """Kinect v2 named columns: joint k at x = 50 + k + t, y = height (times y_sign)."""
    cols: dict[str, np.ndarray] = {"time": np.arange(n) / 30.0}
    t = np.arange(n, dtype=float)
    for k, name in enumerate([*KINECT_TO_OURS, *KINECT_UNMAPPED]):
        part = KINECT_TO_OURS.get(name, "x_shoulder").split("_")[1]
        cols[f"{name}_x"] = 50.0 + k + t
        cols[f"{name}_y"] = y_sign * (HEIGHT[part] + 0 * t)
        if z is not None:
            cols[f"{name}_z"] = z
    cols["walk_name"] = np.array(["w"] * n)
    return pd.DataFrame(cols)


def test_kinect_csv_maps_joints_with_confidence_one(tmp_path):
    path = tmp_path / "kinect.csv"
    table = kinect_table(12)
    table.loc[3, "KneeLeft_x"] = np.nan  # an untracked point
    table.to_csv(path, index=False)
    pose = load_keypoints(path)
    assert pose.n_frames == 12 and pose.fps == pytest.approx(30.0)
    assert pose.backend_version == "kinect-csv-2d"
    for name, ours in KINECT_TO_OURS.items():
        got = pose.joint(ours)
        want = table[[f"{name}_x", f"{name}_y"]].to_numpy()
        ok = np.isfinite(want).all(axis=1)
        np.testing.assert_allclose(got[ok, :2], want[ok])
        assert (got[ok, 2] == 1.0).all()
        assert np.isnan(got[~ok, :2]).all() and (got[~ok, 2] == 0).all()
    assert not np.isfinite(pose.joint("left_knee")[3, :2]).any()
    # Head is not the nose: face points and heels stay missing rather than invented.
    for ours in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", *FEET[:2]):
        assert np.isnan(pose.joint(ours)[:, :2]).all() and (pose.joint(ours)[:, 2] == 0).all()


def test_kinect_csv_with_y_up_is_flipped_to_image_y(tmp_path):
    path = tmp_path / "kinect_up.csv"
    kinect_table(6, y_sign=-1.0).to_csv(path, index=False)  # shoulders "below" the ankles
    pose = load_keypoints(path)
    assert pose.backend_version == "kinect-csv-2d-yflip"
    np.testing.assert_allclose(pose.joint("left_shoulder")[:, 1], HEIGHT["shoulder"])
    np.testing.assert_allclose(pose.joint("right_toe")[:, 1], HEIGHT["toe"])


def test_kinect_3d_camera_space_is_projected_onto_the_depth_image(tmp_path):
    """x, y, z in metres, y up: a pinhole projection (f = 365 px, 512 x 424 depth image)
    puts the feet below the shoulders and makes an approaching walker grow."""
    n = 10
    z = np.linspace(4.0, 1.5, n)
    table = kinect_table(n, z=z)
    for name in table.columns:
        if name.endswith("_x"):
            table[name] = (table[name] - 60.0) / 100.0  # metres, about the optical axis
        elif name.endswith("_y"):
            table[name] = (250.0 - table[name]) / 250.0  # y up, hips near 0
    table.loc[4, "AnkleRight_z"] = 0.0  # no depth: not a point
    path = tmp_path / "kinect3d.csv"
    table.to_csv(path, index=False)
    pose = load_keypoints(path)
    assert pose.frame_size == (512, 424) and pose.n_frames == n
    for name, ours in KINECT_TO_OURS.items():
        x, y, d = (table[f"{name}_{c}"].to_numpy() for c in "xyz")
        with np.errstate(divide="ignore"):
            want = np.stack([256 + 365 * x / d, 212 - 365 * y / d], axis=1)
        ok = d > 0
        np.testing.assert_allclose(pose.joint(ours)[ok, :2], want[ok], rtol=1e-5)
    assert np.isnan(pose.joint("right_ankle")[4, :2]).all()
    kp = pose.keypoints
    assert (kp[:, INDEX["left_ankle"], 1] > kp[:, INDEX["left_shoulder"], 1]).all()
    size = kp[:, INDEX["left_ankle"], 1] - kp[:, INDEX["left_shoulder"], 1]
    assert (np.diff(size) > 0).all()


def test_csv_with_some_confidences_ignores_joints_without(tmp_path):
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"time": [0, 0.1], "LKnee_x": [1, 2], "LKnee_y": [1, 2], "LKnee_conf": [0.9, 0.8],
                  "RKnee_x": [3, 4], "RKnee_y": [3, 4]}).to_csv(path, index=False)  # fmt: skip
    pose = load_keypoints(path)
    assert np.isfinite(pose.joint("left_knee")[:, :2]).all()
    assert np.isnan(pose.joint("right_knee")[:, :2]).all()


def test_csv_with_zero_rows(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("time,Nose_x,Nose_y,Nose_conf\n")
    with pytest.raises(KeypointImportError, match="empty.csv.*zero frames"):
        load_keypoints(path)


def test_openpose_folder_with_two_videos(tmp_path):
    write_openpose(tmp_path, 0, [distinct(25)])
    (tmp_path / "other_000000000000_keypoints.json").write_text(json.dumps({"people": []}))
    with pytest.raises(KeypointImportError, match="frame number 0 appears in more than one"):
        load_keypoints(tmp_path)


def test_bad_arguments_name_the_file(tmp_path):
    write_openpose(tmp_path, 0, [distinct(25)])
    with pytest.raises(KeypointImportError, match="fps must be"):
        load_keypoints(tmp_path, fps=0)
    with pytest.raises(KeypointImportError, match="frame_size"):
        load_keypoints(tmp_path, frame_size=(640, 0))


def test_missing_path_and_unsupported_suffix(tmp_path):
    with pytest.raises(KeypointImportError, match="nope.json"):
        load_keypoints(tmp_path / "nope.json")
    other = tmp_path / "pose.h5"
    other.write_text("")
    with pytest.raises(KeypointImportError, match="pose.h5.*unsupported"):
        load_keypoints(other)


# --------------------------------------------------------------------------- real files


def test_real_cp_child_openpose():
    folder = shared("keypoints", "cp_child_openpose")
    pose = load_keypoints(folder, fps=29.97, frame_size=(320, 480))
    assert pose.n_frames == 401
    assert pose.frame_size == (320, 480) and pose.fps == pytest.approx(29.97)
    assert pose.backend_version == "openpose-body25-json"
    kp = pose.keypoints
    feet = np.isfinite(kp[:, [INDEX[f] for f in FEET], 0]).all(axis=1)
    assert feet.mean() > 0.9
    for side in ("left", "right"):
        ankle, knee = kp[:, INDEX[f"{side}_ankle"], 1], kp[:, INDEX[f"{side}_knee"], 1]
        seen = np.isfinite(ankle) & np.isfinite(knee)
        assert seen.sum() > 350
        assert (ankle[seen] > knee[seen]).mean() > 0.95  # image y grows downwards
    # The chosen person stays inside the stated frame; a second detection appears briefly.
    assert np.nanmax(kp[..., 0]) <= 320 and np.nanmax(kp[..., 1]) <= 480
    assert pose.candidates is not None and pose.candidates.shape[:2] == (401, 2)
    assert np.isfinite(pose.candidates[:, 1, :, 0]).any(axis=1).sum() < 10
    # Without arguments: default fps, frame size estimated from the furthest point.
    plain = load_keypoints(folder)
    assert plain.fps == 30.0
    assert plain.frame_size == tuple(math.ceil(np.nanmax(plain.candidates[..., i])) for i in (0, 1))


def test_real_alphapose_json():
    path = shared("videos", "walk_frontal_pose2gait.alphapose.json")
    pose = load_keypoints(path, fps=30.0, frame_size=(1920, 1080))
    assert pose.backend_version == "alphapose-coco17-json"
    assert abs(pose.n_frames - 5.5 * 30) <= 3
    xy = pose.keypoints[:, :17, :2]
    assert np.isfinite(xy).mean() > 0.95
    assert (np.nanmin(xy, axis=(0, 1)) >= 0).all()
    assert np.nanmax(xy[..., 0]) <= 1920 and np.nanmax(xy[..., 1]) <= 1080
    assert np.isnan(pose.keypoints[:, [INDEX[f] for f in FEET], :2]).all()
    # Walking towards the camera: the body grows in the image.
    height = np.nanmedian(xy[:, 15:17, 1], axis=1) - xy[:, 0, 1]
    assert np.nanmedian(height[-20:]) > np.nanmedian(height[:20])


@pytest.mark.parametrize("kind", ["raw", "interpolated"])
def test_real_older_adult_csv(kind):
    files = sorted(shared("keypoints", "older_adult_openpose", kind).glob("*.csv"))
    assert len(files) == 3
    for path in files:
        table = pd.read_csv(path)
        pose = load_keypoints(path)
        assert pose.n_frames == len(table)
        assert pose.fps == pytest.approx(30.0, abs=0.2)  # from the time column
        assert pose.frame_size == (1920, 1080)  # width/height columns
        assert np.isnan(pose.keypoints[:, [INDEX[f] for f in FEET], :2]).all()  # no feet
        # NaN gaps preserved where the source has them.
        gaps = table["LAnkle_x"].isna().to_numpy()
        assert np.isnan(pose.joint("left_ankle")[gaps, :2]).all()
        # Coordinates kept unless the confidence is 0 (OpenPose's "not detected").
        expected = table["RKnee_x"].where(~(table["RKnee_conf"] <= 0))
        np.testing.assert_allclose(pose.joint("right_knee")[:, 0], expected, rtol=1e-6)
        if kind == "raw":
            assert gaps.any() or table["RAnkle_x"].isna().any()
            assert pose.imputed is None
        else:
            # the source filled points but left their confidence empty
            assert pose.imputed is not None and pose.imputed.any()


def test_real_parkinsonism_normalised_trajectories():
    files = sorted(shared("keypoints", "parkinsonism_2d").glob("tri_*/*/*.csv"))
    assert files
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pose = load_keypoints(path)
        table = pd.read_csv(path)
        assert pose.n_frames == len(table)
        assert 29.5 < pose.fps < 30.5
        assert np.isfinite(pose.keypoints[:, :17, :2]).mean() > 0.95
        assert np.isnan(pose.keypoints[:, [INDEX[f] for f in FEET], :2]).all()
        # Centred on the mid-hip at (100, 100): not pixels, and the import says so.
        mid_hip = pose.keypoints[:, [INDEX["left_hip"], INDEX["right_hip"]], :2].mean(axis=1)
        np.testing.assert_allclose(np.nanmedian(mid_hip, axis=0), (100, 100), atol=1)
        assert any(issubclass(w.category, KeypointImportWarning) for w in caught)


KINECT_MAPPED = [
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_toe", "right_toe",
]  # fmt: skip


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_real_kinect_csvs_import(dims):
    folder = shared("keypoints", "parkinsonism_2d", f"kinect_skel_data_{dims}")
    files = sorted(folder.glob("*/*.csv"))
    assert len(files) == {"2d": 4, "3d": 3}[dims]
    mapped = [INDEX[j] for j in KINECT_MAPPED]
    unmapped = [i for i in range(N_JOINTS) if i not in mapped]
    for path in files:
        table = pd.read_csv(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pose = load_keypoints(path)
        assert pose.n_frames == len(table), path.name
        # 2D: from the time column (no fps column); 3D: the time column and fps = 30 agree.
        assert pose.fps == pytest.approx(30.0, abs=0.05)
        kp = pose.keypoints
        assert np.isfinite(kp[:, mapped, :2]).all() and (kp[:, mapped, 2] == 1).all()
        assert np.isnan(kp[:, unmapped, :2]).all() and (kp[:, unmapped, 2] == 0).all()
        # Image y points down: toes below ankles below knees below hips below shoulders.
        order = ["shoulder", "hip", "knee", "ankle", "toe"]
        heights = [np.median(kp[:, [INDEX[f"left_{p}"], INDEX[f"right_{p}"]], 1]) for p in order]
        assert heights == sorted(heights), (path.name, heights)
        # Each of these walks approaches the sensor: the body grows in the image.
        size = kp[:, INDEX["left_ankle"], 1] - kp[:, INDEX["left_shoulder"], 1]
        assert size[-5:].mean() > 1.1 * size[:5].mean(), path.name
        if dims == "2d":
            # Centred on the sacrum at (100, 100) by the source: not pixels, and it says so.
            assert pose.backend_version == "kinect-csv-2d"  # y already points down
            assert any(issubclass(w.category, KeypointImportWarning) for w in caught)
        else:
            # Camera space (metres, y up) projected onto the 512 x 424 depth image.
            assert pose.frame_size == (512, 424)
            assert pose.backend_version == "kinect-csv-3d-depth-projection"
            assert 0 < np.median(kp[:, mapped, 0]) < 512 and 0 < np.median(kp[:, mapped, 1]) < 424


# --------------------------------------------------------------------------- MediaPipe

# Written out independently of the module: MediaPipe landmark index -> motorflow joint.
MP_TO_OURS = {
    0: "nose", 2: "left_eye", 5: "right_eye", 7: "left_ear", 8: "right_ear",
    11: "left_shoulder", 12: "right_shoulder", 13: "left_elbow", 14: "right_elbow",
    15: "left_wrist", 16: "right_wrist", 23: "left_hip", 24: "right_hip",
    25: "left_knee", 26: "right_knee", 27: "left_ankle", 28: "right_ankle",
    29: "left_heel", 30: "right_heel", 31: "left_toe", 32: "right_toe",
}  # fmt: skip
MP_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip
W, H = 720, 1080
NTSC = 1001 / 30000  # s per frame at 29.97 fps


def mp_frames(n: int) -> np.ndarray:
    """(n, 33, 5) normalised landmarks: x, y, z, visibility, presence, each traceable."""
    t = np.arange(n, dtype=float)[:, None]
    k = np.arange(33, dtype=float)[None, :]
    out = np.empty((n, 33, 5))
    out[..., 0] = 0.1 + 0.02 * k + 0.001 * t
    out[..., 1] = 0.05 + 0.025 * k + 0.0005 * t
    out[..., 2] = -0.1 - 0.001 * k
    out[..., 3] = 0.3 + k / 100 + 0 * t
    out[..., 4] = 0.9 - k / 200 + 0 * t
    return out


def write_mp_csv(
    path: Path,
    lm: np.ndarray,
    times: np.ndarray | None = None,
    flag: np.ndarray | None = None,
    per: int = 3,
    header: list[str] | None = None,
    comment: str = "",
    fmt: str = "%.9g",
) -> Path:
    cols = [] if times is None else [times[:, None]]
    if flag is not None:
        cols.append(flag[:, None].astype(float))
    cols.append(lm[..., :per].reshape(len(lm), 33 * per))
    table = np.hstack(cols)
    lines = [comment] if comment else []
    if header is not None:
        lines.append(",".join(header))
    lines += [",".join(fmt % v for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_mp_mapped(kp: np.ndarray, lm: np.ndarray, conf: np.ndarray | float) -> None:
    """One frame: every mapped joint at the landmark's pixel position, the rest NaN."""
    conf = np.broadcast_to(np.asarray(conf, dtype=float), (33,))
    for src, name in MP_TO_OURS.items():
        np.testing.assert_allclose(kp[INDEX[name], :2], lm[src, :2] * (W, H), rtol=1e-6)
        assert kp[INDEX[name], 2] == pytest.approx(conf[src], rel=1e-6)
    assert len(MP_TO_OURS) == N_JOINTS  # MediaPipe has every motorflow joint


def missing_frames(pose) -> list[int]:
    return [int(t) for t in np.nonzero(~np.isfinite(pose.keypoints[..., 0]).any(axis=1))[0]]


def test_mediapipe_csv_headerless_us_presence_dropped_frames(tmp_path):
    n = 40
    lm = mp_frames(n)
    times = 233567 + np.rint(np.arange(n) * NTSC * 1e6)  # µs, as MediaPipe exports write them
    keep = np.setdiff1d(np.arange(n), [5, 20, 21, 22])  # dropped frames
    path = write_mp_csv(tmp_path / "walk.csv", lm[keep], times[keep], np.ones(len(keep)))
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.n_frames == n  # on the regular grid, dropped frames included
    assert pose.fps == pytest.approx(29.97, abs=0.01)
    assert missing_frames(pose) == [5, 20, 21, 22]
    assert (pose.keypoints[[5, 20, 21, 22], :, 2] == 0).all()
    for t in (0, 4, 6, 19, 23, n - 1):
        assert_mp_mapped(pose.keypoints[t], lm[t], 1.0)  # no visibility: conf 1
    assert pose.frame_size == (W, H) and pose.backend == "precomputed"
    assert "mediapipe33" in pose.backend_version


@pytest.mark.parametrize(
    "unit, scale, fmt",
    [("us", 1e6, "%.0f"), ("ms", 1e3, "%.3f"), ("ms-int", 1e3, "%.0f"), ("s", 1.0, "%.6f")],
)
def test_mediapipe_csv_timestamp_unit_inferred(tmp_path, unit, scale, fmt):
    n = 600  # 20 s: an integer-ms clock (33/34 ms steps) must not drift off the grid
    lm = mp_frames(n)
    t = (7.5 + np.arange(n) / 30.0) * scale
    keep = np.setdiff1d(np.arange(n), [1, 300, 301, 598])
    table = np.hstack([t[keep, None], lm[keep, :, :3].reshape(len(keep), 99)])
    lines = [",".join([fmt % row[0]] + [f"{v:.9g}" for v in row[1:]]) for row in table]
    path = tmp_path / f"t_{unit}.csv"
    path.write_text("\n".join(lines) + "\n")
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.fps == pytest.approx(30.0, rel=2e-3)
    assert pose.n_frames == n  # from the first row to the last, dropped frames included
    assert missing_frames(pose) == [1, 300, 301, 598]
    assert_mp_mapped(pose.keypoints[450], lm[450], 1.0)


def test_mediapipe_csv_unit_that_fits_no_frame_rate_is_an_error(tmp_path):
    lm = mp_frames(10)
    path = write_mp_csv(tmp_path / "odd.csv", lm, np.arange(10) * 1e9)  # 1e9 per frame
    with pytest.raises(KeypointImportError, match="odd.csv.*cannot infer the unit") as err:
        load_keypoints(path, frame_size=(W, H))
    assert "fps if in ms" in str(err.value)


def test_mediapipe_csv_sheet_fps_decides_the_unit_and_the_grid(tmp_path):
    lm = mp_frames(50)
    # 40 ms steps: 25 fps in ms; the sheet says 25 fps too.
    path = write_mp_csv(tmp_path / "pal.csv", lm, 1000 + np.arange(50) * 40.0)
    pose = load_keypoints(path, fps=25.0, frame_size=(W, H))
    assert pose.fps == 25.0 and pose.n_frames == 50 and missing_frames(pose) == []
    with pytest.raises(KeypointImportError, match="none near the sheet's 3 fps"):
        load_keypoints(path, fps=3.0, frame_size=(W, H))


def test_mediapipe_csv_presence_flag_zero_rows_are_missing(tmp_path):
    lm = mp_frames(12)
    flag = np.ones(12)
    flag[[3, 7]] = 0
    times = np.arange(12) * 33.3667  # ms, with the flag first and the timestamp second
    table = np.hstack([flag[:, None], times[:, None], lm[..., :3].reshape(12, 99)])
    path = tmp_path / "flag_first.csv"
    path.write_text("\n".join(",".join(f"{v:.9g}" for v in r) for r in table) + "\n")
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.n_frames == 12 and missing_frames(pose) == [3, 7]
    assert pose.fps == pytest.approx(29.97, abs=0.01)


def test_mediapipe_csv_without_timestamp_uses_rows_and_sheet_fps(tmp_path):
    lm = mp_frames(8)
    path = write_mp_csv(tmp_path / "bare.csv", lm)  # 99 columns only
    pose = load_keypoints(path, fps=50.0, frame_size=(W, H))
    assert pose.n_frames == 8 and pose.fps == 50.0
    assert_mp_mapped(pose.keypoints[7], lm[7], 1.0)


@pytest.mark.parametrize("per", [4, 5])
def test_mediapipe_csv_visibility_is_the_confidence(tmp_path, per):
    lm = mp_frames(6)
    lm[2, 13, 3] = 0.0  # left elbow invisible in frame 2 -> missing
    path = write_mp_csv(tmp_path / f"vis{per}.csv", lm, np.arange(6) / 30.0, per=per)
    pose = load_keypoints(path, frame_size=(W, H))
    assert_mp_mapped(pose.keypoints[1], lm[1], lm[1, :, 3])
    assert np.isnan(pose.keypoints[2, INDEX["left_elbow"], :2]).all()
    assert pose.keypoints[2, INDEX["left_elbow"], 2] == 0
    assert np.isfinite(pose.keypoints[2, INDEX["right_elbow"], :2]).all()


def test_mediapipe_csv_presence_without_visibility_is_the_confidence(tmp_path):
    lm = mp_frames(5)
    header = ["timestamp_ms"] + [f"{n}_{c}" for n in MP_NAMES for c in ("x", "y", "z")]
    header += [f"{n}_presence" for n in MP_NAMES]
    table = np.hstack([np.arange(5)[:, None] * 33.3667, lm[..., :3].reshape(5, 99), lm[..., 4]])
    path = tmp_path / "pres.csv"
    path.write_text(",".join(header) + "\n"
                    + "\n".join(",".join(f"{v:.9g}" for v in r) for r in table) + "\n")  # fmt: skip
    pose = load_keypoints(path, frame_size=(W, H))
    assert_mp_mapped(pose.keypoints[3], lm[3], lm[3, :, 4])


def test_mediapipe_csv_named_header_any_column_order_and_size_columns(tmp_path):
    n = 10
    lm = mp_frames(n)
    cols = {"frame": np.arange(n), "time (s)": 3 + np.arange(n) / 30.0,
            "width": np.full(n, W), "height": np.full(n, H)}  # fmt: skip
    for k, name in enumerate(MP_NAMES):
        for c, coord in enumerate(("x", "y", "z", "visibility")):
            cols[f"{name.upper()}_{coord}"] = lm[:, k, c]
    df = pd.DataFrame(cols)
    df = df[list(df.columns[::-1])]  # landmarks and their coordinates in reverse order
    df = df.drop(index=[4]).reset_index(drop=True)  # a dropped frame
    path = tmp_path / "named.csv"
    df.to_csv(path, index=False)
    pose = load_keypoints(path)  # frame size from the width/height columns
    assert pose.frame_size == (W, H) and pose.n_frames == n and missing_frames(pose) == [4]
    assert_mp_mapped(pose.keypoints[5], lm[5], lm[5, :, 3])


def test_mediapipe_csv_numbered_header_with_unit(tmp_path):
    lm = mp_frames(6)
    header = ["timestamp_us", "presence"] + [f"{c}{k}" for k in range(33) for c in "xyz"]
    path = write_mp_csv(tmp_path / "num.csv", lm, np.arange(6) * 33367.0, np.ones(6), header=header)
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.n_frames == 6 and pose.fps == pytest.approx(29.97, abs=0.01)
    assert_mp_mapped(pose.keypoints[2], lm[2], 1.0)


def test_mediapipe_csv_frame_size_from_comment_and_sheet_overrides(tmp_path):
    lm = mp_frames(6)
    path = write_mp_csv(tmp_path / "meta.csv", lm, np.arange(6) * 0.04,
                        comment="# mediapipe export, width: 360 height: 540, fps=25")  # fmt: skip
    pose = load_keypoints(path)
    assert pose.frame_size == (360, 540) and pose.fps == 25.0 and pose.n_frames == 6
    np.testing.assert_allclose(pose.keypoints[1, INDEX["nose"], :2], lm[1, 0, :2] * (360, 540),
                               rtol=1e-6)  # fmt: skip
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.frame_size == (W, H)
    assert_mp_mapped(pose.keypoints[1], lm[1], 1.0)


def test_mediapipe_csv_without_frame_size_names_the_file(tmp_path):
    path = write_mp_csv(tmp_path / "nosize.csv", mp_frames(6), np.arange(6) / 30.0)
    with pytest.raises(KeypointImportError, match="nosize.csv.*frame size") as err:
        load_keypoints(path)
    assert "width and height" in str(err.value)


def test_mediapipe_csv_pixel_coordinates_need_no_size(tmp_path):
    lm = mp_frames(6)
    lm[..., :2] *= (W, H)
    path = write_mp_csv(tmp_path / "px.csv", lm, np.arange(6) / 30.0)
    with pytest.warns(KeypointImportWarning, match="pixels"):
        pose = load_keypoints(path, frame_size=(W, H))
    np.testing.assert_allclose(pose.keypoints[3, INDEX["right_toe"], :2], lm[3, 32, :2], rtol=1e-6)


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        (",".join(["0.5"] * 98) + "\n", "98 columns per row is not a MediaPipe"),
        ("1," + ",".join(["0.5"] * 99) + "\n2," + ",".join(["0.5"] * 98) + ",inf\n",
         "non-finite value"),
        ("1," + ",".join(["0.5"] * 99) + "\n2," + ",".join(["0.5"] * 98) + ",abc\n",
         "line 2, column 100: 'abc' is not a number"),
        ("5," + ",".join(["0.5"] * 99) + "\n4," + ",".join(["0.5"] * 99) + "\n",
         "not strictly increasing"),
    ],
)  # fmt: skip
def test_mediapipe_csv_errors_name_file_and_reason(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(KeypointImportError, match=match) as err:
        load_keypoints(path, frame_size=(W, H))
    assert str(err.value).startswith(str(path))


def tasks_landmarks(lm: np.ndarray) -> list[dict]:
    return [dict(zip(("x", "y", "z", "visibility", "presence"), map(float, p), strict=True))
            for p in lm]  # fmt: skip


def test_mediapipe_tasks_json_list_with_timestamps_and_two_poses(tmp_path):
    n = 9
    lm = mp_frames(n)
    other = mp_frames(n)
    other[..., :2] = 0.9 - other[..., :2] / 4
    other[..., 3] = 0.2  # a bystander, less visible
    frames = []
    for t in range(n):
        if t == 4:
            continue  # a dropped frame
        poses = [] if t == 6 else [tasks_landmarks(lm[t])]  # frame 6: nobody found
        if t == 2:
            poses.insert(0, tasks_landmarks(other[t]))
        frames.append({"timestamp_ms": round(1000 * t / 30), "pose_landmarks": poses})
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(frames))
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.n_frames == n and pose.fps == pytest.approx(30.0, rel=0.01)
    assert missing_frames(pose) == [4, 6]
    for t in (0, 2, 8):
        assert_mp_mapped(pose.keypoints[t], lm[t], lm[t, :, 3])  # the more visible person
    assert pose.candidates is not None and pose.candidates.shape == (n, 2, N_JOINTS, 3)
    assert np.isfinite(pose.candidates[2, :, 0, 0]).all()
    assert "tasks-json" in pose.backend_version


def test_mediapipe_tasks_json_dict_with_frames_size_and_presence_only(tmp_path):
    lm = mp_frames(5)
    frames = []
    for t in range(5):
        pts = tasks_landmarks(lm[t])
        for p in pts:
            p["visibility"] = None  # not filled in: presence is the confidence
        frames.append({"frame_index": t * 2, "pose_landmarks": [pts]})
    path = tmp_path / "tasks_dict.json"
    path.write_text(json.dumps({"width": W, "height": H, "fps": 15, "frames": frames}))
    pose = load_keypoints(path)
    assert pose.frame_size == (W, H) and pose.fps == 15 and pose.n_frames == 9
    assert missing_frames(pose) == [1, 3, 5, 7]
    assert_mp_mapped(pose.keypoints[4], lm[2], lm[2, :, 4])


def test_mediapipe_json_single_frame_protobuf_dict(tmp_path):
    lm = mp_frames(1)[0]
    doc = {"pose_landmarks": {"landmark": tasks_landmarks(lm)}, "image_width": W,
           "image_height": H}  # fmt: skip
    path = tmp_path / "one.json"
    path.write_text(json.dumps(doc))
    pose = load_keypoints(path)
    assert pose.n_frames == 1 and pose.frame_size == (W, H)
    assert_mp_mapped(pose.keypoints[0], lm, lm[:, 3])


def test_mediapipe_csv_all_zero_rows_are_no_detection(tmp_path):
    lm = mp_frames(6)
    lm[2] = 0.0  # some exporters write zeros when MediaPipe found nobody
    path = write_mp_csv(tmp_path / "zeros.csv", lm, np.arange(6) / 30.0)
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.n_frames == 6 and missing_frames(pose) == [2]


def test_mediapipe_tasks_json_errors(tmp_path):
    path = tmp_path / "short.json"
    path.write_text(json.dumps([{"pose_landmarks": [tasks_landmarks(mp_frames(1)[0][:20])]}]))
    with pytest.raises(KeypointImportError, match="short.json.*33 landmarks, got 20"):
        load_keypoints(path, frame_size=(W, H))
    path = tmp_path / "nosize.json"
    path.write_text(json.dumps([{"pose_landmarks": [tasks_landmarks(mp_frames(1)[0])]}]))
    with pytest.raises(KeypointImportError, match="nosize.json.*frame size"):
        load_keypoints(path)


# --------------------------------------------------------------------------- skeleton pickle


def _pose_with_gaps(n: int, seed: int, size=(640, 360)):
    from motorflow.poseio import PoseData

    rng = np.random.default_rng(seed)
    kp = np.empty((n, N_JOINTS, 3))
    kp[..., 0] = rng.uniform(0, size[0], (n, N_JOINTS))
    kp[..., 1] = rng.uniform(0, size[1], (n, N_JOINTS))
    kp[..., 2] = rng.uniform(0.05, 1.0, (n, N_JOINTS))
    gone = rng.random((n, N_JOINTS)) < 0.1
    kp[gone, :2] = np.nan
    kp[gone, 2] = 0
    return PoseData(keypoints=kp, fps=25.0, frame_size=size, backend="mediapipe")


@pytest.mark.parametrize("layout", ["coco17", "motorflow21"])
def test_skeleton_pickle_round_trip(tmp_path, layout):
    from motorflow.export import export_mmaction2

    poses = {"clip_a": _pose_with_gaps(50, 1), "clip_b": _pose_with_gaps(33, 2, (1080, 1920))}
    files = {}
    for vid, p in poses.items():
        files[vid] = tmp_path / f"{vid}.npz"
        save_pose(p, files[vid])
    samples = pd.DataFrame({"video_id": list(poses), "subject_id": ["s1", "s2"],
                            "label": ["a", "b"]})  # fmt: skip
    out = tmp_path / "cohort.pkl"
    export_mmaction2(files, samples, ["a", "b"], out, layout=layout)
    n_kept = 17 if layout == "coco17" else N_JOINTS
    for vid, orig in poses.items():
        # The pickle holds no frame rate: the sheet's, else 30.
        for got, fps in ((load_keypoints(f"{out}#{vid}", fps=25.0), 25.0),
                         (load_keypoints(out, recording=vid), 30.0)):  # fmt: skip
            assert got.n_frames == orig.n_frames and got.frame_size == orig.frame_size
            assert got.fps == fps
            np.testing.assert_allclose(got.keypoints[:, :n_kept], orig.keypoints[:, :n_kept],
                                       rtol=1e-6, atol=1e-4)  # fmt: skip
            assert np.isnan(got.keypoints[:, n_kept:, :2]).all()
            assert got.backend_version == f"mmaction2-{layout}-pkl"
    with pytest.raises(KeypointImportError, match="cohort.pkl.*'clip_c' is not among") as err:
        load_keypoints(out, recording="clip_c")
    assert "clip_a, clip_b" in str(err.value)
    with pytest.raises(KeypointImportError, match="'nope' is not among"):
        load_keypoints(f"{out}#nope")


def test_skeleton_pickle_single_annotation_needs_no_id_and_score_channel(tmp_path):
    import pickle

    kp = np.zeros((2, 4, 17, 3), dtype=np.float32)  # two people, x, y, score
    kp[0, :, :, 0], kp[0, :, :, 1], kp[0, :, :, 2] = 100.0, 50.0, 0.9
    kp[1, :, :, 0], kp[1, :, :, 1], kp[1, :, :, 2] = 10.0, 5.0, 0.4
    kp[0, 3] = 0  # person 0 not detected in frame 3
    ann = {"frame_dir": "x", "total_frames": 4, "img_shape": (240, 320), "keypoint": kp,
           "label": 0}  # fmt: skip
    path = tmp_path / "one.pickle"
    path.write_bytes(pickle.dumps([ann]))  # pyskl's older bare list
    pose = load_keypoints(path, recording="other-id")  # one annotation: taken as it is
    assert pose.frame_size == (320, 240) and pose.n_frames == 4
    np.testing.assert_allclose(pose.keypoints[:3, :17], np.broadcast_to([100, 50, 0.9], (3, 17, 3)),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(pose.keypoints[3, :17], np.broadcast_to([10, 5, 0.4], (17, 3)),
                               rtol=1e-6)  # fmt: skip
    assert pose.candidates.shape == (4, 2, N_JOINTS, 3)


def test_skeleton_pickle_refuses_code_and_bad_content(tmp_path):
    import pickle

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"annotations": [{"keypoint": Path("x")}]}))
    with pytest.raises(KeypointImportError, match="evil.pkl.*refusing to load"):
        load_keypoints(path)
    path = tmp_path / "frames.pkl"
    ann = {"frame_dir": "v", "total_frames": 5, "img_shape": (10, 10),
           "keypoint": np.zeros((1, 4, 17, 2)), "keypoint_score": np.ones((1, 4, 17))}  # fmt: skip
    path.write_bytes(pickle.dumps({"annotations": [ann]}))
    with pytest.raises(KeypointImportError, match=r"frames.pkl#v: total_frames 5 but .* 4"):
        load_keypoints(path)
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": []}))
    with pytest.raises(KeypointImportError, match="empty.pkl.*no annotations"):
        load_keypoints(path)


# --------------------------------------------------------------------------- sheet and stage


def test_sheet_width_height_columns(tmp_path):
    from motorflow.sheet import SheetError, load_sheet

    head = "video_id\tsubject_id\tpath\tlabel\twidth\theight\n"
    sheet = tmp_path / "s.tsv"
    sheet.write_text(head + "v1\ts1\ta.csv\tI\t720\t1080\nv2\ts2\tb.mp4\tI\t\t\n")
    df = load_sheet(sheet, ["I"])
    assert df.loc["v1", "width"] == 720 and df.loc["v1", "height"] == 1080
    assert pd.isna(df.loc["v2", "width"])
    for row, match in (("720\t", "height"), ("720.5\t1080", "width"), ("wide\t1080", "number")):
        sheet.write_text(head + f"v1\ts1\ta.csv\tI\t{row}\n")
        with pytest.raises(SheetError, match=match):
            load_sheet(sheet, ["I"])


def test_pose_stage_imports_mediapipe_with_sheet_size(tmp_path):
    from motorflow import pose as posemod

    lm = mp_frames(40)
    src = write_mp_csv(tmp_path / "walk.csv", lm, np.arange(40) * 33367.0, np.ones(40))
    out = tmp_path / "walk.npz"
    cfg = posemod.PoseConfig(backend="precomputed", min_frames=30)
    posemod.run(src, out, cfg, frame_size=(W, H), recording="walk")
    got = load_pose(out)
    assert got.frame_size == (W, H) and got.n_frames == 40
    assert_mp_mapped(got.keypoints[10], lm[10], 1.0)
    with pytest.raises(posemod.PoseError, match="walk.csv.*frame size"):
        posemod.run(src, tmp_path / "x.npz", cfg)


# --------------------------------------------------------------------------- real MediaPipe


# a: one 66734 µs step (1 dropped frame); b: steps of 300301 and 1301300 µs (8 + 38 dropped).
@pytest.mark.parametrize(
    "name, rows, dropped, seconds", [("a", 1134, 1, 37.8), ("b", 231, 46, 9.2)]
)
def test_real_mediapipe_clinic_walks(name, rows, dropped, seconds):
    path = shared("keypoints", "mediapipe_clinic_walk", f"clinic_walk_{name}.csv")
    t = pd.read_csv(path, header=None)[0].to_numpy(dtype=float)  # µs
    assert len(t) == rows
    pose = load_keypoints(path, frame_size=(W, H))
    assert pose.fps == pytest.approx(29.97, abs=0.02)
    # The grid spans first to last timestamp; each dropped frame is one empty slot.
    assert pose.n_frames == rows + dropped
    assert pose.n_frames / pose.fps == pytest.approx(seconds, abs=0.1)
    have = np.isfinite(pose.keypoints[..., 0]).any(axis=1)
    assert have.sum() == rows  # every row on its own slot
    slots = np.rint((t - t[0]) / 1e6 * pose.fps).astype(int)
    assert (np.nonzero(have)[0] == slots).all()
    # Pixels within the portrait frame for most frames (the feet leave it near the camera).
    xy = pose.keypoints[have, :, :2]
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= W) & (xy[..., 1] >= 0) & (xy[..., 1] <= H)
    assert np.median(inside.mean(axis=1)) == 1.0 and inside.mean() > 0.85
    hips = pose.keypoints[have][:, [INDEX["left_hip"], INDEX["right_hip"]], :2].mean(axis=1)
    assert (0 < np.nanmedian(hips[:, 0]) < W) and (0 < np.nanmedian(hips[:, 1]) < H)
    with pytest.raises(KeypointImportError, match=f"clinic_walk_{name}.csv.*frame size"):
        load_keypoints(path)


def test_an_assumed_frame_rate_is_noted_and_reaches_the_qc(tmp_path):
    from motorflow import clean, pose

    for frame in range(40):
        write_openpose(tmp_path, frame, [distinct(25, shift=frame)])
    guessed = load_keypoints(tmp_path)
    assert guessed.fps == 30.0 and "30 fps assumed" in guessed.notes[0]
    assert load_keypoints(tmp_path, fps=25.0).notes == ()
    pose.run(tmp_path, tmp_path / "p.npz", pose.PoseConfig(backend="precomputed"))
    qc = clean.run(tmp_path / "p.npz", tmp_path / "c.npz", tmp_path / "qc.json",
                   clean.CleanConfig())  # fmt: skip
    assert any("30 fps assumed" in n for n in qc["notes"])
