"""Synthetic infant cohort (Paper B): general-movement classes, subjects and sample sheet.

Three classes after Prechtl's general-movement assessment:

* ``writhing`` (0–8 weeks post-term): elliptical limb paths of moderate-to-large amplitude
  at slow-to-moderate speed (~0.2–0.6 Hz) whose amplitude, speed and path orientation keep
  changing, with some trunk rotation;
* ``fidgety`` (9–20 weeks): continuous small, moderate-speed (~0.8–2 Hz) circular movements
  of neck, trunk and all limbs in all directions, variability superimposed;
* ``poor_repertoire`` (0–8 weeks): writhing-like amplitude but monotonous: one pattern
  repeated nearly periodically, the limbs more synchronous, little variation.

Per-infant movement parameters are drawn from class-specific ranges that overlap at their
edges (:func:`sample_movement`), ages from the class's age range, and body proportions for the
age; :mod:`motorflow.synth.infant_motion` turns them into joints, and
:mod:`motorflow.synth.infant_render` films them.  The sheet is a pure function of the config:
every subject's draws depend only on (seed, subject).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from motorflow.synth.common import keyed_rng
from motorflow.synth.infant_motion import (
    BodyShape,
    MovementParams,
    sample_body,
    sample_rest,
)

CLASSES = ("writhing", "fidgety", "poor_repertoire")
_CODE = {"writhing": "W", "fidgety": "F", "poor_repertoire": "P"}
_LABEL_OF_CODE = {v: k for k, v in _CODE.items()}
# Post-term age per class: writhing movements (and poor repertoire) end by ~8 weeks,
# fidgety movements are seen from ~9 to ~20 weeks.
AGE_WEEKS = {"writhing": (0.0, 8.0), "fidgety": (9.0, 20.0), "poor_repertoire": (0.0, 8.0)}


@dataclass(frozen=True)
class InfantCohortConfig:
    """The infant cohort; every field takes plain YAML values.

    Rendering knobs: the body axis is rotated uniformly within ``±max_rotation_deg`` (0 = head
    up), the infant's length (crown to heels, legs straight) is ``body_frac_min``–
    ``body_frac_max`` of the frame height, masks are stored for every ``mask_every``-th frame,
    and up to ``max_toys`` toys lie around the infant.
    """

    seed: int = 20261121
    subjects_per_class: int = 10
    videos_per_subject: int = 1
    fps: float = 25.0
    width: int = 640  # a multiple of 16: x264 output is byte-reproducible only then
    height: int = 480
    duration_s: float = 12.0
    video_dir: str = "results/synth/videos"
    # Any in-plane rotation (head down included): BlazePose found the infants at all of
    # them (measured), and alignment is then tested in general.
    max_rotation_deg: float = 180.0
    # 0.42-0.62: BlazePose misses more infants filling over ~65 % of the height (measured).
    body_frac_min: float = 0.42
    body_frac_max: float = 0.62
    mask_every: int = 5
    max_toys: int = 5

    def __post_init__(self) -> None:
        if self.width % 16 or self.width < 160:
            raise ValueError(f"width must be a multiple of 16 and >= 160, got {self.width}")
        if self.height % 2 or self.height < 120:
            raise ValueError(f"height must be even and >= 120, got {self.height}")
        if not (self.fps > 0 and self.duration_s > 0):
            raise ValueError("fps and duration_s must be positive")
        if self.subjects_per_class < 1 or self.videos_per_subject < 1:
            raise ValueError("subjects_per_class and videos_per_subject must be >= 1")
        if not 0 <= self.max_rotation_deg <= 180:
            raise ValueError(f"max_rotation_deg must be in [0, 180], got {self.max_rotation_deg}")
        if not 0 < self.body_frac_min <= self.body_frac_max <= 1:
            raise ValueError("need 0 < body_frac_min <= body_frac_max <= 1")
        if self.mask_every < 1 or self.max_toys < 0:
            raise ValueError("mask_every must be >= 1 and max_toys >= 0")

    @property
    def n_frames(self) -> int:
        return int(round(self.duration_s * self.fps))


def cohort_config(section: dict) -> InfantCohortConfig:
    """InfantCohortConfig from the config file's ``synthetic_infant:`` section."""
    known = set(InfantCohortConfig.__dataclass_fields__)
    unknown = set(section) - known
    if unknown:
        raise ValueError(
            f"unknown synthetic_infant option(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    return InfantCohortConfig(**section)


def label_of(subject: str) -> str:
    """``infW01`` → ``writhing``."""
    if not subject.startswith("inf") or subject[3:4] not in _LABEL_OF_CODE:
        raise ValueError(f"not an infant cohort subject id: {subject!r}")
    return _LABEL_OF_CODE[subject[3]]


def subject_age(cfg: InfantCohortConfig, subject: str) -> float:
    lo, hi = AGE_WEEKS[label_of(subject)]
    return round(float(keyed_rng(cfg.seed, subject, "age").uniform(lo, hi)), 1)


def make_sheet(cfg: InfantCohortConfig) -> pd.DataFrame:
    """The cohort's sample sheet (one row per video); deterministic in ``cfg``, and every
    subject's draws depend only on (seed, subject), so adding subjects changes nothing else."""
    rows = []
    for label in CLASSES:
        for k in range(cfg.subjects_per_class):
            subject = f"inf{_CODE[label]}{k + 1:02d}"
            age = subject_age(cfg, subject)
            for v in range(cfg.videos_per_subject):
                video_id = f"{subject}_v{v + 1}"
                rows.append(
                    {
                        "video_id": video_id,
                        "subject_id": subject,
                        "path": f"{cfg.video_dir}/{video_id}.mp4",
                        "label": label,
                        "view": "top",
                        "fps": cfg.fps,
                        "age_weeks": age,
                    }
                )
    return pd.DataFrame(rows)


def sample_movement(label: str, rng: np.random.Generator) -> MovementParams:
    """One infant's movement parameters; neighbouring classes overlap at the range edges."""
    u = rng.uniform
    if label == "writhing":
        return MovementParams(
            label=label,
            freq_hz=float(u(0.22, 0.6)),
            freq_spread=0.35,
            amplitude_deg=float(u(17, 34)),
            amp_modulation=float(u(0.45, 0.8)),
            freq_modulation=float(u(0.2, 0.4)),
            modulation_s=float(u(2.5, 4.5)),
            n_components=3,
            component_decay=float(u(0.5, 0.7)),
            phase_lag_deg=float(u(35, 100)),
            lag_drift_deg=float(u(30, 60)),
            synchrony=float(u(0.0, 0.25)),
            harmonic=float(u(0.0, 0.15)),
            jitter=float(u(0.25, 0.5)),
            head_amplitude_deg=float(u(10, 20)),
            trunk_rotation_deg=float(u(6, 12)),
            slow_amplitude_deg=0.0,
            slow_freq_hz=0.0,
        )
    if label == "fidgety":
        return MovementParams(
            label=label,
            freq_hz=float(u(0.8, 1.8)),
            freq_spread=0.3,
            amplitude_deg=float(u(6, 13)),
            amp_modulation=float(u(0.2, 0.4)),
            freq_modulation=float(u(0.15, 0.3)),
            modulation_s=float(u(1.2, 2.5)),
            n_components=3,
            component_decay=float(u(0.7, 0.9)),
            phase_lag_deg=float(u(75, 105)),
            lag_drift_deg=float(u(20, 45)),
            synchrony=float(u(0.0, 0.2)),
            harmonic=float(u(0.0, 0.1)),
            jitter=float(u(0.3, 0.6)),
            head_amplitude_deg=float(u(4, 8)),
            trunk_rotation_deg=float(u(2, 4)),
            slow_amplitude_deg=float(u(0, 4)),
            slow_freq_hz=float(u(0.2, 0.5)),
        )
    if label == "poor_repertoire":
        return MovementParams(
            label=label,
            freq_hz=float(u(0.25, 0.6)),
            freq_spread=0.0,
            amplitude_deg=float(u(14, 30)),
            amp_modulation=float(u(0.02, 0.12)),
            freq_modulation=float(u(0.01, 0.05)),
            modulation_s=float(u(5, 8)),
            n_components=1,
            component_decay=1.0,
            phase_lag_deg=float(u(20, 60)),
            lag_drift_deg=float(u(0, 8)),
            synchrony=float(u(0.65, 0.95)),
            harmonic=float(u(0.25, 0.5)),
            jitter=float(u(0.02, 0.08)),
            head_amplitude_deg=float(u(4, 10)),
            trunk_rotation_deg=float(u(3, 6)),
            slow_amplitude_deg=0.0,
            slow_freq_hz=0.0,
        )
    raise ValueError(f"unknown class {label!r}; expected one of {CLASSES}")


def subject_params(
    cfg: InfantCohortConfig, subject: str
) -> tuple[MovementParams, BodyShape, dict[str, float], float]:
    """Movement parameters, body, resting posture and age of one infant."""
    label = label_of(subject)
    age = subject_age(cfg, subject)
    body = sample_body(age, keyed_rng(cfg.seed, subject, "body"))
    move = sample_movement(label, keyed_rng(cfg.seed, subject, "movement"))
    rest = sample_rest(keyed_rng(cfg.seed, subject, "rest"))
    return move, body, rest, age
