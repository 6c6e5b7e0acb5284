"""Mask stage: per-frame person segmentation (Paper B's background removal).

Each frame of a video gets a binary person mask from one of the two segmentation models
that ship in the mediapipe 0.10.21 wheel (nothing is downloaded):

``pose``    BlazePose full (``mediapipe.solutions.pose``, model_complexity=1) with
            ``enable_segmentation=True``: it crops a region of interest around the person it
            tracks, so the mask follows people of any size and orientation (a supine infant
            seen from above, a walker at the far side of a room).
``selfie``  ``mediapipe.solutions.selfie_segmentation``: one whole-frame network trained on
            upright people close to the camera (video calls).

Default ``pose``, measured against exact figure masks (median IoU per clip, through H.264):
12 synth.gait_render.draw_person walkers over cluttered rooms, upright and rotated up to
180 deg (320x240): pose 0.91-0.94 (median 0.93), selfie 0.21-0.89 (median 0.77; landscape
model 0.71); 6 synth.infant_render supine infants (640x480): pose 0.94-0.96, selfie
0.63-0.92.  Selfie loses rotated and lying bodies.  Opening/closing or keeping the largest
blob changed the pose IoU by < 0.002, so both are off by default.

The masks file holds bits only (``np.packbits`` silhouettes, no image pixels): nothing in it
identifies the person beyond their outline.  Masks are stored at the resolution the models
saw, with the longer side capped at ``max_side``: both networks run at 256 px internally, so
full-HD masks would hold no more information, only more memory (a 5-minute 1080p video is
19 GB as a bool array).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from motorflow.config import config_from_mapping
from motorflow.poseio import atomic_path, json_default, write_json
from motorflow.video import VideoError, iter_frames, probe

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("pose", "selfie")


class MaskError(ValueError):
    """A video the mask stage cannot read; the message names the file and the reason."""


# ---------------------------------------------------------------------------------------------
# Configuration helpers (shared with motorflow.align)
# ---------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and bool(np.isfinite(value))
    )


def check_fraction(name: str, value: Any, low_open: bool = False) -> None:
    """``value`` must be a number in [0, 1] ((0, 1] with ``low_open``)."""
    ok = _is_number(value) and (0.0 < value if low_open else 0.0 <= value) and value <= 1.0
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {interval}; got {value!r}")


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    ok = ok and (maximum is None or value <= maximum)
    if not ok:
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be an integer {bound}; got {value!r}")


def check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    if not (_is_number(value) and (value >= 0 if allow_zero else value > 0)):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; "
                         f"got {value!r}")  # fmt: skip


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")


@dataclass(frozen=True)
class MaskConfig:
    """Parameters of the mask stage; every field takes plain YAML values."""

    method: str = "pose"  # "pose" (BlazePose segmentation) | "selfie"
    threshold: float = 0.5  # person probability above which a pixel is the person
    min_area_fraction: float = 0.005  # a frame whose mask covers less of the image has nobody
    min_person_fraction: float = 0.5  # fewer frames with a person → the video fails QC
    max_side: int = 640  # masks' longer side in px (frames are downscaled to it); 0 = native
    morph_px: int = 0  # opening then closing with a disk of this diameter (px); 0 = off
    largest_component: bool = False  # keep only the largest connected blob per frame
    selfie_model: int = 0  # selfie: 0 = general (256x256), 1 = landscape (144x256)
    min_detection_confidence: float = 0.5  # pose method
    min_tracking_confidence: float = 0.5  # pose method

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        for name in (
            "threshold",
            "min_area_fraction",
            "min_person_fraction",
            "min_detection_confidence",
            "min_tracking_confidence",
        ):
            check_fraction(name, getattr(self, name))
        if self.threshold in (0.0, 1.0):
            raise ValueError(f"threshold must lie strictly between 0 and 1; got {self.threshold}")
        check_int("max_side", self.max_side, 0)
        if 0 < self.max_side < 64:
            raise ValueError(f"max_side must be 0 (native) or >= 64 px; got {self.max_side}")
        check_int("morph_px", self.morph_px, 0, 64)
        check_bool("largest_component", self.largest_component)
        check_int("selfie_model", self.selfie_model, 0, 1)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> MaskConfig:
        return config_from_mapping(cls, values, "mask")


# ---------------------------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------------------------


def _working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    if max_side == 0 or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


class _Segmenter:
    """One MediaPipe segmentation graph, run in tracking (video) mode."""

    def __init__(self, cfg: MaskConfig) -> None:
        import mediapipe as mp

        self.cfg = cfg
        if cfg.method == "pose":
            self._graph = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=1,  # the only BlazePose model in the wheel
                smooth_landmarks=True,
                enable_segmentation=True,
                smooth_segmentation=True,
                min_detection_confidence=cfg.min_detection_confidence,
                min_tracking_confidence=cfg.min_tracking_confidence,
            )
        else:
            self._graph = mp.solutions.selfie_segmentation.SelfieSegmentation(
                model_selection=cfg.selfie_model
            )
        k = cfg.morph_px
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) if k > 1 else None

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> _Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def process(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Bool (H, W) person mask of one RGB frame (all False when nobody was found)."""
        res = self._graph.process(frame_rgb)
        prob = res.segmentation_mask
        if prob is None:  # pose method: no person tracked in this frame
            return np.zeros(frame_rgb.shape[:2], dtype=bool)
        mask = (np.asarray(prob) > self.cfg.threshold).astype(np.uint8)
        if self._kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel)
        if self.cfg.largest_component and mask.any():
            n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            if n > 2:
                mask = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
        return mask.astype(bool)


