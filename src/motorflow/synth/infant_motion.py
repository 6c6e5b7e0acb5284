"""Movement of the synthetic infants: a supine body driven by joint-angle oscillators.

Joints are generated in a 2-D body frame as limb chains driven by joint-angle trajectories
(bone lengths stay constant); every channel (joint angle) is a sum of slowly modulated
oscillators around a resting posture, saturating smoothly at the joint's anatomical range
(:class:`MovementParams`; the classes' parameter ranges are in
:mod:`motorflow.synth.infant_cohort`, the placement in the image and the drawing in
:mod:`motorflow.synth.infant_render`).

Body frame: units of the trunk length (neck to crotch = 1), origin midway between neck and
crotch, x towards the infant's left (image right when the head points up: the camera sees
the infant's front), y towards the feet.  ``neck`` is the midpoint of the shoulders and
``crotch`` the midpoint of the hips, as in the ``transform`` convention.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from motorflow.skeleton import INDEX, N_JOINTS
from motorflow.synth.common import smooth_noise

# Head centre sits this many head radii above the neck (infants have hardly any neck), and
# the head ellipse is this much longer along the body axis than wide: the chin lies
# (HEAD_OFFSET - HEAD_ELONGATION) r ~ 0.07 trunk lengths above the shoulder joints, about at
# the top of the shoulders, with a short neck between.  With the chin at or below the
# shoulder line (HEAD_OFFSET 0.95) BlazePose put the shoulders ~0.05 trunk lengths too close
# to the hips (measured).
HEAD_OFFSET = 1.3
HEAD_ELONGATION = 1.08


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


def vary_rest(rest: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """The same infant rests a little differently in each video: the posture channels ± 5°."""
    return {k: v + float(rng.normal(0, 5)) if k in _REST_KEYS else v for k, v in rest.items()}


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
            inst = freqs[i] * (1 + p.freq_modulation * np.tanh(smooth_noise(rng, n, sig)))
            walk = np.cumsum(rng.normal(0, p.jitter / math.sqrt(fps), n))
            self.phase[i] = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(inst) / fps + walk
            self.env[i] = 1 + p.amp_modulation * np.tanh(smooth_noise(rng, n, sig))
        lag = math.radians(p.phase_lag_deg) * rng.choice([-1.0, 1.0])
        self.lag = lag + math.radians(p.lag_drift_deg) * np.tanh(smooth_noise(rng, n, sig))
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
EYE, NOSE, EAR = (0.5, -0.05), (0.0, -0.3), (1.54, -0.12)
_FACE_POINTS = (
    ("nose", *NOSE),
    ("left_eye", *EYE),
    ("right_eye", -EYE[0], EYE[1]),
    ("left_ear", *EAR),
    ("right_ear", -EAR[0], EAR[1]),
)
