"""Align stage: Paper B's body-position normalisation, one similarity transform per video.

The body axis runs from the crotch (midpoint of the hips) to the neck (midpoint of the
shoulders).  Over up to ``max_sample_frames`` evenly spaced frames in which both shoulders
and both hips are detected, the axis angle (circular median), the centre (median) and the
axis length (median) give ONE transform for the whole video: rotate so the neck is straight
above the crotch, move the centre to the crop centre, scale the axis to
``axis_fraction * size`` px.  A per-frame transform would erase the very trunk movements
that general-movement assessment looks at; the medians ignore frames with wrong keypoints
as long as they are fewer than half.

Conventions (other code relies on them): image px, x right, y down; (dx, dy) = neck -
crotch; ``axis_angle_deg = degrees(atan2(dx, -dy))`` (0 = head up, 90 = head pointing
right); centre = midpoint of neck and crotch; axis length = |neck - crotch|.

Privacy: background pixels (mask 0) are set to black before warping, and the face is
blurred in every image output (pixelated to about two blocks across the head, then
Gaussian-blurred, inside a disk around the head).
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from motorflow.config import config_from_mapping
from motorflow.mask import (
    PackedMasks,
    check_bool,
    check_fraction,
    check_int,
    check_positive,
    open_masks,
)
from motorflow.poseio import PoseData, atomic_path, load_pose, save_pose, write_json
from motorflow.skeleton import INDEX
from motorflow.video import VideoError, iter_frames

log = logging.getLogger(__name__)

_AXIS_JOINTS = np.array(
    [INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
)
_FACE_JOINTS = np.array(
    [INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
)
PREVIEW_PX = 224  # height of every preview panel
_LABEL_PX = 18  # label strip above the panels


class AlignError(ValueError):
    """The alignment cannot be computed; the message says why."""


@dataclass(frozen=True)
class AlignConfig:
    """Parameters of the align stage; every field takes plain YAML values."""

    size: int = 112  # square output crop (px)
    fps: float = 10.0  # frame rate of the aligned clip (frames picked by nearest time)
    axis_fraction: float = 0.3  # neck-crotch length as a fraction of `size`
    min_confidence: float = 0.3  # keypoints below this count as missing
    max_sample_frames: int = 500  # robust statistics over up to this many valid frames
    min_valid_frames: int = 10  # fewer frames with both shoulders and hips → failed
    min_valid_fraction: float = 0.05  # ... or a smaller fraction of the video → failed
    blur_faces: bool = True
    face_radius: float = 0.45  # blur disk radius as a fraction of the axis length
    head_offset: float = 0.35  # head centre above the neck (fraction of the axis length),
    # used where no face keypoint is detected in a frame
    preview_frames: int = 4  # aligned frames shown in the preview

    def __post_init__(self) -> None:
        check_int("size", self.size, 16, 4096)
        check_positive("fps", self.fps)
        check_fraction("axis_fraction", self.axis_fraction, low_open=True)
        check_fraction("min_confidence", self.min_confidence)
        check_int("max_sample_frames", self.max_sample_frames, 3)
        check_int("min_valid_frames", self.min_valid_frames, 1)
        check_fraction("min_valid_fraction", self.min_valid_fraction)
        check_bool("blur_faces", self.blur_faces)
        check_positive("face_radius", self.face_radius)
        check_positive("head_offset", self.head_offset, allow_zero=True)
        check_int("preview_frames", self.preview_frames, 0, 12)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> AlignConfig:
        return config_from_mapping(cls, values, "align")


# ---------------------------------------------------------------------------------------------
# The transform
# ---------------------------------------------------------------------------------------------


def _wrap(rad: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(rad) + np.pi) % (2 * np.pi) - np.pi


def circular_median(rad: np.ndarray) -> float:
    """Angle minimising the summed arc distance to ``rad`` (radians), refined by the median
    of the wrapped deviations around it (exact for a cluster narrower than a half turn)."""
    rad = np.asarray(rad, dtype=np.float64)
    dist = np.abs(_wrap(rad[:, None] - rad[None, :])).sum(0)
    ref = rad[int(np.argmin(dist))]
    return float(_wrap(ref + np.median(_wrap(rad - ref))))


@dataclass
class Transform:
    """One video's body-position normalisation (see the module docstring for conventions)."""

    axis_angle_deg: float
    centre_px: tuple[float, float]
    axis_len_px: float
    n_frames: int  # frames the statistics used
    n_valid_frames: int  # frames with both shoulders and both hips
    angle_mad_deg: float  # median absolute deviation of the per-frame axis angle
    length_rel_mad: float  # MAD of the per-frame axis length / median length
    centre_mad_px: float  # median distance of the per-frame centre from the median centre

    def axis_unit(self) -> np.ndarray:
        """Unit vector from crotch to neck in image px."""
        a = math.radians(self.axis_angle_deg)
        return np.array([math.sin(a), -math.cos(a)])

    def neck_crotch_px(self) -> tuple[np.ndarray, np.ndarray]:
        c, u = np.asarray(self.centre_px, dtype=np.float64), self.axis_unit()
        return c + 0.5 * self.axis_len_px * u, c - 0.5 * self.axis_len_px * u

    def matrix(self, size: int, axis_fraction: float) -> np.ndarray:
        """(2, 3) affine map image px → crop px: the neck straight above the crotch, the
        centre at the crop centre, the axis ``axis_fraction * size`` px long."""
        a = math.radians(self.axis_angle_deg)
        s = axis_fraction * size / self.axis_len_px
        rot = s * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        t = np.array([size / 2.0, size / 2.0]) - rot @ np.asarray(self.centre_px, np.float64)
        return np.hstack([rot, t[:, None]])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["centre_px"] = [float(v) for v in self.centre_px]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transform:
        d = dict(d)
        d["centre_px"] = tuple(float(v) for v in d["centre_px"])
        return cls(**d)


