"""Training stage: input normalisation, determinism, and proofs that nothing fitted on a
fold (Grad-CAM keypoint selection, feature scaling, deviation reference, weights) sees that
fold's test subjects."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

from motorflow import folds
from motorflow.data import clips
from motorflow.data.clips import mirror, normalise_skeleton
from motorflow.data.table import TrainError, split_data, video_table
from motorflow.features import gait as featlib
from motorflow.inference import predict
from motorflow.interpret import rank_keypoints
from motorflow.models.stgcn import STGCNConfig
from motorflow.poseio import PoseData, save_pose
from motorflow.skeleton import INDEX, JOINT_NAMES
from motorflow.synth import gait_cohort, gait_motion
from motorflow.train.baselines import BaselineTraining, train_gait_baseline
from motorflow.train.checkpoint import load_model
from motorflow.train.config import TrainConfig
from motorflow.train.fusion import FusionTraining, select_keypoints, train_fusion
from motorflow.train.loop import class_weights
from motorflow.train.skeleton import TwoStreamTraining, train_skeleton_model

FPS = 30.0
LABELS = ["I", "IV"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def walk_pose(subject: str, seed: int, seconds: float = 5.0) -> PoseData:
    """A side-view skeleton of the synthetic cohort's walker (orthographic projection)."""
    cfg = gait_cohort.cohort_config({"seed": 11})
    params, _ = gait_cohort.subject_params(cfg, subject)
    w = gait_motion.simulate_walk(params, seconds, FPS, np.random.default_rng(seed))
    j = w.joints
    kp = np.ones((len(j), len(JOINT_NAMES), 3), np.float32)
    kp[..., 0] = 200 + 220 * (j[..., 0] - j[:, :, 0].mean())
    kp[..., 1] = 420 - 220 * j[..., 1]
    return PoseData(keypoints=kp, fps=FPS, frame_size=(800, 480), backend="truth")


def write_video(root, video_id: str, pose: PoseData) -> None:
    save_pose(pose, root / "clean" / f"{video_id}.npz")
    (root / "qc").mkdir(parents=True, exist_ok=True)
    (root / "qc" / f"{video_id}.json").write_text(json.dumps({"excluded": False}))
    featlib.run(
        root / "clean" / f"{video_id}.npz",
        root / "features" / f"{video_id}.parquet",
        root / "features" / f"{video_id}.curves.npz",
        root / "features" / f"{video_id}.json",
        video_id=video_id,
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """4 subjects per label, one walk each; 2 folds; results tree like the workflow's."""
    root = tmp_path_factory.mktemp("results")
    rows = []
    for lab in LABELS:
        for k in range(4):
            subject = f"syn{lab}{k + 1:02d}"
            vid = f"{subject}_v1"
            write_video(root, vid, walk_pose(subject, seed=k))
            rows.append((vid, subject, lab))
    samples = pd.DataFrame(rows, columns=["video_id", "subject_id", "label"])
    _, splits = folds.run(
        samples, folds.FoldConfig(folds=2, seed=3), root / "folds.tsv", root / "splits.tsv"
    )
    return root, samples, splits


SMALL = STGCNConfig(channels=(8, 16), strides=(1, 2), temporal_kernel=5, dropout=0.0)


def small_train_cfg(epochs: int = 2) -> TrainConfig:
    return TrainConfig.from_mapping(
        {
            "seed": 1,
            "device": "cpu",
            "clip": {"frames": 24, "test_clips": 2},
            "optim": {"epochs": epochs, "batch_size": 8, "clips_per_video": 2, "patience": 5},
        }
    )


def tree_sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def copy_results(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def perturb_subjects(root, samples: pd.DataFrame, subjects: list[str]) -> None:
    """Replace these subjects' skeletons and gait features by a different walk."""
    for row in samples[samples["subject_id"].isin(subjects)].itertuples():
        other = "synIV04" if row.label == "I" else "synI04"
        write_video(root, row.video_id, walk_pose(other, seed=99))


# ------------------------------------------------------------------------------------------
# Inputs


def test_normalised_skeleton_is_centred_scaled_and_resampled():
    pose = walk_pose("synI01", seed=0)
    x = normalise_skeleton(pose, FPS)
    hips = x[:, [INDEX["left_hip"], INDEX["right_hip"]], :2].mean(axis=1)
    np.testing.assert_allclose(hips, 0.0, atol=1e-5)
    trunk = np.linalg.norm(
        x[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]], :2].mean(1) - hips, axis=1
    )
    assert np.median(trunk) == pytest.approx(1.0, abs=1e-5)
    assert (x[:, INDEX["nose"], 1] > 0).all()  # y points up: the head is above the hips
    # Another frame rate: resampled to the model's, same duration.
    slow = PoseData(pose.keypoints[::2], fps=FPS / 2, frame_size=pose.frame_size, backend="t")
    y = normalise_skeleton(slow, FPS)
    assert abs(len(y) - len(x)) <= 2
    n = len(y[::2])
    # Source frames come through unchanged (up to the median trunk of half the frames).
    np.testing.assert_allclose(y[::2, :, :2], x[::2][:n, :, :2], atol=0.02)
    # Missing joints: zero with visibility 0.
    kp = pose.keypoints.copy()
    kp[5:9, INDEX["left_wrist"], :2] = np.nan
    z = normalise_skeleton(PoseData(kp, FPS, pose.frame_size, "t"), FPS)
    assert (z[5:9, INDEX["left_wrist"]] == 0).all() and z[4, INDEX["left_wrist"], 2] == 1


