"""Training of Paper B's RGB/flow models and the movement-feature baseline on files laid out
like the workflow's (results/align, results/flow, results/features): they learn what their
streams can see, use no test subject, and leave out videos the preprocessing failed on."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from motorflow import flow, folds
from motorflow.data.chunks import load_frame_videos, rgbflow_clips
from motorflow.data.clips import ClipConfig
from motorflow.data.table import VideoTable, video_table
from motorflow.features import movement
from motorflow.inference import predict
from motorflow.poseio import atomic_path
from motorflow.train.baselines import BaselineTraining, train_feature_baseline
from motorflow.train.checkpoint import load_model
from motorflow.train.config import TrainConfig
from motorflow.train.rgbflow import RGBFlowTraining, train_rgbflow_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = ["fidgety", "poor_repertoire"]
SIZE, FRAMES, CLIP_FPS = 32, 24, 10.0


def texture(rng: np.random.Generator) -> np.ndarray:
    """Smooth random RGB texture (S, S, 3) uint8: trackable by Farneback."""
    big = rng.uniform(0, 255, (3 * SIZE, 3 * SIZE, 3)).astype(np.float32)
    big = cv2.GaussianBlur(big, (0, 0), 2.0)
    big = (big - big.min()) / (np.ptp(big) + 1e-6) * 255
    return big.astype(np.uint8)


def write_clip(root, video_id: str, moving: bool, seed: int, status: str = "ok") -> None:
    """An aligned clip whose texture circles (radius 4 px, ~2.4 px/frame, like a fidgety
    movement) or stands still; the classes look alike frame by frame."""
    rng = np.random.default_rng(seed)
    big = texture(rng)
    phase = rng.uniform(0, 2 * np.pi)
    radius = 4.0 if moving else 0.0
    frames = []
    for k in range(FRAMES):
        dx = int(round(radius * np.cos(0.6 * k + phase)))
        dy = int(round(radius * np.sin(0.6 * k + phase)))
        frames.append(big[SIZE + dy : 2 * SIZE + dy, SIZE + dx : 2 * SIZE + dx])
    frames = np.stack(frames)
    if status != "ok":
        frames = frames[:0]
    (root / "align").mkdir(parents=True, exist_ok=True)
    with atomic_path(root / "align" / f"{video_id}.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, frames=frames, frame_index=np.arange(len(frames)), fps=CLIP_FPS,
                 matrix=np.eye(2, 3), status=status,
                 reason="" if status == "ok" else "segmentation found nobody")  # fmt: skip
    (root / "align" / f"{video_id}.json").write_text(
        json.dumps({"video_id": video_id, "status": status,
                    "reason": "" if status == "ok" else "segmentation found nobody"})
    )  # fmt: skip
    (root / "qc").mkdir(parents=True, exist_ok=True)
    (root / "qc" / f"{video_id}.json").write_text(json.dumps({"excluded": False}))
    # The skeleton path must exist for the table; the RGB/flow models never read it.
    (root / "clean").mkdir(parents=True, exist_ok=True)
    (root / "clean" / f"{video_id}.npz").write_bytes(b"")
    flow.run(root / "align" / f"{video_id}.npz", root / "flow" / f"{video_id}.npz",
             flow.FlowConfig())  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """6 subjects per class (one clip each), 3 subject-wise folds."""
    root = tmp_path_factory.mktemp("results")
    rows = []
    for lab in LABELS:
        for k in range(6):
            subject = f"inf{lab[0].upper()}{k + 1:02d}"
            vid = f"{subject}_v1"
            write_clip(root, vid, moving=lab == "fidgety", seed=100 * LABELS.index(lab) + k)
            rows.append((vid, subject, lab))
    samples = pd.DataFrame(rows, columns=["video_id", "subject_id", "label"])
    _, splits = folds.run(
        samples, folds.FoldConfig(folds=3, seed=1), root / "folds.tsv", root / "splits.tsv"
    )
    return root, samples, splits


def table(root, samples) -> VideoTable:
    return video_table(samples, LABELS, root, preprocess=True)


def cfg(epochs: int = 25) -> TrainConfig:
    return TrainConfig.from_mapping(
        {
            "seed": 0,
            "device": "cpu",
            "clip": {"test_clips": 3},
            "optim": {"epochs": epochs, "batch_size": 8, "clips_per_video": 6, "patience": 25,
                      "lr": 0.003},
            "augment": {"flip": 0.5, "scale": 0.1},
        }
    )  # fmt: skip


NET = {"channels": [8, 16], "flow_frames": 3, "fusion_channels": 16, "dropout": 0.0}


def accuracy(root, samples, splits, model: str) -> float:
    hits = []
    for split in folds.split_names(folds.FoldConfig(folds=3)):
        out = root / "train" / model / split
        train_rgbflow_model(model, table(root, samples), splits, split, out, cfg(),
                                  RGBFlowTraining.from_mapping(NET))  # fmt: skip
        preds = predict(model, table(root, samples), splits, split, out,
                              root / "eval" / model / split / "predictions.tsv")  # fmt: skip
        hits += list(preds["label"] == preds["pred"])
    return float(np.mean(hits))


def test_temporal_streams_separate_motion_classes_the_spatial_stream_cannot(cohort):
    root, samples, splits = cohort
    # Out-of-fold accuracy on held-out subjects (12 clips): motion is the only cue.
    assert accuracy(root, samples, splits, "rgbflow_temporal") >= 0.9
    assert accuracy(root, samples, splits, "two_stream_rgbflow") >= 0.9
    assert accuracy(root, samples, splits, "rgbflow_spatial") <= 0.75


def test_ablation_variants_keep_only_their_streams(cohort, tmp_path):
    root, samples, splits = cohort
    for model, has in (("rgbflow_spatial", ("spatial",)), ("rgbflow_temporal", ("temporal",)),
                       ("two_stream_rgbflow", ("spatial", "temporal"))):  # fmt: skip
        out = tmp_path / model
        train_rgbflow_model(model, table(root, samples), splits, "fold0", out, cfg(1),
                                  RGBFlowTraining.from_mapping(NET))  # fmt: skip
        net, ckpt = load_model(out / "model.pt")
        assert ckpt["model"] == model
        for stream in ("spatial", "temporal"):
            assert (getattr(net, stream) is not None) == (stream in has)


def test_test_subjects_never_reach_training(cohort, tmp_path):
    """Replacing fold0's test subjects' clips and flows leaves the trained weights identical."""
    root, samples, splits = cohort
    import shutil

    other = tmp_path / "other"
    shutil.copytree(root, other)
    for row in samples[samples["subject_id"].isin(folds.subjects_of(splits, "fold0", "test"))
                       ].itertuples():  # fmt: skip
        write_clip(other, row.video_id, moving=row.label != "fidgety", seed=999)
    states = []
    for r in (root, other):
        out = tmp_path / f"m_{r.name}"
        train_rgbflow_model("two_stream_rgbflow", table(r, samples), splits, "fold0", out,
                                  cfg(2), RGBFlowTraining.from_mapping(NET))  # fmt: skip
        states.append(torch.load(out / "model.pt", weights_only=False)["state_dict"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_mirrored_chunk_reverses_horizontal_motion(cohort):
    root, samples, _ = cohort
    vid = samples.loc[samples["label"] == "fidgety", "video_id"].iloc[0]
    rows = table(root, samples).videos
    videos = load_frame_videos(rows[rows["video_id"] == vid], LABELS)
    source = rgbflow_clips(3)
    chunks, _ = source.test(videos, ClipConfig(test_clips=1))
    plain, mirrored = chunks[0], chunks[1]
    np.testing.assert_allclose(mirrored[:3], plain[:3, :, ::-1])
    np.testing.assert_allclose(mirrored[3::2], -plain[3::2, :, ::-1])  # x flow negated
    np.testing.assert_allclose(mirrored[4::2], plain[4::2, :, ::-1])  # y flow kept


def test_video_failed_in_preprocessing_is_left_out_of_every_model(cohort, tmp_path):
    root, samples, splits = cohort
    import shutil

    other = tmp_path / "failed"
    shutil.copytree(root, other)
    vid = samples["video_id"].iloc[0]
    write_clip(other, vid, moving=True, seed=5, status="failed")
    usable, skipped = table(other, samples).usable()
    assert vid not in set(usable["video_id"])
    assert "segmentation found nobody" in skipped[vid]
    info = train_rgbflow_model("rgbflow_temporal", table(other, samples), splits, "fold0",
                                     tmp_path / "m", cfg(1),
                                     RGBFlowTraining.from_mapping(NET))  # fmt: skip
    assert vid in info["skipped_videos"]


def test_movement_baseline_learns_from_movement_features(tmp_path):
    """Two classes that differ in limb speed: the baseline separates held-out subjects."""
    rng = np.random.default_rng(0)
    samples = []
    for lab, speed in (("fidgety", 0.4), ("poor_repertoire", 0.2)):
        for k in range(6):
            vid = f"inf{lab[0].upper()}{k + 1:02d}_v1"
            feats = dict.fromkeys(movement.MOVEMENT_COLUMNS, np.nan)
            feats.update(speed_mean=speed + rng.normal(0, 0.03),
                         sample_entropy=rng.normal(1.0, 0.2))  # fmt: skip
            (tmp_path / "features").mkdir(exist_ok=True)
            pd.DataFrame([{"video_id": vid, "status": "ok", "reason": "", **feats}]).to_parquet(
                tmp_path / "features" / f"{vid}.parquet"
            )
            (tmp_path / "qc").mkdir(exist_ok=True)
            (tmp_path / "qc" / f"{vid}.json").write_text(json.dumps({"excluded": False}))
            (tmp_path / "clean").mkdir(exist_ok=True)
            (tmp_path / "clean" / f"{vid}.npz").write_bytes(b"")
            samples.append((vid, vid[:-3], lab))
    samples = pd.DataFrame(samples, columns=["video_id", "subject_id", "label"])
    _, splits = folds.run(samples, folds.FoldConfig(folds=3, seed=1), tmp_path / "f.tsv",
                          tmp_path / "s.tsv")  # fmt: skip
    t = video_table(samples, LABELS, tmp_path)
    hits = []
    for split in ("fold0", "fold1", "fold2"):
        out = tmp_path / "m" / split
        info = train_feature_baseline("movement_baseline", t, splits, split, out,
                                            BaselineTraining())  # fmt: skip
        assert set(info["features"]) == {"speed_mean", "sample_entropy"}
        preds = predict("movement_baseline", t, splits, split, out, out / "p.tsv")
        hits += list(preds["label"] == preds["pred"])
    assert np.mean(hits) >= 0.9
