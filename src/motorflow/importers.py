"""Import third-party keypoint files into :class:`motorflow.poseio.PoseData`.

:func:`load_keypoints` dispatches on the path:

* a directory: OpenPose per-frame JSON (``*_keypoints.json``, BODY_25 or the COCO-18 model);
* a ``.json`` file: one OpenPose frame, AlphaPose / COCO result list, COCO ``annotations``
  dict, or mmpose predictions (inferencer list or demo ``instance_info`` dict); the variant
  is detected from the document's keys;
* a ``.csv`` file: one row per frame, ``<Joint>_x, <Joint>_y, <Joint>_conf`` columns; or a
  Kinect v2 skeleton export, ``<Joint>_x, _y`` (2D) or ``_x, _y, _z`` (3D camera space) with
  no confidence columns (SDK names ShoulderLeft/LShoulder ..., FootLeft/LFoot = the toe;
  confidence 1 where the coordinates are finite; 3D projected onto the 512 x 424 depth image,
  a 2D y axis pointing up flipped); or
  MediaPipe Pose landmarks as MediaPipe users write them: with or without a header, up to two
  leading columns (a timestamp in µs, ms or s, a 0/1 presence flag, or a frame number), then
  33 landmarks of x, y, z (99 columns), + visibility (132) or + visibility, presence (165);
  a header may name the landmark columns (``x0``, ``nose_x``, ``landmark_0_visibility``) in
  any order, the timestamp's unit (``timestamp_us``, ``time_ms``, ``time (s)``) and constant
  ``width``/``height`` columns; ``# width: 720 height: 1080`` comment lines give the size too;
* a ``.json`` file of MediaPipe Tasks PoseLandmarker results: per frame ``pose_landmarks``
  (a list of poses, each 33 ``{x, y, z, visibility, presence}``), optional ``timestamp_ms``;
* a ``.pkl`` / ``.pickle`` mmaction2 / pyskl skeleton-annotation file (what
  ``motorflow export`` writes); ``cohort.pkl#clip07`` picks the annotation whose
  ``frame_dir`` is ``clip07`` (else the ``recording`` argument, the sheet's video_id, when
  the pickle holds several).  Only numpy arrays and plain containers are unpickled.

MediaPipe specifics: rows are placed on a regular time grid at the sheet's fps or the
recording's (the mean of its regular frame intervals), so dropped frames (the timestamp gaps)
are empty frames and durations and cadence stay right; a timestamp unit not named in a header
is the one whose median interval gives a plausible frame rate (:data:`PLAUSIBLE_FPS`).
Normalised coordinates are multiplied by the frame size (the sheet's ``width``/``height``,
else the file's; an error without either); z is dropped.  Confidence is the visibility where
given, else the presence, else 1; rows with presence flag 0 or all-zero landmarks are empty.

Every source is mapped onto :data:`motorflow.skeleton.JOINT_NAMES`; joints the source lacks
(feet for COCO-17) and points it did not detect are NaN with confidence 0.  A point counts as
missing when x or y is not finite or its confidence is <= 0 (OpenPose writes ``0, 0, 0``).
Confidences are kept as the source wrote them (Detectron's exceed 1).
"""

from __future__ import annotations

import io
import json
import logging
import math
import pickle
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.poseio import PoseData, load_pose
from motorflow.skeleton import INDEX, JOINT_NAMES, N_JOINTS

__all__ = [
    "MEDIAPIPE_LANDMARKS",
    "MEDIAPIPE_NAMES",
    "KeypointImportError",
    "KeypointImportWarning",
    "load_keypoints",
    "split_recording",
]

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0


def _rate(path: Path, *known: float | None) -> tuple[float, tuple[str, ...]]:
    """The first known frame rate (the sheet's, the timestamps', the file's), else the
    default with a note saying it was assumed (a guessed rate scales every temporal
    feature: it must show in QC)."""
    for fps in known:
        if fps:
            return float(fps), ()
    note = (f"no frame rate in the file: {DEFAULT_FPS:g} fps assumed; give the recording's "
            "(sheet column fps, or --fps)")  # fmt: skip
    log.warning("%s: %s", path, note)
    return DEFAULT_FPS, (note,)
BACKEND = "precomputed"


class KeypointImportError(ValueError):
    """A keypoint file that cannot be imported; the message names the file and the reason."""


class KeypointImportWarning(UserWarning):
    """An import that succeeded but whose result needs care (e.g. non-pixel coordinates)."""


