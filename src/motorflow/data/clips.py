"""Skeleton clips: per-video normalisation, random training clips, evenly spaced test clips
(each also mirrored) and augmentation, in the ``(N, M, T, V, C)`` layout of skeleton
toolboxes."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from motorflow.config import config_from_mapping
from motorflow.data.table import TrainError
from motorflow.poseio import PoseData, load_pose
from motorflow.skeleton import INDEX, flip_permutation


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


@dataclass
class Video:
    video_id: str
    subject_id: str
    label: int
    skeleton: np.ndarray  # (T, V, 3) float32: x, y (trunk lengths, mid-hip origin), visible


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's all-NaN-slice warnings (missing joints are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _mid(xy: np.ndarray, a: str, b: str) -> np.ndarray:
    with quiet():
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


def load_videos(table: pd.DataFrame, labels: list[str], clip: ClipConfig) -> list[Video]:
    out = []
    for row in table.itertuples(index=False):
        if not row.pose:
            raise TrainError(f"{row.video_id}: no pose file in the video table (not declared)")
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
