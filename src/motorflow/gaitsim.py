"""Kinematic walking model: clinically parameterised gait → 3D joint trajectories and truth.

The model is sagittal joint-angle curves (hip, knee, ankle flexion over the gait cycle, shaped
like normative curves and scaled by the subject's parameters) driven by a per-leg gait phase
with stride-to-stride variability.  The pelvis is *not* moved at a prescribed speed: its
height keeps the lowest foot point on the floor and its forward motion keeps the grounded
foot point still, so feet never slide and step length, speed and cadence emerge from the
kinematics exactly as they would be measured.  The realised values are what the truth JSON
records (they differ slightly from the drawn targets).

Local frame of the walker: X forward, Y up, Z to the walker's right (X × Y), metres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from motorflow.skeleton import INDEX, JOINT_NAMES

SIDES = ("left", "right")
# A foot point within 1 % of stature of the floor counts as contact (as a video would see it).
CONTACT_TOL = 0.01
# Phase after which a foot is certainly in swing (toe-off happens before it).
SWING_START = 0.68


@dataclass(frozen=True)
class GaitParams:
    """Targets that drive one subject's gait (per side where the pathology is one-sided)."""

    height_m: float
    cadence_steps_per_min: float
    step_length_leg: float  # target step length in leg lengths (realised value is measured)
    knee_flexion_ic_deg: tuple[float, float]  # (left, right): crouch
    knee_rom_deg: tuple[float, float]
    hip_flexion_mean_deg: float
    ankle_rom_deg: tuple[float, float]
    step_time_offset: float  # fraction of a stride by which the right IC lags half a cycle
    hip_amplitude_deg: tuple[float, float]  # half hip excursion per side (sets step length)
    trunk_lean_deg: float
    trunk_sway_deg: float  # peak-to-peak sagittal trunk oscillation
    stride_cv: float  # stride-to-stride variability of stride duration
    arm_swing_deg: tuple[float, float]
    elbow_flexion_deg: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Anthropometry:
    """Segment lengths (m) from stature, after Winter's proportions."""

    height: float

    @property
    def thigh(self) -> float:
        return 0.245 * self.height

    @property
    def shank(self) -> float:
        return 0.246 * self.height

    @property
    def ankle_height(self) -> float:
        return 0.039 * self.height

    @property
    def foot(self) -> float:
        return 0.152 * self.height

    @property
    def leg_length(self) -> float:
        """Hip joint to floor, standing."""
        return self.thigh + self.shank + self.ankle_height

    @property
    def hip_half_width(self) -> float:
        return 0.085 * self.height

    @property
    def shoulder_half_width(self) -> float:
        return 0.12 * self.height

    @property
    def trunk(self) -> float:
        """Hip centre to shoulder centre."""
        return 0.29 * self.height

    @property
    def upper_arm(self) -> float:
        return 0.186 * self.height

    @property
    def forearm(self) -> float:
        return 0.146 * self.height

    @property
    def head_radius(self) -> float:
        return 0.065 * self.height

    @property
    def neck(self) -> float:
        return 0.05 * self.height


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic Gaussian bump on the unit gait cycle, peak 1 at ``centre``."""
    d = (phase - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def joint_angles(phase: np.ndarray, p: GaitParams, side: int) -> dict[str, np.ndarray]:
    """Hip/knee/ankle flexion (deg) over the cycle; phase 0 = initial contact."""
    hip_amp = p.hip_amplitude_deg[side]
    # Hip: peak flexion late in swing (0.9), peak extension at terminal stance (0.55); the
    # extension lasts the whole stance, so the cycle is warped rather than a plain cosine.
    u = (phase + 0.1) % 1.0
    warped = np.where(u < 0.65, 0.5 * u / 0.65, 0.5 + 0.5 * (u - 0.65) / 0.35)
    hip = p.hip_flexion_mean_deg + hip_amp * np.cos(2 * np.pi * warped)
    # Knee: loading-response bump, near-extension in mid-stance, large bump in swing.
    k_ic = p.knee_flexion_ic_deg[side]
    swing = p.knee_rom_deg[side]
    knee = k_ic + 0.25 * swing * _bump(phase, 0.13, 0.06) + swing * _bump(phase, 0.71, 0.11)
    knee -= 0.04 * swing * _bump(phase, 0.42, 0.1)  # mid-stance extension
    # Ankle: dorsiflexion through stance, push-off plantarflexion, dorsiflexed in swing.
    a = p.ankle_rom_deg[side]
    ankle = a * (0.4 * _bump(phase, 0.42, 0.12) - 0.6 * _bump(phase, 0.62, 0.06))
    ankle += 0.3 * a * _bump(phase, 0.8, 0.08) - 0.1 * a * _bump(phase, 0.06, 0.04)
    return {"hip": hip, "knee": knee, "ankle": ankle}


def stride_phase(
    t: np.ndarray, stride_s: float, cv: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous left-leg phase (cycles, unwrapped) with stride durations varying by ``cv``."""
    n = int(np.ceil(t[-1] / (stride_s * (1 - 3 * cv))) + 4)
    durations = stride_s * (1 + cv * np.clip(rng.standard_normal(n), -2.5, 2.5))
    start = -rng.uniform(0, 1) * durations[0]
    edges = start + np.concatenate([[0.0], np.cumsum(durations)])
    phase = np.interp(t, edges, np.arange(len(edges), dtype=float))
    return phase, durations