def axis_frames(pose: PoseData, min_confidence: float) -> dict[str, np.ndarray]:
    """Per-frame neck, crotch, centre (T, 2), length and angle (T,) and validity (T,):
    valid where both shoulders and both hips are finite with confidence >= min_confidence."""
    pts = pose.keypoints[:, _AXIS_JOINTS].astype(np.float64)  # (T, 4, 3)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(pts).all(axis=(1, 2)) & (pts[..., 2] >= min_confidence).all(1)
    neck = 0.5 * (pts[:, 0, :2] + pts[:, 1, :2])
    crotch = 0.5 * (pts[:, 2, :2] + pts[:, 3, :2])
    d = neck - crotch
    length = np.hypot(d[:, 0], d[:, 1])
    ok &= length > 1e-6
    return {
        "neck": neck,
        "crotch": crotch,
        "centre": 0.5 * (neck + crotch),
        "length": length,
        "angle": np.arctan2(d[:, 0], -d[:, 1]),
        "valid": ok,
    }


def estimate_transform(pose: PoseData, cfg: AlignConfig = AlignConfig()) -> Transform:
    """The video's robust transform; :class:`AlignError` when the axis is too rarely seen."""
    ax = axis_frames(pose, cfg.min_confidence)
    valid = np.flatnonzero(ax["valid"])
    n, n_valid = pose.n_frames, int(valid.size)
    what = f"both shoulders and both hips at confidence >= {cfg.min_confidence:g}"
    if n_valid == 0:
        raise AlignError(f"shoulders/hips never detected: no frame of {n} has {what}")
    if n_valid < cfg.min_valid_frames or n_valid < cfg.min_valid_fraction * n:
        raise AlignError(
            f"shoulders/hips too rarely detected: {n_valid} of {n} frames have {what} "
            f"(need >= {cfg.min_valid_frames} frames and >= {cfg.min_valid_fraction:.0%})"
        )
    if n_valid > cfg.max_sample_frames:  # evenly spaced over the video, not the first N
        valid = valid[np.unique(np.linspace(0, n_valid - 1, cfg.max_sample_frames).round())
                      .astype(int)]  # fmt: skip
    angle = ax["angle"][valid]
    centre = ax["centre"][valid]
    length = ax["length"][valid]
    a = circular_median(angle)
    c = np.median(centre, axis=0)
    med_len = float(np.median(length))
    return Transform(
        axis_angle_deg=math.degrees(a),
        centre_px=(float(c[0]), float(c[1])),
        axis_len_px=med_len,
        n_frames=int(valid.size),
        n_valid_frames=n_valid,
        angle_mad_deg=math.degrees(float(np.median(np.abs(_wrap(angle - a))))),
        length_rel_mad=float(np.median(np.abs(length - med_len)) / med_len),
        centre_mad_px=float(np.median(np.hypot(*(centre - c).T))),
    )


