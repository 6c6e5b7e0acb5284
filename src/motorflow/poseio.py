"""The pose-file format shared by every stage, and atomic writing of results.

A pose file is an ``.npz`` with

* ``keypoints``  float32 (T, V, 3): x px, y px, confidence; NaN coordinates where missing
* ``joint_names`` str (V,): :data:`motorflow.skeleton.JOINT_NAMES`
* ``fps`` float, ``frame_size`` int (2,) = width, height
* ``backend`` str, ``backend_version`` str
* optional ``imputed`` bool (T, V): frames filled by the cleaning stage
* optional ``candidates`` float32 (T, P, V, 3): every person detected per frame, unordered,
  when the source saw more than one (the cleaning stage chooses the assessed person)
* optional ``notes`` str (N,): what the pose stage noticed (dropped frames, a stated frame
  rate the timestamps contradict)
* optional ``failure`` str: why the stage that wrote the file could not give keypoints
  (``"pose: <file>: no person detected …"``).  A failure record has zero frames and no frame
  rate; every later stage passes it on as an exclusion, so that one bad recording never
  blocks the cohort's outputs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motorflow.skeleton import JOINT_NAMES, N_JOINTS

# atomic_path's temporaries: ".{name}.{8 random characters of mkstemp}.motorflow-tmp".
TEMP_SUFFIX = ".motorflow-tmp"
_TEMP_NAME = re.compile(r"\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX))


class PoseFileError(ValueError):
    """A pose file that does not follow the format."""


@dataclass
class PoseData:
    keypoints: np.ndarray
    fps: float
    frame_size: tuple[int, int]
    backend: str
    backend_version: str = ""
    imputed: np.ndarray | None = None
    candidates: np.ndarray | None = None
    joint_names: tuple[str, ...] = field(default=JOINT_NAMES)
    failure: str = ""
    # What the stage that wrote the file noticed about the recording (dropped frames, a frame
    # rate the timestamps contradict); the cleaning stage's QC record carries them on.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (len(self.joint_names), 3):
            raise PoseFileError(
                f"keypoints must be (T, {len(self.joint_names)}, 3), got {kp.shape}"
            )
        self.keypoints = kp
        if self.imputed is not None:
            self.imputed = np.asarray(self.imputed, dtype=bool)
            if self.imputed.shape != kp.shape[:2]:
                raise PoseFileError(f"imputed must be {kp.shape[:2]}, got {self.imputed.shape}")
        if self.candidates is not None:
            self.candidates = np.asarray(self.candidates, dtype=np.float32)
            c = self.candidates.shape
            if len(c) != 4 or c[0] != kp.shape[0] or c[2:] != kp.shape[1:]:
                raise PoseFileError(
                    f"candidates must be ({kp.shape[0]}, P, {kp.shape[1]}, 3), got {c}"
                )
        if self.failure:
            if kp.shape[0]:
                raise PoseFileError("a failure record holds no frames")
        elif not (np.isfinite(self.fps) and self.fps > 0):
            raise PoseFileError(f"fps must be positive, got {self.fps}")

    @classmethod
    def failed(cls, reason: str, backend: str) -> PoseData:
        """The record of a recording that gave no keypoints, and why."""
        return cls(np.zeros((0, N_JOINTS, 3), np.float32), float("nan"), (0, 0), backend,
                   failure=reason)  # fmt: skip

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[0])

    def joint(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one joint."""
        return self.keypoints[:, self.joint_names.index(name)]


def save_pose(pose: PoseData, path: str | os.PathLike) -> None:
    arrays = {
        "keypoints": pose.keypoints.astype(np.float32),
        "joint_names": np.array(pose.joint_names),
        "fps": np.float64(pose.fps),
        "frame_size": np.asarray(pose.frame_size, dtype=np.int64),
        "backend": np.array(pose.backend),
        "backend_version": np.array(pose.backend_version),
    }
    if pose.imputed is not None:
        arrays["imputed"] = pose.imputed
    if pose.candidates is not None:
        arrays["candidates"] = pose.candidates.astype(np.float32)
    if pose.failure:
        arrays["failure"] = np.array(pose.failure)
    if pose.notes:
        arrays["notes"] = np.array(list(pose.notes))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_pose(path: str | os.PathLike) -> PoseData:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = tuple(str(n) for n in z["joint_names"])
            if names != JOINT_NAMES:
                raise PoseFileError(
                    f"{path}: joint_names differ from motorflow's {N_JOINTS}-joint skeleton"
                )
            return PoseData(
                keypoints=z["keypoints"],
                fps=float(z["fps"]),
                frame_size=tuple(int(v) for v in z["frame_size"]),
                backend=str(z["backend"]),
                backend_version=str(z["backend_version"]) if "backend_version" in z else "",
                imputed=z["imputed"] if "imputed" in z else None,
                candidates=z["candidates"] if "candidates" in z else None,
                joint_names=names,
                failure=str(z["failure"]) if "failure" in z else "",
                notes=tuple(str(n) for n in z["notes"]) if "notes" in z else (),
            )
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, PoseFileError):
            if str(err).startswith(f"{path}:"):
                raise
            raise PoseFileError(f"{path}: {err}") from err
        raise PoseFileError(f"{path}: not a motorflow pose file ({err})") from err


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    A crash or kill mid-write leaves no half-written result behind, which keeps Snakemake's
    stale detection truthful; a SIGKILL leaves the temporary itself, which the next run
    removes (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, new_file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@functools.cache
def new_file_mode() -> int:
    """The mode a new file gets under the process umask (read once, on first write).

    mkstemp creates files readable by their owner only; results get what any other new file
    would, so colleagues on a shared server can read them.
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(root: str | os.PathLike) -> list[Path]:
    """Delete :func:`atomic_path` temporaries under ``root``; return what was removed.

    Only a SIGKILL (or a lost node) skips the cleanup in :func:`atomic_path`; the workflow
    calls this before a run starts, under Snakemake's lock on the working directory, so
    no live job can own one of these files then.
    """
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for path in root.rglob(f".*{TEMP_SUFFIX}"):
        if path.is_file() and _TEMP_NAME.fullmatch(path.name):
            path.unlink()
            removed.append(path)
    return sorted(removed)


def write_json(obj: object, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