# Source layouts, written as the motorflow joint each source index holds (None: not used).
_BODY25 = (
    "nose", None, "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", None,  # 1 Neck, 8 MidHip
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_toe", None, "left_heel", "right_toe", None, "right_heel",  # big toe = toe
)  # fmt: skip
_OPENPOSE_COCO18 = (
    "nose", None, "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
_COCO17 = JOINT_NAMES[:17]
# Halpe (AlphaPose): 17 Head, 18 Neck, 19 Hip, 20/21 big toes, 22/23 small toes, 24/25 heels.
_HALPE26 = _COCO17 + (None, None, None, "left_toe", "right_toe", None, None,
                      "left_heel", "right_heel")  # fmt: skip
# COCO-WholeBody: 17-22 feet (big toe, small toe, heel; left then right), then face and hands.
_WHOLEBODY133 = _COCO17 + ("left_toe", None, "left_heel", "right_toe", None, "right_heel")
# MediaPipe Pose (BlazePose) landmarks in MediaPipe's order, 0 ... 32.
MEDIAPIPE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
    "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
# motorflow joint -> MediaPipe landmark index (toe = foot index, the tip of the foot).  Used by
# the importer and by the mediapipe pose backend (motorflow.pose).
MEDIAPIPE_LANDMARKS: dict[str, int] = {
    name: MEDIAPIPE_NAMES.index("left_foot_index" if name == "left_toe" else
                                "right_foot_index" if name == "right_toe" else name)
    for name in JOINT_NAMES
}  # fmt: skip
_MEDIAPIPE33 = tuple(
    next((j for j, i in MEDIAPIPE_LANDMARKS.items() if i == k), None) for k in range(33)
)
_OPENPOSE_LAYOUTS = {25: ("body25", _BODY25), 18: ("coco18", _OPENPOSE_COCO18)}
_COCO_LAYOUTS = {
    17: ("coco17", _COCO17),
    26: ("halpe26", _HALPE26),
    133: ("wholebody133", _WHOLEBODY133),
    136: ("halpe136", _HALPE26),  # Halpe-136 starts with the 26 body points
}


def _layout_index(layout: Sequence[str | None]) -> np.ndarray:
    """(V,) source index of each motorflow joint, -1 where the source lacks it."""
    idx = np.full(N_JOINTS, -1, dtype=np.int64)
    for src, name in enumerate(layout):
        if name is not None:
            idx[INDEX[name]] = src
    return idx


def load_keypoints(
    path: str | Path,
    *,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    recording: str | None = None,
) -> PoseData:
    """Read a third-party keypoint file or OpenPose folder as a motorflow pose.

    ``fps`` overrides the source; otherwise a CSV's ``time`` column (1 / median step), else its
    ``fps`` column, else 30.  ``frame_size`` (width, height) overrides the source; otherwise
    COCO ``images`` or CSV ``width``/``height`` columns, else (OpenPose, AlphaPose, mmpose
    carry none) the ceiling of the largest x and y seen, a lower bound on the true frame.
    MediaPipe's normalised landmarks need the true size (the sheet's ``width``/``height``, or
    the file's): without it the import fails.  ``recording`` chooses the annotation
    (``frame_dir``) of an mmaction2/pyskl pickle holding several, unless the path names one
    as ``file.pkl#frame_dir``.
    Raises :class:`KeypointImportError` naming the file and the reason.
    """
    path = Path(path)
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise KeypointImportError(f"{path}: fps must be a positive number, got {fps!r}")
    if frame_size is not None:
        if len(frame_size) != 2 or min(frame_size) <= 0:
            raise KeypointImportError(
                f"{path}: frame_size must be (width, height) > 0, got {frame_size!r}"
            )
        frame_size = (int(frame_size[0]), int(frame_size[1]))
    path, named = split_recording(path)
    if not path.exists():
        raise KeypointImportError(f"{path}: no such file or directory")
    try:
        if path.is_dir():
            return _load_openpose_dir(path, fps, frame_size)
        suffix = path.suffix.lower()
        if suffix == ".json":
            return _load_json(path, fps, frame_size)
        if suffix == ".csv":
            return _load_csv(path, fps, frame_size)
        if suffix in _PICKLE_SUFFIXES:
            return _load_pickle(path, fps, frame_size, named, recording)
    except KeypointImportError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        # Structural surprises deep in a parser still have to name the file.
        raise KeypointImportError(
            f"{path}: unexpected content ({type(err).__name__}: {err})"
        ) from err
    raise KeypointImportError(
        f"{path}: unsupported keypoint file (expected an OpenPose folder, .json, .csv or an "
        "mmaction2/pyskl skeleton .pkl)"
    )


def split_recording(path: str | Path) -> tuple[Path, str | None]:
    """``cohort.pkl#clip07`` -> (``cohort.pkl``, ``"clip07"``); other paths unchanged.

    An existing file whose name holds ``#`` is taken as it is.
    """
    path = Path(path)
    text = str(path)
    if "#" in text and not path.exists():
        base, _, name = text.rpartition("#")
        if base and name and Path(base).suffix.lower() in _PICKLE_SUFFIXES:
            return Path(base), name
    return path, None


# --------------------------------------------------------------------------- JSON helpers


def _read_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise KeypointImportError(f"{path}: malformed JSON ({err})") from err


def _person(values: object, path: Path, width: int = 3) -> np.ndarray:
    """A flat ``x, y, c, ...`` list as (K, 3) float."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0 or flat.size % width:
        raise KeypointImportError(
            f"{path}: keypoint list of length {flat.size} is not a multiple of {width}"
        )
    return flat.reshape(-1, width)


def _stack(frames: Sequence[Sequence[np.ndarray]], n_src: int) -> np.ndarray:
    """Per-frame lists of (K, 3) people as a NaN-padded (T, P, K, 3) array, P >= 1."""
    n_people = max((len(people) for people in frames), default=0)
    out = np.full((len(frames), max(n_people, 1), n_src, 3), np.nan)
    for t, people in enumerate(frames):
        for p, person in enumerate(people):
            out[t, p] = person
    return out


def _to_motorflow(src: np.ndarray, layout: Sequence[str | None]) -> np.ndarray:
    """(..., K, 3) source points as (..., V, 3) motorflow joints, missing -> NaN, conf 0."""
    idx = _layout_index(layout)
    out = np.full(src.shape[:-2] + (N_JOINTS, 3), np.nan)
    have = idx >= 0
    out[..., have, :] = src[..., idx[have], :]
    conf = np.nan_to_num(out[..., 2], nan=0.0)
    missing = ~np.isfinite(out[..., :2]).all(axis=-1) | (conf <= 0)
    out[..., :2][missing] = np.nan
    out[..., 2] = np.where(missing, 0.0, conf)
    return out


def _frame_number(image_id: object) -> int | None:
    """Frame index from an image id: an int, or the last number in a name like ``12.jpg``."""
    if isinstance(image_id, bool):
        return None
    if isinstance(image_id, int):
        return image_id
    if isinstance(image_id, str):
        digits = re.findall(r"\d+", Path(image_id).stem)
        return int(digits[-1]) if digits else None
    return None


def _frames_from_ids(ids: Sequence[object]) -> tuple[np.ndarray, int]:
    """Frame index per detection: the id's number (frame 0 = number 0, so frames before the
    first detection stay empty), or order of first appearance when ids are not numbered."""
    numbers = [_frame_number(i) for i in ids]
    if all(n is not None and n >= 0 for n in numbers):
        frame = np.asarray(numbers, dtype=np.int64)
    else:
        order = {key: k for k, key in enumerate(dict.fromkeys(map(str, ids)))}
        frame = np.asarray([order[str(i)] for i in ids], dtype=np.int64)
    return frame, int(frame.max()) + 1 if frame.size else 0


def _group(frame: np.ndarray, n_frames: int, people: Sequence[np.ndarray]) -> list[list]:
    frames: list[list[np.ndarray]] = [[] for _ in range(n_frames)]
    for t, person in zip(frame, people, strict=True):
        frames[t].append(person)
    return frames


def _layout_for(people: Sequence[np.ndarray], layouts: dict, path: Path, what: str):
    sizes = {len(p) for p in people}
    if len(sizes) > 1:
        raise KeypointImportError(f"{path}: people have different keypoint counts {sorted(sizes)}")
    (n_src,) = sizes
    if n_src not in layouts:
        known = ", ".join(f"{k} ({name})" for k, (name, _) in layouts.items())
        raise KeypointImportError(
            f"{path}: {n_src} keypoints per person is not a known {what} layout ({known})"
        )
    return n_src, *layouts[n_src]


def _build(
    path: Path,
    frames: Sequence[Sequence[np.ndarray]],
    layouts: dict,
    what: str,
    tool: str,
    fps: float | None,
    frame_size: tuple[int, int] | None,
    size_hint: tuple[int, int] | None = None,
    fmt: str = "json",
) -> PoseData:
    """PoseData from per-frame people in a source layout chosen by keypoint count."""
    if not frames:
        raise KeypointImportError(f"{path}: zero frames")
    people = [p for f in frames for p in f]
    if not people:
        raise KeypointImportError(f"{path}: no person detected in any of {len(frames)} frames")
    n_src, layout_name, layout = _layout_for(people, layouts, path, what)
    cand = _to_motorflow(_stack(frames, n_src), layout)
    n_people = max(len(f) for f in frames)
    # Provisional choice; the cleaning stage picks the assessed person from `candidates`.
    score = cand[..., 2].mean(axis=-1)
    best = np.argmax(score, axis=1)
    keypoints = cand[np.arange(len(frames)), best]
    rate, notes = _rate(path, fps)
    return PoseData(
        keypoints=keypoints,
        fps=rate,
        notes=notes,
        frame_size=_frame_size(path, cand[..., :2], frame_size, size_hint),
        backend=BACKEND,
        backend_version=f"{tool}-{layout_name}-{fmt}",
        candidates=cand if n_people > 1 else None,
    )


def _frame_size(
    path: Path,
    xy: np.ndarray,
    given: tuple[int, int] | None,
    hint: tuple[int, int] | None,
) -> tuple[int, int]:
    if given is not None:
        return given
    if hint is not None:
        return hint
    x, y = xy[..., 0], xy[..., 1]
    if not np.isfinite(x).any():
        raise KeypointImportError(f"{path}: no finite keypoint to estimate the frame size from")
    if np.nanmin(x) < 0 or np.nanmin(y) < 0:
        warnings.warn(
            f"{path}: negative coordinates; these look like normalised or centred values, "
            "not pixels, so the estimated frame size is meaningless",
            KeypointImportWarning,
            stacklevel=4,
        )
    # The true frame is at least as large as the furthest point seen.
    return max(1, math.ceil(np.nanmax(x))), max(1, math.ceil(np.nanmax(y)))


# --------------------------------------------------------------------------- OpenPose


def _openpose_people(doc: object, path: Path) -> list[np.ndarray]:
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise KeypointImportError(f"{path}: not an OpenPose frame (no 'people' list)")
    people = []
    for person in doc["people"]:
        # Older OpenPose versions wrote `pose_keypoints`; an empty list means no body output.
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        if flat:
            people.append(_person(flat, path))
    return people


def _load_openpose_dir(path: Path, fps, frame_size) -> PoseData:
    files = sorted(path.glob("*_keypoints.json"))
    if not files:
        entries = list(path.iterdir())
        if not entries:
            raise KeypointImportError(f"{path}: folder is empty")
        raise KeypointImportError(
            f"{path}: no OpenPose *_keypoints.json files in folder ({len(entries)} other entries)"
        )
    numbers = [re.findall(r"\d+", f.name[: -len("_keypoints.json")]) for f in files]
    if all(numbers):
        # Sort numerically (frame_2 before frame_10); missing numbers become empty frames.
        nums = np.asarray([int(n[-1]) for n in numbers])
        values, counts = np.unique(nums, return_counts=True)
        if (counts > 1).any():
            dup = values[counts > 1][0]
            raise KeypointImportError(
                f"{path}: frame number {dup} appears in more than one *_keypoints.json file "
                "(several videos in one folder?)"
            )
        frame = nums - nums.min()
    else:
        frame = np.arange(len(files))
    frames: list[list[np.ndarray]] = [[] for _ in range(int(frame.max()) + 1)]
    for t, f in zip(frame, files, strict=True):
        frames[t] = _openpose_people(_read_json(f), f)
    return _build(path, frames, _OPENPOSE_LAYOUTS, "OpenPose", "openpose", fps, frame_size)


# --------------------------------------------------------------------------- COCO family


def _load_json(path: Path, fps, frame_size) -> PoseData:
    doc = _read_json(path)
    if _is_mediapipe_json(doc):
        return _load_mediapipe_json(doc, path, fps, frame_size)
    build = {"path": path, "fps": fps, "frame_size": frame_size}
    if isinstance(doc, dict):
        if "people" in doc:
            frames = [_openpose_people(doc, path)]
            return _build(
                frames=frames, layouts=_OPENPOSE_LAYOUTS, what="OpenPose", tool="openpose", **build
            )
        if "annotations" in doc:
            return _coco_annotations(doc, **build)
        if "instance_info" in doc:
            return _mmpose(doc["instance_info"], **build)
    elif isinstance(doc, list):
        if not doc:
            raise KeypointImportError(f"{path}: zero frames (empty JSON list)")
        first = doc[0]
        if isinstance(first, dict) and "image_id" in first and "keypoints" in first:
            return _coco_results(doc, **build)
        if isinstance(first, dict) and ("instances" in first or "keypoint_scores" in first):
            return _mmpose(doc, **build)
    raise KeypointImportError(
        f"{path}: unrecognised keypoint JSON; expected an OpenPose frame ('people'), an "
        "AlphaPose/COCO result list ('image_id' + 'keypoints'), a COCO dict ('annotations'), "
        "mmpose predictions ('instance_info', or a list of 'frame_id' + 'instances') or "
        "MediaPipe PoseLandmarker results ('pose_landmarks')"
    )


def _coco_results(doc: list, path: Path, fps, frame_size) -> PoseData:
    """AlphaPose / COCO result list: one dict per detection, ``image_id`` names the frame.

    AlphaPose omits frames without detections, so ids are frame numbers (``"12.jpg"`` is frame
    12); frames after the last detection cannot be known.
    """
    people = [_person(det["keypoints"], path) for det in doc]
    frame, n_frames = _frames_from_ids([det["image_id"] for det in doc])
    frames = _group(frame, n_frames, people)
    return _build(path, frames, _COCO_LAYOUTS, "COCO", "alphapose", fps, frame_size)


def _coco_annotations(doc: dict, path: Path, fps, frame_size) -> PoseData:
    """COCO dict: ``annotations`` (image_id, keypoints) and optional ``images`` (frame order,
    width, height).  Ground-truth visibility flags (0/1/2, no ``score``) become conf 0/1."""
    anns = doc["annotations"]
    people = [_person(a["keypoints"], path) for a in anns]
    flags = bool(anns) and all("score" not in a for a in anns)
    if flags and all(np.isin(p[:, 2], (0, 1, 2)).all() for p in people):
        for p in people:
            p[:, 2] = p[:, 2] > 0
    images = doc.get("images") or []
    size_hint = None
    if images:
        ordered = sorted(images, key=lambda im: im["id"])
        slot = {im["id"]: t for t, im in enumerate(ordered)}
        unknown = {a["image_id"] for a in anns} - slot.keys()
        if unknown:
            raise KeypointImportError(
                f"{path}: annotations refer to image ids missing from 'images': "
                f"{sorted(map(str, unknown))[:5]}"
            )
        frame = np.asarray([slot[a["image_id"]] for a in anns], dtype=np.int64)
        n_frames = len(ordered)
        sizes = {(im.get("width"), im.get("height")) for im in images}
        if len(sizes) == 1:
            w, h = sizes.pop()
            if isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0:
                size_hint = (int(w), int(h))
    else:
        frame, n_frames = _frames_from_ids([a["image_id"] for a in anns])
    frames = _group(frame, n_frames, people)
    return _build(path, frames, _COCO_LAYOUTS, "COCO", "coco", fps, frame_size, size_hint)


def _mmpose_person(inst: dict, path: Path) -> np.ndarray:
    kp = np.asarray(inst["keypoints"], dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2:
        raise KeypointImportError(
            f"{path}: mmpose keypoints must be [[x, y], ...], got shape {kp.shape} "
            "(3D predictions are not supported)"
        )
    scores = np.asarray(inst["keypoint_scores"], dtype=np.float64).reshape(-1, 1)
    return np.hstack([kp, scores])


def _mmpose(info: list, path: Path, fps, frame_size) -> PoseData:
    """mmpose predictions: per-frame ``{frame_id, instances}`` (the inferencer numbers frames
    from 0, the demo script from 1: frames are counted from the smallest id) or, for a single
    image, a bare list of instances."""
    if not isinstance(info, list):
        raise KeypointImportError(f"{path}: mmpose 'instance_info' is not a list")
    if info and all(isinstance(i, dict) and "frame_id" in i for i in info):
        ids = np.asarray([int(i["frame_id"]) for i in info])
        frames: list[list[np.ndarray]] = [[] for _ in range(int(ids.max() - ids.min()) + 1)]
        for fid, entry in zip(ids, info, strict=True):
            frames[fid - ids.min()] = [_mmpose_person(p, path) for p in entry["instances"]]
    else:
        frames = [[_mmpose_person(p, path) for p in info]] if info else []
    return _build(path, frames, _COCO_LAYOUTS, "COCO", "mmpose", fps, frame_size)


# --------------------------------------------------------------------------- CSV

_COLUMN = re.compile(r"^(?P<joint>.+)_(?P<coord>x|y|z|conf|confidence|score|likelihood)$", re.I)
_PARTS = {
    "shoulder": ("shoulder",),
    "elbow": ("elbow",),
    "wrist": ("wrist",),
    "hip": ("hip",),
    "knee": ("knee",),
    "ankle": ("ankle",),
    "eye": ("eye",),
    "ear": ("ear",),
    "heel": ("heel",),
    "toe": ("toe", "bigtoe", "footindex"),  # OpenPose big toe, MediaPipe foot index
}
# Kinect v2 skeletons (SDK names ShoulderLeft, KneeRight, ...; or LShoulder, RKnee as some
# exports write them) share the limb joints above.  Their foot joint (FootLeft / LFoot) lies
# at the base of the toes, so it is the toe; Head, Neck/c7, SpineShoulder, SpineMid/Spine,
# SpineBase/Sacr, Hand, HandTip and Thumb have no motorflow counterpart (Head is not the
# nose: nose, eyes and ears stay missing) and are ignored.
_KINECT_PARTS = {"toe": ("foot",)}
# Kinect v2 depth camera (512 x 424 px, 70.6 deg horizontal field of view, ~365 px focal
# length): the image that 3D camera-space skeletons are projected onto.
KINECT_DEPTH_SIZE = (512, 424)
KINECT_DEPTH_FOCAL_PX = 365.0


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _aliases(parts: dict[str, tuple[str, ...]] = _PARTS) -> dict[str, str]:
    """Normalised column-joint spellings -> motorflow joint (LShoulder, left_shoulder,
    ShoulderLeft, ...)."""
    table = {"nose": "nose"}
    for side in ("left", "right"):
        for part, spellings in parts.items():
            for s in spellings:
                for key in (side + s, side[0] + s, s + side):
                    table[key] = f"{side}_{part}"
    return table


_ALIASES = _aliases()
# Confidence-less per-joint CSVs are skeleton-tracker (Kinect) exports: their foot is a toe.
_KINECT_ALIASES = _ALIASES | _aliases(_KINECT_PARTS)


def _load_csv(path: Path, fps, frame_size) -> PoseData:
    """A MediaPipe landmark CSV (no header, or landmark-named columns) or a per-joint CSV."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise KeypointImportError(f"{path}: unreadable CSV ({err})") from err
    lines = [ln for ln in text.splitlines() if ln.strip()]
    rows = [ln for ln in lines if not ln.lstrip().startswith("#")]
    if not rows:
        raise KeypointImportError(f"{path}: empty file (no rows)")
    sep = max(_SEPARATORS, key=rows[0].count)
    cells = [c.strip().strip('"') for c in rows[0].split(sep)]
    if all(_is_number(c) or not c for c in cells):
        return _load_mediapipe_csv(path, rows, sep, None, lines, fps, frame_size)
    if _mediapipe_header(cells) is not None:
        return _load_mediapipe_csv(path, rows[1:], sep, cells, lines, fps, frame_size)
    return _load_joint_csv(path, fps, frame_size)