def _apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return xy @ matrix[:, :2].T + matrix[:, 2]


def transform_keypoints(
    pose: PoseData, transform: Transform, cfg: AlignConfig = AlignConfig()
) -> PoseData:
    """The pose in crop px (same transform every frame); confidences kept, NaN stays NaN."""
    m = transform.matrix(cfg.size, cfg.axis_fraction)
    kp = pose.keypoints.astype(np.float64).copy()
    kp[..., :2] = _apply(m, kp[..., :2])
    cand = None
    if pose.candidates is not None:
        cand = pose.candidates.astype(np.float64).copy()
        cand[..., :2] = _apply(m, cand[..., :2])
    return PoseData(
        keypoints=kp.astype(np.float32),
        fps=pose.fps,
        frame_size=(cfg.size, cfg.size),
        backend=pose.backend,
        backend_version=pose.backend_version,
        imputed=pose.imputed,
        candidates=cand,
        joint_names=pose.joint_names,
    )


# ---------------------------------------------------------------------------------------------
# Faces
# ---------------------------------------------------------------------------------------------


def head_centres(
    kp: np.ndarray,
    axis_len: float,
    default_head: np.ndarray,
    default_up: np.ndarray,
    cfg: AlignConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the head centre (T, 2) in the coordinates of ``kp`` (T, V, 3), and
    whether it fell back on the expected position (T,) bool.

    Order of preference: the mean of the detected face keypoints (nose, eyes, ears); else
    ``head_offset * axis_len`` beyond this frame's neck along its own axis (the video's axis
    ``default_up`` when the hips are missing); else ``default_head``, where the video's
    transform puts the head.
    """
    face = kp[:, _FACE_JOINTS].astype(np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(face[..., :2]).all(-1) & (face[..., 2] >= cfg.min_confidence)
    n_ok = ok.sum(1)
    mean = (np.where(ok[..., None], face[..., :2], 0.0).sum(1)
            / np.maximum(n_ok, 1)[:, None])  # fmt: skip
    pts = kp[:, _AXIS_JOINTS].astype(np.float64)
    with np.errstate(invalid="ignore"):
        j_ok = np.isfinite(pts[..., :2]).all(-1) & (pts[..., 2] >= cfg.min_confidence)
    neck_ok, hips_ok = j_ok[:, :2].all(1), j_ok[:, 2:].all(1)
    neck = 0.5 * (pts[:, 0, :2] + pts[:, 1, :2])
    up = neck - 0.5 * (pts[:, 2, :2] + pts[:, 3, :2])
    norm = np.hypot(up[:, 0], up[:, 1])
    own = hips_ok & (norm > 1e-6)
    up = np.where(own[:, None], up / np.where(own, norm, 1.0)[:, None], default_up)
    centre = np.where(
        (n_ok > 0)[:, None],
        mean,
        np.where(neck_ok[:, None], neck + cfg.head_offset * axis_len * up, default_head),
    )
    return centre, n_ok == 0


def blur_disk(img: np.ndarray, centre: Sequence[float], radius: float) -> np.ndarray:
    """``img`` with the disk (``centre``, ``radius``) px pixelated to about two blocks across
    and then Gaussian-blurred: no facial detail survives, only a blob of the mean colour.
    The replacement covers the whole disk and fades out over a thin ring outside it."""
    h, w = img.shape[:2]
    cx, cy = float(centre[0]), float(centre[1])
    r = max(float(radius), 1.5)
    feather = max(1.0, 0.15 * r)
    x0, x1 = max(0, int(cx - r - feather - 1)), min(w, int(cx + r + feather + 2))
    y0, y1 = max(0, int(cy - r - feather - 1)), min(h, int(cy + r + feather + 2))
    if x0 >= x1 or y0 >= y1:
        return img
    out = img.copy()
    patch = img[y0:y1, x0:x1]
    blocks = max(1, round((x1 - x0) / r))
    small = cv2.resize(patch, (blocks, max(1, round(blocks * (y1 - y0) / (x1 - x0)))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    smooth = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(smooth, (0, 0), sigmaX=max(1.0, r / 3))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - cx, yy - cy)
    alpha = np.clip((r + feather - d) / feather, 0.0, 1.0)[..., None]
    out[y0:y1, x0:x1] = np.round(alpha * smooth + (1 - alpha) * patch).astype(img.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------


def clip_frame_index(n_frames: int, video_fps: float, clip_fps: float) -> np.ndarray:
    """Source frame of each clip frame: nearest in time, at ``clip_fps`` from t = 0."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    duration = (n_frames - 1) / video_fps
    n_clip = int(math.floor(duration * clip_fps + 1e-9)) + 1
    idx = np.floor(np.arange(n_clip) / clip_fps * video_fps + 0.5).astype(np.int64)
    return np.minimum(idx, n_frames - 1)


