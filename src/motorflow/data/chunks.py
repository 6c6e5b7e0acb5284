"""RGB + optical-flow chunks (Paper B): the aligned, background-masked frames and their
stacked flow fields, cut, mirrored and colour-augmented like the skeleton clips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from motorflow.data.clips import AugmentConfig, ClipSource, test_starts
from motorflow.data.table import TrainError
from motorflow.models.rgbflow import stack_flow


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