def _load_joint_csv(path: Path, fps, frame_size) -> PoseData:
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise KeypointImportError(f"{path}: unreadable CSV ({err})") from err
    coords: dict[str, dict[str, str]] = {}
    for col in map(str, df.columns):
        m = _COLUMN.match(col)
        if m:
            coord = m["coord"].lower()
            coord = coord if coord in ("x", "y", "z") else "c"
            coords.setdefault(m["joint"], {})[coord] = col
    # Unknown joints (Neck, MidHip, LSmallToe, Head, ...) and other columns are ignored.
    scores = any("c" in cols for cols in coords.values())
    aliases = _ALIASES if scores else _KINECT_ALIASES
    known: dict[str, dict[str, str]] = {}
    for joint, cols in coords.items():
        ours = aliases.get(_norm(joint))
        if ours is None or not {"x", "y"} <= cols.keys():
            continue
        if ours in known:
            raise KeypointImportError(
                f"{path}: columns for '{joint}' and another joint both map to {ours}"
            )
        known[ours] = cols
    if not known:
        shown = ", ".join(map(str, df.columns[:15])) + (", ..." if df.shape[1] > 15 else "")
        raise KeypointImportError(
            f"{path}: unknown CSV layout; expected <Joint>_x, <Joint>_y, <Joint>_conf columns "
            "with joints named like Nose/nose, LShoulder/left_shoulder, RKnee/right_knee, "
            "LBigToe/left_toe, LHeel/left_heel (a Kinect skeleton: <Joint>_x, _y[, _z] with "
            "Kinect v2 names, no _conf), or MediaPipe's 33 landmarks (x, y, z[, "
            f"visibility[, presence]] each, after a timestamp); found columns: {shown}"
        )
    if len(df) == 0:
        raise KeypointImportError(f"{path}: zero frames (no data rows)")
    if not scores:
        return _load_skeleton_csv(path, df, known, fps, frame_size)
    scored = {j: c for j, c in known.items() if "c" in c}

    data = np.full((len(df), N_JOINTS, 3), np.nan)
    for joint, cols in scored.items():
        block = df[[cols["x"], cols["y"], cols["c"]]].apply(pd.to_numeric, errors="coerce")
        data[:, INDEX[joint]] = block.to_numpy(dtype=np.float64)
    xy_ok = np.isfinite(data[..., :2]).all(axis=-1)
    # A point with coordinates but no confidence was filled in by the source (e.g. the
    # "interpolated" trajectories): keep it, conf 0, flagged as imputed.
    filled = xy_ok & np.isnan(data[..., 2])
    missing = ~xy_ok | (data[..., 2] <= 0)
    data[..., :2][missing] = np.nan
    data[..., 2] = np.where(missing | filled, 0.0, data[..., 2])

    rows, time_fps = _time_rows(df, path)
    keypoints = np.full((int(rows[-1]) + 1, N_JOINTS, 3), np.nan)
    keypoints[..., 2] = 0.0
    keypoints[rows] = data
    imputed = None
    if filled.any():
        imputed = np.zeros(keypoints.shape[:2], dtype=bool)
        imputed[rows] = filled
    rate, notes = _rate(path, fps, time_fps, _constant(df, "fps"))
    return PoseData(
        keypoints=keypoints,
        fps=rate,
        notes=notes,
        frame_size=_frame_size(path, keypoints[..., :2], frame_size, _csv_size(df)),
        backend=BACKEND,
        backend_version="keypoints-csv",
        imputed=imputed,
    )