def _masked(frame: np.ndarray, mask: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The frame with its background black, resized by ``scale`` (area averaging when
    shrinking, so thin limbs do not alias away); returns (image, (2, 3) map frame px →
    image px)."""
    h, w = frame.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = frame if size == (w, h) else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    m = mask.astype(np.uint8) * 255
    if m.shape != img.shape[:2]:
        m = cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)
    img = np.where((m >= 128)[..., None], img, 0).astype(np.uint8)
    sx, sy = size[0] / w, size[1] / h
    # Pixel-centre convention of cv2.resize: x' = (x + 0.5) * s - 0.5.
    to_img = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    return img, to_img


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine ``a ∘ b`` (apply b first) for (2, 3) matrices."""
    a3 = np.vstack([a, [0.0, 0.0, 1.0]])
    b3 = np.vstack([b, [0.0, 0.0, 1.0]])
    return (a3 @ b3)[:2]


def _invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m)


class _Aligner:
    """Everything per video that the frames share: matrix, head positions, blur radius."""

    def __init__(self, pose: PoseData, transform: Transform, cfg: AlignConfig) -> None:
        self.cfg = cfg
        self.matrix = transform.matrix(cfg.size, cfg.axis_fraction)
        self.scale = cfg.axis_fraction * cfg.size / transform.axis_len_px
        lc = cfg.axis_fraction * cfg.size
        half = cfg.size / 2.0
        self.crop_head_default = np.array([half, half - 0.5 * lc - cfg.head_offset * lc])
        self.crop_radius = cfg.face_radius * lc
        self.aligned = transform_keypoints(pose, transform, cfg)
        self.crop_heads, self.fallback = head_centres(
            self.aligned.keypoints, lc, self.crop_head_default, np.array([0.0, -1.0]), cfg
        )
        # The same in source px, for the preview's masked source frame.
        self.src_heads, _ = head_centres(
            pose.keypoints,
            transform.axis_len_px,
            _apply(_invert(self.matrix), self.crop_head_default[None])[0],
            transform.axis_unit(),
            cfg,
        )
        self.src_radius = cfg.face_radius * transform.axis_len_px

    def crop(self, frame: np.ndarray, mask: np.ndarray, t: int) -> np.ndarray:
        # Shrink (area average) to about twice the crop's scale first: warpAffine samples
        # only 4 neighbours, which aliases when the body shrinks several-fold.
        img, to_img = _masked(frame, mask, min(1.0, 2.0 * self.scale))
        m = _compose(self.matrix, _invert(to_img))
        s = self.cfg.size
        out = cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
        if self.cfg.blur_faces:
            out = blur_disk(out, self.crop_heads[t], self.crop_radius)
        return out


