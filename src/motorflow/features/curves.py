"""Gait-cycle curves: their layout and files, and the deviation scores computed from them.

A video's curves are the hip, knee and ankle sagittal angles (:data:`JOINTS3`) of each side
(:data:`SIDES`) over the gait cycle, resampled to :data:`N_POINTS` points; the features
stage writes them (``results/features/{video_id}.curves.npz``).  The GDI-like and GPS-like
scores (:data:`DEVIATION_COLUMNS`) compare a video's mean curves with a reference group's;
the cohort table and each fold's training table both score through :func:`deviation_scores`,
the cohort with the cohort's reference, each fold with one fitted on its training subjects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.poseio import atomic_path

SIDES = ("left", "right")
JOINTS3 = ("hip", "knee", "ankle")  # sagittal angles, in the order of the curve arrays
N_POINTS = 101  # cycle-normalised curves: 0, 1, ..., 100 % of the gait cycle

# Columns added at aggregation, from the cohort's reference curves.
DEVIATION_COLUMNS: tuple[str, ...] = (
    "gait_deviation_index",
    "gait_deviation_index_left",
    "gait_deviation_index_right",
    "gait_profile_score_deg",
)


def nanmean(values) -> float:
    """Mean of the finite values; NaN (without a warning) when there is none."""
    arr = np.asarray(values, dtype=float)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")


def load_mean_curves(path: str | Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        return np.array(z["mean"])


def load_curves(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: np.array(z[k]) for k in z.files}


# --------------------------------------------------------------------------- deviation scores


@dataclass
class DeviationReference:
    """Reference kinematics for the GDI-like and GPS-like scores.

    ``curves`` (n, 3, 101): mean cycle curves (hip, knee, ankle; degrees) of one side of one
    reference video each; ``subjects`` (n,): whose they are, so that a reference subject is
    scored against the others only (leave-one-subject-out) and never against itself.
    """

    curves: np.ndarray
    subjects: np.ndarray

    MIN_SUBJECTS = 3

    def __post_init__(self) -> None:
        self.curves = np.asarray(self.curves, dtype=float)
        self.subjects = np.asarray(self.subjects).astype(str)
        if self.curves.ndim != 3 or self.curves.shape[1:] != (len(JOINTS3), N_POINTS):
            raise ValueError(f"reference curves must be (n, 3, 101), got {self.curves.shape}")
        if len(self.subjects) != len(self.curves):
            raise ValueError("reference curves and subjects differ in length")
        keep = np.isfinite(self.curves).all(axis=(1, 2))
        self.curves, self.subjects = self.curves[keep], self.subjects[keep]
        if len(set(self.subjects)) < self.MIN_SUBJECTS:
            raise ValueError(
                f"a deviation reference needs curves of at least {self.MIN_SUBJECTS} "
                f"subjects, got {len(set(self.subjects))}"
            )
        # Log distance of every member from the others' mean: the spread a typical walker
        # has, without the optimism of being part of the mean it is compared with.
        ln_d = np.array(
            [
                np.log(self._rms(c, self._mean_without(s)))
                for c, s in zip(self.curves, self.subjects, strict=True)
            ]
        )
        self._ln_mean, self._ln_sd = float(ln_d.mean()), float(ln_d.std(ddof=1))

    @staticmethod
    def _rms(curve: np.ndarray, mean: np.ndarray) -> float:
        return float(np.sqrt(np.mean((curve - mean) ** 2)))

    def _mean_without(self, subject: str | None) -> np.ndarray:
        keep = self.subjects != subject if subject is not None else slice(None)
        return self.curves[keep].mean(axis=0)

    @property
    def mean(self) -> np.ndarray:
        return self.curves.mean(axis=0)

    @property
    def sd(self) -> np.ndarray:
        return self.curves.std(axis=0, ddof=1)

    def score(self, side_curves: np.ndarray, subject: str | None = None) -> dict[str, float]:
        """Scores of one video from its (2, 3, 101) mean curves (left, right)."""
        mean = self._mean_without(subject if subject in set(self.subjects) else None)
        out: dict[str, float] = {}
        sq = []
        for i, side in enumerate(SIDES):
            c = side_curves[i]
            if not np.isfinite(c).all():
                out[f"gait_deviation_index_{side}"] = float("nan")
                continue
            d = self._rms(c, mean)
            sq.append(d**2)
            z = (np.log(d) - self._ln_mean) / self._ln_sd
            out[f"gait_deviation_index_{side}"] = float(100.0 - 10.0 * z)
        gdis = [out[f"gait_deviation_index_{s}"] for s in SIDES]
        out["gait_deviation_index"] = nanmean(gdis)
        out["gait_profile_score_deg"] = float(np.sqrt(np.mean(sq))) if sq else float("nan")
        return out

    def score_videos(
        self,
        mean_curves: dict[str, np.ndarray],
        subjects: dict[str, str],
        ok: dict[str, bool],
    ) -> dict[str, dict[str, float]]:
        """Scores of every video whose row is ``ok`` and has curves (the one loop the
        cohort table and each fold's training table share); the others get none."""
        return {
            v: self.score(c, subject=subjects.get(v))
            for v, c in mean_curves.items()
            if ok.get(v) and np.isfinite(c).any()
        }

    @classmethod
    def from_videos(
        cls, mean_curves: dict[str, np.ndarray], subjects: dict[str, str]
    ) -> DeviationReference:
        """From videos' (2, 3, 101) mean curves: both sides of each become members."""
        curves, subj = [], []
        for vid, c in mean_curves.items():
            for i in range(len(SIDES)):
                curves.append(c[i])
                subj.append(subjects[vid])
        return cls(np.array(curves).reshape(-1, len(JOINTS3), N_POINTS), np.array(subj))

    def save(self, path: str | Path) -> None:
        save_reference(self, path)

    @classmethod
    def load(cls, path: str | Path) -> DeviationReference:
        ref = load_reference(path)
        if ref is None:
            raise ValueError(f"{path}: the deviation reference is unavailable")
        return ref


def save_reference(ref: DeviationReference | None, path: str | Path, note: str = "") -> None:
    """Write a reference file; ``None`` writes an 'unavailable' file that says why."""
    curves = ref.curves if ref is not None else np.empty((0, len(JOINTS3), N_POINTS))
    subjects = ref.subjects if ref is not None else np.array([], dtype=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, curves=curves, subjects=subjects, joints=np.array(JOINTS3), note=np.array(note)
            )


def load_reference(path: str | Path) -> DeviationReference | None:
    """A reference file: ``curves`` (n, 3, 101) deg, ``subjects`` (n,), ``joints``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            joints = tuple(str(j) for j in z["joints"])
            if joints != JOINTS3:
                raise ValueError(f"joints must be {JOINTS3}, got {joints}")
            if len(z["curves"]) == 0:
                return None
            return DeviationReference(z["curves"], z["subjects"])
    except (KeyError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a deviation reference file ({err})") from err


def fit_reference(
    mean_curves: Mapping[str, np.ndarray],
    subjects: Mapping[str, str],
    labels: Mapping[str, str],
    label: str,
    videos: Iterable[str],
) -> tuple[DeviationReference | None, str]:
    """A reference from the videos among ``videos`` labelled ``label`` whose mean curves are
    complete (the cohort's, or a fold's training videos), or None and why there is none."""
    members = [
        v
        for v in videos
        if labels.get(v) == str(label) and v in mean_curves and np.isfinite(mean_curves[v]).all()
    ]
    if not members:
        return None, f"no videos labelled {label} with complete curves"
    try:
        reference = DeviationReference.from_videos(
            {v: mean_curves[v] for v in members}, {v: subjects[v] for v in members}
        )
    except ValueError as err:
        return None, str(err)
    return reference, ""


def deviation_scores(
    reference: DeviationReference | None,
    mean_curves: Mapping[str, np.ndarray],
    subjects: Mapping[str, str],
    ok: Mapping[str, bool],
) -> pd.DataFrame:
    """The deviation columns of every video in ``mean_curves`` (index ``video_id``): scored
    against ``reference`` where the video's row is ``ok`` and it has curves (a reference
    subject leave-one-subject-out), NaN otherwise and for every video without a reference."""
    index = pd.Index(list(mean_curves), name="video_id")
    table = pd.DataFrame(np.nan, index=index, columns=list(DEVIATION_COLUMNS))
    if reference is not None:
        scored = reference.score_videos(dict(mean_curves), dict(subjects), dict(ok))
        for v, scores in scored.items():
            for col, val in scores.items():
                table.at[v, col] = val
    return table