def _load_skeleton_csv(
    path: Path, df: pd.DataFrame, known: dict[str, dict[str, str]], fps, frame_size
) -> PoseData:
    """A Kinect-style skeleton CSV: ``<Joint>_x, _y`` (2D) or ``_x, _y, _z`` (3D camera
    space), no confidences; a tracked joint has confidence 1 where its coordinates are finite.

    3D (every mapped joint has ``_z``): Kinect v2 camera space, metres, y up, z the distance
    from the sensor.  The points are projected through a pinhole onto the Kinect v2 depth
    image (:data:`KINECT_DEPTH_SIZE`, :data:`KINECT_DEPTH_FOCAL_PX`), so image y points down
    and a walker approaching the sensor grows in the image as in a video (dropping z instead
    would keep the body's size constant and hide the walk's depth progression); points with
    z <= 0 are missing.  2D: the x/y plane as the source wrote it; if its y points up (the
    shoulders below the ankles in image terms, as in camera space), it is flipped so that
    image y points down.
    """
    n = len(df)
    data = np.full((n, N_JOINTS, 3), np.nan)
    three_d = all("z" in cols for cols in known.values())
    flipped = False
    for joint, cols in known.items():
        names = [cols["x"], cols["y"]] + ([cols["z"]] if three_d else [])
        block = df[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        if three_d:
            x, y, z = block.T
            with np.errstate(all="ignore"):
                ok = z > 0
                u = KINECT_DEPTH_SIZE[0] / 2 + KINECT_DEPTH_FOCAL_PX * x / z
                v = KINECT_DEPTH_SIZE[1] / 2 - KINECT_DEPTH_FOCAL_PX * y / z
            block = np.stack([np.where(ok, u, np.nan), np.where(ok, v, np.nan)], axis=1)
        data[:, INDEX[joint], :2] = block[:, :2]
    if not three_d and _y_points_up(data):
        data[..., 1] = -data[..., 1]
        flipped = True
    xy_ok = np.isfinite(data[..., :2]).all(axis=-1)
    data[..., :2][~xy_ok] = np.nan
    data[..., 2] = np.where(xy_ok, 1.0, 0.0)
    if not xy_ok.any():
        raise KeypointImportError(f"{path}: no finite joint coordinates in any row")

    rows, time_fps = _time_rows(df, path)
    keypoints = np.full((int(rows[-1]) + 1, N_JOINTS, 3), np.nan)
    keypoints[..., 2] = 0.0
    keypoints[rows] = data
    if three_d:
        size = frame_size or KINECT_DEPTH_SIZE
        version = "kinect-csv-3d-depth-projection"
    else:
        # Kinect 2D exports are often centred/normalised: _frame_size warns when they are
        # not pixels.
        size = _frame_size(path, keypoints[..., :2], frame_size, _csv_size(df))
        version = "kinect-csv-2d" + ("-yflip" if flipped else "")
    log.info("%s: Kinect skeleton CSV (%s), %d joints mapped", path, version, len(known))
    rate, notes = _rate(path, fps, time_fps, _constant(df, "fps"))
    return PoseData(
        keypoints=keypoints,
        fps=rate,
        notes=notes,
        frame_size=size,
        backend=BACKEND,
        backend_version=version,
    )


def _y_points_up(data: np.ndarray) -> bool:
    """Whether a skeleton's y axis points up: its shoulders lie below (larger y than) its
    lowest leg joints in most frames.  Image y points down (the feet have the larger y)."""
    rows = [INDEX[f"{s}_shoulder"] for s in ("left", "right")]
    for part in ("ankle", "knee", "hip"):
        legs = [INDEX[f"{s}_{part}"] for s in ("left", "right")]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            diff = np.nanmean(data[:, legs, 1], axis=1) - np.nanmean(data[:, rows, 1], axis=1)
        diff = diff[np.isfinite(diff)]
        if len(diff):
            return bool(np.median(diff) < 0)
    return False


def _time_rows(df: pd.DataFrame, path: Path) -> tuple[np.ndarray, float | None]:
    """Frame index of each row and the fps implied by a ``time`` column (seconds).

    Rows sit at round((t - t0) / median dt), so dropped frames become NaN frames and frame 0
    is the first row (t0 is often not 0: clips cut from a longer recording).
    """
    col = next((c for c in df.columns if str(c).strip().lower() == "time"), None)
    n = len(df)
    if col is None or n < 2:
        return np.arange(n), None
    t = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    dt = np.diff(t)
    if not np.isfinite(t).all() or (dt <= 0).any():
        raise KeypointImportError(f"{path}: column '{col}' is not finite and strictly increasing")
    step = float(np.median(dt))
    rows = np.rint((t - t[0]) / step).astype(np.int64)
    if (np.diff(rows) <= 0).any():
        rows = np.arange(n)  # jittery timestamps: one row per frame
    return rows, 1.0 / step


def _constant(df: pd.DataFrame, col: str) -> float | None:
    """A label column repeated on every row (``fps``, ``width``), if positive and constant."""
    if col not in df.columns:
        return None
    values = pd.to_numeric(df[col], errors="coerce").dropna().unique()
    return float(values[0]) if len(values) == 1 and values[0] > 0 else None


def _csv_size(df: pd.DataFrame) -> tuple[int, int] | None:
    w, h = _constant(df, "width"), _constant(df, "height")
    return (int(w), int(h)) if w and h else None


# --------------------------------------------------------------------------- MediaPipe

_SEPARATORS = (",", "\t", ";")
_MEDIAPIPE_LAYOUTS = {33: ("mediapipe33", _MEDIAPIPE33)}
_COORDS = ("x", "y", "z", "visibility", "presence")
_COORD_TOKENS = {
    "x": 0, "y": 1, "z": 2, "v": 3, "vis": 3, "visibility": 3, "p": 4, "pres": 4, "presence": 4,
}  # fmt: skip
_FILLER_TOKENS = {"landmark", "landmarks", "lm", "pose", "kp", "keypoint", "point", "pt", "joint"}
_MP_INDEX = {name.replace("_", ""): i for i, name in enumerate(MEDIAPIPE_NAMES)}
_TIME_TOKENS = {"time", "timestamp", "timestamps", "ts", "t", "stamp"}
_FLAG_TOKENS = {"presence", "present", "detected", "detection", "flag", "valid", "found"}
_FRAME_TOKENS = {"frame", "frames", "index", "idx", "frameid", "frameindex", "fid"}
# Seconds per unit of a timestamp, and the spellings of each unit in a column name.
_UNITS: dict[str, float] = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}
_UNIT_TOKENS = {
    "us": "µs", "usec": "µs", "micro": "µs", "micros": "µs", "microseconds": "µs",
    "ms": "ms", "msec": "ms", "millis": "ms", "milliseconds": "ms",
    "s": "s", "sec": "s", "secs": "s", "seconds": "s",
}  # fmt: skip
#: Frame rates a video recording can plausibly have; a timestamp unit is inferred as the one
#: (µs, ms or s) whose median frame interval falls in this range.
PLAUSIBLE_FPS = (4.0, 500.0)
# Normalised coordinates stay near [0, 1] (a little outside for points off the frame); larger
# values are pixels.
_PIXEL_THRESHOLD = 4.0


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _tokens(name: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", name.lower().replace("µ", "u"))


def _landmark_column(name: str) -> tuple[int, int] | None:
    """(landmark index, coordinate index into :data:`_COORDS`) of a column like ``x0``,
    ``landmark_0_x``, ``nose_x``, ``LEFT_FOOT_INDEX_visibility``; None for other columns."""
    tokens = _tokens(name)
    coords = [t for t in tokens if t in _COORD_TOKENS]
    if len(coords) != 1:
        return None
    rest = [t for t in tokens if t not in _COORD_TOKENS and t not in _FILLER_TOKENS]
    if len(rest) == 1 and rest[0].isdigit():
        k = int(rest[0])
        return (k, _COORD_TOKENS[coords[0]]) if k < 33 else None
    k = _MP_INDEX.get("".join(rest))
    return None if k is None else (k, _COORD_TOKENS[coords[0]])


def _meta_kind(name: str) -> str | None:
    tokens = set(_tokens(name))
    for kind in ("width", "height"):
        if kind in tokens and tokens <= {kind, "image", "img", "frame", "px"}:
            return kind
    if tokens & _TIME_TOKENS:
        return "time"
    if tokens & _FLAG_TOKENS:
        return "flag"
    if tokens & _FRAME_TOKENS:
        return "frame"
    return None


def _unit_hint(name: str) -> str | None:
    units = {_UNIT_TOKENS[t] for t in _tokens(name) if t in _UNIT_TOKENS}
    return units.pop() if len(units) == 1 else None


def _mediapipe_header(header: Sequence[str]) -> dict | None:
    """Column plan of a MediaPipe landmark CSV header, or None if it is not one.

    The plan maps ``coords`` to a (33, 5) array of column indices (x, y, z, visibility,
    presence; -1 absent) and ``time``/``flag``/``frame``/``width``/``height`` to a column index.
    """
    if any((m := _COLUMN.match(h)) and m["coord"].lower() not in ("x", "y", "z") for h in header):
        return None  # <Joint>_conf columns: the per-joint CSV layout
    parsed = [_landmark_column(h) for h in header]
    cols = np.full((33, len(_COORDS)), -1, dtype=np.int64)
    for c, lm in enumerate(parsed):
        if lm is not None:
            if cols[lm] >= 0:
                return None
            cols[lm] = c
    meta = [c for c, lm in enumerate(parsed) if lm is None]
    if not (cols[:, :2] >= 0).all():
        # Not named by landmark: MediaPipe's order after the named leading columns.
        kinds = [_meta_kind(header[c]) for c in range(len(header))]
        n_meta = next((c for c, k in enumerate(kinds) if k is None), len(header))
        cols = _positional(len(header) - n_meta, n_meta)
        if cols is None:
            return None
        meta = list(range(n_meta))
    plan: dict = {"coords": cols}
    for c in meta:
        kind = _meta_kind(header[c])
        if kind is not None and kind not in plan:
            plan[kind] = c
    return plan


def _positional(n_coord_cols: int, start: int) -> np.ndarray | None:
    """(33, 5) column indices of 33 x (x, y, z[, visibility[, presence]]) from ``start``."""
    for per in (3, 4, 5):
        if n_coord_cols == 33 * per:
            cols = np.full((33, len(_COORDS)), -1, dtype=np.int64)
            cols[:, :per] = start + np.arange(33 * per).reshape(33, per)
            return cols
    return None


def _headerless_plan(table: np.ndarray, path: Path) -> dict:
    """Column plan of a header-less MediaPipe CSV: up to two leading columns (a timestamp, a
    0/1 presence flag, in either order, or a frame number), then the landmarks."""
    n = table.shape[1]
    for lead in (0, 1, 2):
        cols = _positional(n - lead, lead)
        if cols is not None:
            break
    else:
        raise KeypointImportError(
            f"{path}: {n} columns per row is not a MediaPipe landmark layout; expected up to two "
            "leading columns (timestamp, presence flag) and then 33 landmarks of x, y, z "
            "(99 columns), x, y, z, visibility (132) or x, y, z, visibility, presence (165)"
        )
    plan: dict = {"coords": cols}
    others = []
    for c in range(lead):
        v = table[:, c]
        v = v[np.isfinite(v)]
        if v.size and np.isin(v, (0, 1)).all() and not (v.size > 1 and (np.diff(v) > 0).all()):
            plan.setdefault("flag", c)
        else:
            others.append(c)
    counts = [c for c in others if _is_frame_count(table[:, c])]
    if len(others) == 1:
        plan["frame" if counts else "time"] = others[0]
    elif len(others) == 2:
        if len(counts) != 1:
            raise KeypointImportError(
                f"{path}: cannot tell the two leading columns apart (expected a timestamp and "
                "a 0/1 presence flag, or a frame number and a timestamp); add a header naming "
                "them, e.g. timestamp_us,presence,x0,y0,z0,..."
            )
        plan["frame"] = counts[0]
        plan["time"] = next(c for c in others if c != counts[0])
    return plan


def _is_frame_count(v: np.ndarray) -> bool:
    d = np.diff(v)
    return v.size > 1 and bool((v == np.round(v)).all() and (d >= 1).all() and np.median(d) == 1)


def _csv_meta(lines: Sequence[str]) -> dict[str, float]:
    """``# width: 720``, ``# height=1080``, ``# fps 29.97`` comment lines."""
    meta: dict[str, float] = {}
    for ln in lines:
        if ln.lstrip().startswith("#"):
            pat = r"\b(width|height|fps)\b\s*[:=]?\s*([0-9]+(?:\.[0-9]*)?)"
            for key, value in re.findall(pat, ln, re.I):
                meta.setdefault(key.lower(), float(value))
    return meta


def _numeric_table(path: Path, rows: Sequence[str], sep: str, n_cols: int, first_line: int):
    """Data rows as a float (N, C) array; empty cells NaN; text or infinity raises."""
    try:
        df = pd.read_csv(
            io.StringIO("\n".join(rows)), sep=sep, header=None, dtype=str,
            keep_default_na=False, skipinitialspace=True,
        )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KeypointImportError(f"{path}: unreadable CSV ({err})") from err
    if df.shape[1] != n_cols:
        raise KeypointImportError(
            f"{path}: rows have {df.shape[1]} columns, the first line {n_cols}"
        )
    raw = df.to_numpy(dtype=str)
    stripped = np.char.strip(np.char.strip(raw), '"')
    table = np.full(raw.shape, np.nan)
    blank = (stripped == "") | (np.char.lower(stripped) == "nan")
    try:
        table[~blank] = stripped[~blank].astype(np.float64)
    except ValueError:
        for r, c in zip(*np.nonzero(~blank), strict=True):
            if not _is_number(stripped[r, c]):
                raise KeypointImportError(
                    f"{path}: line {first_line + r}, column {c + 1}: {raw[r, c]!r} is not a "
                    "number"
                ) from None
    bad = np.isinf(table)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise KeypointImportError(
            f"{path}: line {first_line + r}, column {c + 1}: non-finite value {raw[r, c]!r}"
        )
    return table


def _load_mediapipe_csv(
    path: Path,
    rows: Sequence[str],
    sep: str,
    header: Sequence[str] | None,
    lines: Sequence[str],
    fps: float | None,
    frame_size: tuple[int, int] | None,
) -> PoseData:
    """MediaPipe Pose landmarks, one row per frame (see :func:`_mediapipe_header`,
    :func:`_headerless_plan`); z is dropped (motorflow poses are 2D)."""
    if not rows:
        raise KeypointImportError(f"{path}: zero frames (a header but no data rows)")
    n_cols = len(header) if header is not None else len(rows[0].split(sep))
    table = _numeric_table(path, rows, sep, n_cols, 2 if header is not None else 1)
    plan = _mediapipe_header(header) if header is not None else _headerless_plan(table, path)
    cols = plan["coords"]
    values = np.where(cols >= 0, table[:, np.maximum(cols, 0)], np.nan)  # (N, 33, 5)
    present = np.ones(len(table), dtype=bool)
    if "flag" in plan:
        present &= table[:, plan["flag"]] > 0
    meta = _csv_meta(lines)
    fps = fps or meta.get("fps")
    time = None
    if "time" in plan:
        c = plan["time"]
        what = f"timestamp column '{header[c]}'" if header is not None else f"column {c + 1}"
        unit = _unit_hint(header[c]) if header is not None else None
        time = _seconds(table[:, c], path, f"{what} (timestamps)", unit, fps)
    elif "frame" in plan:
        frame = table[:, plan["frame"]]
        if not np.isfinite(frame).all() or (np.diff(frame) <= 0).any():
            raise KeypointImportError(f"{path}: the frame numbers are not strictly increasing")
    size_hint = None
    w = _constant_col(table, plan.get("width")) or meta.get("width")
    h = _constant_col(table, plan.get("height")) or meta.get("height")
    if w and h:
        size_hint = (int(w), int(h))
    people = [[v] if ok else [] for v, ok in zip(values, present, strict=True)]
    if time is not None:
        slots, fps = _grid(time, fps, path)
    elif "frame" in plan:
        slots = (table[:, plan["frame"]] - table[0, plan["frame"]]).astype(np.int64)
    else:
        slots = np.arange(len(table))
    return _mediapipe_pose(path, slots, people, fps, frame_size, size_hint, "csv")


def _constant_col(table: np.ndarray, col: int | None) -> float | None:
    if col is None:
        return None
    v = np.unique(table[:, col][np.isfinite(table[:, col])])
    return float(v[0]) if len(v) == 1 and v[0] > 0 else None


def _seconds(
    t: np.ndarray, path: Path, what: str, unit: str | None, fps: float | None
) -> np.ndarray:
    """Timestamps in seconds; the unit (µs, ms, s) from ``unit`` or, failing that, the one
    whose median frame interval gives a plausible frame rate (closest to ``fps`` if given)."""
    if not np.isfinite(t).all():
        raise KeypointImportError(f"{path}: {what} has empty or non-finite timestamps")
    if len(t) < 2:
        return (t - t[:1]) * _UNITS[unit or "s"]
    dt = np.diff(t)
    if (dt <= 0).any():
        r = int(np.argmax(dt <= 0))
        raise KeypointImportError(
            f"{path}: {what} is not strictly increasing (row {r + 2}: {t[r + 1]:g} after "
            f"{t[r]:g})"
        )
    step = float(np.median(dt))
    implied = {u: 1.0 / (step * s) for u, s in _UNITS.items()}
    lo, hi = PLAUSIBLE_FPS
    shown = ", ".join(f"{f:.3g} fps if in {u}" for u, f in implied.items())
    if unit is None:
        if fps is not None:
            unit = min(implied, key=lambda u: abs(math.log(implied[u] / fps)))
            if abs(math.log(implied[unit] / fps)) > math.log(2):
                raise KeypointImportError(
                    f"{path}: cannot infer the unit of {what}: its median step {step:g} gives "
                    f"{shown}, none near the sheet's {fps:g} fps"
                )
        else:
            fits = [u for u, f in implied.items() if lo <= f <= hi]
            if len(fits) != 1:
                raise KeypointImportError(
                    f"{path}: cannot infer the unit of {what}: its median step {step:g} gives "
                    f"{shown}; none is a plausible video frame rate ({lo:g}-{hi:g} fps). Name "
                    "the unit in a header (timestamp_us, timestamp_ms, time_s) or give the "
                    "sheet's fps"
                )
            unit = fits[0]
    elif not lo <= implied[unit] <= hi:
        raise KeypointImportError(
            f"{path}: {what} in {unit} has a median step {step:g}, i.e. {implied[unit]:.3g} fps, "
            f"outside the plausible {lo:g}-{hi:g} fps"
        )
    return (t - t[0]) * _UNITS[unit]


def _grid(t: np.ndarray, fps: float | None, path: Path) -> tuple[np.ndarray, float]:
    """Frame slot of each timestamp (seconds from the first) on a regular grid, and its fps.

    The grid's rate is ``fps`` (the sheet's) or the recording's: the mean of the regular
    intervals (those within 25 % of the median; longer ones are dropped frames).  Gaps become
    empty slots, so durations and cadence stay right.
    """
    if len(t) < 2:
        return np.zeros(len(t), dtype=np.int64), fps or DEFAULT_FPS
    dt = np.diff(t)
    step = float(np.median(dt))
    own = 1.0 / float(dt[np.abs(dt - step) <= 0.25 * step].mean())
    if fps is not None and abs(math.log(fps / own)) > math.log(1.05):
        warnings.warn(
            f"{path}: the sheet's {fps:g} fps differs from the timestamps' {own:.4g} fps; "
            "frames are placed on the sheet's grid",
            KeypointImportWarning,
            stacklevel=5,
        )
    rate = fps or own
    slots = np.rint(t * rate).astype(np.int64)
    # Jitter can put two rows on one slot: push later rows on (slot_i >= slot_{i-1} + 1).
    k = np.arange(len(slots))
    slots = k + np.maximum.accumulate(slots - k)
    dropped = int(slots[-1] + 1 - len(slots))
    if dropped:
        log.info(
            "%s: %d rows on a %d-frame grid at %.4g fps (%d dropped frames left empty)",
            path, len(slots), slots[-1] + 1, rate, dropped,
        )  # fmt: skip
    return slots, float(rate)


def _mediapipe_pose(
    path: Path,
    slots: np.ndarray,
    people: Sequence[Sequence[np.ndarray]],
    fps: float | None,
    frame_size: tuple[int, int] | None,
    size_hint: tuple[int, int] | None,
    fmt: str,
) -> PoseData:
    """PoseData from (33, 5) landmark rows (x, y, z, visibility, presence; NaN absent) placed
    on frame ``slots``; normalised coordinates are scaled to pixels."""
    if len(slots) == 0:
        raise KeypointImportError(f"{path}: zero frames")
    frames: list[list[np.ndarray]] = [[] for _ in range(int(slots[-1]) + 1)]
    xy_all = [p[:, :2] for ps in people for p in ps]
    if not xy_all:
        raise KeypointImportError(f"{path}: no pose in any of {len(slots)} rows")
    xy = np.abs(np.concatenate(xy_all))
    xy = xy[np.isfinite(xy)]
    normalised = xy.size == 0 or float(np.quantile(xy, 0.99)) <= _PIXEL_THRESHOLD
    size = frame_size or size_hint
    if normalised and size is None:
        raise KeypointImportError(
            f"{path}: MediaPipe landmarks are normalised to [0, 1] of the frame, so the frame "
            "size is needed to make pixels, and neither the sheet nor the file gives it; add "
            "width and height (pixels) to the sample sheet row (motorflow pose: --frame-size)"
        )
    scale = np.array([size[0], size[1]], dtype=np.float64) if normalised else np.ones(2)
    for slot, ps in zip(slots, people, strict=True):
        for p in ps:
            pts = np.empty((33, 3))
            pts[:, :2] = p[:, :2] * scale
            vis, pres = p[:, 3], p[:, 4]
            pts[:, 2] = np.where(np.isfinite(vis), vis, np.where(np.isfinite(pres), pres, 1.0))
            if not (np.nan_to_num(p[:, :2]) == 0).all():  # all-zero rows: no detection
                frames[slot].append(pts)
    if not normalised:
        warnings.warn(
            f"{path}: MediaPipe landmarks larger than {_PIXEL_THRESHOLD:g}: read as pixels",
            KeypointImportWarning,
            stacklevel=4,
        )
    return _build(path, frames, _MEDIAPIPE_LAYOUTS, "MediaPipe", "mediapipe", fps, size,
                  fmt=fmt if normalised else f"{fmt}-px")  # fmt: skip


def _is_mediapipe_json(doc: object) -> bool:
    if isinstance(doc, dict):
        if "pose_landmarks" in doc:
            return True
        doc = doc.get("frames")
    return (
        isinstance(doc, list)
        and bool(doc)
        and any(isinstance(f, dict) and "pose_landmarks" in f for f in doc)
    )


_JSON_TIME_KEYS = (
    ("timestamp_us", "µs"), ("timestamp_ms", "ms"), ("timestamp_s", "s"),
    ("timestamp", None), ("time", None),
)  # fmt: skip


def _landmark_row(lm: object, path: Path) -> list[float]:
    if isinstance(lm, dict):
        vals = [lm.get(k) for k in _COORDS]
    else:
        vals = list(lm)[: len(_COORDS)]
        vals += [None] * (len(_COORDS) - len(vals))
    return [np.nan if v is None else float(v) for v in vals]


def _json_pose(pose: object, path: Path, t: int) -> np.ndarray:
    if isinstance(pose, dict):  # protobuf MessageToDict: {"landmark": [...]}
        pose = pose.get("landmark", pose.get("landmarks"))
    if not isinstance(pose, list) or len(pose) != 33:
        n = len(pose) if isinstance(pose, list) else type(pose).__name__
        raise KeypointImportError(
            f"{path}: frame {t}: a pose must be a list of 33 landmarks, got {n}"
        )
    arr = np.asarray([_landmark_row(lm, path) for lm in pose], dtype=np.float64)
    if np.isinf(arr).any():
        raise KeypointImportError(f"{path}: frame {t}: non-finite landmark values")
    return arr


def _load_mediapipe_json(doc: object, path: Path, fps, frame_size) -> PoseData:
    """MediaPipe Tasks PoseLandmarker results: per frame ``pose_landmarks`` (a list of poses,
    each 33 ``{x, y, z, visibility, presence}``), optional ``timestamp_ms`` (or ``timestamp``
    with the unit inferred, or ``frame_index``); a list of frames, a dict with ``frames`` (and
    optional ``width``, ``height``, ``fps``), or one frame."""
    meta = doc if isinstance(doc, dict) else {}
    frames = meta.get("frames", [meta]) if isinstance(doc, dict) else doc
    if not frames:
        raise KeypointImportError(f"{path}: zero frames")
    people: list[list[np.ndarray]] = []
    for t, fr in enumerate(frames):
        if not isinstance(fr, dict):
            raise KeypointImportError(f"{path}: frame {t} is not an object")
        poses = fr.get("pose_landmarks") or []
        if isinstance(poses, dict):  # one pose as protobuf MessageToDict wrote it
            poses = [poses]
        if poses and isinstance(poses[0], dict) and "x" in poses[0]:
            poses = [poses]  # a single pose written without the list of poses
        people.append([_json_pose(p, path, t) for p in poses])
    key, unit = next(
        ((k, u) for k, u in _JSON_TIME_KEYS if all(k in f for f in frames)), (None, None)
    )
    fps = fps or _positive(meta.get("fps"))
    frame_keys = [k for k in ("frame_index", "frame", "frame_id") if all(k in f for f in frames)]
    frame_key = frame_keys[0] if frame_keys else None
    if key is not None:
        t = np.asarray([f[key] for f in frames], dtype=np.float64)
        slots, fps = _grid(_seconds(t, path, f"'{key}'", unit, fps), fps, path)
    elif frame_key is not None:
        idx = np.asarray([f[frame_key] for f in frames], dtype=np.int64)
        if (np.diff(idx) <= 0).any():
            raise KeypointImportError(f"{path}: '{frame_key}' is not strictly increasing")
        slots = idx - idx[0]
    else:
        slots = np.arange(len(frames))
    size_hint = None
    for wk, hk in (("width", "height"), ("image_width", "image_height")):
        sizes = {(f.get(wk, meta.get(wk)), f.get(hk, meta.get(hk))) for f in frames}
        if len(sizes) == 1:
            w, h = sizes.pop()
            if _positive(w) and _positive(h):
                size_hint = (int(w), int(h))
                break
    return _mediapipe_pose(path, slots, people, fps, frame_size, size_hint, "tasks-json")


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


# --------------------------------------------------------------------------- skeleton pickle

_PICKLE_SUFFIXES = (".pkl", ".pickle")
# What an mmaction2 / pyskl annotation pickle needs: numpy arrays and plain containers.  Any
# other class is refused, so opening a pickle cannot run its code.
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
}  # fmt: skip
_PICKLE_LAYOUTS = {**_COCO_LAYOUTS, N_JOINTS: ("motorflow21", JOINT_NAMES)}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _PICKLE_ALLOWED or (
            module.startswith("numpy") and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} (a skeleton pickle holds only numpy arrays, "
            "lists, dicts and numbers)"
        )


