"""Synthetic infant cohort: supine infants seen from above, with general movements (Paper B).

Three classes after Prechtl's general-movement assessment:

* ``writhing`` (0–8 weeks post-term): elliptical limb paths of moderate-to-large amplitude
  at slow-to-moderate speed (~0.2–0.6 Hz) whose amplitude, speed and path orientation keep
  changing, with some trunk rotation;
* ``fidgety`` (9–20 weeks): continuous small, moderate-speed (~0.8–2 Hz) circular movements
  of neck, trunk and all limbs in all directions, variability superimposed;
* ``poor_repertoire`` (0–8 weeks): writhing-like amplitude but monotonous: one pattern
  repeated nearly periodically, the limbs more synchronous, little variation.

Per-infant movement parameters are drawn from class-specific ranges that overlap at their
edges.  Joints are generated in a 2-D body frame as limb chains driven by joint-angle
trajectories (bone lengths stay constant), then placed in the image by one similarity
transform per video (rotation, offset, scale: known, for testing alignment).  Each video
renders a clothed infant (big head with a face, filled limbs, skin vs clothing contrast:
what BlazePose keys on) lying on a patterned mat with toys and cloth edges around, lighting
gradient and flicker, and sensor noise.  Truth per video: the projected joints (pose file),
the parameters and placement (JSON) and the exact figure mask of every ``mask_every``-th
frame.

The figure was tuned until the project's pose stage (BlazePose full, tracking mode) found
the infant in every frame of the default cohort (``benchmarks/bench_infant_detection.py``);
the choices that mattered are commented where they are made (open eyes, front cues on the
clothes, mat colours away from skin and clothes, no contrasting dot grids, body size).  The
anatomy is drawn so that the visible shoulders and hips are where the truth joints are, as a
pose model trained on human annotations sees them (shoulder: the upper arm's root at the
torso's top-outer corner, neck and neckline at shoulder height, the chin above; hip: the top
of the thigh at the pelvis' side and the groin line): the alignment stage then recovers the
rendered ``transform`` from BlazePose's shoulders and hips, typically within 1-2 % of the
axis length (the same benchmark measures it).

Body frame: units of the trunk length (neck to crotch = 1), origin midway between neck and
crotch, x towards the infant's left (image right when the head points up: the camera sees
the infant's front), y towards the feet.  ``neck`` is the midpoint of the shoulders and
``crotch`` the midpoint of the hips, as in the ``transform`` convention.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from motorflow.poseio import PoseData, atomic_path, save_pose, write_json
from motorflow.skeleton import INDEX, N_JOINTS
from motorflow.synth import _SKINS, _capsule, _rng, _shade
from motorflow.video import VideoWriter

CLASSES = ("writhing", "fidgety", "poor_repertoire")
_CODE = {"writhing": "W", "fidgety": "F", "poor_repertoire": "P"}
_LABEL_OF_CODE = {v: k for k, v in _CODE.items()}
# Post-term age per class: writhing movements (and poor repertoire) end by ~8 weeks,
# fidgety movements are seen from ~9 to ~20 weeks.
AGE_WEEKS = {"writhing": (0.0, 8.0), "fidgety": (9.0, 20.0), "poor_repertoire": (0.0, 8.0)}
BACKEND_VERSION = "motorflow-infantsim"
# Head centre sits this many head radii above the neck (infants have hardly any neck), and
# the head ellipse is this much longer along the body axis than wide: the chin lies
# (HEAD_OFFSET - HEAD_ELONGATION) r ~ 0.07 trunk lengths above the shoulder joints, about at
# the top of the shoulders, with a short neck between.  With the chin at or below the
# shoulder line (HEAD_OFFSET 0.95) BlazePose put the shoulders ~0.05 trunk lengths too close
# to the hips (measured).
HEAD_OFFSET = 1.3
HEAD_ELONGATION = 1.08


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
    return round(float(_rng(cfg.seed, subject, "age").uniform(lo, hi)), 1)


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


# --------------------------------------------------------------------------- body and movement


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths and radii in trunk lengths (neck to crotch = 1)."""

    shoulder_width: float  # between the shoulder joints
    hip_width: float  # between the hip joints
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shank: float
    foot: float
    head_radius: float  # half the head's width
    girth: float  # limb radius scale (chubbiness)

    @property
    def length(self) -> float:
        """Crown to heels with the legs straight (the infant's length)."""
        r = self.head_radius
        return 1.0 + (HEAD_OFFSET + HEAD_ELONGATION) * r + self.thigh + self.shank

    def to_dict(self) -> dict:
        return asdict(self)


def sample_body(age_weeks: float, rng: np.random.Generator) -> BodyShape:
    """Infant proportions: head ~1/4 of the length, short limbs; the legs grow with age."""
    a = age_weeks / 20.0
    return BodyShape(
        shoulder_width=float(rng.uniform(0.58, 0.66)),
        hip_width=float(rng.uniform(0.42, 0.48)),
        upper_arm=float(rng.uniform(0.36, 0.41)),
        forearm=float(rng.uniform(0.31, 0.35)),
        hand=float(rng.uniform(0.15, 0.18)),
        thigh=float(rng.uniform(0.41, 0.46) + 0.03 * a),
        shank=float(rng.uniform(0.38, 0.43) + 0.03 * a),
        foot=float(rng.uniform(0.16, 0.19)),
        head_radius=float(rng.uniform(0.31, 0.34) - 0.02 * a),
        girth=float(rng.uniform(0.9, 1.15)),
    )