def _align_stream(
    video_path: str | os.PathLike,
    masks: np.ndarray | PackedMasks,
    pose: PoseData,
    transform: Transform,
    cfg: AlignConfig,
    keep_source: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, _Aligner]:
    """Aligned clip frames, their source indices and (optionally) one masked source frame."""
    n = min(len(masks), pose.n_frames)
    index = clip_frame_index(n, float(pose.fps), cfg.fps)
    wanted = set(index.tolist())
    aligner = _Aligner(pose, transform, cfg)
    by_source: dict[int, np.ndarray] = {}
    source = None
    for t, frame in enumerate(iter_frames(video_path, rgb=True)):
        if t >= n:
            break
        if t in wanted:
            by_source[t] = aligner.crop(frame, masks[t], t)
        if t == keep_source:
            source, _ = _masked(frame, masks[t], 1.0)
    missing = wanted - set(by_source)
    if missing:
        raise AlignError(
            f"{video_path}: video ends before frame {min(missing)} that the masks and the "
            f"pose have ({n} frames)"
        )
    s = cfg.size
    frames = (np.stack([by_source[i] for i in index.tolist()]) if index.size
              else np.zeros((0, s, s, 3), np.uint8))  # fmt: skip
    return frames, index, source, aligner


def align_video(
    video_path: str | os.PathLike,
    masks: np.ndarray | PackedMasks,
    pose: PoseData,
    transform: Transform,
    cfg: AlignConfig = AlignConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned clip: (frames uint8 (T', size, size, 3) RGB, source frame index int (T',)).

    ``masks`` (T, h, w) may have a smaller size than the video (the mask stage's
    ``max_side``); they are resized onto the frames.  Background is black, the face blurred
    when ``cfg.blur_faces``.  Frames are taken at ``cfg.fps`` by nearest time (the pose's fps
    gives the source times).
    """
    frames, index, _, _ = _align_stream(video_path, masks, pose, transform, cfg)
    return frames, index


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)  # fmt: skip


def _source_panel(
    source: np.ndarray, t: int, aligner: _Aligner, transform: Transform
) -> np.ndarray:
    """The masked source frame, downscaled to the panel height, face blurred, with the body
    axis (crotch → neck) and the crop's outline drawn."""
    h, w = source.shape[:2]
    s = min(PREVIEW_PX / h, 2 * PREVIEW_PX / w)
    img = cv2.resize(source, (max(1, round(w * s)), max(1, round(h * s))),
                     interpolation=cv2.INTER_AREA)  # fmt: skip
    if aligner.cfg.blur_faces:
        img = blur_disk(img, aligner.src_heads[t] * s, aligner.src_radius * s)
    neck, crotch = transform.neck_crotch_px()
    p0, p1 = (tuple(np.round(p * s * 16).astype(int)) for p in (crotch, neck))
    cv2.line(img, p0, p1, (255, 220, 0), 2, cv2.LINE_AA, 4)
    cv2.circle(img, p1, 3 * 16, (255, 60, 60), -1, cv2.LINE_AA, 4)  # neck
    cv2.circle(img, p0, 3 * 16, (60, 160, 255), -1, cv2.LINE_AA, 4)  # crotch
    size = aligner.cfg.size
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
    box = _apply(_invert(aligner.matrix), corners) * s
    cv2.polylines(img, [np.round(box * 16).astype(np.int32)], True, (0, 255, 0), 1,
                  cv2.LINE_AA, 4)  # fmt: skip
    return img


def _montage(
    source: np.ndarray | None, crops: Sequence[np.ndarray], labels: Sequence[str]
) -> tuple[np.ndarray, dict]:
    """Panels side by side under a label strip; returns (RGB image, layout in px)."""
    panels = ([source] if source is not None else []) + [
        cv2.resize(c, (PREVIEW_PX, PREVIEW_PX), interpolation=cv2.INTER_LINEAR) for c in crops
    ]
    gap = 4
    width = sum(p.shape[1] for p in panels) + gap * max(0, len(panels) - 1)
    img = np.zeros((_LABEL_PX + PREVIEW_PX, max(width, 1), 3), np.uint8)
    rects: list[list[int]] = []
    x = 0
    for p, label in zip(panels, labels, strict=True):
        h, w = p.shape[:2]
        y = _LABEL_PX + (PREVIEW_PX - h) // 2
        img[y : y + h, x : x + w] = p
        rects.append([x, y, w, h])
        _text(img, label, (x + 3, _LABEL_PX - 5), 0.4)
        x += w + gap
    layout = {
        "source": rects[0] if source is not None else None,
        "aligned": rects[1:] if source is not None else rects,
    }
    return img, layout


def _failure_image(reason: str) -> np.ndarray:
    lines = ["ALIGNMENT FAILED"] + textwrap.wrap(reason, 70)
    img = np.zeros((PREVIEW_PX, 640, 3), np.uint8)
    for k, line in enumerate(lines[:12]):
        _text(img, line, (8, 24 + 17 * k), 0.45)
    return img


def _write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise AlignError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def _write_clip(path: str | os.PathLike, frames: np.ndarray, index: np.ndarray, fps: float,
                matrix: np.ndarray, status: str, reason: str) -> None:  # fmt: skip
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                frames=frames.astype(np.uint8),
                frame_index=index.astype(np.int64),
                fps=np.float64(fps),
                matrix=matrix.astype(np.float64),
                status=np.array(status),
                reason=np.array(reason),
            )