def test_skeleton_without_shoulders_is_a_clear_error():
    pose = walk_pose("synI01", seed=0)
    kp = pose.keypoints.copy()
    kp[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]], :2] = np.nan
    with pytest.raises(TrainError, match="shoulders and hips"):
        normalise_skeleton(PoseData(kp, FPS, pose.frame_size, "t"), FPS)


def test_mirror_exchanges_sides_and_is_an_involution():
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(2, 10, len(JOINT_NAMES), 3)).astype(np.float32)
    m = mirror(clip)
    np.testing.assert_array_equal(mirror(m), clip)
    np.testing.assert_array_equal(m[..., INDEX["left_knee"], 0], -clip[..., INDEX["right_knee"], 0])
    np.testing.assert_array_equal(m[..., INDEX["nose"], 1], clip[..., INDEX["nose"], 1])


def test_class_weights_balance_the_loss():
    w = class_weights(np.array([0, 0, 0, 1]), 3).numpy()
    assert w[2] == 0 and w[0] * 3 == pytest.approx(w[1] * 1)
    assert w[:2].mean() == pytest.approx(1.0)


def test_test_clip_starts_cover_the_video():
    assert clips.test_starts(100, 48, 3) == [0, 26, 52]
    assert clips.test_starts(30, 48, 6) == [0]


def test_keypoint_selection_extends_until_features_are_supported():
    order = [
        "nose",
        "left_eye",
        "left_knee",
        "right_knee",
        "left_hip",
        "right_hip",
        "left_ankle",
        "right_ankle",
        "left_heel",
        "right_heel",
        "left_toe",
    ]
    rest = [j for j in JOINT_NAMES if j not in order]
    ranking = pd.DataFrame({"joint": order + rest, "importance": np.linspace(1, 0.01, 21)})
    ranking["rank"] = np.arange(1, 22)
    sel = select_keypoints(ranking, top_k=4, min_features=6)
    # The first 8 joints are the shortest prefix with both legs (ankles count as feet).
    assert sel["n_selected"] == 8 and sel["extended"]
    assert set(sel["features"]) <= set(featlib.supported_features(sel["keypoints"]))
    assert "cadence_steps_per_min" in sel["features"]
    assert "trunk_sway_deg" not in sel["features"]  # no shoulder selected
    enough = select_keypoints(ranking, top_k=12, min_features=1)
    assert enough["n_selected"] == 12 and not enough["extended"]


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown models\.optim option .epoch."):
        TrainConfig.from_mapping({"optim": {"epoch": 3}})
    with pytest.raises(ValueError, match="unknown"):
        FusionTraining.from_mapping({"top_k": 4, "heads": 2})


# ------------------------------------------------------------------------------------------
# Training, determinism and leakage


def _table(root, samples):
    return video_table(samples, LABELS, root)


