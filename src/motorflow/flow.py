"""Flow stage: dense optical flow of an aligned clip, stored as 8-bit images.

Input is the aligned, background-masked clip of :mod:`motorflow.align` (``frames`` uint8
(T, S, S, 3) RGB, ``frame_index``, ``fps``, ``status``, ``reason``).  Frames are taken at
``FlowConfig.fps`` (nearest clip frame in time) and Farneback flow is computed between
consecutive taken frames on grayscale.

Output ``.npz``:

* ``flow`` uint8 (P, S, S, 2): channel 0 is x (to the right), 1 is y (down), in pixels per
  taken-frame step, clipped to ``±bound`` and mapped linearly onto 0..255 (the storage
  convention of two-stream action recognition; :func:`dequantise` inverts it to within
  ``bound / 255`` px).  Pair ``p`` is the flow from taken frame ``p`` to ``p + 1``:
  ``frame[p](y, x) ≈ frame[p + 1](y + fy, x + fx)``.
* ``frame_index`` int64 (P,): the clip's ``frame_index`` (video frame) of the first frame of
  each pair
* ``clip_index`` int64 (P,): the position of that frame in the clip (the RGB frame that goes
  with the pair)
* ``fps`` float: the rate of the taken frames (flow is displacement per ``1 / fps`` s)
* ``bound`` float, ``status`` "ok" | "failed", ``reason`` str ("" when ok)

A failed clip gives a failed flow file (P = 0) rather than an error, so one bad video does not
stop the workflow; a malformed file or an impossible ``fps`` is an error.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from motorflow.checks import check_int, check_positive
from motorflow.config import config_from_mapping
from motorflow.poseio import atomic_path


@dataclass(frozen=True)
class FlowConfig:
    """Parameters of the flow stage (``flow:`` in the workflow config).

    ``fps``: rate at which flow is computed, at most the clip's rate (null = the clip's rate).
    Lowering it makes slow movements span more pixels per pair, above the quantisation step.
    The Farneback fields are passed to ``cv2.calcOpticalFlowFarneback`` unchanged.
    """

    bound: float = 20.0
    fps: float | None = None
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def __post_init__(self) -> None:
        check_positive("bound", self.bound)
        if self.fps is not None:
            check_positive("fps", self.fps)
        if (
            isinstance(self.pyr_scale, bool)
            or not isinstance(self.pyr_scale, int | float)
            or not 0.0 < self.pyr_scale < 1.0
        ):
            raise ValueError(f"pyr_scale must be a number in (0, 1); got {self.pyr_scale!r}")
        check_int("levels", self.levels, 1)
        check_int("winsize", self.winsize, 3)
        check_int("iterations", self.iterations, 1)
        # OpenCV documents 5 and 7 (with poly_sigma about 1.1 and 1.5).
        if isinstance(self.poly_n, bool) or self.poly_n not in (5, 7):
            raise ValueError(f"poly_n must be 5 or 7; got {self.poly_n!r}")
        check_positive("poly_sigma", self.poly_sigma)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> FlowConfig:
        return config_from_mapping(cls, values, "flow")


def compute_flow(frames: np.ndarray, cfg: FlowConfig | None = None) -> np.ndarray:
    """Farneback flow between consecutive RGB frames: uint8 (T, H, W, 3) -> float32
    (T-1, H, W, 2), x then y displacement in pixels."""
    cfg = cfg or FlowConfig()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 (T, H, W, 3); got {frames.dtype} {tuple(frames.shape)}"
        )
    t, h, w, _ = frames.shape
    out = np.empty((max(t - 1, 0), h, w, 2), dtype=np.float32)
    if t < 2:
        return out
    prev = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    for i in range(1, t):
        nxt = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
        out[i - 1] = cv2.calcOpticalFlowFarneback(
            prev,
            nxt,
            None,
            pyr_scale=float(cfg.pyr_scale),
            levels=int(cfg.levels),
            winsize=int(cfg.winsize),
            iterations=int(cfg.iterations),
            poly_n=int(cfg.poly_n),
            poly_sigma=float(cfg.poly_sigma),
            flags=0,
        )
        prev = nxt
    return out


def quantise(flow: np.ndarray, bound: float) -> np.ndarray:
    """Clip to ``±bound`` and map linearly onto uint8 0..255 (-bound -> 0, +bound -> 255)."""
    check_positive("bound", bound)
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantise(q: np.ndarray, bound: float) -> np.ndarray:
    """Inverse of :func:`quantise`: float32 pixels, within ``bound / 255`` of the clipped flow.

    Zero flow is not a level (0 lies between 127 and 128), so still pixels read
    ``+bound / 255``: a constant offset, harmless to a network with biases.
    """
    check_positive("bound", bound)
    return (np.asarray(q, dtype=np.float32) * np.float32(2.0 * bound / 255.0)) - np.float32(bound)


def sample_times(n_frames: int, clip_fps: float, fps: float | None) -> np.ndarray:
    """Indices (into the clip) of the frames nearest to times ``k / fps``, k = 0, 1, ...

    ``fps`` None or equal to ``clip_fps`` takes every frame; above ``clip_fps`` is an error
    (it would repeat frames and give zero-flow pairs).
    """
    if fps is None or fps == clip_fps:
        return np.arange(n_frames)
    if fps > clip_fps:
        raise ValueError(f"flow fps {fps:g} exceeds the clip's frame rate {clip_fps:g}")
    if n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    duration = (n_frames - 1) / clip_fps
    # The small epsilon keeps a last sample that lands on the last frame up to rounding.
    k = np.arange(int(np.floor(duration * fps + 1e-9)) + 1)
    # floor(x + 0.5), not rint: half-way ties always go forward, so indices never repeat.
    idx = np.floor(k * (clip_fps / fps) + 0.5).astype(np.int64)
    return np.minimum(idx, n_frames - 1)


def _read_clip(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: unreadable clip file ({err})") from err
    missing = [k for k in ("frames", "frame_index", "fps", "status") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: not an aligned clip, missing {', '.join(missing)}")
    clip = {
        "frames": arrays["frames"],
        "frame_index": np.asarray(arrays["frame_index"], dtype=np.int64),
        "fps": float(arrays["fps"]),
        "status": str(arrays["status"]),
        "reason": str(arrays["reason"]) if "reason" in arrays else "",
    }
    frames = clip["frames"]
    if clip["status"] == "failed" and frames.size == 0:
        # A failed clip carries no frames; only its size matters (for the empty flow).
        if frames.ndim != 4:
            clip["frames"] = np.zeros((0, 0, 0, 3), dtype=np.uint8)
        return clip
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"{path}: frames must be uint8 (T, S, S, 3); got {frames.dtype} {tuple(frames.shape)}"
        )
    if clip["frame_index"].shape != (frames.shape[0],):
        raise ValueError(
            f"{path}: frame_index has shape {clip['frame_index'].shape}, "
            f"expected ({frames.shape[0]},)"
        )
    if clip["status"] not in ("ok", "failed"):
        raise ValueError(f"{path}: status must be 'ok' or 'failed'; got {clip['status']!r}")
    return clip


def _write(
    path: Path,
    flow: np.ndarray,
    frame_index: np.ndarray,
    clip_index: np.ndarray,
    fps: float,
    bound: float,
    status: str,
    reason: str,
) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            # The masked background is one constant level: it compresses to almost nothing.
            np.savez_compressed(
                fh,
                flow=flow.astype(np.uint8),
                frame_index=np.asarray(frame_index, dtype=np.int64),
                clip_index=np.asarray(clip_index, dtype=np.int64),
                fps=np.float64(fps),
                bound=np.float64(bound),
                status=np.array(status),
                reason=np.array(reason),
            )


def run(
    clip_npz: str | Path,
    out_npz: str | Path,
    cfg: FlowConfig,
    video_id: str | None = None,
) -> dict[str, Any]:
    """Compute the flow file of one aligned clip; return a summary.

    The summary has ``video_id`` (default: the clip's file name up to its first dot),
    ``status``, ``reason``, ``n_pairs``, ``fps``, ``bound``, ``mean_magnitude`` (mean |flow|
    in px per pair, before clipping) and ``clipped_fraction`` (share of flow components beyond
    ``±bound``: a high value says ``bound`` is too small); both None when failed.
    """
    clip_npz, out_npz = Path(clip_npz), Path(out_npz)
    clip = _read_clip(clip_npz)
    frames = clip["frames"]
    size = frames.shape[1:3]
    bound = float(cfg.bound)
    info: dict[str, Any] = {
        "video_id": video_id if video_id is not None else clip_npz.name.split(".")[0],
        "status": "failed",
        "reason": "",
        "n_pairs": 0,
        "fps": float(cfg.fps if cfg.fps is not None else clip["fps"]),
        "bound": bound,
        "mean_magnitude": None,
        "clipped_fraction": None,
    }
    empty = np.zeros((0, *size, 2), dtype=np.uint8)

    if clip["status"] == "failed":
        info["reason"] = clip["reason"] or "aligned clip failed"
    else:
        check_positive(f"{clip_npz}: fps", clip["fps"])
        try:
            taken = sample_times(frames.shape[0], clip["fps"], cfg.fps)
        except ValueError as err:
            raise ValueError(f"{clip_npz}: {err}") from err
        if len(taken) < 2:
            info["reason"] = (
                f"too short: {len(taken)} frame(s) at {info['fps']:g} fps, flow needs 2"
            )
        else:
            flow = compute_flow(frames[taken], cfg)
            info.update(
                status="ok",
                n_pairs=int(flow.shape[0]),
                mean_magnitude=float(np.linalg.norm(flow, axis=-1).mean()),
                clipped_fraction=float((np.abs(flow) > bound).mean()),
            )
            _write(
                out_npz,
                quantise(flow, bound),
                clip["frame_index"][taken[:-1]],
                taken[:-1],
                info["fps"],
                bound,
                "ok",
                "",
            )
            return info

    none = np.zeros(0, np.int64)
    _write(out_npz, empty, none, none, info["fps"], bound, "failed", info["reason"])
    return info