@dataclass(frozen=True)
class MovementParams:
    """What drives one infant's movements (angles in degrees, frequencies in Hz).

    Every channel (joint angle) is a sum of ``n_components`` oscillators with weights
    ``component_decay**k`` (normalised to unit power) around ``freq_hz``
    (log-sd ``freq_spread``), each with a slow random amplitude modulation of depth
    ``amp_modulation``, frequency modulation of relative depth ``freq_modulation`` (both on
    the time scale ``modulation_s``) and phase diffusion ``jitter`` (rad/√s).  Within a limb
    the distal joints lag by ``phase_lag_deg`` (90 = circular end-point paths, small = flat
    ellipses) ± ``lag_drift_deg`` slowly (the ellipses turn).  ``synchrony`` is the share of
    power from one pattern common to all body parts; ``harmonic`` adds a second harmonic
    (a non-sinusoidal repeated shape); ``slow_amplitude_deg`` at ``slow_freq_hz`` is an
    extra slow component (fidgety infants also make larger, slower movements).
    ``amplitude_deg`` is the equivalent sine amplitude (√2 × RMS) of the proximal limb
    joints' oscillation; head and trunk have their own.
    """

    label: str
    freq_hz: float
    freq_spread: float
    amplitude_deg: float
    amp_modulation: float
    freq_modulation: float
    modulation_s: float
    n_components: int
    component_decay: float
    phase_lag_deg: float
    lag_drift_deg: float
    synchrony: float
    harmonic: float
    jitter: float
    head_amplitude_deg: float
    trunk_rotation_deg: float
    slow_amplitude_deg: float
    slow_freq_hz: float

    def to_dict(self) -> dict:
        return asdict(self)


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


# Joint-angle channels: (group, chain position, gain relative to the group's amplitude).
# Limb angles are measured from the trunk's feet direction towards the infant's outside
# (mirrored per side, so equal values on both sides are a symmetric posture).
_SIDES = (("left", 1.0), ("right", -1.0))
_CHANNELS: dict[str, tuple[str, int, float]] = {}
for _side, _ in _SIDES:
    _CHANNELS |= {
        f"{_side}_shoulder": (f"{_side}_arm", 0, 1.0),
        f"{_side}_elbow": (f"{_side}_arm", 1, 0.9),
        f"{_side}_wrist": (f"{_side}_arm", 2, 0.5),
        f"{_side}_hip": (f"{_side}_leg", 0, 0.8),
        f"{_side}_knee": (f"{_side}_leg", 1, 1.0),
        f"{_side}_foot": (f"{_side}_leg", 2, 0.5),
    }
_CHANNELS |= {
    "head_tilt": ("head", 0, 0.5),
    "head_yaw": ("head", 1, 1.0),
    "trunk_bend": ("trunk", 0, 0.35),
    "shoulder_roll": ("trunk", 1, 1.0),
    "pelvis_roll": ("trunk", 2, 0.6),
}
_GROUPS = tuple(dict.fromkeys(g for g, _, _ in _CHANNELS.values()))
# Anatomical range (deg) per joint kind; angles saturate smoothly towards it.
_LIMITS = {
    "shoulder": (5.0, 165.0),
    "elbow": (0.0, 145.0),
    "wrist": (-40.0, 50.0),
    "hip": (-10.0, 65.0),
    "knee": (0.0, 115.0),
    "foot": (-20.0, 60.0),
    "head_tilt": (-25.0, 25.0),
    "head_yaw": (-45.0, 45.0),
    "trunk_bend": (-10.0, 10.0),
    "shoulder_roll": (-30.0, 30.0),
    "pelvis_roll": (-30.0, 30.0),
}
# Resting posture ranges (deg) per infant: arms abducted with elbows flexed, legs flexed and
# abducted (frog-like), head often turned a little to one side.
_REST = {
    "shoulder": (35.0, 80.0),
    "elbow": (20.0, 90.0),
    "wrist": (-10.0, 20.0),
    "hip": (15.0, 35.0),
    "knee": (10.0, 40.0),
    "foot": (10.0, 35.0),
    "head_tilt": (-8.0, 8.0),
    "head_yaw": (-15.0, 15.0),
}


def _kind(channel: str) -> str:
    return channel.split("_", 1)[1] if channel.startswith(("left_", "right_")) else channel


_REST_KEYS = frozenset(ch for ch in _CHANNELS if _kind(ch) in _REST)


def sample_rest(rng: np.random.Generator) -> dict[str, float]:
    rest = {}
    for ch in _CHANNELS:
        lo_hi = _REST.get(_kind(ch))
        rest[ch] = float(rng.uniform(*lo_hi)) if lo_hi else 0.0
    return rest


def subject_params(
    cfg: InfantCohortConfig, subject: str
) -> tuple[MovementParams, BodyShape, dict[str, float], float]:
    """Movement parameters, body, resting posture and age of one infant."""
    label = label_of(subject)
    age = subject_age(cfg, subject)
    body = sample_body(age, _rng(cfg.seed, subject, "body"))
    move = sample_movement(label, _rng(cfg.seed, subject, "movement"))
    rest = sample_rest(_rng(cfg.seed, subject, "rest"))
    return move, body, rest, age


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise of unit standard deviation (sigma in samples)."""
    sigma = max(sigma, 0.5)
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma, mode="reflect")[pad:-pad]
    delta = np.zeros(2 * pad + 1)
    delta[pad] = 1.0
    return x / np.sqrt(np.sum(gaussian_filter1d(delta, sigma, mode="constant") ** 2))


def _soft_limit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Identity inside the range's inner part, saturating smoothly (C1) towards its ends."""
    m = 0.2 * (hi - lo)
    a, b = lo + m, hi - m
    y = np.array(x, dtype=float)
    up, dn = y > b, y < a
    y[up] = b + m * np.tanh((y[up] - b) / m)
    y[dn] = a - m * np.tanh((a - y[dn]) / m)
    return y