@dataclass
class Walk:
    """Simulated walk: 3D joints per frame in the walker's frame, plus gait events."""

    joints: np.ndarray  # (T, V, 3) metres, JOINT_NAMES order
    t: np.ndarray
    pelvis: np.ndarray  # (T, 3)
    knee: np.ndarray  # (T, 2) flexion deg (left, right)
    hip: np.ndarray
    ankle: np.ndarray
    trunk_pitch: np.ndarray  # (T,) deg, + = forward lean
    phase: np.ndarray  # (T, 2) unwrapped cycles
    contact: np.ndarray  # (T, 2) foot on the floor
    anthro: Anthropometry


def _leg_chain(
    hip_xy: np.ndarray, ang: dict[str, np.ndarray], a: Anthropometry
) -> dict[str, np.ndarray]:
    """Sagittal forward kinematics for one leg; angles measured as in clinical gait analysis."""
    h = np.radians(ang["hip"])
    s = np.radians(ang["hip"] - ang["knee"])  # shank angle from the downward vertical
    foot_el = s + np.radians(ang["ankle"])  # foot elevation (toe up +)
    knee = hip_xy + a.thigh * np.stack([np.sin(h), -np.cos(h)], -1)
    ankle = knee + a.shank * np.stack([np.sin(s), -np.cos(s)], -1)
    u = np.stack([np.cos(foot_el), np.sin(foot_el)], -1)  # along the sole, heel → toe
    n = np.stack([-np.sin(foot_el), np.cos(foot_el)], -1)  # sole normal
    heel = ankle - 0.22 * a.foot * u - a.ankle_height * n
    toe = heel + a.foot * u
    return {"hip": hip_xy, "knee": knee, "ankle": ankle, "heel": heel, "toe": toe}