def _load_pickle(path: Path, fps, frame_size, named: str | None, recording: str | None):
    """mmaction2/pyskl skeleton annotations (what ``motorflow export`` writes): a dict with
    ``annotations`` (or a bare list of them), each ``frame_dir``, ``total_frames``,
    ``img_shape`` (h, w), ``keypoint`` (M, T, V, 2) and ``keypoint_score`` (M, T, V), or
    ``keypoint`` (M, T, V, 3) with the score last.  Score 0 (mmaction2's missing point) is
    missing."""
    try:
        with open(path, "rb") as fh:
            doc = _ArraysOnly(fh).load()
    except (pickle.UnpicklingError, EOFError, ImportError, AttributeError) as err:
        raise KeypointImportError(f"{path}: not a readable skeleton pickle ({err})") from err
    anns = doc.get("annotations") if isinstance(doc, dict) else doc
    if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
        raise KeypointImportError(
            f"{path}: not an mmaction2/pyskl skeleton pickle (expected a dict with an "
            "'annotations' list of dicts)"
        )
    if not anns:
        raise KeypointImportError(f"{path}: the pickle holds no annotations")
    ids = [str(a.get("frame_dir")) for a in anns]
    want = named if named is not None else (recording if len(anns) > 1 else None)
    if want is None:
        ann = anns[0]
    elif ids.count(want) == 1:
        ann = anns[ids.index(want)]
    else:
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        how = "appears more than once" if want in ids else "is not among"
        raise KeypointImportError(
            f"{path}: recording {want!r} {how} its {len(ids)} annotations' frame_dir ({shown}); "
            "name one as path#frame_dir (or make the sheet's video_id the frame_dir)"
        )
    where = f"{path}#{ann.get('frame_dir')}"
    kp = np.asarray(ann["keypoint"], dtype=np.float64)
    if kp.ndim != 4:
        raise KeypointImportError(f"{where}: keypoint must be (M, T, V, C), got {kp.shape}")
    if "keypoint_score" in ann:
        if kp.shape[-1] != 2:
            raise KeypointImportError(
                f"{where}: keypoint has {kp.shape[-1]} coordinates; only 2D skeletons are read"
            )
        score = np.asarray(ann["keypoint_score"], dtype=np.float64)
        if score.shape != kp.shape[:3]:
            raise KeypointImportError(
                f"{where}: keypoint_score {score.shape} does not match keypoint {kp.shape}"
            )
    elif kp.shape[-1] == 3:
        kp, score = kp[..., :2], kp[..., 2]
    else:
        raise KeypointImportError(f"{where}: no keypoint_score for keypoint {kp.shape}")
    src = np.concatenate([kp, score[..., None]], axis=-1)  # (M, T, V, 3)
    if np.isinf(src).any():
        raise KeypointImportError(f"{where}: non-finite keypoint values")
    n_frames = src.shape[1]
    total = ann.get("total_frames", n_frames)
    if int(total) != n_frames:
        raise KeypointImportError(
            f"{where}: total_frames {total} but keypoint holds {n_frames} frames"
        )
    size_hint = None
    shape = ann.get("img_shape") or ann.get("original_shape")
    if shape is not None and len(shape) == 2 and min(shape) > 0:
        size_hint = (int(shape[1]), int(shape[0]))  # (h, w) -> (w, h)
    frames = [[src[m, t] for m in range(src.shape[0])] for t in range(n_frames)]
    return _build(path, frames, _PICKLE_LAYOUTS, "skeleton", "mmaction2", fps, frame_size,
                  size_hint, fmt="pkl")  # fmt: skip


def load_any_pose(
    path: str | Path, fps: float | None = None, frame_size: tuple[int, int] | None = None
) -> PoseData:
    """A motorflow pose file, or any format :func:`load_keypoints` reads (``frame_size``:
    width, height in px, which MediaPipe's normalised landmarks need)."""
    path = Path(path)
    if path.suffix == ".npz":
        pose = load_pose(path)
        if fps is not None:
            pose.fps = float(fps)
        return pose
    return load_keypoints(path, fps=fps, frame_size=frame_size)