class _Bank:
    """Oscillators of one body part: phases, amplitude envelopes and a distal lag."""

    def __init__(
        self, p: MovementParams, n: int, fps: float, rng: np.random.Generator, freq_hz: float
    ) -> None:
        k = p.n_components
        sig = p.modulation_s * fps
        freqs = freq_hz * np.exp(p.freq_spread * rng.standard_normal(k))
        freqs[0] = freq_hz * math.exp(0.3 * p.freq_spread * rng.standard_normal())
        freqs = np.clip(freqs, 0.1, 3.0)
        w = p.component_decay ** np.arange(k)
        self.weights = w / np.sqrt(np.sum(w**2))
        self.phase = np.empty((k, n))
        self.env = np.empty((k, n))
        self.spin = rng.choice([-1.0, 1.0], k)  # circling direction per component
        for i in range(k):
            inst = freqs[i] * (1 + p.freq_modulation * np.tanh(_smooth_noise(rng, n, sig)))
            walk = np.cumsum(rng.normal(0, p.jitter / math.sqrt(fps), n))
            self.phase[i] = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(inst) / fps + walk
            self.env[i] = 1 + p.amp_modulation * np.tanh(_smooth_noise(rng, n, sig))
        lag = math.radians(p.phase_lag_deg) * rng.choice([-1.0, 1.0])
        self.lag = lag + math.radians(p.lag_drift_deg) * np.tanh(_smooth_noise(rng, n, sig))
        self.harmonic = p.harmonic
        self.harmonic_phase = float(rng.uniform(0, 2 * np.pi))

    def signal(self, position: int, offset: float = 0.0) -> np.ndarray:
        """Unit-amplitude oscillation of the joint at ``position`` along the chain."""
        out = np.zeros(self.phase.shape[1])
        for i, w in enumerate(self.weights):
            ph = self.phase[i] + offset + self.spin[i] * position * self.lag
            out += w * self.env[i] * np.sin(ph)
        if self.harmonic:
            ph0 = self.phase[0] + offset + self.spin[0] * position * self.lag
            out += self.harmonic * self.env[0] * np.sin(2 * ph0 + self.harmonic_phase)
        return out


@dataclass
class Motion:
    """Generated movement in the body frame (trunk lengths; see the module docstring)."""

    fps: float
    joints: np.ndarray  # (T, 21, 2) the motorflow skeleton
    hands: np.ndarray  # (T, 2, 2) hand tips, (left, right)
    head: np.ndarray  # (T, 2) head centre
    crown: np.ndarray  # (T, 2) unit vector from the head centre towards the crown
    angles: dict[str, np.ndarray]  # realised channel angles (deg), (T,) each

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])


def simulate_motion(
    p: MovementParams,
    body: BodyShape,
    rest: dict[str, float],
    duration_s: float,
    fps: float,
    rng: np.random.Generator,
) -> Motion:
    """Joint-angle trajectories → limb chains in the body frame (constant bone lengths)."""
    n = int(round(duration_s * fps))
    own = {g: _Bank(p, n, fps, rng, p.freq_hz) for g in _GROUPS}
    master = _Bank(p, n, fps, rng, p.freq_hz)  # the pattern shared by all parts
    # Shared-pattern offset per group: small, so that synchronous parts move together.
    shared_offset = {g: float(rng.normal(0, 0.25)) for g in _GROUPS}
    slow = _Bank(p, n, fps, rng, p.slow_freq_hz) if p.slow_amplitude_deg > 0 else None
    amp = {"head": p.head_amplitude_deg, "trunk": p.trunk_rotation_deg}
    s = p.synchrony
    angles: dict[str, np.ndarray] = {}
    for ch, (group, pos, gain) in _CHANNELS.items():
        a = amp.get(group, p.amplitude_deg) * gain
        x = math.sqrt(s) * master.signal(pos, shared_offset[group])
        x = x + math.sqrt(1 - s) * own[group].signal(pos)
        val = rest[ch] + a * x
        if slow is not None and group not in amp:
            val = val + p.slow_amplitude_deg * gain * slow.signal(pos)
        angles[ch] = _soft_limit(val, *_LIMITS[_kind(ch)])
    # The trunk's in-plane bend has median zero, so the per-video placement is exact.
    angles["trunk_bend"] = angles["trunk_bend"] - np.median(angles["trunk_bend"])

    rad = {k: np.radians(v) for k, v in angles.items()}
    alpha = rad["trunk_bend"]
    up = np.stack([np.sin(alpha), -np.cos(alpha)], -1)  # towards the head
    lat = np.stack([np.cos(alpha), np.sin(alpha)], -1)  # towards the infant's left
    neck, crotch = 0.5 * up, -0.5 * up
    J = np.zeros((n, N_JOINTS, 2))
    hands = np.zeros((n, 2, 2))

    def u(phi: np.ndarray, sign: float) -> np.ndarray:
        """Limb direction ``phi`` from the feet direction, towards the side's outside."""
        return sign * np.sin(phi)[:, None] * lat - np.cos(phi)[:, None] * up

    for k, (side, sg) in enumerate(_SIDES):
        sh = neck + sg * 0.5 * body.shoulder_width * np.cos(rad["shoulder_roll"])[:, None] * lat
        a1 = rad[f"{side}_shoulder"]
        a2 = a1 + rad[f"{side}_elbow"]
        el = sh + body.upper_arm * u(a1, sg)
        wr = el + body.forearm * u(a2, sg)
        hands[:, k] = wr + body.hand * u(a2 + rad[f"{side}_wrist"], sg)
        hip = crotch + sg * 0.5 * body.hip_width * np.cos(rad["pelvis_roll"])[:, None] * lat
        b1 = rad[f"{side}_hip"]
        b2 = b1 - rad[f"{side}_knee"]  # knees flex towards the midline (frog posture)
        b3 = b2 + rad[f"{side}_foot"]
        kn = hip + body.thigh * u(b1, sg)
        an = kn + body.shank * u(b2, sg)
        for name, pt in (
            ("shoulder", sh),
            ("elbow", el),
            ("wrist", wr),
            ("hip", hip),
            ("knee", kn),
            ("ankle", an),
            # The foot is rigid: heel and toe turn together about the ankle.
            ("heel", an + 0.3 * body.foot * u(b3 - 0.6, sg)),
            ("toe", an + body.foot * u(b3, sg)),
        ):
            J[:, INDEX[f"{side}_{name}"]] = pt

    # Head: in-plane tilt about the neck, yaw (turning) moves the face across the head.
    r = body.head_radius
    tilt = rad["head_tilt"] + alpha
    crown = np.stack([np.sin(tilt), -np.cos(tilt)], -1)
    hlat = np.stack([np.cos(tilt), np.sin(tilt)], -1)
    head = neck + HEAD_OFFSET * r * crown
    yaw = rad["head_yaw"]
    for name, az, el_ in _FACE_POINTS:
        rel = np.sin(az + yaw) * math.cos(el_)
        J[:, INDEX[name]] = head + r * (rel[:, None] * hlat + math.sin(el_) * crown)
    return Motion(fps=fps, joints=J, hands=hands, head=head, crown=crown, angles=angles)