def simulate_walk(
    p: GaitParams, duration_s: float, fps: float, rng: np.random.Generator, oversample: int = 8
) -> Walk:
    """Integrate the walker on a fine time grid (for exact contact), then sample frames."""
    a = Anthropometry(p.height_m)
    n_fine = int(round(duration_s * fps * oversample)) + 1
    tf = np.arange(n_fine) / (fps * oversample)
    stride_s = 120.0 / p.cadence_steps_per_min
    ph_l, _ = stride_phase(tf, stride_s, p.stride_cv, rng)
    ph_r = ph_l + 0.5 + p.step_time_offset
    phases = (ph_l, ph_r)

    zero = np.zeros((n_fine, 2))
    legs, angles = [], []
    for side in (0, 1):
        ang = joint_angles(phases[side] % 1.0, p, side)
        angles.append(ang)
        legs.append(_leg_chain(zero, ang, a))

    # Grounding: the lowest material foot point (heel or toe of either leg) rests on the floor
    # and does not slide; the pelvis moves to honour that.
    pts = np.stack([legs[s][k] for s in (0, 1) for k in ("heel", "toe")], 1)  # (n, 4, 2)
    # A swinging foot may not bear weight even when its toe passes close to the floor.
    loadable = np.stack(
        [(phases[s] % 1.0 < SWING_START) | (phases[s] % 1.0 > 0.95) for s in (0, 1)], 1
    )
    loadable = np.repeat(loadable, 2, axis=1)
    lowest = np.argmin(np.where(loadable, pts[..., 1], np.inf), axis=1)
    pelvis_y = -pts[np.arange(n_fine), lowest, 1]
    rel_x = pts[..., 0]
    vel = np.zeros(n_fine)
    vel[1:] = -(rel_x[1:, :] - rel_x[:-1, :])[np.arange(n_fine - 1), lowest[1:]]
    pelvis_x = np.cumsum(vel)
    pelvis_x -= pelvis_x[0]
    # Contact: a foot point near the floor and (nearly) still in the world; the speed gate
    # keeps a low-clearance swing toe from counting as a step.
    dt = 1.0 / (fps * oversample)
    world_vx = np.gradient(rel_x + pelvis_x[:, None], dt, axis=0)
    near = (pts[..., 1] + pelvis_y[:, None] < CONTACT_TOL * a.height) & loadable
    still = np.abs(world_vx) < 0.25 * a.leg_length
    contact_fine = np.stack(
        [np.any((near & still)[:, 2 * s : 2 * s + 2], axis=1) for s in (0, 1)], 1
    )

    # Trunk: forward lean plus sway at step frequency; small lateral roll at stride frequency.
    pitch = p.trunk_lean_deg + 0.5 * p.trunk_sway_deg * np.sin(2 * np.pi * 2 * (ph_l - 0.1))
    roll = 0.3 * p.trunk_sway_deg * np.sin(2 * np.pi * ph_l)
    pr, rr = np.radians(pitch), np.radians(roll)
    trunk_dir = np.stack([np.sin(pr), np.cos(pr) * np.cos(rr), np.sin(rr)], -1)
    lateral = np.stack([np.zeros_like(rr), -np.sin(rr), np.cos(rr)], -1)  # toward right

    pelvis = np.stack([pelvis_x, pelvis_y, 0.01 * a.height * np.sin(2 * np.pi * ph_l)], -1)
    J = np.full((n_fine, len(JOINT_NAMES), 3), np.nan)
    for side, name in enumerate(SIDES):
        zoff = (-1 if side == 0 else 1) * a.hip_half_width
        for k, xy in legs[side].items():
            J[:, INDEX[f"{name}_{k}"], 0] = xy[:, 0] + pelvis_x
            J[:, INDEX[f"{name}_{k}"], 1] = xy[:, 1] + pelvis_y
            # Feet point slightly outward; knees track over the feet.
            J[:, INDEX[f"{name}_{k}"], 2] = zoff * (1.0 if k == "hip" else 0.9) + pelvis[:, 2]
    neck = pelvis + a.trunk * trunk_dir
    for side, name in enumerate(SIDES):
        sgn = -1 if side == 0 else 1
        sh = neck + sgn * a.shoulder_half_width * lateral
        # Arm swings with the opposite leg's hip excursion.
        other = angles[1 - side]["hip"] - p.hip_flexion_mean_deg
        ratio = p.arm_swing_deg[side] / max(p.hip_amplitude_deg[1 - side], 1e-6)
        shoulder_flex = np.radians(ratio * other - 0.3 * pitch)
        elbow = np.radians(p.elbow_flexion_deg[side] + 8 * np.sin(2 * np.pi * phases[1 - side]))
        up = shoulder_flex
        el = sh + a.upper_arm * np.stack([np.sin(up), -np.cos(up), np.zeros_like(up)], -1)
        fa = up + elbow
        wr = el + a.forearm * np.stack([np.sin(fa), -np.cos(fa), np.zeros_like(fa)], -1)
        J[:, INDEX[f"{name}_shoulder"]] = sh
        J[:, INDEX[f"{name}_elbow"]] = el + np.array([0, 0, sgn * 0.01 * a.height])
        J[:, INDEX[f"{name}_wrist"]] = wr + np.array([0, 0, sgn * 0.02 * a.height])
    head = neck + (a.neck + a.head_radius) * trunk_dir
    r = a.head_radius
    fwd = np.array([1.0, 0.0, 0.0])
    up_v = np.array([0.0, 1.0, 0.0])
    right_v = np.array([0.0, 0.0, 1.0])
    J[:, INDEX["nose"]] = head + r * (1.05 * fwd - 0.15 * up_v)
    for side, name in enumerate(SIDES):
        sgn = -1 if side == 0 else 1
        J[:, INDEX[f"{name}_eye"]] = head + r * (0.85 * fwd + 0.2 * up_v + sgn * 0.42 * right_v)
        J[:, INDEX[f"{name}_ear"]] = head + r * (-0.05 * fwd + 0.05 * up_v + sgn * 0.98 * right_v)

    sl = slice(None, None, oversample)
    ang_arr = {k: np.stack([angles[0][k], angles[1][k]], 1)[sl] for k in ("hip", "knee", "ankle")}
    return Walk(
        joints=J[sl],
        t=tf[sl],
        pelvis=pelvis[sl],
        knee=ang_arr["knee"],
        hip=ang_arr["hip"],
        ankle=ang_arr["ankle"],
        trunk_pitch=pitch[sl],
        phase=np.stack([ph_l, ph_r], 1)[sl],
        contact=contact_fine[sl],
        anthro=a,
    )