def iter_masks(path: str | os.PathLike, cfg: MaskConfig) -> Iterator[np.ndarray]:
    """Yield one bool (h, w) mask per frame, streamed (constant memory).

    Frames are downscaled (area averaging) so the longer side is at most ``cfg.max_side``
    before segmentation; the masks have that size.  Raises :class:`VideoError`.
    """
    with _Segmenter(cfg) as seg:
        size = None
        for frame in iter_frames(path, rgb=True):
            if size is None:
                size = _working_size(frame.shape[1], frame.shape[0], cfg.max_side)
            if size != (frame.shape[1], frame.shape[0]):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            yield seg.process(np.ascontiguousarray(frame))


def segment_video(path: str | os.PathLike, cfg: MaskConfig = MaskConfig()) -> np.ndarray:
    """Bool (T, H, W) person masks of every frame (H, W: see ``MaskConfig.max_side``)."""
    try:
        return np.stack(list(iter_masks(path, cfg)))
    except VideoError as err:
        raise MaskError(str(err)) from err


# ---------------------------------------------------------------------------------------------
# The masks file
# ---------------------------------------------------------------------------------------------


class PackedMasks:
    """Bit-packed (T, H, W) masks that unpack one frame at a time (``masks[i]``)."""

    def __init__(self, packed: np.ndarray, shape: tuple[int, int, int]) -> None:
        t, h, w = (int(v) for v in shape)
        need = (h * w + 7) // 8
        if packed.dtype != np.uint8 or packed.shape != (t, need):
            raise ValueError(f"packed masks must be uint8 ({t}, {need}); got "
                             f"{packed.dtype} {packed.shape}")  # fmt: skip
        self.packed = packed
        self.shape = (t, h, w)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        h, w = self.shape[1:]
        return np.unpackbits(self.packed[int(i)], count=h * w).reshape(h, w).astype(bool)

    def to_array(self) -> np.ndarray:
        t, h, w = self.shape
        bits = np.unpackbits(self.packed, axis=1, count=h * w)
        return bits.reshape(t, h, w).astype(bool)

    @classmethod
    def from_array(cls, masks: np.ndarray) -> PackedMasks:
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"masks must be (T, H, W); got shape {masks.shape}")
        t, h, w = masks.shape
        packed = np.packbits(masks.astype(bool).reshape(t, h * w), axis=1)
        return cls(packed, masks.shape)


def _write_packed(path: str | os.PathLike, packed: PackedMasks, info: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                packed=packed.packed,
                shape=np.asarray(packed.shape, dtype=np.int64),
                info=np.array(json.dumps(dict(info), sort_keys=True, default=json_default)),
            )


def save_masks(path: str | os.PathLike, masks: np.ndarray, info: Mapping[str, Any]) -> None:
    """Write bool (T, H, W) ``masks`` and a JSON-able ``info`` dict atomically.

    File (``.npz``): ``packed`` uint8 (T, ceil(H*W/8)) = ``np.packbits`` of each flattened
    frame, ``shape`` int (3,) = T, H, W, ``info`` str = JSON of ``info``.
    """
    _write_packed(path, PackedMasks.from_array(masks), info)