# ---------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------


def run(
    video: str | os.PathLike,
    masks_file: str | os.PathLike,
    pose_file: str | os.PathLike,
    out_clip: str | os.PathLike,
    out_pose: str | os.PathLike,
    out_json: str | os.PathLike,
    out_preview: str | os.PathLike,
    cfg: AlignConfig = AlignConfig(),
    video_id: str | None = None,
) -> dict:
    """Align one video; write clip, aligned pose, transform/QC JSON and preview atomically.

    A failed mask QC or a body axis that is never (or too rarely) detected does not raise:
    every output is written with ``status: "failed"`` and the reason (0-frame clip, all-NaN
    pose with the video's frame count, a preview that states the reason), so the other
    videos go on and QC excludes this one.  Unreadable inputs raise.
    """
    video, masks_file, pose_file = Path(video), Path(masks_file), Path(pose_file)
    vid = video_id if video_id is not None else video.name.split(".")[0]
    masks, mask_info = open_masks(masks_file)
    pose = load_pose(pose_file)
    s = cfg.size
    qc: dict[str, Any] = {
        "video_id": vid,
        "status": "ok",
        "reason": "",
        "n_frames": pose.n_frames,
        "video_fps": float(pose.fps),
        "clip_fps": cfg.fps,
        "size": s,
        "axis_fraction": cfg.axis_fraction,
        "mask_status": mask_info.get("status", "ok"),
        "config": asdict(cfg),
    }

    reason = ""
    transform = None
    if pose.failure:
        reason = f"pose stage failed: {pose.failure}"
    elif mask_info.get("status", "ok") != "ok":
        reason = f"mask stage failed: {mask_info.get('reason') or masks_file}"
    else:
        # Inputs from different videos are a workflow bug, not a bad video: fail the job.
        if abs(len(masks) - pose.n_frames) > 1:
            raise AlignError(f"{masks_file} has {len(masks)} frames but {pose_file} has "
                             f"{pose.n_frames}: not from the same video")  # fmt: skip
        size = mask_info.get("frame_size")
        if size is not None and tuple(size) != tuple(pose.frame_size):
            raise AlignError(f"{masks_file} is for {size[0]}x{size[1]} frames but {pose_file} "
                             f"for {pose.frame_size[0]}x{pose.frame_size[1]}")  # fmt: skip
        try:
            transform = estimate_transform(pose, cfg)
        except AlignError as err:
            reason = f"{pose_file}: {err}"

    if transform is None:
        if pose.failure:  # no frames to carry: the aligned pose is the same failure record
            nan_pose = PoseData.failed(reason, pose.backend)
        else:
            nan_pose = PoseData(
                keypoints=np.full_like(pose.keypoints, np.nan),
                fps=pose.fps,
                frame_size=(s, s),
                backend=pose.backend,
                backend_version=pose.backend_version,
            )
            nan_pose.keypoints[..., 2] = 0.0
        qc.update(status="failed", reason=reason, n_clip_frames=0, transform=None, matrix=None,
                  notes=[])  # fmt: skip
        _write_clip(out_clip, np.zeros((0, s, s, 3), np.uint8), np.zeros(0, np.int64), cfg.fps,
                    np.full((2, 3), np.nan), "failed", reason)  # fmt: skip
        save_pose(nan_pose, out_pose)
        _write_png(out_preview, _failure_image(reason))
        write_json(qc, out_json)
        log.warning("%s: alignment failed: %s", vid, reason)
        return qc

    # The preview's source frame: a frame with the axis detected, near the middle.
    valid = np.flatnonzero(axis_frames(pose, cfg.min_confidence)["valid"][: len(masks)])
    keep = int(valid[len(valid) // 2]) if valid.size else 0
    t0 = time.perf_counter()
    try:
        frames, index, source, aligner = _align_stream(video, masks, pose, transform, cfg, keep)
    except VideoError as err:
        raise AlignError(str(err)) from err
    elapsed = time.perf_counter() - t0
    matrix = aligner.matrix

    picks = np.zeros(0, dtype=int)  # clip frames shown: evenly spread, ends excluded
    if len(index) and cfg.preview_frames:
        spots = np.linspace(0, len(index) - 1, cfg.preview_frames + 2)[1:-1]
        picks = np.unique(spots.round().astype(int))
    if source is None:  # keep < n, so the stream reached it; kept for type checkers
        raise AlignError(f"{video}: frame {keep} was not decoded")
    src_panel = _source_panel(source, keep, aligner, transform)
    labels = [f"masked source t={keep / pose.fps:.1f}s"] + [
        f"aligned t={index[k] / pose.fps:.1f}s" for k in picks
    ]
    preview, layout = _montage(src_panel, [frames[k] for k in picks], labels)
    layout["source_frame"] = keep
    layout["aligned_clip_frames"] = [int(k) for k in picks]
    layout["source_scale"] = src_panel.shape[0] / source.shape[0]

    aligned_pose = aligner.aligned
    ax = axis_frames(pose, cfg.min_confidence)
    notes = []
    if transform.angle_mad_deg > 20:  # the infant turned: one transform fits few frames
        notes.append(f"body axis angle varies (MAD {transform.angle_mad_deg:.0f} deg)")
    if transform.length_rel_mad > 0.2:
        notes.append(f"body axis length varies (relative MAD {transform.length_rel_mad:.2f})")
    qc.update(
        n_clip_frames=int(len(index)),
        transform=transform.to_dict(),
        matrix=matrix.tolist(),
        valid_fraction=round(float(ax["valid"].mean()), 4),
        face_blur_fallback_frames=int(aligner.fallback[index].sum()) if cfg.blur_faces else 0,
        preview_layout=layout,
        notes=notes,
    )
    _write_clip(out_clip, frames, index, cfg.fps, matrix, "ok", "")
    save_pose(aligned_pose, out_pose)
    _write_png(out_preview, preview)
    write_json(qc, out_json)
    log.info("%s: aligned %d frames in %.1f s (angle %.1f deg, axis %.1f px)", vid, len(index),
             elapsed, transform.axis_angle_deg, transform.axis_len_px)  # fmt: skip
    return qc
