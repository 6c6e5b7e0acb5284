"""Import third-party keypoint files into :class:`motorflow.poseio.PoseData`.

:func:`load_keypoints` dispatches on the path:

* a directory: OpenPose per-frame JSON (``*_keypoints.json``, BODY_25 or the COCO-18 model);
* a ``.json`` file: one OpenPose frame, AlphaPose / COCO result list, COCO ``annotations``
  dict, or mmpose predictions (inferencer list or demo ``instance_info`` dict); the variant
  is detected from the document's keys;
* a ``.csv`` file: one row per frame, ``<Joint>_x, <Joint>_y, <Joint>_conf`` columns.

Every source is mapped onto :data:`motorflow.skeleton.JOINT_NAMES`; joints the source lacks
(feet for COCO-17) and points it did not detect are NaN with confidence 0.  A point counts as
missing when x or y is not finite or its confidence is <= 0 (OpenPose writes ``0, 0, 0``).
Confidences are kept as the source wrote them (Detectron's exceed 1).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.poseio import PoseData
from motorflow.skeleton import INDEX, JOINT_NAMES, N_JOINTS

__all__ = ["KeypointImportError", "KeypointImportWarning", "load_keypoints"]

DEFAULT_FPS = 30.0
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
) -> PoseData:
    """Read a third-party keypoint file or OpenPose folder as a motorflow pose.

    ``fps`` overrides the source; otherwise a CSV's ``time`` column (1 / median step), else its
    ``fps`` column, else 30.  ``frame_size`` (width, height) overrides the source; otherwise
    COCO ``images`` or CSV ``width``/``height`` columns, else (OpenPose, AlphaPose, mmpose
    carry none) the ceiling of the largest x and y seen, a lower bound on the true frame.
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
    except KeypointImportError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        # Structural surprises deep in a parser still have to name the file.
        raise KeypointImportError(
            f"{path}: unexpected content ({type(err).__name__}: {err})"
        ) from err
    raise KeypointImportError(
        f"{path}: unsupported keypoint file (expected an OpenPose folder, .json or .csv)"
    )


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
    return PoseData(
        keypoints=keypoints,
        fps=fps or DEFAULT_FPS,
        frame_size=_frame_size(path, cand[..., :2], frame_size, size_hint),
        backend=BACKEND,
        backend_version=f"{tool}-{layout_name}-json",
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
        "AlphaPose/COCO result list ('image_id' + 'keypoints'), a COCO dict ('annotations') "
        "or mmpose predictions ('instance_info', or a list of 'frame_id' + 'instances')"
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


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _aliases() -> dict[str, str]:
    """Normalised column-joint spellings -> motorflow joint (LShoulder, left_shoulder, ...)."""
    table = {"nose": "nose"}
    for side in ("left", "right"):
        for part, spellings in _PARTS.items():
            for s in spellings:
                for key in (side + s, side[0] + s, s + side):
                    table[key] = f"{side}_{part}"
    return table


_ALIASES = _aliases()


def _load_csv(path: Path, fps, frame_size) -> PoseData:
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
    known: dict[str, dict[str, str]] = {}
    for joint, cols in coords.items():
        ours = _ALIASES.get(_norm(joint))
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
            f"LBigToe/left_toe, LHeel/left_heel; found columns: {shown}"
        )
    scored = {j: c for j, c in known.items() if "c" in c}
    if not scored:
        dims = "x/y/z (3D)" if any("z" in c for c in known.values()) else "x/y"
        raise KeypointImportError(
            f"{path}: joint columns {sorted(known)[:4]}... have {dims} but no <Joint>_conf "
            "confidence column (a Kinect skeleton export?); motorflow needs 2D image points "
            "with per-joint confidences"
        )
    if len(df) == 0:
        raise KeypointImportError(f"{path}: zero frames (no data rows)")

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
    return PoseData(
        keypoints=keypoints,
        fps=fps or time_fps or _constant(df, "fps") or DEFAULT_FPS,
        frame_size=_frame_size(path, keypoints[..., :2], frame_size, _csv_size(df)),
        backend=BACKEND,
        backend_version="keypoints-csv",
        imputed=imputed,
    )


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
