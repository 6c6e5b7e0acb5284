"""Synthetic walking cohort: GMFCS-like severity levels I–IV, its subjects and sample sheet.

Each subject draws clinically meaningful gait parameters whose distributions shift with
severity (overlapping between neighbouring levels), plus anthropometry; the walker
(:mod:`motorflow.synth.gait_motion`) turns them into joints, and
:mod:`motorflow.synth.gait_render` films them.

The sheet (subjects, videos, labels, per-video seeds) is a pure function of the config, so
the workflow's DAG is known before anything is rendered; every choice comes from per-subject
and per-video random streams of the config's seed (:func:`common.keyed_rng`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from motorflow.synth import gait_motion
from motorflow.synth.common import keyed_rng

LEVELS = ("I", "II", "III", "IV")
STYLES = ("realistic", "classic")

# Per level: mean of each target (sd below); neighbouring levels overlap by design.
_LEVEL_MEANS = {
    #            cadence, step_len_leg, knee_ic, knee_rom, hip_mean, ankle_rom, lean, sway, cv, arm
    "I": (122, 0.78, 4, 56, 10, 25, 3, 4, 0.020, 16),
    "II": (112, 0.66, 10, 48, 13, 20, 6, 6, 0.035, 12),
    "III": (100, 0.54, 17, 40, 17, 15, 10, 8, 0.050, 8),
    "IV": (88, 0.44, 24, 32, 21, 11, 14, 10, 0.070, 5),
}
_SD = (10, 0.07, 4, 6, 3, 4, 2.5, 2, 0.012, 4)
# Probability of a hemiplegic (one-sided) pattern per level.
_P_HEMI = {"I": 0.35, "II": 0.45, "III": 0.5, "IV": 0.4}


@dataclass(frozen=True)
class CohortConfig:
    seed: int = 20261121
    subjects_per_level: int = 8
    videos_per_subject: int = 2
    fps: float = 30.0
    width: int = 848  # the schema asks for a multiple of 16 (any even size encodes reproducibly)
    height: int = 480
    strides: float = 3.5  # strides walked per video (duration follows from cadence)
    p_second_person: float = 0.25
    p_oblique: float = 0.2  # otherwise a pure side view
    video_dir: str = "results/synth/videos"
    # Rendering styles and their shares (normalised): ``realistic`` (same-coloured legs,
    # loose clothes, orthoses, blur, low light, compression, phone framing) or ``classic``
    # (the original high-contrast look: outlined limbs, far leg at 0.72 brightness).
    styles: tuple[tuple[str, float], ...] = (("realistic", 0.85), ("classic", 0.15))
    p_portrait: float = 0.2  # share of realistic videos filmed on an upright phone

    def __post_init__(self) -> None:
        styles = self.styles.items() if isinstance(self.styles, dict) else self.styles
        weights = dict((str(k), float(v)) for k, v in styles)
        unknown = set(weights) - set(STYLES)
        if unknown:
            raise ValueError(f"unknown synthetic style(s) {sorted(unknown)}; known: {STYLES}")
        if any(v < 0 or not np.isfinite(v) for v in weights.values()) or not sum(weights.values()):
            raise ValueError(f"style shares must be >= 0 and not all 0, got {weights}")
        # Canonical order: the draw does not depend on the order the config lists them in.
        canon = tuple((k, weights[k]) for k in STYLES if weights.get(k, 0.0) > 0)
        object.__setattr__(self, "styles", canon)
        if not 0 <= self.p_portrait <= 1:
            raise ValueError(f"p_portrait must be in [0, 1], got {self.p_portrait}")


def sample_anthropometry(rng: np.random.Generator) -> dict:
    """Age 5–13 years and a stature that grows with it (children's growth, roughly)."""
    age_months = float(rng.uniform(60, 156))
    height = float(np.clip(0.75 + 0.0047 * age_months + rng.normal(0, 0.05), 1.0, 1.7))
    return {"age_months": round(age_months, 1), "height_cm": round(100 * height, 1)}


def sample_subject(
    level: str, rng: np.random.Generator, anthro: dict
) -> tuple[gait_motion.GaitParams, dict]:
    """Draw one subject's targets; returns params and descriptive subject info."""
    m = _LEVEL_MEANS[level]
    z = rng.standard_normal(len(m))
    cad, sl, kic, krom, hipm, arom, lean, sway, cv, arm = (
        m[i] + _SD[i] * z[i] for i in range(len(m))
    )
    height = anthro["height_cm"] / 100
    hemi = rng.uniform() < _P_HEMI[level]
    affected = int(rng.integers(2)) if hemi else -1
    severity = float(rng.uniform(0.15, 0.4)) if hemi else 0.0

    def sided(v: float, factor: float) -> tuple[float, float]:
        out = [v, v]
        if affected >= 0:
            out[affected] = v * factor
        return (float(out[0]), float(out[1]))

    params = gait_motion.GaitParams(
        height_m=height,
        age_months=float(anthro["age_months"]),
        cadence_steps_per_min=float(np.clip(cad, 55, 160)),
        step_length_leg=float(np.clip(sl, 0.25, 1.0)),
        knee_flexion_ic_deg=sided(max(kic, 0.0), 1 + 1.5 * severity),
        knee_rom_deg=sided(float(np.clip(krom, 15, 70)), 1 - severity),
        hip_flexion_mean_deg=float(hipm),
        ankle_rom_deg=sided(float(np.clip(arom, 4, 35)), 1 - severity),
        step_time_offset=(0.08 * severity) * (1 if affected == 1 else -1) if hemi else 0.0,
        hip_amplitude_deg=sided(20.0, 1 - 0.6 * severity),  # rescaled by calibrate()
        trunk_lean_deg=float(max(lean, 0.0)),
        trunk_sway_deg=float(np.clip(sway, 1.0, 20.0)),
        stride_cv=float(np.clip(cv, 0.005, 0.12)),
        arm_swing_deg=sided(float(max(arm, 1.0)), 0.3),
        elbow_flexion_deg=sided(15.0 + 2.0 * LEVELS.index(level) ** 2, 3.0),
    )
    info = dict(
        anthro, level=level, hemiplegic_side=("left", "right")[affected] if hemi else "none"
    )
    return calibrate(params, rng), info


def calibrate(p: gait_motion.GaitParams, rng: np.random.Generator) -> gait_motion.GaitParams:
    """Scale the hip excursion so that the realised step length meets the target."""
    probe = replace(p, stride_cv=0.0)
    scale = 1.0
    for _ in range(4):
        q = replace(probe, hip_amplitude_deg=tuple(a * scale for a in p.hip_amplitude_deg))
        w = gait_motion.simulate_walk(q, 4 * 120 / p.cadence_steps_per_min, 30, rng, oversample=4)
        got = gait_motion.gait_truth(w)["step_length_leg"]
        if not np.isfinite(got) or got <= 0:
            break
        scale *= float(np.clip(p.step_length_leg / got, 0.6, 1.6))
    return replace(p, hip_amplitude_deg=tuple(float(a * scale) for a in p.hip_amplitude_deg))


def make_sheet(cfg: CohortConfig) -> pd.DataFrame:
    """The cohort's sample sheet (one row per video); deterministic in ``cfg``."""
    rows = []
    for level in LEVELS:
        for k in range(cfg.subjects_per_level):
            subject = f"syn{level}{k + 1:02d}"
            for v in range(cfg.videos_per_subject):
                rng = keyed_rng(cfg.seed, subject, v, "sheet")
                view = "oblique" if rng.uniform() < cfg.p_oblique else "side"
                rows.append(
                    {
                        "video_id": f"{subject}_v{v + 1}",
                        "subject_id": subject,
                        "path": f"{cfg.video_dir}/{subject}_v{v + 1}.mp4",
                        "label": level,
                        "view": view,
                        "fps": cfg.fps,
                    }
                )
    sheet = pd.DataFrame(rows)
    info = {s: sample_anthropometry(keyed_rng(cfg.seed, s, "anthro")) for s in sheet["subject_id"]}
    sheet["height_cm"] = sheet["subject_id"].map(lambda s: info[s]["height_cm"])
    sheet["age_months"] = sheet["subject_id"].map(lambda s: info[s]["age_months"])
    return sheet


def cohort_config(section: dict) -> CohortConfig:
    """CohortConfig from the config file's ``synthetic:`` section (unknown keys rejected)."""
    known = set(CohortConfig.__dataclass_fields__)
    unknown = set(section) - known
    if unknown:
        raise ValueError(f"unknown synthetic option(s) {sorted(unknown)}; known: {sorted(known)}")
    return CohortConfig(**section)


def level_of(subject: str) -> str:
    return subject[len("syn") :].rstrip("0123456789")


def subject_params(cfg: CohortConfig, subject: str) -> tuple[gait_motion.GaitParams, dict]:
    anthro = sample_anthropometry(keyed_rng(cfg.seed, subject, "anthro"))
    return sample_subject(level_of(subject), keyed_rng(cfg.seed, subject, "gait"), anthro)


# --------------------------------------------------------------------------- rendering