def _cycle_stat(values: np.ndarray, cycle: np.ndarray, fn) -> float:
    """Mean over complete gait cycles (cycle index >= 0) of ``fn(values within the cycle)``."""
    out = [fn(values[cycle == c]) for c in np.unique(cycle[cycle >= 0]) if (cycle == c).sum() > 3]
    return float(np.mean(out)) if out else float("nan")


def _onsets(t: np.ndarray, contact: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Times at which contact starts (initial contact), mid-way between samples.

    An initial contact ends a swing: a contact that breaks off and resumes within one stance
    (the grounded point slipping past the "still" gate in double support) is not a new step.
    """
    k = np.flatnonzero(~contact[:-1] & contact[1:]) + 1
    u = phase % 1.0
    seen_swing = np.cumsum((u >= SWING_START) & (u <= 0.95))
    keep, last = [], 0
    for i in k:
        if seen_swing[i - 1] > last:
            keep.append(i)
            last = seen_swing[i - 1]
    k = np.asarray(keep, dtype=int)
    return 0.5 * (t[k - 1] + t[k])


def gait_truth(w: Walk) -> dict:
    """Realised gait parameters of a simulated walk, named as the feature table names them.

    Initial contact is the onset of floor contact of a foot (``CONTACT_TOL``); a gait cycle
    runs from one initial contact to the next of the same foot.
    """
    t, a = w.t, w.anthro
    ic_times = [_onsets(t, w.contact[:, s], w.phase[:, s]) for s in (0, 1)]
    cycle = np.full((len(t), 2), -1)
    for s in (0, 1):
        for c, (t0, t1) in enumerate(zip(ic_times[s][:-1], ic_times[s][1:], strict=True)):
            cycle[(t >= t0) & (t < t1), s] = c
    events = sorted((float(tt), s) for s in (0, 1) for tt in ic_times[s])
    step_times = np.diff([e[0] for e in events])
    strides = np.concatenate([np.diff(ic_times[0]), np.diff(ic_times[1])])
    # Step length: forward distance from the other heel's landing point to this heel's.
    heel = {s: w.joints[:, INDEX[f"{SIDES[s]}_heel"], 0] for s in (0, 1)}
    steps: list[list[float]] = [[], []]
    for (t_a, s_a), (t_b, s_b) in zip(events[:-1], events[1:], strict=True):
        if s_a != s_b:
            steps[s_b].append(float(np.interp(t_b, t, heel[s_b]) - np.interp(t_a, t, heel[s_a])))
    step_len = float(np.mean(steps[0] + steps[1]))
    t0, t1 = ic_times[0][0], ic_times[0][-1]
    speed = (np.interp(t1, t, w.pelvis[:, 0]) - np.interp(t0, t, w.pelvis[:, 0])) / (t1 - t0)

    stance = [
        100 * _cycle_stat(w.contact[:, s].astype(float), cycle[:, s], np.mean) for s in (0, 1)
    ]
    both = (w.contact[:, 0] & w.contact[:, 1]).astype(float)
    step_asym = abs(np.mean(steps[0]) - np.mean(steps[1])) / np.mean(steps[0] + steps[1])
    st: list[list[float]] = [[], []]
    for (t_a, _), (t_b, s_b) in zip(events[:-1], events[1:], strict=True):
        st[s_b].append(t_b - t_a)  # step time ending at this side's initial contact
    time_asym = abs(np.mean(st[0]) - np.mean(st[1])) / np.mean(st[0] + st[1])

    def per_side(arr: np.ndarray, fn) -> tuple[float, float]:
        return tuple(_cycle_stat(arr[:, s], cycle[:, s], fn) for s in (0, 1))

    def at_ic(arr: np.ndarray) -> tuple[float, float]:
        return tuple(float(np.mean(np.interp(ic_times[s], t, arr[:, s]))) for s in (0, 1))

    def min_stance(arr: np.ndarray) -> tuple[float, float]:
        return tuple(
            _cycle_stat(np.where(w.contact[:, s], arr[:, s], np.inf), cycle[:, s], np.min)
            for s in (0, 1)
        )

    truth = {
        "cadence_steps_per_min": 60.0 / float(np.mean(step_times)),
        "stride_time_s": float(np.mean(strides)),
        "step_time_s": float(np.mean(step_times)),
        "stance_pct_left": stance[0],
        "stance_pct_right": stance[1],
        "double_support_pct": 100 * _cycle_stat(both, cycle[:, 0], np.mean),
        "step_length_m": step_len,
        "step_length_leg": step_len / a.leg_length,
        "stride_length_leg": float(speed * np.mean(strides) / a.leg_length),
        "walking_speed_m_per_s": float(speed),
        "walking_speed_leg_per_s": float(speed / a.leg_length),
        "trunk_sway_deg": _cycle_stat(w.trunk_pitch, cycle[:, 0], np.ptp),
        "step_length_asymmetry": float(step_asym),
        "step_time_asymmetry": float(time_asym),
        "stride_time_cv": float(np.std(strides) / np.mean(strides)),
        "n_cycles": int(min(len(ic_times[0]), len(ic_times[1])) - 1),
        "leg_length_m": a.leg_length,
        "height_m": a.height,
    }
    for name, vals in (
        ("knee_flexion_initial_contact_deg", at_ic(w.knee)),
        ("knee_flexion_max_extension_deg", min_stance(w.knee)),
        ("knee_flexion_peak_swing_deg", per_side(w.knee, np.max)),
        ("knee_rom_deg", per_side(w.knee, np.ptp)),
        ("hip_rom_deg", per_side(w.hip, np.ptp)),
        ("ankle_rom_deg", per_side(w.ankle, np.ptp)),
    ):
        truth[f"{name}_left"], truth[f"{name}_right"] = float(vals[0]), float(vals[1])
    truth["initial_contact_s"] = {"left": ic_times[0].tolist(), "right": ic_times[1].tolist()}
    return truth