def test_stgcn_training_is_deterministic_and_predicts(cohort, tmp_path):
    root, samples, splits = cohort
    outs = []
    for run in ("a", "b"):
        info = train_skeleton_model(
            "stgcn",
            _table(root, samples),
            splits,
            "fold0",
            tmp_path / run,
            small_train_cfg(),
            SMALL,
        )
        outs.append(torch.load(tmp_path / run / "model.pt", weights_only=False)["state_dict"])
    assert states_equal(*outs)
    # The checkpoint file itself is reproducible (DVC and the lineage compare its bytes).
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/model.pt").read_bytes()
    test_subjects = set(folds.subjects_of(splits, "fold0", "test"))
    assert not test_subjects & set(info["train_subjects"] + info["val_subjects"])
    hist = pd.read_csv(tmp_path / "a" / "history.tsv", sep="\t")
    assert list(hist["epoch"]) == [1, 2] and hist["train_loss"].notna().all()
    pred = predict(
        "stgcn", _table(root, samples), splits, "fold0", tmp_path / "a", tmp_path / "pred.tsv"
    )
    assert set(pred["subject_id"]) == test_subjects
    probs = pred[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (pred["pred"] == np.array(LABELS)[probs.argmax(1)]).all()
    assert set(pred["split"]) == {"fold0"} and set(pred["fold"]) == {0}


def test_two_stream_skeleton_trains_with_auxiliary_heads(cohort, tmp_path):
    root, samples, splits = cohort
    net = TwoStreamTraining.from_mapping(
        {
            "stream": {"channels": [8, 16], "strides": [1, 2]},
            "fusion_channels": 8,
            "aux_weight": 0.3,
        }
    )
    info = train_skeleton_model(
        "two_stream_skeleton",
        _table(root, samples),
        splits,
        "fold1",
        tmp_path,
        small_train_cfg(1),
        net,
    )
    assert info["params"]["two_stream_skeleton"]["aux_weight"] == 0.3
    model, _ = load_model(tmp_path / "model.pt")
    pred = predict(
        "two_stream_skeleton",
        _table(root, samples),
        splits,
        "fold1",
        tmp_path,
        tmp_path / "pred.tsv",
    )
    assert len(pred) == len(folds.subjects_of(splits, "fold1", "test"))


@pytest.fixture(scope="module")
def stgcn_fold0(cohort, tmp_path_factory):
    root, samples, splits = cohort
    out = tmp_path_factory.mktemp("stgcn")
    train_skeleton_model(
        "stgcn", _table(root, samples), splits, "fold0", out, small_train_cfg(), SMALL
    )
    return out / "model.pt"


def test_gradcam_selection_never_sees_the_folds_test_subjects(
    cohort, stgcn_fold0, tmp_path, monkeypatch
):
    root, samples, splits = cohort
    held_out = folds.subjects_of(splits, "fold0", "test") + folds.subjects_of(
        splits, "fold0", "val"
    )
    read = []
    real_load = clips.load_pose
    monkeypatch.setattr(clips, "load_pose", lambda p: read.append(str(p)) or real_load(p))
    a = rank_keypoints(
        _table(root, samples), splits, "fold0", stgcn_fold0, tmp_path / "a.tsv", tmp_path / "a.png"
    )
    train_videos = samples[samples["subject_id"].isin(folds.subjects_of(splits, "fold0", "train"))]
    assert sorted(read) == sorted(str(root / "clean" / f"{v}.npz") for v in train_videos.video_id)
    # Replacing the held-out subjects' data changes nothing in the ranking, byte for byte.
    other = copy_results(root, tmp_path / "perturbed")
    perturb_subjects(other, samples, held_out)
    rank_keypoints(_table(other, samples), splits, "fold0", stgcn_fold0, tmp_path / "b.tsv")
    assert tree_sha(tmp_path / "a.tsv") == tree_sha(tmp_path / "b.tsv")
    assert a["importance"].sum() == pytest.approx(1.0, abs=1e-4)
    # ... whereas changing a training subject's data does change it (the check has teeth).
    other2 = copy_results(root, tmp_path / "perturbed_train")
    perturb_subjects(other2, samples, folds.subjects_of(splits, "fold0", "train")[:1])
    rank_keypoints(_table(other2, samples), splits, "fold0", stgcn_fold0, tmp_path / "c.tsv")
    assert tree_sha(tmp_path / "a.tsv") != tree_sha(tmp_path / "c.tsv")


def test_fusion_fit_is_blind_to_test_subjects(cohort, stgcn_fold0, tmp_path):
    root, samples, splits = cohort
    test = folds.subjects_of(splits, "fold0", "test")
    fcfg = FusionTraining.from_mapping(
        {"top_k": 6, "min_features": 4, "d_model": 8, "n_heads": 2, "stgcn": SMALL.__dict__}
    )
    gait = featlib.FeatureConfig()
    states, selections = [], []
    for name, results in (("a", root), ("b", copy_results(root, tmp_path / "perturbed"))):
        if name == "b":
            perturb_subjects(results, samples, test)
        table = _table(results, samples)
        rank_keypoints(table, splits, "fold0", stgcn_fold0, tmp_path / f"{name}.tsv")
        out = tmp_path / f"fusion_{name}"
        info = train_fusion(
            table,
            splits,
            "fold0",
            out,
            small_train_cfg(),
            fcfg,
            tmp_path / f"{name}.tsv",
            stgcn_fold0,
            gait,
            "I",
        )
        ckpt = torch.load(out / "model.pt", weights_only=False)
        states.append(ckpt)
        selections.append(json.loads((out / "keypoints.json").read_text()))
        assert len(info["features"]) >= 4
        assert set(info["features"]) <= set(featlib.supported_features(info["keypoints"]))
    assert states_equal(states[0]["state_dict"], states[1]["state_dict"])
    np.testing.assert_array_equal(states[0]["scaler_mean"], states[1]["scaler_mean"])
    np.testing.assert_array_equal(states[0]["scaler_sd"], states[1]["scaler_sd"])
    assert selections[0] == selections[1]
    pred = predict(
        "fusion_xattn",
        _table(root, samples),
        splits,
        "fold0",
        tmp_path / "fusion_a",
        tmp_path / "pred.tsv",
    )
    assert set(pred["subject_id"]) == set(test)


def test_gait_baseline_is_blind_to_test_subjects(cohort, tmp_path):
    root, samples, splits = cohort
    test = folds.subjects_of(splits, "fold1", "test")
    coefs = []
    for name, results in (("a", root), ("b", copy_results(root, tmp_path / "perturbed"))):
        if name == "b":
            perturb_subjects(results, samples, test)
        info = train_gait_baseline(
            _table(results, samples),
            splits,
            "fold1",
            tmp_path / name,
            BaselineTraining(),
            "I",
        )
        blob = pd.read_pickle(tmp_path / name / "model.pkl")
        coefs.append(blob["pipeline"].named_steps["classify"].coef_)
        assert not set(test) & set(info["train_subjects"] + info["val_subjects"])
    np.testing.assert_array_equal(coefs[0], coefs[1])
    pred = predict(
        "gait_baseline",
        _table(root, samples),
        splits,
        "fold1",
        tmp_path / "a",
        tmp_path / "pred.tsv",
        reference_label="I",
    )
    assert set(pred["subject_id"]) == set(test)
    imp = pd.read_csv(tmp_path / "a" / "importance.tsv", sep="\t")
    assert imp["importance"].sum() == pytest.approx(1.0)


def test_qc_excluded_video_is_left_out_with_its_reason(cohort, tmp_path):
    root, samples, splits = cohort
    other = copy_results(root, tmp_path / "excluded")
    vid = samples[samples["subject_id"] == folds.subjects_of(splits, "fold0", "test")[0]]
    vid = vid["video_id"].iloc[0]
    (other / "qc" / f"{vid}.json").write_text(json.dumps({"excluded": True, "reason": "too short"}))
    data = split_data(_table(other, samples), splits, "fold0")
    assert "too short" in data.skipped[vid]
    assert vid not in set(data.test["video_id"])


def test_videos_without_gait_features_are_excluded_with_their_reason(cohort, tmp_path):
    root, samples, splits = cohort
    other = copy_results(root, tmp_path / "still")
    # A validation subject (this small fold has one training subject per label).
    subject = folds.subjects_of(splits, "fold0", "val")[0]
    vid = samples.loc[samples["subject_id"] == subject, "video_id"].iloc[0]
    pose = walk_pose(subject, seed=0)
    still = np.repeat(pose.keypoints[:1], pose.n_frames, axis=0)  # standing still
    write_video(other, vid, PoseData(still, FPS, pose.frame_size, "truth"))
    info = train_gait_baseline(
        _table(other, samples), splits, "fold0", tmp_path / "m", BaselineTraining(), "I"
    )
    assert "no gait features" in info["skipped_videos"][vid]
    assert info["n_val_videos"] == len(folds.subjects_of(splits, "fold0", "val")) - 1
    # The fusion model keeps such a video: its features are masked as missing, not invented.
    table = pd.read_parquet(other / "features" / f"{vid}.parquet")
    assert table["status"].iloc[0] != "ok" and np.isnan(table["cadence_steps_per_min"].iloc[0])
