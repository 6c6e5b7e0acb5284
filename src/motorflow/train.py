"""Training stage: one model on one cross-validation split, and its test predictions.

Every model reads the split's subjects from ``splits.tsv`` (:mod:`motorflow.folds`) and fits
everything that learns from data — weights, early stopping, feature imputation and scaling,
the deviation reference, the Grad-CAM keypoint ranking of ``fusion_xattn`` — on that split's
training subjects only (early stopping on its inner validation subjects).  Test subjects are
touched only by :func:`predict`.

Models (``results/train/{model}/{split}/``):

* ``stgcn``: ST-GCN on the cleaned skeletons (:class:`motorflow.models.STGCN`).
* ``two_stream_skeleton``: joint-position stream + frame-difference stream, feature-map
  fusion (:class:`motorflow.models.TwoStreamSkeleton`).
* ``gait_baseline``: logistic regression on the clinical gait features (imputation and
  standardisation fitted inside the fold; ``C`` chosen on the inner validation subjects).
* ``fusion_xattn`` (Paper A): the fold's trained ST-GCN → Grad-CAM keypoint ranking on the
  fold's training subjects → gait features the top-k keypoints support → ST-GCN stream and
  gait-feature tokens fused by cross-attention (:class:`motorflow.models.FusionXAttn`).
* ``movement_baseline``: as ``gait_baseline``, on the infant general-movement features
  (:mod:`motorflow.movement`).
* ``two_stream_rgbflow`` (Paper B): appearance stream on single aligned, background-masked
  frames + temporal stream on stacked optical flow, feature-map fusion
  (:class:`motorflow.models.TwoStreamRGBFlow`); ``rgbflow_spatial`` and ``rgbflow_temporal``
  are its single-stream ablations.  Chunk outputs are averaged per video (and, in the
  evaluation, per subject).

Training is seeded and deterministic on CPU (one thread per job by default; the workflow runs
jobs in parallel), uses a class-weighted loss and picks CUDA when present.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

from motorflow import features as featlib
from motorflow import folds as foldlib
from motorflow import gradcam, registry
from motorflow import movement as movelib
from motorflow.config import config_from_mapping
from motorflow.models import (
    STGCN,
    FusionXAttn,
    FusionXAttnConfig,
    RGBFlowConfig,
    SkeletonGraph,
    STGCNConfig,
    TwoStreamRGBFlow,
    TwoStreamSkeleton,
    TwoStreamSkeletonConfig,
    stack_flow,
)
from motorflow.poseio import PoseData, atomic_path, load_pose, write_json
from motorflow.skeleton import INDEX, JOINT_NAMES, flip_permutation

log = logging.getLogger("motorflow.train")

MODELS = registry.NAMES
FEATURE_BASELINES = registry.family("features")
# Paper B's ablation: the fused network and each stream alone (RGBFlowConfig.streams).
RGBFLOW_STREAMS = {
    "two_stream_rgbflow": "both",
    "rgbflow_spatial": "spatial",
    "rgbflow_temporal": "temporal",
}
# Gait-feature columns the models use: normalised to leg length (metric columns need the
# optional stature and would make the feature set depend on the sheet).
MODEL_FEATURES: tuple[str, ...] = tuple(
    c
    for c in (*featlib.GAIT_COLUMNS, *featlib.DEVIATION_COLUMNS)
    if not c.endswith("_m") and not c.endswith("_m_per_s")
)


class TrainError(ValueError):
    """A split that cannot be trained on (no usable training videos, unknown model …)."""


@dataclass(frozen=True)
class ClipConfig:
    # Skeletons are resampled to this frame rate, so models see the same time scale for
    # videos recorded at different rates.
    fps: float = 30.0
    # Frames per training clip (about one and a half gait cycles at 30 fps).
    frames: int = 48
    # Clips per video at test time (evenly spaced, each also mirrored); probabilities are
    # averaged clip → video.
    test_clips: int = 6

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> ClipConfig:
        return config_from_mapping(cls, mapping, "models.clip")


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 40
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 5e-4
    # Epochs without a lower inner-validation loss before training stops (best weights kept).
    patience: int = 10
    # Random clips drawn per training video per epoch.
    clips_per_video: int = 4

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> OptimConfig:
        return config_from_mapping(cls, mapping, "models.optim")


@dataclass(frozen=True)
class AugmentConfig:
    # Probability of mirroring a clip horizontally with left/right joints exchanged (the
    # same walk filmed from the other side).
    flip: float = 0.5
    # Uniform random scaling within ±scale, and Gaussian noise (trunk lengths) on positions.
    scale: float = 0.1
    noise: float = 0.01

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> AugmentConfig:
        return config_from_mapping(cls, mapping, "models.augment")


@dataclass(frozen=True)
class TrainConfig:
    """``models:`` in config/config.yaml (shared by every model)."""

    seed: int = 0
    # auto: CUDA when present, else CPU; or cpu / cuda.
    device: str = "auto"
    # Torch threads per job (the workflow runs one job per core).
    threads: int = 1
    clip: ClipConfig = field(default_factory=ClipConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TrainConfig:
        return config_from_mapping(cls, mapping, "models")


@dataclass(frozen=True)
class TwoStreamTraining:
    """``models.two_stream_skeleton``: the network and its auxiliary per-stream losses."""

    net: TwoStreamSkeletonConfig = field(default_factory=TwoStreamSkeletonConfig)
    # Weight of each stream's own cross-entropy (keeps both streams informative).
    aux_weight: float = 0.5

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TwoStreamTraining:
        mapping = dict(mapping or {})
        aux = mapping.pop("aux_weight", 0.5)
        return cls(net=TwoStreamSkeletonConfig.from_mapping(mapping), aux_weight=aux)


@dataclass(frozen=True)
class FusionTraining:
    """``models.fusion_xattn``: keypoint selection and the dual-stream network."""

    net: FusionXAttnConfig = field(default_factory=FusionXAttnConfig)
    # Keypoints kept from the Grad-CAM ranking.
    top_k: int = 8
    # If the top-k keypoints support fewer gait features than this, the next-ranked
    # keypoints are added until they do (saved with the selection).
    min_features: int = 6
    # Keep the fold's trained ST-GCN stream fixed (True) or fine-tune it (False).
    freeze_skeleton: bool = True

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FusionTraining:
        mapping = dict(mapping or {})
        own = {
            k: mapping.pop(k) for k in ("top_k", "min_features", "freeze_skeleton") if k in mapping
        }
        return cls(net=FusionXAttnConfig.from_mapping(mapping), **own)


@dataclass(frozen=True)
class RGBFlowTraining:
    """``models.two_stream_rgbflow`` (shared by its single-stream ablations)."""

    net: RGBFlowConfig = field(default_factory=RGBFlowConfig)
    # Weight of each stream's own cross-entropy in the fused model.
    aux_weight: float = 0.5
    # Probability that the fused model sees a blank frame in a training chunk (modality
    # dropout): the fusion must not lean on the appearance stream alone, which with a few
    # dozen infants memorises their clothes and mats (measured: fused accuracy 0.50 without,
    # 0.67 with 0.5 on the synthetic infant cohort).
    appearance_dropout: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.appearance_dropout < 1.0:
            raise ValueError(
                f"appearance_dropout must be in [0, 1), not {self.appearance_dropout!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> RGBFlowTraining:
        mapping = dict(mapping or {})
        own = {k: mapping.pop(k) for k in ("aux_weight", "appearance_dropout") if k in mapping}
        return cls(net=RGBFlowConfig.from_mapping(mapping), **own)

    def for_model(self, model_name: str) -> RGBFlowTraining:
        """The configuration of one ablation variant (its ``streams``)."""
        if model_name not in RGBFLOW_STREAMS:
            raise TrainError(f"not an RGB/flow model: {model_name}")
        return replace(self, net=replace(self.net, streams=RGBFLOW_STREAMS[model_name]))


@dataclass(frozen=True)
class BaselineTraining:
    """``models.gait_baseline`` / ``movement_baseline``: inverse regularisation strengths
    tried on the inner split."""

    C: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> BaselineTraining:
        return config_from_mapping(cls, mapping, "models.gait_baseline")


# --------------------------------------------------------------------------------------------
# Data


@dataclass
class Video:
    video_id: str
    subject_id: str
    label: int
    skeleton: np.ndarray  # (T, V, 3) float32: x, y (trunk lengths, mid-hip origin), visible


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's all-NaN-slice warnings (missing joints are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _mid(xy: np.ndarray, a: str, b: str) -> np.ndarray:
    with _quiet():
        return np.nanmean(xy[:, [INDEX[a], INDEX[b]]], axis=1)


def normalise_skeleton(pose: PoseData, fps: float) -> np.ndarray:
    """(T', V, 3) model input: resampled to ``fps``, centred per frame on the mid-hip, in
    trunk lengths (median shoulder–hip distance of the video), y pointing up, missing joints
    zero with visibility 0.

    Per-video and label-free, so it is the same whatever fold the video is in (no leakage).
    """
    kp = pose.keypoints.astype(np.float64)
    xy = kp[..., :2]
    valid = np.isfinite(xy).all(axis=-1)
    if not valid.any():
        raise TrainError("no keypoints at all")
    hip = _mid(xy, "left_hip", "right_hip")
    shoulder = _mid(xy, "left_shoulder", "right_shoulder")
    trunk = np.linalg.norm(shoulder - hip, axis=1)
    trunk = trunk[np.isfinite(trunk) & (trunk > 0)]
    if trunk.size == 0:
        raise TrainError("shoulders and hips are never visible together (no body scale)")
    scale = float(np.median(trunk))
    # Frames without hips keep the nearest frame's centre.
    t = np.arange(len(xy))
    ok = np.isfinite(hip).all(axis=1)
    if not ok.any():
        raise TrainError("hips never visible (no body centre)")
    centre = np.stack([np.interp(t, t[ok], hip[ok, d]) for d in range(2)], axis=1)
    rel = (xy - centre[:, None, :]) / scale
    rel[..., 1] *= -1.0
    out = np.concatenate([np.where(valid[..., None], rel, 0.0), valid[..., None]], axis=-1)
    if abs(pose.fps - fps) > 1e-6:
        out = _resample(out, pose.fps, fps)
    return out.astype(np.float32)


def _resample(seq: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    n = len(seq)
    t_src = np.arange(n) / src_fps
    t_dst = np.arange(0.0, t_src[-1] + 1e-9, 1.0 / dst_fps)
    flat = seq.reshape(n, -1)
    res = np.stack([np.interp(t_dst, t_src, flat[:, j]) for j in range(flat.shape[1])], 1)
    res = res.reshape(len(t_dst), *seq.shape[1:])
    # A resampled joint is visible only where both neighbouring source frames were.
    vis = res[..., 2] > 1 - 1e-6
    res[..., :2] = np.where(vis[..., None], res[..., :2], 0.0)
    res[..., 2] = vis
    return res


@dataclass
class VideoTable:
    """The cohort's videos that the models may use: id, subject, label and result paths."""

    # video_id, subject_id, label; paths: pose (the skeleton models' input), qc (cleaning),
    # features, curves, and with the video preprocessing align_qc, clip, flow ("" without).
    videos: pd.DataFrame
    labels: list[str]

    def usable(self) -> tuple[pd.DataFrame, dict[str, str]]:
        """Videos the QC kept, and why the others are left out.

        Every model uses the same videos, so that models are compared on the same subjects: a
        video the video preprocessing failed on (nobody segmented, trunk never detected) is
        left out of the skeleton models too.
        """
        keep, skipped = [], {}
        for row in self.videos.itertuples(index=False):
            rec = json.loads(Path(row.qc).read_text()) if row.qc else {}
            pre = json.loads(Path(row.align_qc).read_text()) if row.align_qc else {}
            if rec.get("excluded"):
                skipped[row.video_id] = f"excluded by cleaning QC: {rec.get('reason', '')}"
            elif pre and pre.get("status") != "ok":
                skipped[row.video_id] = f"video preprocessing failed: {pre.get('reason', '')}"
            elif not Path(row.pose).exists():
                skipped[row.video_id] = f"no pose file {row.pose}"
            else:
                keep.append(row.video_id)
        return self.videos[self.videos["video_id"].isin(keep)], skipped


def video_table(
    samples: pd.DataFrame,
    labels: list[str],
    results: str | Path = "results",
    skeleton_input: str = "clean",
    preprocess: bool = False,
) -> VideoTable:
    """From the sample table (``video_id, subject_id, label``): the standard result paths.

    ``skeleton_input``: ``clean`` (the cleaning stage's keypoints) or ``aligned`` (the same
    keypoints in the aligned crop, Paper B's body-position normalisation; needs
    ``preprocess``).
    """
    results = Path(results)
    unknown = sorted(set(samples["label"].astype(str)) - set(labels))
    if unknown:
        raise TrainError(f"labels {unknown} are not among the configured labels {labels}")
    if skeleton_input not in ("clean", "aligned"):
        raise TrainError(f"skeleton_input must be clean or aligned, not {skeleton_input!r}")
    if skeleton_input == "aligned" and not preprocess:
        raise TrainError("skeleton_input aligned needs the video preprocessing stages")
    v = samples[["video_id", "subject_id", "label"]].astype(str).copy()
    ids = list(v["video_id"])

    def paths(stage: str, suffix: str) -> list[str]:
        return [str(results / stage / f"{i}{suffix}") for i in ids]

    aligned = skeleton_input == "aligned"
    v["pose"] = paths("align", ".pose.npz") if aligned else paths("clean", ".npz")
    v["qc"] = paths("qc", ".json")
    v["features"] = paths("features", ".parquet")
    v["curves"] = paths("features", ".curves.npz")
    v["align_qc"] = paths("align", ".json") if preprocess else [""] * len(ids)
    v["clip"] = paths("align", ".npz") if preprocess else [""] * len(ids)
    v["flow"] = paths("flow", ".npz") if preprocess else [""] * len(ids)
    return VideoTable(v.reset_index(drop=True), list(labels))


def load_videos(table: pd.DataFrame, labels: list[str], clip: ClipConfig) -> list[Video]:
    out = []
    for row in table.itertuples(index=False):
        try:
            skel = normalise_skeleton(load_pose(row.pose), clip.fps)
        except TrainError as err:
            raise TrainError(f"{row.pose}: {err}") from err
        out.append(Video(row.video_id, row.subject_id, labels.index(row.label), skel))
    return out


def _clip_index(n: int, start: int, frames: int) -> np.ndarray:
    # Videos shorter than a clip loop (gait is periodic; zero padding would be a stop).
    return (start + np.arange(frames)) % n


def test_starts(n: int, frames: int, clips: int) -> list[int]:
    """Evenly spaced clip starts covering the video (one clip if it is shorter)."""
    if n <= frames:
        return [0]
    return sorted({int(round(s)) for s in np.linspace(0, n - frames, clips)})


_FLIP = flip_permutation()


def mirror(batch: np.ndarray) -> np.ndarray:
    """Horizontal flip with left/right joints exchanged; (..., T, V, 3)."""
    out = batch[..., _FLIP, :].copy()
    out[..., 0] *= -1.0
    return out


def augment(batch: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random mirror, scale and positional noise of a (B, T, V, 3) batch (visible joints)."""
    batch = batch.copy()
    flip = rng.random(len(batch)) < cfg.flip
    batch[flip] = mirror(batch[flip])
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale, size=(len(batch), 1, 1, 1))
    noise = rng.normal(0.0, cfg.noise, size=batch[..., :2].shape)
    vis = batch[..., 2:3]
    batch[..., :2] = (batch[..., :2] * scale + noise) * vis
    return batch


def to_tensor(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, T, V, C) → (N, M=1, T, V, C), the layout of skeleton toolboxes."""
    return torch.from_numpy(np.ascontiguousarray(batch[:, None])).float().to(device)


def train_clips(
    videos: list[Video], clip: ClipConfig, per_video: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random clips: (n, T, V, 3) and the index of the video each came from."""
    clips, owner = [], []
    for i, v in enumerate(videos):
        n = len(v.skeleton)
        for _ in range(per_video):
            start = int(rng.integers(0, max(n - clip.frames, 0) + 1))
            clips.append(v.skeleton[_clip_index(n, start, clip.frames)])
            owner.append(i)
    return np.stack(clips), np.asarray(owner)


def test_clips(videos: list[Video], clip: ClipConfig) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced clips and their mirror images, with owners (test-time averaging)."""
    clips, owner = [], []
    for i, v in enumerate(videos):
        n = len(v.skeleton)
        for s in test_starts(n, clip.frames, clip.test_clips):
            c = v.skeleton[_clip_index(n, s, clip.frames)]
            clips += [c, mirror(c)]
            owner += [i, i]
    return np.stack(clips), np.asarray(owner)


@dataclass(frozen=True)
class ClipSource:
    """How a model's inputs are cut from its videos: random training clips with the index of
    their video, evenly spaced test clips (with mirror images), augmentation, tensors."""

    train: Callable[[list, ClipConfig, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    test: Callable[[list, ClipConfig], tuple[np.ndarray, np.ndarray]]
    augment: Callable[[np.ndarray, AugmentConfig, np.random.Generator], np.ndarray]
    tensor: Callable[[np.ndarray, torch.device], torch.Tensor]


SKELETON_CLIPS = ClipSource(train_clips, test_clips, augment, to_tensor)


# --------------------------------------------------------------------------------------------
# RGB + optical-flow chunks (Paper B)


@dataclass
class FrameVideo:
    video_id: str
    subject_id: str
    label: int
    frames: np.ndarray  # (T, S, S, 3) uint8 RGB, aligned and background-masked
    flow: np.ndarray  # (T-1, S, S, 2) uint8, quantised to ±bound
    bound: float


# Appearance input: RGB scaled to roughly zero mean and unit spread (the masked background,
# black, becomes a constant).
_RGB_MEAN, _RGB_SD = 0.45, 0.25


def load_frame_videos(table: pd.DataFrame, labels: list[str]) -> list[FrameVideo]:
    """The aligned clips and their flow fields (results/align/, results/flow/)."""
    out = []
    for row in table.itertuples(index=False):
        if not row.clip or not row.flow:
            raise TrainError(f"{row.video_id}: RGB/flow models need the video preprocessing")
        with np.load(row.clip) as clip, np.load(row.flow) as flow:
            for path, blob in ((row.clip, clip), (row.flow, flow)):
                if str(blob["status"]) != "ok":
                    raise TrainError(f"{path}: status {blob['status']}: {blob['reason']}")
            frames, q, bound = clip["frames"], flow["flow"], float(flow["bound"])
            # Flow pair k starts at clip frame clip_index[k]: the RGB frame of a chunk is
            # taken from the same clip frames the flow was computed on.
            frames = frames[np.asarray(flow["clip_index"], dtype=int)]
        if len(q) < 1:
            raise TrainError(f"{row.flow}: no flow frames")
        out.append(FrameVideo(row.video_id, row.subject_id, labels.index(row.label), frames, q,
                              bound))  # fmt: skip
    return out


def rgbflow_clips(flow_frames: int) -> ClipSource:
    """Chunks of ``flow_frames`` flow fields + the RGB frame in their middle, as one
    (3 + 2L, S, S) array per chunk (the model splits the channels)."""
    L = flow_frames

    def chunk(v: FrameVideo, start: int) -> np.ndarray:
        n = len(v.flow)
        start = min(start, max(n - L, 0))
        rgb = v.frames[min(start + L // 2, len(v.frames) - 1)].astype(np.float32) / 255.0
        rgb = (rgb.transpose(2, 0, 1) - _RGB_MEAN) / _RGB_SD
        if n >= L:
            flow = stack_flow(v.flow, start, L, v.bound)
        else:  # shorter than a chunk: loop the fields (as skeleton clips do)
            flow = np.concatenate([stack_flow(v.flow[[k % n]], 0, 1, v.bound) for k in range(L)])
        return np.concatenate([rgb, flow]).astype(np.float32)

    def train(videos, clip, per_video, rng):
        chunks, owner = [], []
        for i, v in enumerate(videos):
            for _ in range(per_video):
                chunks.append(chunk(v, int(rng.integers(0, max(len(v.flow) - L, 0) + 1))))
                owner.append(i)
        return np.stack(chunks), np.asarray(owner)

    def test(videos, clip):
        chunks, owner = [], []
        for i, v in enumerate(videos):
            for s in test_starts(len(v.flow), L, clip.test_clips):
                c = chunk(v, s)
                chunks += [c, mirror_chunk(c)]
                owner += [i, i]
        return np.stack(chunks), np.asarray(owner)

    return ClipSource(train, test, augment_chunks, chunk_tensor)


def mirror_chunk(chunk: np.ndarray) -> np.ndarray:
    """Horizontal mirror of a (..., 3 + 2L, S, S) chunk: image columns reversed and the
    x component of every flow field negated (a supine infant mirrored is still an infant)."""
    out = chunk[..., ::-1].copy()
    out[..., 3::2, :, :] *= -1.0
    return out


def augment_chunks(batch: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random mirror, and colour changes of the RGB channels: a random channel order and a
    per-channel gain (±scale).  Clothes and mats differ per infant, not per class: without
    this the appearance stream memorises each training infant's colours."""
    batch = batch.copy()
    n = len(batch)
    flip = rng.random(n) < cfg.flip
    batch[flip] = mirror_chunk(batch[flip])
    rgb = batch[:, :3] * _RGB_SD + _RGB_MEAN
    order = np.argsort(rng.random((n, 3)), axis=1)
    rgb = rgb[np.arange(n)[:, None], order]
    gain = 1.0 + rng.uniform(-cfg.scale, cfg.scale, size=(n, 3, 1, 1))
    batch[:, :3] = (rgb * gain - _RGB_MEAN) / _RGB_SD
    return batch


def chunk_tensor(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).float().to(device)


def _rgbflow_forward(appearance_dropout: float = 0.0) -> Forward:
    """Forward of the RGB/flow models; in training, the fused model gets auxiliary per-stream
    logits and, with probability ``appearance_dropout`` per chunk, a blank frame."""

    def forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
        rgb, flow = x[:, :3], x[:, 3:]
        if model.training and model.cfg.streams == "both":
            if appearance_dropout > 0:
                keep = torch.rand(len(x), 1, 1, 1, device=x.device) >= appearance_dropout
                rgb = rgb * keep
            logits = model.all_logits(rgb, flow)
            return logits["fused"], [logits["spatial"], logits["temporal"]]
        return model(rgb, flow), []

    return forward


# --------------------------------------------------------------------------------------------
# Torch training loop (shared by the skeleton models)


def pick_device(setting: str) -> torch.device:
    if setting not in ("auto", "cpu", "cuda"):
        raise ValueError(f"models.device must be auto, cpu or cuda, got {setting!r}")
    if setting == "cuda" and not torch.cuda.is_available():
        raise TrainError("models.device is cuda but no CUDA device is available")
    use_cuda = setting == "cuda" or (setting == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency over training videos, mean 1 over present classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    w *= (counts > 0).sum() / w.sum()
    return torch.tensor(w, dtype=torch.float32)


# forward(model, x, extra_rows) -> logits, [auxiliary logits…]
Forward = Callable[[nn.Module, torch.Tensor, np.ndarray], tuple[torch.Tensor, list[torch.Tensor]]]


@dataclass
class FitResult:
    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool
    seconds: float


def predict_videos(
    model: nn.Module,
    forward: Forward,
    videos: list[Video],
    clip: ClipConfig,
    device: torch.device,
    batch_size: int = 64,
    source: ClipSource = SKELETON_CLIPS,
) -> np.ndarray:
    """(n_videos, n_classes) probabilities, averaged over test clips and their mirrors."""
    clips, owner = source.test(videos, clip)
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(clips), batch_size):
            logits, _ = forward(
                model, source.tensor(clips[i : i + batch_size], device), owner[i : i + batch_size]
            )
            probs.append(F.softmax(logits, dim=1).cpu().numpy())
    p = np.concatenate(probs)
    return np.stack([p[owner == i].mean(axis=0) for i in range(len(videos))])


def fit(
    model: nn.Module,
    forward: Forward,
    train: list[Video],
    val: list[Video],
    cfg: TrainConfig,
    n_classes: int,
    device: torch.device,
    aux_weight: float = 0.0,
    source: ClipSource = SKELETON_CLIPS,
) -> FitResult:
    """Class-weighted training with early stopping on the inner validation videos.

    The best epoch is the one with the lowest validation loss (negative log-likelihood of the
    clip-averaged probabilities); without validation videos all epochs run and the last is
    kept.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    y_train = np.array([v.label for v in train])
    weights = class_weights(y_train, n_classes).to(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.optim.epochs, 1))
    y_val = np.array([v.label for v in val])
    best = (math.inf, 0, None)
    rows, since_best = [], 0
    for epoch in range(1, cfg.optim.epochs + 1):
        model.train()
        clips, owner = source.train(train, cfg.clip, cfg.optim.clips_per_video, rng)
        order = rng.permutation(len(clips))
        total, seen = 0.0, 0
        for i in range(0, len(order), cfg.optim.batch_size):
            idx = order[i : i + cfg.optim.batch_size]
            x = source.tensor(source.augment(clips[idx], cfg.augment, rng), device)
            y = torch.from_numpy(y_train[owner[idx]]).to(device)
            logits, aux = forward(model, x, owner[idx])
            loss = F.cross_entropy(logits, y, weight=weights)
            for a in aux:
                loss = loss + aux_weight * F.cross_entropy(a, y, weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        sched.step()
        row = {"epoch": epoch, "train_loss": total / max(seen, 1), "lr": sched.get_last_lr()[0]}
        if val:
            p = predict_videos(model, forward, val, cfg.clip, device, source=source)
            row["val_loss"] = float(
                -np.mean(np.log(np.clip(p[np.arange(len(val)), y_val], 1e-7, None)))
            )
            row["val_balanced_accuracy"] = float(_balanced_accuracy(y_val, p.argmax(1)))
            if row["val_loss"] < best[0] - 1e-6:
                best = (row["val_loss"], epoch, _state(model))
                since_best = 0
            else:
                since_best += 1
        else:
            row["val_loss"] = row["val_balanced_accuracy"] = float("nan")
            best = (math.nan, epoch, _state(model))
        rows.append(row)
        log.info("epoch %d %s", epoch, {k: round(v, 4) for k, v in row.items() if k != "epoch"})
        if val and since_best >= cfg.optim.patience:
            break
    model.load_state_dict(best[2])
    return FitResult(
        pd.DataFrame(rows), best[1], len(rows) < cfg.optim.epochs, time.perf_counter() - t0
    )


def _balanced_accuracy(y_true, y_pred) -> float:
    # A small validation set may lack a label the model predicts: expected, not a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _skeleton_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    return model(x), []


def _two_stream_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    if model.training:
        # Each stream's own head is trained too (auxiliary losses), in one pass.
        fused, joint, motion = model.all_logits(x)
        return fused, [joint, motion]
    return model(x), []


# --------------------------------------------------------------------------------------------
# Split bookkeeping


@dataclass
class SplitData:
    split: str
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    skipped: dict[str, str]


def split_data(table: VideoTable, splits: pd.DataFrame, split: str) -> SplitData:
    usable, skipped = table.usable()
    parts = {}
    for role in foldlib.ROLES:
        subjects = set(foldlib.subjects_of(splits, split, role))
        parts[role] = usable[usable["subject_id"].isin(subjects)].reset_index(drop=True)
    # Leakage guard on what is actually used, not only on the split table.
    seen: dict[str, str] = {}
    for role, df in parts.items():
        for s in df["subject_id"]:
            if seen.setdefault(s, role) != role:
                raise foldlib.FoldError(f"split {split}: subject {s} in {seen[s]} and {role}")
    if parts["train"].empty:
        raise TrainError(f"split {split}: no usable training videos")
    return SplitData(split, parts["train"], parts["val"], parts["test"], skipped)


def _save_torch(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _config_dict(cfg) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def _write_outputs(out_dir: Path, history: pd.DataFrame | None, info: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if history is not None:
        with atomic_path(out_dir / "history.tsv") as tmp:
            history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    write_json(info, out_dir / "train.json")


def _info(model: str, data: SplitData, cfg: TrainConfig, device, params: dict, **extra) -> dict:
    return {
        "model": model,
        "split": data.split,
        "n_train_videos": len(data.train),
        "n_val_videos": len(data.val),
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": data.skipped,
        "device": str(device),
        "torch_version": torch.__version__,
        "params": {"training": _config_dict(cfg), **params},
        **extra,
    }


# --------------------------------------------------------------------------------------------
# Skeleton models


def _save_trained(
    model_name: str,
    model: nn.Module,
    net_params: dict,
    cfg: TrainConfig,
    table: VideoTable,
    data: SplitData,
    device: torch.device,
    result: FitResult,
    out_dir: Path,
    **checkpoint_extra,
) -> dict:
    """Checkpoint (model.pt), history and train.json of a network trained by :func:`fit`."""
    _save_torch(
        {
            "model": model_name,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "net": net_params,
            "training": _config_dict(cfg),
            "labels": table.labels,
            **checkpoint_extra,
        },
        out_dir / "model.pt",
    )
    info = _info(
        model_name,
        data,
        cfg,
        device,
        {model_name: net_params},
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
        stopped_early=result.stopped_early,
        seconds=round(result.seconds, 2),
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    _write_outputs(out_dir, result.history, info)
    return info


def train_skeleton_model(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    net_cfg: STGCNConfig | TwoStreamTraining,
) -> dict:
    """Train ``stgcn`` or ``two_stream_skeleton`` on one split → model.pt, history, info."""
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    train = load_videos(data.train, table.labels, cfg.clip)
    val = load_videos(data.val, table.labels, cfg.clip)
    n_classes = len(table.labels)
    graph = SkeletonGraph.default()
    if model_name == "stgcn":
        assert isinstance(net_cfg, STGCNConfig)
        model: nn.Module = STGCN(net_cfg, n_classes, graph.adjacency)
        forward, aux, net_params = _skeleton_forward, 0.0, _config_dict(net_cfg)
    elif model_name == "two_stream_skeleton":
        assert isinstance(net_cfg, TwoStreamTraining)
        model = TwoStreamSkeleton(net_cfg.net, n_classes, graph.adjacency)
        forward, aux, net_params = _two_stream_forward, net_cfg.aux_weight, _config_dict(net_cfg)
    else:
        raise TrainError(f"not a skeleton model: {model_name}")
    result = fit(model, forward, train, val, cfg, n_classes, device, aux_weight=aux)
    return _save_trained(
        model_name, model, net_params, cfg, table, data, device, result, out_dir,
        joint_names=list(JOINT_NAMES),
    )  # fmt: skip


def train_rgbflow_model(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    rgb_cfg: RGBFlowTraining,
) -> dict:
    """Train ``two_stream_rgbflow`` or one of its single-stream ablations on one split."""
    out_dir = Path(out_dir)
    rgb_cfg = rgb_cfg.for_model(model_name)
    data = split_data(table, splits, split)
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    train = load_frame_videos(data.train, table.labels)
    val = load_frame_videos(data.val, table.labels)
    n_classes = len(table.labels)
    model = TwoStreamRGBFlow(rgb_cfg.net, n_classes)
    source = rgbflow_clips(rgb_cfg.net.flow_frames)
    result = fit(
        model, _rgbflow_forward(rgb_cfg.appearance_dropout), train, val, cfg, n_classes, device,
        aux_weight=rgb_cfg.aux_weight, source=source,
    )  # fmt: skip
    net_params = _config_dict(rgb_cfg)
    return _save_trained(
        model_name, model, net_params, cfg, table, data, device, result, out_dir,
        input_size=int(train[0].frames.shape[1]),
    )  # fmt: skip


# How a checkpoint rebuilds its network: the checkpoint names its model and carries the
# network's config, the label list and (fusion) its feature columns, so this is all it takes.
def _rgbflow_net(ckpt: dict) -> nn.Module:
    net = RGBFlowTraining.from_mapping(_flat_net(ckpt["net"])).net
    return TwoStreamRGBFlow(net, len(ckpt["labels"]))


def _stgcn_net(ckpt: dict) -> nn.Module:
    adjacency = SkeletonGraph.default().adjacency
    return STGCN(STGCNConfig.from_mapping(ckpt["net"]), len(ckpt["labels"]), adjacency)


def _two_stream_net(ckpt: dict) -> nn.Module:
    net = TwoStreamTraining.from_mapping(_flat_net(ckpt["net"])).net
    return TwoStreamSkeleton(net, len(ckpt["labels"]), SkeletonGraph.default().adjacency)


def _fusion_net(ckpt: dict) -> nn.Module:
    net = FusionTraining.from_mapping(_flat_net(ckpt["net"])).net
    adjacency = SkeletonGraph.default().adjacency
    return FusionXAttn(net, len(ckpt["labels"]), adjacency, len(ckpt["feature_columns"]))


NETWORKS: dict[str, Callable[[dict], nn.Module]] = {
    "stgcn": _stgcn_net,
    "two_stream_skeleton": _two_stream_net,
    "fusion_xattn": _fusion_net,
    **{name: _rgbflow_net for name in registry.family("rgbflow")},
}


# The config class of each model's section under ``models:``.
NET_CONFIGS: dict[str, type] = {
    "stgcn": STGCNConfig,
    "two_stream_skeleton": TwoStreamTraining,
    "fusion_xattn": FusionTraining,
    **{name: BaselineTraining for name in registry.family("features")},
    **{name: RGBFlowTraining for name in registry.family("rgbflow")},
}


def net_config(model_name: str, values: Mapping[str, Any] | None):
    """The model's network/training config from the values of its own section under
    ``models:`` (``registry.SPECS[model_name].section``)."""
    if model_name not in NET_CONFIGS:
        raise TrainError(f"unknown model {model_name!r}; known: {', '.join(NET_CONFIGS)}")
    return NET_CONFIGS[model_name].from_mapping(values)


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """A trained network (any model but the feature baselines) and its checkpoint."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    build = NETWORKS.get(ckpt.get("model"))
    if build is None:
        raise TrainError(f"{path}: unknown model {ckpt.get('model')!r}")
    model = build(ckpt)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def _flat_net(net: dict) -> dict:
    """Checkpoint form {net: {...}, extra…} → the config mapping form."""
    out = {k: v for k, v in net.items() if k != "net"}
    out.update(net.get("net", {}))
    return out


# --------------------------------------------------------------------------------------------
# Keypoint ranking (Grad-CAM on the fold's ST-GCN, training subjects only)


def rank_keypoints(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    model_path: str | Path,
    out_tsv: str | Path,
    out_figure: str | Path | None = None,
    top_k: int = 8,
) -> pd.DataFrame:
    """Per-joint Grad-CAM importance of the fold's ST-GCN over its TRAINING subjects' videos.

    Each video's importance is the mean over its test clips (target: the true label),
    normalised to sum 1; the ranking is the mean over videos.  Validation and test subjects
    are never read (the selection must not see them).
    """
    data = split_data(table, splits, split)
    model, ckpt = load_model(model_path)
    clip = TrainConfig.from_mapping(ckpt["training"]).clip
    videos = load_videos(data.train, table.labels, clip)
    per_video = []
    for v in videos:
        clips, _ = test_clips([v], clip)
        clips = clips[::2]  # unmirrored clips: joint identities stay put
        target = torch.full((len(clips),), v.label, dtype=torch.long)
        imp = gradcam.joint_importance(model, to_tensor(clips, torch.device("cpu")), target)
        per_video.append(imp.mean(axis=0))
    imp = np.mean(per_video, axis=0)
    imp = imp / imp.sum() if imp.sum() > 0 else np.full_like(imp, 1 / len(imp))
    ranked = gradcam.rank_joints(imp, JOINT_NAMES)
    df = pd.DataFrame(ranked, columns=["joint", "importance"])
    df["rank"] = np.arange(1, len(df) + 1)
    df.insert(0, "split", split)
    df["n_videos"] = len(videos)
    df["n_subjects"] = int(data.train["subject_id"].nunique())
    with atomic_path(out_tsv) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    if out_figure is not None:
        gradcam.plot_skeleton_importance(
            imp, out_figure, title=f"ST-GCN Grad-CAM, {split} (training subjects)", top_k=top_k
        )
    return df


def aggregate_importance(
    paths: list[str | Path], out_tsv: str | Path, out_figure: str | Path, top_k: int = 8
) -> pd.DataFrame:
    """Mean ± SD importance over folds, and how often each joint was in a fold's top-k."""
    per = pd.concat([pd.read_csv(p, sep="\t") for p in paths], ignore_index=True)
    g = per.groupby("joint")
    df = pd.DataFrame(
        {
            "importance_mean": g["importance"].mean(),
            "importance_sd": g["importance"].std(ddof=1).fillna(0.0),
            "top_k_folds": g["rank"].apply(lambda r: int((r <= top_k).sum())),
            "n_folds": g.size(),
        }
    ).reindex(list(JOINT_NAMES))
    df = df.sort_values(["importance_mean"], ascending=False, kind="stable")
    df.index.name = "joint"
    with atomic_path(out_tsv) as tmp:
        df.to_csv(tmp, sep="\t", float_format="%.6g")
    mean = df.reindex(list(JOINT_NAMES))["importance_mean"].to_numpy()
    gradcam.plot_skeleton_importance(
        mean, out_figure, title=f"ST-GCN Grad-CAM, mean over {len(paths)} folds", top_k=top_k
    )
    return df.reset_index()


def select_keypoints(ranking: pd.DataFrame, top_k: int, min_features: int) -> dict:
    """Top-k joints, extended down the ranking until they support ``min_features`` features."""
    order = list(ranking.sort_values("rank")["joint"])
    n = min(top_k, len(order))
    while True:
        chosen = order[:n]
        supported = [c for c in MODEL_FEATURES if c in set(featlib.supported_features(chosen))]
        if len(supported) >= min_features or n >= len(order):
            break
        n += 1
    imp = dict(zip(ranking["joint"], ranking["importance"], strict=True))
    return {
        "top_k": top_k,
        "n_selected": n,
        "extended": n > top_k,
        "keypoints": chosen,
        "importances": {j: float(imp[j]) for j in chosen},
        "features": supported,
    }


# --------------------------------------------------------------------------------------------
# Gait-feature tables per split (deviation reference refitted on training subjects)


def gait_feature_table(
    table: pd.DataFrame,
    data: SplitData,
    reference_label: str | None,
    joints: list[str] | None = None,
    gait_cfg: featlib.FeatureConfig | None = None,
) -> tuple[pd.DataFrame, str]:
    """Gait features of every video in ``table``, one row per video (index ``video_id``).

    Without ``joints`` the features stage's per-video tables and curves are read; with
    ``joints`` the features are recomputed from those keypoints only (``gait_cfg``).  The
    deviation scores always use a reference built from the split's TRAINING videos
    labelled ``reference_label`` (training reference subjects scored leave-one-subject-out),
    never the cohort-wide descriptive reference of ``features.parquet``.
    """
    rows, curves = {}, {}
    for r in table.itertuples(index=False):
        if joints is None:
            row = pd.read_parquet(r.features).iloc[0].to_dict()
            rows[r.video_id] = row
            curves[r.video_id] = featlib.load_mean_curves(r.curves)
        else:
            res = featlib.gait_features(
                load_pose(r.pose), gait_cfg or featlib.FeatureConfig(), joints=joints
            )
            rows[r.video_id] = {
                **res.features,
                "status": res.info["status"],
                "reason": res.info.get("reason", ""),
            }
            curves[r.video_id] = res.mean_curves()
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.drop(columns=[c for c in ("video_id",) if c in df.columns])
    ref_videos = [
        v
        for v, lab in zip(data.train["video_id"], data.train["label"], strict=True)
        if lab == reference_label and v in curves and np.isfinite(curves[v]).all()
    ]
    subjects = dict(zip(table["video_id"], table["subject_id"], strict=True))
    for col in featlib.DEVIATION_COLUMNS:
        df[col] = np.nan
    note = f"no training videos labelled {reference_label} with complete curves"
    if reference_label is not None and ref_videos:
        try:
            ref = featlib.DeviationReference.from_videos(
                {v: curves[v] for v in ref_videos}, {v: subjects[v] for v in ref_videos}
            )
            ok = (df["status"] == "ok").to_dict()
            for v, scores in ref.score_videos(curves, subjects, ok).items():
                for col, val in scores.items():
                    df.at[v, col] = val
            note = f"{len(set(ref.subjects))} training subjects labelled {reference_label}"
        except ValueError as err:
            note = f"no deviation scores: {err}"
    df.index.name = "video_id"
    return df, note


# --------------------------------------------------------------------------------------------
# gait_baseline / movement_baseline


def movement_feature_table(table: pd.DataFrame) -> pd.DataFrame:
    """Infant general-movement features of every video in ``table`` (index ``video_id``)."""
    rows = {r.video_id: pd.read_parquet(r.features).iloc[0].to_dict() for r in table.itertuples()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.drop(columns=[c for c in ("video_id",) if c in df.columns])
    df.index.name = "video_id"
    return df


def baseline_features(
    model_name: str, table: pd.DataFrame, data: SplitData, reference_label: str | None
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The feature table a feature baseline reads, a note, and its candidate columns."""
    if model_name == "gait_baseline":
        feats, note = gait_feature_table(table, data, reference_label)
        return feats, note, MODEL_FEATURES
    if model_name == "movement_baseline":
        return movement_feature_table(table), "", movelib.MOVEMENT_COLUMNS
    raise TrainError(f"not a feature baseline: {model_name}")


def train_gait_baseline(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: BaselineTraining,
    reference_label: str | None,
    seed: int = 0,
) -> dict:
    """``gait_baseline``: :func:`train_feature_baseline` on the clinical gait features."""
    return train_feature_baseline(
        "gait_baseline", table, splits, split, out_dir, cfg, reference_label, seed
    )


def train_feature_baseline(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: BaselineTraining,
    reference_label: str | None = None,
    seed: int = 0,
) -> dict:
    """Logistic regression on gait (``gait_baseline``) or general-movement
    (``movement_baseline``) features; ``C`` by inner-validation balanced accuracy, then
    refitted on training + validation subjects.  Videos without features (status not ok)
    are excluded and listed (never imputed wholesale)."""
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    non_test = pd.concat([data.train, data.val], ignore_index=True)
    feats, note, candidates = baseline_features(model_name, non_test, data, reference_label)
    ok = feats["status"] == "ok"
    kind = model_name.removesuffix("_baseline")
    excluded = {v: f"no {kind} features: {feats.at[v, 'reason']}" for v in feats.index[~ok]}
    cols = [c for c in candidates if feats.loc[ok, c].notna().any()]
    y = {
        v: table.labels.index(lab)
        for v, lab in zip(non_test["video_id"], non_test["label"], strict=True)
    }
    tr = [v for v in data.train["video_id"] if ok.get(v, False)]
    va = [v for v in data.val["video_id"] if ok.get(v, False)]
    if len({y[v] for v in tr + va}) < 2:
        # A small real cohort where most walks give no features: this split's training
        # videos with features carry one label, so no classifier can be fitted. The model
        # abstains here (no predictions for the split; train.json says why) rather than
        # failing the job and, with it, every cohort output.
        reason = f"split {split}: fewer than two labels among training videos with features"
        log.warning("%s: the model abstains on this split", reason)
        return _abstain(model_name, split, data, out_dir, table, cfg, excluded, reason)
    if len({y[v] for v in tr}) < 2:
        # The inner validation holds the only carriers of a label: C cannot be chosen on
        # it; the grid's middle value is fitted on training + validation.
        log.warning("split %s: one label among training videos with features; C not chosen", split)
        va_for_c: list[str] = []
        tr_for_c = tr + va
    else:
        va_for_c, tr_for_c = va, tr

    def make(c: float) -> Pipeline:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                (
                    "classify",
                    LogisticRegression(
                        C=c, class_weight="balanced", max_iter=5000, random_state=seed
                    ),
                ),
            ]
        )

    scores = {}
    for c in cfg.C:
        if va_for_c:
            pipe = make(c).fit(feats.loc[tr_for_c, cols], [y[v] for v in tr_for_c])
            scores[c] = float(
                _balanced_accuracy(
                    [y[v] for v in va_for_c], pipe.predict(feats.loc[va_for_c, cols])
                )
            )
        else:
            scores[c] = 0.0
    best_c = max(cfg.C, key=lambda c: (scores[c], -abs(math.log10(c))))
    fit_on = tr + va
    pipe = make(best_c).fit(feats.loc[fit_on, cols], [y[v] for v in fit_on])
    # Standardised coefficients: mean |coef| over classes is the feature's weight.
    coef = np.abs(pipe.named_steps["classify"].coef_).mean(axis=0)
    importance = pd.DataFrame({"feature": cols, "importance": coef / coef.sum()})
    importance = importance.sort_values("importance", ascending=False, kind="stable")
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pkl") as tmp:
        tmp.write_bytes(
            pickle.dumps({"pipeline": pipe, "columns": cols, "labels": table.labels}, protocol=4)
        )
    with atomic_path(out_dir / "importance.tsv") as tmp:
        importance.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    params = {model_name: {"C_grid": list(cfg.C), "reference_label": reference_label}}
    history = pd.DataFrame({"C": list(scores), "val_balanced_accuracy": list(scores.values())})
    info = {
        "model": model_name,
        "split": split,
        "n_train_videos": len(tr),
        "n_val_videos": len(va),
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": {**data.skipped, **excluded},
        "best_C": best_c,
        "features": cols,
        "deviation_reference": note,
        "params": params,
        "device": "cpu",
    }
    with atomic_path(out_dir / "selection.tsv") as tmp:
        history.to_csv(tmp, sep="\t", index=False)
    write_json(info, out_dir / "train.json")
    return info


def _abstain(model_name, split, data, out_dir, table, cfg, excluded, reason) -> dict:
    """The declared outputs of a feature baseline that cannot be fitted on ``split``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pkl") as tmp:
        blob = {"pipeline": None, "columns": [], "labels": table.labels, "abstain": reason}
        tmp.write_bytes(pickle.dumps(blob, protocol=4))
    with atomic_path(out_dir / "importance.tsv") as tmp:
        pd.DataFrame(columns=["feature", "importance"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_dir / "selection.tsv") as tmp:
        pd.DataFrame(columns=["C", "val_balanced_accuracy"]).to_csv(tmp, sep="\t", index=False)
    info = {
        "model": model_name,
        "split": split,
        "abstain": reason,
        "n_train_videos": 0,
        "n_val_videos": 0,
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": {**data.skipped, **excluded},
        "best_C": None,
        "features": [],
        "deviation_reference": "",
        "params": {model_name: {"C_grid": list(cfg.C)}},
        "device": "cpu",
    }
    write_json(info, out_dir / "train.json")
    return info


# --------------------------------------------------------------------------------------------
# fusion_xattn (Paper A)


@dataclass
class FeatureScaler:
    """Per-column mean/SD of the training videos; missing values become 0 with a mask."""

    columns: list[str]
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: list[str]) -> FeatureScaler:
        x = df[columns].to_numpy(float)
        with _quiet():
            mean = np.nan_to_num(np.nanmean(x, axis=0))
            sd = np.nanstd(x, axis=0)
        sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
        return cls(list(columns), mean, sd)

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = df[self.columns].to_numpy(float)
        missing = ~np.isfinite(x)
        z = np.where(missing, 0.0, (x - self.mean) / self.sd)
        return np.clip(z, -6, 6).astype(np.float32), missing


def _fusion_forward(feats: np.ndarray, missing: np.ndarray, device: torch.device) -> Forward:
    f = torch.from_numpy(feats).to(device)
    m = torch.from_numpy(missing).to(device)

    def forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
        idx = torch.from_numpy(np.asarray(rows)).to(device)
        return model(x, f[idx], m[idx]), []

    return forward


def train_fusion(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    fusion_cfg: FusionTraining,
    ranking_tsv: str | Path,
    stgcn_path: str | Path,
    gait_cfg: featlib.FeatureConfig,
    reference_label: str | None,
) -> dict:
    """Paper A's dual-stream model on one split.

    Keypoints: the fold's Grad-CAM ranking (training subjects only) → top-k (extended until
    ``min_features`` gait features are supported) → those features for every video of the
    split, computed from the selected keypoints only; scaling fitted on training videos;
    missing features are masked, not invented.  The skeleton stream starts from the fold's
    trained ST-GCN.
    """
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    ranking = pd.read_csv(ranking_tsv, sep="\t")
    if set(ranking["split"]) != {split}:
        raise TrainError(f"{ranking_tsv}: ranking is for {set(ranking['split'])}, not {split}")
    selection = select_keypoints(ranking, fusion_cfg.top_k, fusion_cfg.min_features)
    if not selection["features"]:
        raise TrainError(f"split {split}: the ranked keypoints support no gait feature")
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    everyone = pd.concat([data.train, data.val, data.test], ignore_index=True)
    feats, note = gait_feature_table(
        everyone, data, reference_label, joints=selection["keypoints"], gait_cfg=gait_cfg
    )
    cols = selection["features"]
    scaler = FeatureScaler.fit(feats.loc[list(data.train["video_id"])], cols)
    n_classes = len(table.labels)
    # The skeleton stream is the fold's ST-GCN: its architecture comes from that checkpoint.
    stgcn_ckpt = torch.load(stgcn_path, map_location="cpu", weights_only=False)
    fusion_cfg = replace(
        fusion_cfg, net=replace(fusion_cfg.net, stgcn=STGCNConfig.from_mapping(stgcn_ckpt["net"]))
    )
    model = FusionXAttn(fusion_cfg.net, n_classes, SkeletonGraph.default().adjacency, len(cols))
    model.load_skeleton(stgcn_ckpt["state_dict"], freeze=fusion_cfg.freeze_skeleton)

    def part(df: pd.DataFrame):
        z, miss = scaler.transform(feats.loc[list(df["video_id"])])
        return load_videos(df, table.labels, cfg.clip), z, miss

    train, z_tr, m_tr = part(data.train)
    val, z_va, m_va = part(data.val)
    fwd_train = _fusion_forward(z_tr, m_tr, device)
    fwd_val = _fusion_forward(z_va, m_va, device)

    def forward(model, x, rows):
        return (fwd_train if model.training else fwd_val)(model, x, rows)

    result = fit(model, forward, train, val, cfg, n_classes, device)
    net_params = {**_config_dict(fusion_cfg)}
    write_json(
        {**selection, "split": split, "deviation_reference": note}, out_dir / "keypoints.json"
    )
    feats_out = feats.reset_index()
    with atomic_path(out_dir / "features.parquet") as tmp:
        feats_out.to_parquet(tmp, index=False)
    _save_torch(
        {
            "model": "fusion_xattn",
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "net": net_params,
            "training": _config_dict(cfg),
            "labels": table.labels,
            "joint_names": list(JOINT_NAMES),
            "feature_columns": cols,
            "scaler_mean": scaler.mean,
            "scaler_sd": scaler.sd,
            "keypoints": selection["keypoints"],
        },
        out_dir / "model.pt",
    )
    info = _info(
        "fusion_xattn",
        data,
        cfg,
        device,
        {"fusion_xattn": net_params},
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
        stopped_early=result.stopped_early,
        seconds=round(result.seconds, 2),
        keypoints=selection["keypoints"],
        features=cols,
        deviation_reference=note,
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    _write_outputs(out_dir, result.history, info)
    return info


# --------------------------------------------------------------------------------------------
# Prediction on the split's test subjects


def predict(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    model_dir: str | Path,
    out_tsv: str | Path,
    reference_label: str | None = None,
) -> pd.DataFrame:
    """Test-subject predictions of one split: ``video_id, subject_id, label, pred,
    prob_<label>…, split, repeat, fold``; unscorable videos are left out (train.json and
    the returned frame's ``attrs['skipped']`` say why)."""
    model_dir = Path(model_dir)
    data = split_data(table, splits, split)
    test = data.test
    skipped: dict[str, str] = {}
    if model_name in FEATURE_BASELINES:
        blob = pickle.loads((model_dir / "model.pkl").read_bytes())
        if test.empty:  # every test video was left out upstream (e.g. by the cleaning QC)
            feats = pd.DataFrame(columns=["status", "reason"])
        else:
            feats, _, _ = baseline_features(model_name, test, data, reference_label)
        ok = feats["status"] == "ok"
        kind = model_name.removesuffix("_baseline")
        for v in feats.index[~ok]:
            skipped[v] = f"no {kind} features: {feats.at[v, 'reason']}"
        if blob["pipeline"] is None:  # abstained on this split (train_feature_baseline)
            skipped.update({v: blob["abstain"] for v in feats.index[ok]})
            ok = pd.Series(False, index=feats.index)
        test = test[test["video_id"].isin(feats.index[ok])].reset_index(drop=True)
        probs = (
            blob["pipeline"].predict_proba(feats.loc[list(test["video_id"]), blob["columns"]])
            if len(test)
            else np.zeros((0, len(table.labels)))
        )
        if blob["pipeline"] is not None:
            probs = _full_probs(probs, blob["pipeline"].classes_, len(table.labels))
    else:
        model, ckpt = load_model(model_dir / "model.pt")
        clip = TrainConfig.from_mapping(ckpt["training"]).clip
        source = SKELETON_CLIPS
        forward: Forward = _skeleton_forward
        if model_name in RGBFLOW_STREAMS:
            videos: list = load_frame_videos(test, table.labels)
            source, forward = rgbflow_clips(model.cfg.flow_frames), _rgbflow_forward()
        else:
            videos = load_videos(test, table.labels, clip)
        if model_name == "fusion_xattn":
            feats = pd.read_parquet(model_dir / "features.parquet").set_index("video_id")
            scaler = FeatureScaler(
                ckpt["feature_columns"],
                np.asarray(ckpt["scaler_mean"]),
                np.asarray(ckpt["scaler_sd"]),
            )
            z, miss = scaler.transform(feats.loc[list(test["video_id"])])
            forward = _fusion_forward(z, miss, torch.device("cpu"))
        probs = (
            predict_videos(model, forward, videos, clip, torch.device("cpu"), source=source)
            if videos
            else np.zeros((0, len(table.labels)))
        )
    r, k = splits.loc[splits["split"] == split, ["repeat", "fold"]].iloc[0]
    out = pd.DataFrame(
        {
            "video_id": test["video_id"],
            "subject_id": test["subject_id"],
            "label": test["label"],
            "pred": [table.labels[i] for i in probs.argmax(axis=1)] if len(probs) else [],
        }
    )
    for j, lab in enumerate(table.labels):
        out[f"prob_{lab}"] = probs[:, j] if len(probs) else []
    out["split"], out["repeat"], out["fold"] = split, int(r), int(k)
    with atomic_path(out_tsv) as tmp:
        out.to_csv(tmp, sep="\t", index=False, float_format="%.6f", lineterminator="\n")
    out.attrs["skipped"] = {**data.skipped, **skipped}
    return out


def _full_probs(probs: np.ndarray, classes: np.ndarray, n: int) -> np.ndarray:
    # A class absent from a fold's training data gets probability 0.
    full = np.zeros((len(probs), n))
    full[:, np.asarray(classes, dtype=int)] = probs
    return full


def table_from_params(
    subjects: dict[str, str],
    labels: dict[str, str],
    label_order: list[str],
    results: str | Path = "results",
    skeleton_input: str = "clean",
    preprocess: bool = False,
) -> VideoTable:
    """The video table from the rules' plain-dict params (video_id → subject, → label)."""
    samples = pd.DataFrame({"subject_id": pd.Series(subjects), "label": pd.Series(labels)})
    samples.index.name = "video_id"
    return video_table(
        samples.reset_index(), [str(x) for x in label_order], results, skeleton_input, preprocess
    )