# Face keypoints on the head sphere: (joint, azimuth towards the infant's left, elevation
# towards the crown), radians; the drawing puts the features there.
_EYE, _NOSE, _EAR = (0.5, -0.05), (0.0, -0.3), (1.54, -0.12)
_FACE_POINTS = (
    ("nose", *_NOSE),
    ("left_eye", *_EYE),
    ("right_eye", -_EYE[0], _EYE[1]),
    ("left_ear", *_EAR),
    ("right_ear", -_EAR[0], _EAR[1]),
)


# --------------------------------------------------------------------------- placement


def body_axis(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame body axis from keypoints (T, 21, ≥2): angle (deg; 0 = head up, 90 = head
    right), centre (T, 2) and length (T,), the ``transform`` convention."""
    xy = np.asarray(keypoints)[..., :2]
    neck = 0.5 * (xy[:, INDEX["left_shoulder"]] + xy[:, INDEX["right_shoulder"]])
    crotch = 0.5 * (xy[:, INDEX["left_hip"]] + xy[:, INDEX["right_hip"]])
    d = neck - crotch
    return np.degrees(np.arctan2(d[:, 0], -d[:, 1])), 0.5 * (neck + crotch), np.hypot(*d.T)


@dataclass(frozen=True)
class Placement:
    """Similarity transform body frame → image: p_img = centre + L · R(θ) · p_body."""

    angle_deg: float
    centre: tuple[float, float]
    length_px: float

    def apply(self, pts: np.ndarray) -> np.ndarray:
        t = math.radians(self.angle_deg)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return np.asarray(self.centre) + self.length_px * (pts @ rot.T)

    def to_dict(self) -> dict:
        return {
            "axis_angle_deg": self.angle_deg,
            "centre_px": list(self.centre),
            "axis_len_px": self.length_px,
        }


def _outline_points(m: Motion, body: BodyShape) -> np.ndarray:
    """Body-frame points that bound the drawn figure (joints, hands, head outline)."""
    ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, 9)), np.sin(np.linspace(0, 2 * np.pi, 9))])
    head = m.head[:, None, :] + HEAD_ELONGATION * body.head_radius * ring.T[None]
    return np.concatenate([m.joints, m.hands, head], 1).reshape(-1, 2)


def sample_placement(
    cfg: InfantCohortConfig, m: Motion, body: BodyShape, rng: np.random.Generator
) -> Placement:
    """Random rotation, scale and offset that keep the whole figure inside the frame."""
    W, H = cfg.width, cfg.height
    angle = float(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    length = float(rng.uniform(cfg.body_frac_min, cfg.body_frac_max)) * H / body.length
    pts = _outline_points(m, body)
    pos = (float(rng.uniform()), float(rng.uniform()))
    for _ in range(60):  # shrink until the figure fits
        xy = Placement(angle, (0.0, 0.0), length).apply(pts)
        margin = 0.16 * body.girth * length + 4  # limb radii beyond the joints
        lo = margin - xy.min(0)
        hi = np.array([W, H]) - margin - xy.max(0)
        if np.all(hi >= lo):
            c = lo + np.array(pos) * (hi - lo)
            return Placement(angle, (float(c[0]), float(c[1])), length)
        length *= 0.97
    raise ValueError(f"frame {W}x{H} too small for the infant")


# --------------------------------------------------------------------------- appearance


@dataclass(frozen=True)
class InfantLook:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_cover: float  # 0 = bald … 1 = full cap
    style: str  # bodysuit | sleepsuit | shirt_diaper | diaper
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]


_HAIRS = [(20, 20, 25), (30, 50, 90), (60, 110, 170), (40, 40, 60), (90, 150, 200)]
_STYLES = ("bodysuit", "sleepsuit", "shirt_diaper", "diaper")
_STYLE_P = (0.35, 0.3, 0.2, 0.15)


def _colour(rng: np.random.Generator, sat: tuple[int, int], val: tuple[int, int]) -> tuple:
    hsv = np.uint8([[[rng.integers(180), rng.integers(*sat), rng.integers(*val)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _far(c: tuple, others: list[tuple[tuple, float]], rng: np.random.Generator, sat, val) -> tuple:
    """Redraw ``c`` until it is at least the given distance from each of ``others`` (colour,
    distance) pairs, within a few tries."""
    for _ in range(30):
        if all(np.linalg.norm(np.subtract(c, o)) >= d for o, d in others):
            break
        c = _colour(rng, sat, val)
    return c


def random_look(rng: np.random.Generator, skin: tuple[int, int, int]) -> InfantLook:
    style = str(rng.choice(_STYLES, p=_STYLE_P))
    if rng.uniform() < 0.15:  # white or grey babywear
        v = int(rng.integers(170, 245))
        top = (v, v, v)
    else:
        top = _colour(rng, (40, 220), (110, 240))
    top = _far(top, [(skin, 90)], rng, (40, 220), (80, 240))
    bottom = top if style in ("bodysuit", "sleepsuit") else (235, 240, 245)
    if style == "shirt_diaper" and rng.uniform() < 0.5:
        bottom = _far(
            _colour(rng, (60, 200), (90, 220)), [(skin, 60), (top, 60)], rng, (60, 200), (90, 220)
        )
    return InfantLook(
        skin=skin,
        hair=_HAIRS[int(rng.integers(len(_HAIRS)))],
        hair_cover=float(rng.uniform(0.0, 1.0)),
        style=style,
        top=top,
        bottom=bottom,
    )


def _background(
    w: int, h: int, rng: np.random.Generator, avoid: list[tuple[tuple, float]]
) -> tuple[np.ndarray, dict]:
    """A mat or blanket: base colour, a pattern, sometimes a second cloth with a fold-y edge.
    Its colours keep the given distances from ``avoid`` (colour, distance) pairs."""
    sat, val = (15, 200), (90, 245)
    base = _far(_colour(rng, sat, val), avoid, rng, sat, val)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = base
    kind = _pattern(img, rng, base)
    info = {"mat": kind, "cloth": False}
    if rng.uniform() < 0.55:  # a second cloth, e.g. a blanket edge or muslin, over part of it
        cloth = np.empty_like(img)
        c2 = _far(_colour(rng, sat, val), avoid + [(base, 50)], rng, sat, val)
        cloth[:] = c2
        _pattern(cloth, rng, c2)
        ang = rng.uniform(0, 2 * np.pi)
        nrm = np.array([math.cos(ang), math.sin(ang)])
        # Edge line through a point near the frame border, wavy like cloth.
        p0 = np.array([w, h]) * (0.5 + 0.45 * nrm * rng.uniform(0.5, 1.0))
        tang = np.array([-nrm[1], nrm[0]])
        s = np.linspace(-1.5 * (w + h), 1.5 * (w + h), 60)
        wave = rng.uniform(3, 15) * np.sin(s / rng.uniform(30, 90) + rng.uniform(0, 6))
        edge = p0 + s[:, None] * tang + wave[:, None] * nrm
        far = edge[::-1] + 3 * (w + h) * nrm
        poly = np.round(np.concatenate([edge, far]) * 16).astype(np.int32)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [poly], 255, cv2.LINE_AA, 4)
        a = (m.astype(np.float32) / 255)[..., None]
        img = (img * (1 - a) + cloth * a).astype(np.uint8)
        cv2.polylines(img, [poly[: len(edge)]], False, _shade(c2, 0.6), 2, cv2.LINE_AA, 4)
        info["cloth"] = True
    for _ in range(int(rng.integers(0, 4))):  # folds: soft darker and lighter streaks
        p = rng.uniform([0, 0], [w, h])
        d = rng.uniform(-1, 1, 2)
        q = p + d / (np.linalg.norm(d) + 1e-9) * rng.uniform(60, 250)
        fold = np.zeros((h, w), np.float32)
        cv2.line(fold, tuple(map(int, p)), tuple(map(int, q)), 1.0, int(rng.integers(3, 9)))
        fold = cv2.GaussianBlur(fold, (0, 0), 4)[..., None]
        img = np.clip(img * (1 - rng.uniform(0.1, 0.25) * fold), 0, 255).astype(np.uint8)
    texture = rng.normal(0, rng.uniform(1, 4), (h, w, 1)).astype(np.float32)
    img = np.clip(img + cv2.GaussianBlur(texture, (3, 3), 0)[..., None], 0, 255)
    return img.astype(np.uint8), info


def _pattern(img: np.ndarray, rng: np.random.Generator, base: tuple) -> str:
    h, w = img.shape[:2]
    kind = str(rng.choice(["plain", "stripes", "checks", "diamonds", "quilt"]))
    if rng.uniform() < 0.5:  # tone-on-tone or a second colour
        other = _shade(base, rng.uniform(0.7, 0.9))
    else:
        other = _colour(rng, (20, 180), (110, 245))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "stripes":
        a = rng.uniform(0, np.pi)
        period = rng.uniform(16, 90)
        img[((xx * math.cos(a) + yy * math.sin(a)) // (period / 2)) % 2 == 1] = other
    elif kind == "checks":
        size = rng.uniform(20, 80)
        img[((xx // size + yy // size) % 2) == 1] = other
    elif kind == "diamonds":
        # Small lozenges, always tone-on-tone: contrasting grids of small blobs (dots worst)
        # made the person detector miss the infant in whole videos (measured).
        other = _shade(base, rng.uniform(0.82, 0.92))
        step = int(rng.integers(25, 70))
        rad = max(3, int(step * rng.uniform(0.12, 0.3)))
        for y in range(0, h + step, step):
            for x in range((y // step % 2) * step // 2, w + step, step):
                pts = np.array([(x - rad, y), (x, y - rad), (x + rad, y), (x, y + rad)])
                cv2.fillConvexPoly(img, pts.astype(np.int32), other, cv2.LINE_AA)
    elif kind == "quilt":
        step = int(rng.integers(30, 90))
        for c in range(-h, w + h, step):
            cv2.line(img, (c, 0), (c + h, h), other, 2, cv2.LINE_AA)
            cv2.line(img, (c, 0), (c - h, h), other, 2, cv2.LINE_AA)
    return kind


def _toys(img: np.ndarray, occupied: np.ndarray, n: int, rng: np.random.Generator) -> list[str]:
    """Toys where the infant never lies (``occupied``), so they never cover it."""
    h, w = img.shape[:2]
    placed = []
    for _ in range(n):
        for _try in range(25):
            s = float(rng.uniform(14, 45))
            c = rng.uniform([-0.3 * s, -0.3 * s], [w + 0.3 * s, h + 0.3 * s])
            x0, y0 = int(max(c[0] - 1.6 * s, 0)), int(max(c[1] - 1.6 * s, 0))
            x1, y1 = int(min(c[0] + 1.6 * s, w)), int(min(c[1] + 1.6 * s, h))
            if x1 <= x0 or y1 <= y0 or occupied[y0:y1, x0:x1].any():
                continue
            kind = _draw_toy(img, c, s, rng)
            occupied[y0:y1, x0:x1] = 1
            placed.append(kind)
            break
    return placed


def _draw_toy(img: np.ndarray, c: np.ndarray, s: float, rng: np.random.Generator) -> str:
    col = _colour(rng, (120, 255), (120, 255))
    ci = tuple(int(v) for v in np.round(c))
    kind = str(rng.choice(["ball", "ring", "block", "rattle", "star"]))
    if kind == "ball":
        cv2.circle(img, ci, int(s), col, -1, cv2.LINE_AA)
        cv2.circle(img, ci, int(s), _shade(col, 0.6), 2, cv2.LINE_AA)
        hl = (int(c[0] - 0.35 * s), int(c[1] - 0.35 * s))
        cv2.circle(img, hl, max(2, int(0.25 * s)), _shade(col, 1.5), -1, cv2.LINE_AA)
    elif kind == "ring":
        cv2.circle(img, ci, int(s), col, max(3, int(0.3 * s)), cv2.LINE_AA)
    elif kind == "block":
        box = cv2.boxPoints(((c[0], c[1]), (1.5 * s, 1.5 * s), float(rng.uniform(0, 90))))
        cv2.fillConvexPoly(img, np.round(box).astype(np.int32), col, cv2.LINE_AA)
        inner = cv2.boxPoints(((c[0], c[1]), (0.8 * s, 0.8 * s), float(rng.uniform(0, 90))))
        cv2.fillConvexPoly(img, np.round(inner).astype(np.int32), _shade(col, 0.5), cv2.LINE_AA)
    elif kind == "rattle":
        d = rng.uniform(-1, 1, 2)
        d = d / (np.linalg.norm(d) + 1e-9)
        _capsule(img, c - 0.9 * s * d, c + 0.9 * s * d, 0.15 * s, 0.15 * s, _shade(col, 0.8))
        cv2.circle(img, tuple(np.round(c + s * d).astype(int)), int(0.5 * s), col, -1, 16)
        cv2.circle(img, tuple(np.round(c - s * d).astype(int)), int(0.35 * s), col, -1, 16)
    else:
        ang = rng.uniform(0, 2 * np.pi) + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, s, 0.45 * s)
        pts = c + np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], col, cv2.LINE_AA)
    return kind


# --------------------------------------------------------------------------- drawing


def _pt(p: np.ndarray) -> tuple[int, int]:
    return tuple(int(v) for v in np.round(np.asarray(p) * 16))


class _Figure:
    """Draws the infant of one video at any frame (image coordinates precomputed)."""

    def __init__(self, m: Motion, body: BodyShape, place: Placement, look: InfantLook) -> None:
        self.j = place.apply(m.joints)
        self.hands = place.apply(m.hands)
        self.head = place.apply(m.head)
        t = math.radians(place.angle_deg)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        self.crown = m.crown @ rot.T
        self.yaw = np.radians(m.angles["head_yaw"])
        self.roll_s = np.cos(np.radians(m.angles["shoulder_roll"]))
        self.L = place.length_px
        self.body = body
        self.look = look

    def draw(self, img: np.ndarray, t: int) -> None:
        J, L, g, lk = self.j[t], self.L, self.body.girth, self.look

        def p(name: str) -> np.ndarray:
            return J[INDEX[name]]

        suit = lk.style == "sleepsuit"
        limbs = lk.top if suit else lk.skin  # a sleepsuit covers arms, legs and feet
        # Where the drawing puts the anatomy (radii in trunk lengths L, g = girth): where a
        # pose model trained on human annotations (COCO, BlazePose) sees the joints, measured
        # with BlazePose in ``benchmarks/bench_infant_detection.py``.  Shoulder joint: the
        # centre of the upper arm's root, the torso's top-outer corner about one arm radius
        # beyond it; the neck starts at the shoulder line and the clothes' neckline sits on
        # it.  Hip joint: at the top of the thigh, whose root shows just beyond the pelvis'
        # side (pelvis and torso reach only ~0.06 g L past the hip joint, the leg opening
        # starts just below it).
        # Legs (under the torso, which covers the hip joints).
        for k, side in enumerate(("right", "left")):
            f = 0.94 if k == 0 else 1.0  # a slight shade difference between the two sides
            col = _shade(limbs, f)
            hip, kn, an = p(f"{side}_hip"), p(f"{side}_knee"), p(f"{side}_ankle")
            _capsule(img, hip, kn, 0.135 * g * L, 0.105 * g * L, col)
            _capsule(img, kn, an, 0.1 * g * L, 0.072 * g * L, col)
            foot = _shade(limbs, f * 0.97)
            _capsule(img, p(f"{side}_heel"), p(f"{side}_toe"), 0.075 * g * L, 0.06 * g * L, foot)
        # Torso: the hull of shoulders and hips, rounded by capsules along its edges.
        ls, rs, lh, rh = p("left_shoulder"), p("right_shoulder"), p("left_hip"), p("right_hip")
        neck, crotch = 0.5 * (ls + rs), 0.5 * (lh + rh)
        axis = neck - crotch
        down = -axis / (np.linalg.norm(axis) + 1e-9)
        torso = lk.skin if lk.style == "diaper" else lk.top
        quad = np.array([ls, rs, rh, lh])
        cv2.fillConvexPoly(img, np.round(quad * 16).astype(np.int32), torso, cv2.LINE_AA, 4)
        _capsule(img, ls, lh, 0.12 * g * L, 0.06 * g * L, torso)
        _capsule(img, rs, rh, 0.12 * g * L, 0.06 * g * L, torso)
        _capsule(img, ls, rs, 0.11 * g * L, 0.11 * g * L, torso, outline=False)
        _capsule(
            img, neck + 0.1 * L * down, crotch - 0.1 * L * down, 0.3 * L, 0.3 * L, torso, False
        )
        # Pelvis: diaper (or the suit over it), from the waist to between the thighs.
        lat = (lh - rh) / (np.linalg.norm(lh - rh) + 1e-9)  # towards the infant's left
        half = 0.5 * np.linalg.norm(lh - rh) + 0.06 * g * L
        pelvis = np.array(
            [
                crotch + half * lat - 0.3 * L * down,
                crotch + half * lat + 0.06 * L * down,
                crotch + 0.09 * L * lat + 0.2 * L * down,
                crotch - 0.09 * L * lat + 0.2 * L * down,
                crotch - half * lat + 0.06 * L * down,
                crotch - half * lat - 0.3 * L * down,
            ]
        )
        poly = np.round(pelvis * 16).astype(np.int32)
        cv2.fillPoly(img, [poly], lk.bottom, cv2.LINE_AA, 4)
        if lk.style != "sleepsuit":
            cv2.polylines(img, [poly], True, _shade(lk.bottom, 0.7), 2, cv2.LINE_AA, 4)
        else:  # the suit's soft crease along the groin, where the legs begin: without it
            # BlazePose put a sleepsuit's hips ~0.03 L too close to the shoulders (measured)
            cv2.polylines(img, [poly[1:5]], False, _shade(lk.bottom, 0.88), 2, cv2.LINE_AA, 4)
        if lk.bottom != torso:  # waistband
            cv2.line(img, _pt(pelvis[0]), _pt(pelvis[-1]), _shade(lk.bottom, 0.8), 3, 16, 4)
        # Front cues: skin at the clothes' neckline (down to the shoulder line, not below:
        # a skin patch below it read as neck and pulled the shoulders down); on a bare chest
        # nipples and a navel.
        if lk.style != "diaper":
            cv2.ellipse(
                img,
                _pt(neck - 0.04 * L * down),
                (int(0.14 * L * 16), int(0.08 * L * 16)),
                math.degrees(math.atan2(lat[1], lat[0])),
                0,
                360,
                lk.skin,
                -1,
                cv2.LINE_AA,
                4,
            )
        else:
            dot = _shade(lk.skin, 0.7)
            for q, rad in (
                (neck + 0.16 * L * lat + 0.25 * L * down, 0.035),
                (neck - 0.16 * L * lat + 0.25 * L * down, 0.035),
                (crotch - 0.42 * L * down, 0.03),
            ):
                cv2.circle(img, _pt(q), int(rad * L * 16), dot, -1, cv2.LINE_AA, 4)
        # Head: ears, face disc, hair cap, face features (only those turned towards us).
        self._draw_head(img, t, neck)
        # Arms on top (infants move their hands over their chest and face).
        for k, side in enumerate(("right", "left")):
            f = 0.94 if k == 0 else 1.0
            sh, el, wr = p(f"{side}_shoulder"), p(f"{side}_elbow"), p(f"{side}_wrist")
            hand = self.hands[t, 1 - k]
            _capsule(img, sh, el, 0.095 * g * L, 0.08 * g * L, _shade(limbs, f))
            if lk.style in ("bodysuit", "shirt_diaper"):  # short sleeve
                mid = sh + 0.55 * (el - sh)
                _capsule(img, sh, mid, 0.11 * g * L, 0.1 * g * L, _shade(lk.top, f))
            _capsule(img, el, wr, 0.08 * g * L, 0.064 * g * L, _shade(limbs, f))
            _capsule(img, wr, hand, 0.068 * g * L, 0.062 * g * L, _shade(lk.skin, f))

    def _draw_head(self, img: np.ndarray, t: int, neck: np.ndarray) -> None:
        lk, L = self.look, self.L
        r = self.body.head_radius * L
        hc, cr = self.head[t], self.crown[t]
        lat = np.array([-cr[1], cr[0]])  # towards the infant's left
        yaw = self.yaw[t]
        ang = math.degrees(math.atan2(lat[1], lat[0]))  # ellipses' x axis: the head's width
        skin_edge = _shade(lk.skin, 0.65)
        # Neck: from just below the shoulder line (its round end 0.04 L below) up into the
        # head, narrower than the head.  (A neck disc reaching 0.22 L below the shoulder line
        # made BlazePose place the shoulders low.)
        base = neck + 0.1 * L * (hc - neck) / (np.linalg.norm(hc - neck) + 1e-9)
        _capsule(img, base, hc, 0.14 * L, 0.14 * L, _shade(lk.skin, 0.92), outline=False)

        def on_head(az: float, el: float) -> tuple[tuple[int, int], float]:
            """A point of the head sphere (drawing units) and how much it faces the camera."""
            q = hc + r * (math.sin(az + yaw) * math.cos(el) * lat + math.sin(el) * cr)
            return _pt(q), math.cos(az + yaw) * math.cos(el)

        def ellipse(q, ax: float, ay: float, col, thick=-1, a0=0, a1=360) -> None:
            axes = (max(int(ax * 16), 8), max(int(ay * 16), 8))
            cv2.ellipse(img, q, axes, ang, a0, a1, col, thick, cv2.LINE_AA, 4)

        for sgn in (1, -1):  # ears, partly behind the head's rim
            q, facing = on_head(sgn * _EAR[0], _EAR[1])
            if facing > -0.5:
                ellipse(q, 0.2 * r, 0.3 * r, _shade(lk.skin, 0.85))
                ellipse(q, 0.2 * r, 0.3 * r, skin_edge, 2)
        ellipse(_pt(hc), r + 0.5, HEAD_ELONGATION * r + 0.5, skin_edge, 2)
        ellipse(_pt(hc), r, HEAD_ELONGATION * r, lk.skin)
        if lk.hair_cover > 0.15:  # hair: a cap on the crown side
            half = 35 + 45 * lk.hair_cover  # degrees of arc either side of the crown
            arc = cv2.ellipse2Poly(
                (0, 0), (1000, int(1000 * HEAD_ELONGATION)), 0, int(270 - half), int(270 + half), 5
            ).astype(float)
            pts = hc + r * (arc[:, :1] * lat - arc[:, 1:] * cr) / 1000
            cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], lk.hair, cv2.LINE_AA, 4)
        blush = _shade(lk.skin, 0.9)
        blush = (blush[0], blush[1], min(255, blush[2] + 25))
        for sgn in (1, -1):  # cheeks, eyes, brows
            q, facing = on_head(sgn * 0.85, -0.4)
            if facing > 0.2:
                ellipse(q, 0.16 * r * facing, 0.13 * r, blush)
            q, facing = on_head(sgn * _EYE[0], _EYE[1])
            if facing < 0.25:
                continue
            ex, ey = 0.2 * r * facing, 0.13 * r
            # Eyes open: closed eyes cost the (face-led) person detector whole videos.
            ellipse(q, ex, ey, (245, 245, 245))
            ellipse(q, 0.11 * r * facing, 0.11 * r, (35, 25, 15))
            ellipse(q, ex, ey, _shade(lk.skin, 0.5), 2)
            b, _ = on_head(sgn * _EYE[0], 0.25)
            ellipse(b, ex, 0.06 * r, _shade(lk.skin, 0.55), 3, 180, 360)
        q, facing = on_head(*_NOSE)
        if facing > 0.2:
            ellipse(q, 0.1 * r, 0.08 * r, _shade(lk.skin, 0.78))
        q, facing = on_head(0.0, -0.6)  # mouth
        if facing > 0.2:
            ellipse(q, 0.2 * r * facing, 0.08 * r, (80, 70, 185))
            ellipse(q, 0.2 * r * facing, 0.08 * r, (50, 40, 120), 2)


# --------------------------------------------------------------------------- video


def render_video(
    cfg: InfantCohortConfig,
    video_id: str,
    subject: str,
    out_video: str | Path,
    out_truth: str | Path,
    out_params: str | Path,
    out_masks: str | Path,
) -> dict:
    """Render one cohort video and write its truth files; returns the truth dict."""
    move, body, rest, age = subject_params(cfg, subject)
    rng = _rng(cfg.seed, video_id, "render")
    # The same infant rests a little differently in each video.
    rest = {k: v + float(rng.normal(0, 5)) if k in _REST_KEYS else v for k, v in rest.items()}
    motion = simulate_motion(move, body, rest, cfg.duration_s, cfg.fps, rng)
    place = sample_placement(cfg, motion, body, rng)
    skin = _SKINS[int(_rng(cfg.seed, subject, "skin").integers(len(_SKINS)))]
    look = random_look(rng, skin)
    fig = _Figure(motion, body, place, look)

    W, H, T = cfg.width, cfg.height, motion.n_frames
    # The mat contrasts with the infant's skin and clothes: a sleepsuit on a mat of nearly its
    # colour made the detector miss the infant in many frames (measured).
    bg, scene = _background(W, H, rng, [(look.skin, 80), (look.top, 100)])
    occupied = np.zeros((H, W, 3), np.uint8)
    for t in range(0, T, 5):  # where the infant lies at any time, dilated
        fig.draw(occupied, t)
    occupied = cv2.dilate(occupied.any(-1).astype(np.uint8), np.ones((15, 15), np.uint8))
    scene["toys"] = _toys(bg, occupied, int(rng.integers(0, cfg.max_toys + 1)), rng)

    # Lighting: a fixed gradient and vignette, and a flickering, slowly drifting gain.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ga = rng.uniform(0, 2 * np.pi)
    grad = (xx - W / 2) * math.cos(ga) + (yy - H / 2) * math.sin(ga)
    light = 1 + rng.uniform(0.05, 0.25) * grad / max(W, H)
    light -= rng.uniform(0, 0.3) * ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / (W**2 + H**2) * 2
    light = (light * rng.uniform(0.8, 1.15))[..., None].astype(np.float32)
    tt = np.arange(T) / cfg.fps
    gain = 1 + rng.uniform(0, 0.05) * np.sin(2 * np.pi * rng.uniform(0.3, 3) * tt)
    gain = gain + 0.03 * np.tanh(_smooth_noise(rng, T, 3 * cfg.fps))
    noise_sd = float(rng.uniform(1.5, 5.0))
    # Sensor noise from a small bank of frames, shifted per frame: per-frame normal() draws
    # at 480p would double the rendering time.
    bank = rng.normal(0, noise_sd, (4, H, W, 3)).astype(np.float32)

    mask_frames = np.arange(0, T, cfg.mask_every)
    masks = np.zeros((len(mask_frames), H, W), bool)
    white = np.full((H, W, 3), 255, np.uint8)
    bg_white = (bg == 255).all(-1)
    with VideoWriter(out_video, W, H, cfg.fps) as vw:
        for t in range(T):
            frame = bg.copy()
            fig.draw(frame, t)
            if t % cfg.mask_every == 0:
                # Pixels the figure covers fully read the same on the mat and on white (edge
                # pixels blend with what lies below); where the mat itself is white, compare
                # with black as well.
                w = white.copy()
                fig.draw(w, t)
                m = (frame == w).all(-1)
                if bg_white.any():
                    b = np.zeros_like(w)
                    fig.draw(b, t)
                    m &= (b == w).all(-1)
                masks[t // cfg.mask_every] = m
            noise = np.roll(bank[t % 4], tuple(rng.integers(0, (H, W))), axis=(0, 1))
            lit = frame.astype(np.float32) * (light * np.float32(gain[t])) + noise
            vw.write(np.clip(lit, 0, 255).astype(np.uint8))

    kp = np.concatenate([fig.j, np.ones((T, N_JOINTS, 1))], -1).astype(np.float32)
    save_pose(
        PoseData(
            keypoints=kp,
            fps=cfg.fps,
            frame_size=(W, H),
            backend="truth",
            backend_version=BACKEND_VERSION,
        ),
        out_truth,
    )
    with atomic_path(out_masks) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            frames=mask_frames.astype(np.int64),
            masks=np.packbits(masks.ravel()),
            shape=np.array(masks.shape, np.int64),
        )
    truth = {
        "video_id": video_id,
        "subject_id": subject,
        "label": move.label,
        "age_weeks": age,
        "fps": cfg.fps,
        "n_frames": int(T),
        "frame_size": [W, H],
        "movement": move.to_dict(),
        "rest_posture_deg": rest,
        "body": body.to_dict(),
        "transform": place.to_dict(),
        "body_length_px": body.length * place.length_px,
        "look": asdict(look),
        "scene": scene,
        "noise_sd": noise_sd,
        "mask_every": cfg.mask_every,
    }
    write_json(truth, out_params)
    return truth


def load_masks(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices (K,), bool masks (K, H, W)) of a ``render_video`` mask file."""
    with np.load(path, allow_pickle=False) as z:
        shape = tuple(int(v) for v in z["shape"])
        bits = np.unpackbits(z["masks"], count=int(np.prod(shape)))
        return z["frames"].astype(np.int64), bits.reshape(shape).astype(bool)
