"""Pose stage: video → per-frame 2D keypoints in the pose-file format.

Backends
--------
``mediapipe``  BlazePose full (``mediapipe.solutions.pose``, model_complexity=1, the model
               shipped in the 0.10.21 wheel), run in tracking mode on streamed frames.
               BlazePose follows one person; with ``max_people`` > 1 a further tracker runs
               on the frame with the people already found painted out, so bystanders are
               recorded as ``candidates`` and the cleaning stage can choose the assessed
               person by a documented rule instead of by the detector's whim.
``precomputed`` keypoint files from other tools (:mod:`motorflow.importers`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motorflow import importers
from motorflow.config import config_from_mapping
from motorflow.poseio import PoseData, save_pose
from motorflow.skeleton import INDEX, N_JOINTS
from motorflow.video import VideoError, iter_frames, probe

log = logging.getLogger(__name__)

# BlazePose's 33 landmarks → motorflow joints: one table, shared with the MediaPipe importer.
MEDIAPIPE_LANDMARKS = importers.MEDIAPIPE_LANDMARKS
_OURS = np.array([INDEX[n] for n in MEDIAPIPE_LANDMARKS])
_THEIRS = np.array(list(MEDIAPIPE_LANDMARKS.values()))


class PoseError(ValueError):
    """The pose stage could not produce a usable result; names the file and the reason."""


@dataclass(frozen=True)
class PoseConfig:
    backend: str = "mediapipe"  # "mediapipe" | "precomputed"
    max_people: int = 2  # mediapipe: people tracked per frame (1 = the detector's choice)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_frames: int = 30  # shorter videos are rejected: too short to assess gait
    min_detected_fraction: float = 0.05  # fewer frames with anybody → "no person" error
    progress_every: int = 500  # log progress every N frames

    def __post_init__(self) -> None:
        if self.backend not in ("mediapipe", "precomputed"):
            raise ValueError(
                f"pose backend must be 'mediapipe' or 'precomputed', not {self.backend!r}"
            )
        if self.max_people < 1:
            raise ValueError("max_people must be >= 1")

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> PoseConfig:
        return config_from_mapping(cls, mapping, "pose")


def _mediapipe_version() -> str:
    import mediapipe

    return f"mediapipe-{mediapipe.__version__}-blazepose-full"


class MediaPipeTracker:
    """BlazePose trackers for up to ``max_people`` people in a frame stream."""

    def __init__(self, cfg: PoseConfig) -> None:
        import mediapipe as mp

        self._trackers = [
            mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=1,
                smooth_landmarks=True,
                enable_segmentation=False,
                min_detection_confidence=cfg.min_detection_confidence,
                min_tracking_confidence=cfg.min_tracking_confidence,
            )
            for _ in range(cfg.max_people)
        ]

    def close(self) -> None:
        for t in self._trackers:
            t.close()

    def __enter__(self) -> MediaPipeTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def process(self, frame_rgb: np.ndarray) -> np.ndarray:
        """(P, V, 3) keypoints for one RGB frame; NaN rows for trackers that found nobody."""
        h, w = frame_rgb.shape[:2]
        out = np.full((len(self._trackers), N_JOINTS, 3), np.nan, np.float32)
        img = frame_rgb
        boxes: list[tuple[int, int, int, int]] = []
        for p, tracker in enumerate(self._trackers):
            if p > 0:
                if not boxes:
                    break  # nobody found: further trackers would see the same frame
                img = frame_rgb.copy()
                fill = np.median(frame_rgb[:: max(1, h // 32), :: max(1, w // 32)], axis=(0, 1))
                for x0, y0, x1, y1 in boxes:
                    img[y0:y1, x0:x1] = fill  # paint found people out
            res = tracker.process(img)
            if res.pose_landmarks is None:
                continue
            lm = np.array([(q.x, q.y, q.visibility) for q in res.pose_landmarks.landmark])
            kp = lm[_THEIRS] * np.array([w, h, 1.0])
            box = _box(kp, w, h)
            if any(_iou(box, b) > 0.5 for b in boxes):
                continue  # the same person again
            out[p, _OURS] = kp
            boxes.append(box)
        return out


def _box(kp: np.ndarray, w: int, h: int, margin: float = 0.15) -> tuple[int, int, int, int]:
    vis = kp[:, 2] > 0.3
    pts = kp[vis, :2] if vis.sum() >= 3 else kp[:, :2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    mx, my = margin * (x1 - x0) + 4, margin * (y1 - y0) + 4
    return (
        int(np.clip(x0 - mx, 0, w)),
        int(np.clip(y0 - 2 * my, 0, h)),  # the head extends above the eyes
        int(np.clip(x1 + mx, 0, w)),
        int(np.clip(y1 + my, 0, h)),
    )


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _primary(cands: np.ndarray) -> np.ndarray:
    """Per frame, the candidate with the highest mean confidence (cleaning chooses properly)."""
    conf = np.nan_to_num(cands[..., 2], nan=0.0).mean(-1)  # (T, P)
    best = conf.argmax(1)
    return cands[np.arange(len(cands)), best]


def estimate_video(path: str | os.PathLike, cfg: PoseConfig, fps: float | None = None) -> PoseData:
    """MediaPipe poses of every frame of the video ``path``.

    ``fps`` overrides the container's frame rate; a container without one is refused unless
    it is given (an assumed rate would scale every temporal feature without a word).
    """
    info = probe(path)
    if fps is None:
        if not (np.isfinite(info.fps) and info.fps > 0):
            raise PoseError(
                f"{path}: the container states no frame rate; give it (sheet column fps, "
                "or motorflow pose --fps)"
            )
        fps = info.fps
        given = False
    else:
        given = True
    frames: list[np.ndarray] = []
    times: list[float | None] = []
    t0 = time.perf_counter()
    with MediaPipeTracker(cfg) as tracker:
        for i, frame in enumerate(iter_frames(path, rgb=True, times=times)):
            frames.append(tracker.process(frame))
            if cfg.progress_every and (i + 1) % cfg.progress_every == 0:
                el = time.perf_counter() - t0
                log.info("%s: %d frames, %.1f frames/s", path, i + 1, (i + 1) / el)
    cands = np.stack(frames)
    n = len(cands)
    if n < cfg.min_frames:
        raise PoseError(f"{path}: too short, {n} frames < min_frames {cfg.min_frames}")
    slots, fps, notes = frame_slots(times, fps, given)
    if info.rotation:
        notes.append(
            f"frames turned {info.rotation} degrees counter-clockwise upright, as the "
            "stream's display matrix asks (a phone video)"
        )
    for note in notes:
        log.warning("%s: %s", path, note)
    if slots[-1] + 1 > n:  # dropped frames: missing frames in their place, time stays true
        full = np.full((slots[-1] + 1, *cands.shape[1:]), np.nan, np.float32)
        full[slots] = cands
        cands = full
    detected = np.isfinite(cands[..., 0]).any(axis=(1, 2))
    if detected.mean() < cfg.min_detected_fraction:
        raise PoseError(f"{path}: no person detected ({detected.sum()} of {n} frames have anybody)")
    multi = np.isfinite(cands[:, 1:, 0, 0]).any() if cands.shape[1] > 1 else False
    log.info(
        "%s: %d frames, person in %.1f %%, %.1f frames/s",
        path,
        n,
        100 * detected.mean(),
        n / (time.perf_counter() - t0),
    )
    return PoseData(
        keypoints=_primary(cands),
        fps=fps,
        frame_size=(info.width, info.height),
        backend="mediapipe",
        backend_version=_mediapipe_version(),
        candidates=cands if multi else None,
        notes=tuple(notes),
    )


def frame_slots(
    times: list[float | None], fps: float, given: bool = False
) -> tuple[np.ndarray, float, list[str]]:
    """Each decoded frame's slot on an evenly spaced timeline, the rate, and what was noticed.

    A stream's timestamps are the truth about time: frames a phone dropped leave gaps (the
    frames around them are not neighbours), and a stated rate the timestamps contradict
    (more than 5 %) is replaced by theirs, unless the rate was ``given`` by the user (then it
    is kept and the disagreement noted).  Without usable timestamps the frames are taken as
    evenly spaced at ``fps``.
    """
    n = len(times)
    identity = np.arange(n)
    if n < 2 or any(t is None for t in times):
        return identity, fps, []
    t = np.asarray(times, dtype=float)
    dt = np.diff(t)
    if not (dt > 0).all():
        return identity, fps, ["the timestamps do not increase: frames taken as evenly spaced"]
    notes, rate = [], fps
    measured = 1.0 / float(np.median(dt))
    if abs(measured - fps) > 0.05 * fps:
        if given:
            notes.append(f"the given {fps:.4g} fps differs from the timestamps' {measured:.4g} "
                         "fps; the given rate is used")  # fmt: skip
        else:
            notes.append(f"the container states {fps:.4g} fps, its timestamps {measured:.4g} "
                         "fps: the timestamps' rate is used")  # fmt: skip
            rate = measured
    slots = np.rint((t - t[0]) * rate).astype(int)
    if (np.diff(slots) < 1).any():  # jitter of more than half a frame: no reliable slots
        notes.append("irregular timestamps: frames taken as evenly spaced")
        return identity, rate, notes
    dropped = int(slots[-1] + 1 - n)
    if dropped:
        gaps = int((np.diff(slots) > 1).sum())
        notes.append(f"{dropped} dropped frames in {gaps} gaps (from the timestamps): kept as "
                     "missing frames, so that time stays true")  # fmt: skip
    return slots, rate, notes


def run(
    input_path: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: PoseConfig = PoseConfig(),
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    recording: str | None = None,
    record_failure: bool = False,
) -> PoseData:
    """Estimate (or import) poses for one input and write the pose file atomically.

    ``frame_size`` (width, height; the sheet's) is what normalised keypoints (MediaPipe's) are
    scaled by; ``recording`` (the sheet's video_id) picks a skeleton pickle's annotation.
    ``record_failure``: an input that gives no poses (unreadable, missing, nobody in view,
    too short) writes a failure record naming the reason instead of raising (the workflow's
    default: the recording is excluded downstream and the others complete).
    """
    try:
        pose = _estimate(input_path, cfg, fps, frame_size, recording)
    except PoseError as err:
        if not record_failure:
            raise
        log.error("%s", err)
        pose = PoseData.failed(f"pose: {err}", cfg.backend)
    save_pose(pose, out_path)
    return pose


def _estimate(
    input_path: str | os.PathLike,
    cfg: PoseConfig,
    fps: float | None,
    frame_size: tuple[int, int] | None,
    recording: str | None,
) -> PoseData:
    input_path = Path(input_path)
    if fps is not None and not (math.isfinite(float(fps)) and float(fps) > 0):
        # Refused before any work: a zero or negative rate would give an invalid pose file.
        raise PoseError(f"{input_path}: fps must be a positive number, got {fps!r}")
    try:
        if cfg.backend == "precomputed":
            pose = importers.load_keypoints(
                input_path, fps=fps, frame_size=frame_size, recording=recording
            )
            if pose.n_frames < cfg.min_frames:
                raise PoseError(
                    f"{input_path}: too short, {pose.n_frames} frames < min_frames {cfg.min_frames}"
                )
        else:
            # The sheet's fps overrides the container's.
            pose = estimate_video(input_path, cfg, None if fps is None else float(fps))
    except (VideoError, importers.KeypointImportError) as err:
        raise PoseError(str(err)) from err
    return pose