def open_masks(path: str | os.PathLike) -> tuple[PackedMasks, dict]:
    """Read a masks file without unpacking it (memory: 1 bit per pixel)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            shape = tuple(int(v) for v in z["shape"])
            packed = PackedMasks(z["packed"], shape)  # type: ignore[arg-type]
            info = json.loads(str(z["info"]))
    except (KeyError, OSError, ValueError, EOFError, TypeError) as err:
        raise MaskError(f"{path}: not a motorflow masks file ({err})") from err
    return packed, info


def load_masks(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """(bool (T, H, W) masks, info dict) from a file written by :func:`save_masks`."""
    packed, info = open_masks(path)
    return packed.to_array(), info


# ---------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------


def run(
    video: str | os.PathLike,
    out_masks: str | os.PathLike,
    out_qc: str | os.PathLike,
    cfg: MaskConfig = MaskConfig(),
    video_id: str | None = None,
    record_failure: bool = False,
) -> dict:
    """Segment one video; write the masks file and its QC JSON atomically; return the QC.

    A video in which segmentation finds too few people does not raise: both files are
    written with ``status: "failed"`` and the reason, so the other videos go on and QC
    excludes this one.  An unreadable, corrupt or empty video raises :class:`MaskError`
    (nothing is written), or with ``record_failure`` (the workflow's default) is recorded the
    same way: 0 frames of masks and a failed QC naming the file and the reason, so alignment
    and flow record it too and the cohort completes.  ``video_id`` defaults to the file name
    up to its first dot.
    """
    video = Path(video)
    vid = video_id if video_id is not None else video.name.split(".")[0]
    try:
        info = probe(video)
        packed_rows: list[np.ndarray] = []
        areas: list[float] = []
        shape_hw: tuple[int, int] | None = None
        t0 = time.perf_counter()
        # Pack each frame as it comes: the stage's memory stays at 1 bit per pixel.
        for m in iter_masks(video, cfg):
            shape_hw = m.shape
            areas.append(float(m.mean()))
            packed_rows.append(np.packbits(m.reshape(-1)))
        elapsed = time.perf_counter() - t0
    except VideoError as err:
        if not record_failure:
            raise MaskError(str(err)) from err
        return _record_failure(vid, video, f"mask: {err}", cfg, out_masks, out_qc)
    if shape_hw is None:  # iter_frames raises first; kept for type checkers
        raise MaskError(f"{video}: no decodable frames")
    n = len(areas)
    area = np.asarray(areas)
    person = area >= cfg.min_area_fraction
    person_fraction = float(person.mean())
    status, reason = "ok", ""
    if person_fraction < cfg.min_person_fraction:
        status = "failed"
        reason = (
            f"{video}: segmentation found a person in {int(person.sum())} of {n} frames "
            f"(< min_person_fraction {cfg.min_person_fraction:g})"
        )
    fps = info.fps if np.isfinite(info.fps) and info.fps > 0 else None
    # No timings in the QC: results stay byte-identical from run to run (they are logged).
    qc: dict[str, Any] = {
        "video_id": vid,
        "status": status,
        "reason": reason,
        "video": str(video),
        "n_frames": n,
        "fps": fps,
        "frame_size": [info.width, info.height],
        "mask_size": [int(shape_hw[1]), int(shape_hw[0])],
        "frames_with_person": int(person.sum()),
        "person_fraction": round(person_fraction, 4),
        # Over frames with a person: the size of the person, not of their absence.
        "median_area_fraction": round(float(np.median(area[person])), 5) if person.any() else 0.0,
        "method": cfg.method,
        "config": asdict(cfg),
    }
    log.info("%s: person in %.1f %% of %d frames, %.1f ms/frame", video, 100 * person_fraction,
             n, 1000 * elapsed / n)  # fmt: skip
    packed = PackedMasks(np.stack(packed_rows), (n, *shape_hw))
    _write_packed(out_masks, packed, qc)
    write_json(qc, out_qc)
    return qc


def _record_failure(vid: str, video: Path, reason: str, cfg: MaskConfig, out_masks, out_qc) -> dict:
    """The outputs of a video that could not be read: no masks, the reason in the QC."""
    log.error("%s", reason)
    qc: dict[str, Any] = {
        "video_id": vid,
        "status": "failed",
        "reason": reason,
        "video": str(video),
        "n_frames": 0,
        "fps": None,
        "frame_size": None,
        "mask_size": None,
        "frames_with_person": 0,
        "person_fraction": 0.0,
        "median_area_fraction": 0.0,
        "method": cfg.method,
        "config": asdict(cfg),
    }
    _write_packed(out_masks, PackedMasks(np.zeros((0, 0), np.uint8), (0, 0, 0)), qc)
    write_json(qc, out_qc)
    return qc
