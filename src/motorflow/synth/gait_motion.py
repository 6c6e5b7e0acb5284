"""Kinematic walking model: clinically parameterised gait → 3D joint trajectories and truth.

The model is sagittal joint-angle curves (hip, knee, ankle flexion over the gait cycle, shaped
like normative curves and scaled by the subject's parameters) driven by a per-leg gait phase
with stride-to-stride variability.  The pelvis is *not* moved at a prescribed speed: the leg
that landed last carries it, its lowest foot point resting on the floor and staying still, so
feet never slide and step length, speed and cadence emerge from the kinematics exactly as they
would be measured.  Contact is a state, not a threshold: a foot lands at the end of its swing
(the body lowering onto it or the supporting heel rising, as the legs' geometry needs), and
through double support the trailing foot keeps its toe on the floor, the foot pivoting about
it (knee and ankle follow, so push-off plantarflexion and pre-swing knee flexion emerge) until
its toe-off phase, later for slower or more crouched gait, or until the leg can no longer reach
the floor.  In swing the foot is held clear of the floor.  The realised angles and contacts,
not the curves, are what the walk records and what the truth JSON reports.

Local frame of the walker: X forward, Y up, Z to the walker's right (X × Y), metres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from motorflow.anthropometry import ADULT_LEG_FRACTION, leg_length_fraction
from motorflow.skeleton import INDEX, JOINT_NAMES

SIDES = ("left", "right")
# Curve phase at which the joint-angle curves put toe-off; each leg's stance target
# (stance_target) is mapped onto it by warping the phase, so a longer stance stretches them.
PSI_TO = 0.62
# Curve phase from which a swinging foot comes down to land at phase 1; before it the foot
# is held clear of the floor.
PSI_LAND = 0.85
# Toe clearance held in swing (fraction of stature), and how fast (deg of ankle per gait
# cycle) the dorsiflexion that keeps it may come and go.
SWING_CLEARANCE = 0.01
CLEARANCE_RATE_DEG = 400.0
# Gait cycles over which a leg blends from its realised toe-off posture into the swing curves.
TO_BLEND = 0.1
# Push-off plantarflexion beyond the curve's, at which the trailing foot leaves the floor.
PF_MARGIN_DEG = 8.0
# Fastest push-off plantarflexion (deg per gait cycle; ~400 is typical at toe-off).
MAX_PF_RATE = 600.0
# Relative cost of deviating hip and knee from their curves where a foot is held on the floor;
# the ankle's is 1 at a typical 25 deg range and rises for stiffer ankles (up to 4).
IK_COST = (4.0, 1.0)


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
    age_months: float | None = None  # sets the leg proportion (adult where None)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Anthropometry:
    """Segment lengths (m) from stature, after Winter's proportions.

    ``leg_fraction``: hip height per stature (:func:`motorflow.anthropometry.
    leg_length_fraction`; Winter's adult 0.530, less for a child).  A child's shorter legs
    scale thigh, shank and ankle height; the trunk takes up the rest of the stature.
    """

    height: float
    leg_fraction: float = ADULT_LEG_FRACTION

    @property
    def _leg_scale(self) -> float:
        return self.leg_fraction / ADULT_LEG_FRACTION

    @property
    def thigh(self) -> float:
        return 0.245 * self._leg_scale * self.height

    @property
    def shank(self) -> float:
        return 0.246 * self._leg_scale * self.height

    @property
    def ankle_height(self) -> float:
        return 0.039 * self._leg_scale * self.height

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
        return (0.29 + ADULT_LEG_FRACTION - self.leg_fraction) * self.height

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


def thigh_mean_deg(p: GaitParams) -> float:
    """Mean thigh angle from the vertical: clinical hip flexion less anterior pelvic tilt.

    The tilt (~10 deg typical, more with more hip flexion as in crouch gait) keeps the feet
    under the body: without it the leading leg is too inclined to reach the floor before the
    trailing foot has pushed off, and double support disappears.
    """
    tilt = 10.0 + 0.5 * (p.hip_flexion_mean_deg - 10.0)
    return p.hip_flexion_mean_deg - tilt


def joint_angles(phase: np.ndarray, p: GaitParams, side: int) -> dict[str, np.ndarray]:
    """Hip (thigh vs. vertical), knee, ankle flexion (deg); phase 0 = initial contact."""
    hip_amp = p.hip_amplitude_deg[side]
    # Hip: peak flexion late in swing (0.9), peak extension at terminal stance (0.55); the
    # extension lasts the whole stance, so the cycle is warped rather than a plain cosine, and
    # the thigh comes forward early in swing (the swing half is eased out, not linear).
    u = (phase + 0.1) % 1.0
    x = np.clip((u - 0.65) / 0.35, 0.0, 1.0)
    warped = np.where(u < 0.65, 0.5 * u / 0.65, 1 - 0.5 * (1 - x) ** 1.5)
    hip = thigh_mean_deg(p) + hip_amp * np.cos(2 * np.pi * warped)
    # Knee: loading-response bump, near-extension in mid-stance, large bump in swing.
    k_ic = p.knee_flexion_ic_deg[side]
    swing = p.knee_rom_deg[side]
    knee = k_ic + 0.25 * swing * _bump(phase, 0.13, 0.06) + swing * _bump(phase, 0.71, 0.11)
    knee -= 0.04 * swing * _bump(phase, 0.42, 0.1)  # mid-stance extension
    # Ankle: dorsiflexion through stance, push-off plantarflexion, dorsiflexed in swing.
    a = p.ankle_rom_deg[side]
    ankle = a * (0.4 * _bump(phase, 0.42, 0.12) - 0.6 * _bump(phase, 0.62, 0.06))
    ankle += 0.3 * a * _bump(phase, 0.8, 0.08) - 0.1 * a * _bump(phase, 0.06, 0.04)
    # Stance: once flat, the foot stays flat (the ankle dorsiflexes as the shank tilts over
    # it) until a dorsiflexion limit, then the heel rises; handed back to the curve by
    # toe-off, where the foot's posture comes from keeping the toe on the floor anyway.
    # (Eased in over loading response: a foot landing toe first then rolls onto its heel.)
    flat = np.maximum(ankle, np.minimum(knee - hip, 0.4 * a + 5.0))
    u = phase % 1.0
    v_in = np.clip(u / 0.06, 0.0, 1.0)
    v_out = np.clip((u - 0.5) / (PSI_TO - 0.5), 0.0, 1.0)
    weight = v_in * v_in * (3 - 2 * v_in) * (1 - v_out * v_out * (3 - 2 * v_out))
    ankle += (flat - ankle) * np.where(u < PSI_TO, weight, 0.0)
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
    # Per side (left, right): times of initial contact and toe-off on the simulation's fine
    # grid (contact as sampled in ``contact``, without the frame quantisation).
    initial_contact_s: tuple[np.ndarray, np.ndarray] | None = None
    toe_off_s: tuple[np.ndarray, np.ndarray] | None = None


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


def stance_target(p: GaitParams, side: int) -> float:
    """Phase at which a foot is due to leave the floor (its stance fraction).

    Slower and more crouched gait spends longer on the floor (~0.60 typical, ~0.66 at
    GMFCS IV-like cadence and crouch), and with a one-sided pattern the less mobile leg
    (smaller knee range) shorter than the other.  Toe-off happens here unless the leg cannot
    reach the floor earlier; the realised stance is measured, not this target.
    """
    crouch = float(np.mean(p.knee_flexion_ic_deg))
    raw = 0.605 + 0.001 * (120.0 - p.cadence_steps_per_min) + 0.0012 * (crouch - 5.0)
    k = p.knee_rom_deg
    raw += 0.06 * (k[side] - k[1 - side]) / max(k[0], k[1], 1e-6)
    return float(np.clip(raw, 0.56, 0.72))


def _warp(u: np.ndarray, to: float) -> np.ndarray:
    """Curve phase for cycle phase ``u``: stance [0, to) maps onto the curves' [0, PSI_TO)."""
    return np.where(u < to, u * PSI_TO / to, PSI_TO + (u - to) * (1 - PSI_TO) / (1 - to))


def _toe_geometry(a: Anthropometry) -> tuple[float, float]:
    """Ankle → toe distance and the angle of that line below the sole."""
    fx, ah = 0.78 * a.foot, a.ankle_height
    return float(np.hypot(fx, ah)), float(np.arctan2(ah, fx))


def _toe_point(
    hip_xy: np.ndarray, q: np.ndarray, a: Anthropometry
) -> tuple[np.ndarray, np.ndarray]:
    """Toe position for joint angles ``q`` = (hip, knee, ankle) in rad, and its Jacobian."""
    h, s = q[:, 0], q[:, 0] - q[:, 1]
    el = s + q[:, 2]
    fx, ah = 0.78 * a.foot, a.ankle_height
    sh, ch, ss, cs, se, ce = np.sin(h), np.cos(h), np.sin(s), np.cos(s), np.sin(el), np.cos(el)
    toe = np.empty_like(hip_xy)
    toe[:, 0] = hip_xy[:, 0] + a.thigh * sh + a.shank * ss + fx * ce + ah * se
    toe[:, 1] = hip_xy[:, 1] - a.thigh * ch - a.shank * cs + fx * se - ah * ce
    jac = np.empty((len(q), 2, 3))
    jac[:, 0, 2], jac[:, 1, 2] = -fx * se + ah * ce, fx * ce + ah * se  # d/d ankle
    jac[:, 0, 1] = -(a.shank * cs + jac[:, 0, 2])  # d/d knee = -d/d shank angle
    jac[:, 1, 1] = -(a.shank * ss + jac[:, 1, 2])
    jac[:, 0, 0] = a.thigh * ch - jac[:, 0, 1]
    jac[:, 1, 0] = a.thigh * sh - jac[:, 1, 1]
    return toe, jac


def _ik_toe_pinned(
    hip_xy: np.ndarray, q0_deg: np.ndarray, toe: np.ndarray, a: Anthropometry, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hip, knee, ankle (deg) that put the toe at ``toe`` (on the floor); ok=False where not.

    The posture is the one nearest the curves' ``q0_deg`` (hip, knee, ankle; weighted by
    ``cost``), so the foot pivots about its toe and push-off plantarflexion and pre-swing knee
    flexion emerge.  Where that pivot would put the heel below the floor the foot is flat
    instead.
    """
    q = np.radians(q0_deg)
    w_inv = 1.0 / cost
    for _ in range(7):  # Gauss-Newton, minimum weighted-norm steps (2x2 normal equations)
        pos, jac = _toe_point(hip_xy, q, a)
        ex, ey = toe[:, 0] - pos[:, 0], toe[:, 1] - pos[:, 1]
        miss = np.hypot(ex, ey)
        if miss.max(initial=0.0) < 1e-7 * a.height:
            break
        jw = jac * w_inv
        m00 = (jw[:, 0] * jac[:, 0]).sum(-1)
        m01 = (jw[:, 0] * jac[:, 1]).sum(-1)
        m11 = (jw[:, 1] * jac[:, 1]).sum(-1)
        det = m00 * m11 - m01 * m01
        lx, ly = (m11 * ex - m01 * ey) / det, (m00 * ey - m01 * ex) / det
        q += jw[:, 0] * lx[:, None] + jw[:, 1] * ly[:, None]
    ok = miss < 1e-4 * a.height
    h, k = q[:, 0], q[:, 1]
    el = h - k + q[:, 2]
    flat = el > 0
    if flat.any():
        # Foot flat, toe in place: the ankle point is fixed; two-link solution hip → ankle.
        lt, ls = a.thigh, a.shank
        hv = toe[flat] - np.array([0.78 * a.foot, -a.ankle_height]) - hip_xy[flat]
        dist = np.linalg.norm(hv, axis=-1)
        ok[flat] = dist <= lt + ls
        k[flat] = np.arccos(np.clip((dist**2 - lt**2 - ls**2) / (2 * lt * ls), -1.0, 1.0))
        h[flat] = np.arctan2(hv[:, 0], -hv[:, 1]) + np.arctan2(
            ls * np.sin(k[flat]), lt + ls * np.cos(k[flat])
        )
        el[flat] = 0.0
    return np.degrees(h), np.degrees(k), np.degrees(el - h + k), ok


def _slope_envelope(x: np.ndarray, slope: float) -> np.ndarray:
    """Smallest curve >= x that changes by at most ``slope`` per sample (ramps in and out)."""
    k = slope * np.arange(len(x))
    fwd = np.maximum.accumulate(x + k) - k
    bwd = np.maximum.accumulate((x - k)[::-1])[::-1] + k
    return np.maximum(fwd, bwd)


class _Walker:
    """Event-driven integration of the walker on the fine grid, one support phase at a time.

    The driving leg (the one that landed last) sets the pelvis: its lowest foot point rests
    on the floor and stays still.  After the other foot lands, the trailing foot keeps its
    toe pinned (knee and ankle follow, ``_ik_toe_pinned``) until its toe-off phase or until
    it cannot reach the floor; it then blends into the swing curves, held clear of the floor,
    until it lands again.  Each phase is computed vectorised over its samples.
    """

    def __init__(self, p: GaitParams, a: Anthropometry, phi: np.ndarray, stride_samples: float):
        self.a, self.phi, self.n = a, phi, len(phi)
        self.to_target = [stance_target(p, s) for s in (0, 1)]
        self.psi = np.stack([_warp(phi[:, s] % 1.0, self.to_target[s]) for s in (0, 1)], 1)
        curves = [joint_angles(self.psi[:, s], p, s) for s in (0, 1)]
        self.presc = {k: np.stack([c[k] for c in curves], 1) for k in ("hip", "knee", "ankle")}
        self.ang = {k: v.copy() for k, v in self.presc.items()}  # realised
        self.cost = [
            np.array([*IK_COST, np.clip(25.0 / max(p.ankle_rom_deg[s], 1e-3), 1.0, 4.0)])
            for s in (0, 1)
        ]
        grid = np.linspace(0.0, 1.0, 200, endpoint=False)
        self.pf_limit = [joint_angles(grid, p, s)["ankle"].min() - PF_MARGIN_DEG for s in (0, 1)]
        self.px, self.py = np.zeros(self.n), np.zeros(self.n)
        self.contact = np.zeros((self.n, 2), dtype=bool)
        self.win = int(1.5 * stride_samples) + 2
        self.lift_slope = CLEARANCE_RATE_DEG / stride_samples
        self.rise_slope = SWING_CLEARANCE * a.height / (0.05 * stride_samples)
        self.to_blend = int(np.ceil(1.5 * TO_BLEND * stride_samples)) + 1
        self.smooth = int(0.03 * stride_samples) | 1

    def window(self, s: int, i0: int, due: float) -> int:
        """End of the samples to integrate from ``i0``: just past leg ``s`` reaching phase ``due``
        (at most ``win`` samples; a phase that ends later continues in the next window)."""
        end = int(np.searchsorted(self.phi[:, s], due)) + 3
        return min(self.n, i0 + self.win, max(end, i0 + 2))

    def chain(self, s: int, i0: int, i1: int, world: bool = False) -> dict[str, np.ndarray]:
        hip = np.zeros((i1 - i0, 2))
        if world:
            hip = np.stack([self.px[i0:i1], self.py[i0:i1]], -1)
        return _leg_chain(hip, {k: v[i0:i1, s] for k, v in self.ang.items()}, self.a)

    def drive(self, d: int, i0: int, i1: int) -> None:
        """Pelvis over [i0, i1) from leg ``d``'s lowest foot point, which does not slide."""
        lo = max(i0 - 1, 0)
        leg = self.chain(d, lo, i1)
        pts = np.stack([leg["heel"], leg["toe"]], 1)
        low = np.argmin(pts[..., 1], 1)
        m = np.arange(len(pts))
        y = -pts[m, low, 1]
        step = -np.diff(pts[..., 0], axis=0)[m[:-1], low[1:]]
        if i0 == 0:
            self.px[0:i1] = np.concatenate([[0.0], np.cumsum(step)])
            self.py[0:i1] = y
        else:
            self.px[i0:i1] = self.px[i0 - 1] + np.cumsum(step)
            self.py[i0:i1] = y[1:]

    def single(self, d: int, o: int, i0: int, phi_to: float) -> tuple[int, bool]:
        """``d`` supports, ``o`` swings (toe-off at phase ``phi_to``); returns (end, landed)."""
        # Only as far as the landing, which is due when ``o`` starts its next cycle.
        due = max(np.ceil(self.phi[i0, o]), phi_to + 0.13)
        i1 = self.window(o, i0, due)
        self.drive(d, i0, i1)
        sl = slice(i0, i1)
        tau = self.phi[sl, o] - phi_to
        psi = self.psi[sl, o]
        may_land = (tau > 0.12) & ((psi >= PSI_LAND) | (psi < 0.45))
        # Toe clearance: dorsiflex the swinging foot where its toe would come too low.
        clear = SWING_CLEARANCE * self.a.height * np.clip(tau / 0.08, 0.0, 1.0) ** 2
        r, beta = _toe_geometry(self.a)
        ankle_y = self.chain(o, i0, i1)["ankle"][:, 1] + self.py[sl]
        el = np.radians(self.ang["hip"][sl, o] - self.ang["knee"][sl, o] + self.ang["ankle"][sl, o])
        need = beta + np.arcsin(np.clip((clear - ankle_y) / r, -1.0, 1.0)) - el
        # ... up to the landing window only (the window may reach into the next stance).
        need[np.maximum.accumulate(may_land)] = 0.0
        lift = _slope_envelope(np.degrees(np.maximum(need, 0.0)), self.lift_slope)
        # Round off its corners without dropping below it anywhere (dilate, then average).
        lift = uniform_filter1d(maximum_filter1d(lift, self.smooth), self.smooth)
        lift *= np.clip(tau / 0.02, 0.0, 1.0)  # from zero at toe-off: no jump in the ankle
        self.ang["ankle"][sl, o] += lift
        leg = self.chain(o, i0, i1)
        gap = np.minimum(leg["heel"][:, 1], leg["toe"][:, 1]) + self.py[sl]
        # Landing: over terminal swing the foot comes down to the floor by the end of its
        # swing, the body lowering onto it (the supporting knee gives) or rising (the
        # supporting heel rises further) as needed, the supporting toe pinned.  The body also
        # rises where the swinging foot would otherwise come too close to the floor; that
        # rise is eased in and out so that the pelvis does not jump.
        u = np.clip((psi - PSI_LAND) / (1 - PSI_LAND), 0.0, 1.0)
        reach = np.where(psi < 0.45, 1.0, u * u * (3 - 2 * u)) * may_land
        floor = np.where(may_land, SWING_CLEARANCE * self.a.height, clear)
        rise = _slope_envelope(np.maximum(floor - gap, 0.0), self.rise_slope)
        rise = uniform_filter1d(maximum_filter1d(rise, self.smooth), self.smooth)
        shift = (1 - reach) * rise * np.clip(tau / 0.02, 0.0, 1.0) - reach * gap
        moved = np.flatnonzero(shift != 0)
        posture: tuple = ()
        if moved.size:
            shift[moved], posture = self.support(d, i0 + moved, shift[moved])
        # The foot lands where it meets the floor in terminal swing: at the end of its swing,
        # or earlier or later where the supporting leg cannot hold or lower the body enough.
        hits = np.flatnonzero(may_land & (gap + shift <= 1e-6 * self.a.height))
        j = i0 + int(hits[0]) if hits.size else i1 - 1
        keep = moved <= j - i0
        idx = i0 + moved[keep]
        self.py[idx] += shift[moved[keep]]
        for key, val in zip(("hip", "knee", "ankle"), posture, strict=False):
            self.ang[key][idx, d] = val[keep]
        self.contact[i0 : j + 1, d] = True
        if not hits.size:
            return i1, False
        self.contact[j, o] = True
        return j + 1, True

    def support(self, d: int, idx: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Posture of supporting leg ``d`` (toe pinned) with the pelvis moved up by ``shift``
        at samples ``idx``; where the leg cannot do that within its ranges (reach, knee not
        hyperextended, ankle not beyond push-off), the largest part of the shift it can."""
        toe = self.chain(d, int(idx[0]), int(idx[-1]) + 1, world=True)["toe"][idx - idx[0]]
        toe[:, 1] = 0.0
        q0 = np.stack([self.ang[k][idx, d] for k in ("hip", "knee", "ankle")], -1)
        knee_min = np.minimum(q0[:, 1], 0.0)
        # (Keeping part of the push-off range for double support.)
        ankle_min = np.minimum(q0[:, 2], self.pf_limit[d] + 0.5 * PF_MARGIN_DEG)

        def solve(dy: np.ndarray, rows: np.ndarray) -> tuple[tuple, np.ndarray]:
            hip_xy = np.stack([self.px[idx[rows]], self.py[idx[rows]] + dy], -1)
            hip, knee, ankle, ok = _ik_toe_pinned(hip_xy, q0[rows], toe[rows], self.a, self.cost[d])
            valid = ok & (knee >= knee_min[rows] - 1e-6) & (ankle >= ankle_min[rows] - 1e-6)
            return (hip, knee, ankle), valid

        everything = np.arange(len(idx))
        posture, valid = solve(shift, everything)
        bad = np.flatnonzero(~valid)
        if bad.size:
            lo, hi = np.zeros(bad.size), np.ones(bad.size)
            for _ in range(10):  # bisection on the fraction of the shift
                mid = 0.5 * (lo + hi)
                ok = solve(mid * shift[bad], bad)[1]
                lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
            shift = shift.copy()
            shift[bad] *= lo
            fixed = solve(shift[bad], bad)[0]
            for whole, part in zip(posture, fixed, strict=True):
                whole[bad] = part
        return shift, posture

    def double(self, d: int, o: int, i0: int, toe_x: float) -> tuple[int, bool]:
        """``d`` leads and drives, ``o`` trails with its toe pinned; returns (end, toe_off)."""
        # Only as far as the toe-off target (PSI_TO on the curves).
        base = np.floor(self.phi[i0, o])
        due = base + self.to_target[o] + (self.phi[i0, o] - base >= self.to_target[o])
        i1 = self.window(o, i0, due)
        self.drive(d, i0, i1)
        sl = slice(i0, i1)
        hip_xy = np.stack([self.px[sl], self.py[sl]], -1)
        toe = np.broadcast_to([toe_x, 0.0], hip_xy.shape)
        q0 = np.stack([self.presc[k][sl, o] for k in ("hip", "knee", "ankle")], -1)
        hip, knee, ankle, ok = _ik_toe_pinned(hip_xy, q0, toe, self.a, self.cost[o])
        psi = self.psi[sl, o]
        # Toe-off at the stance target, or earlier where the leg no longer reaches the floor:
        # beyond the ankle's plantarflexion range, with the knee straight, or only by
        # plantarflexing faster than an ankle does (the pinned toe nears full reach).
        due = (psi >= PSI_TO) & (psi < PSI_LAND)
        rate = np.diff(ankle, prepend=ankle[0]) / np.maximum(
            np.diff(self.phi[sl, o], prepend=self.phi[i0, o] - 1e-3), 1e-9
        )
        out = ~ok | (ankle < self.pf_limit[o]) | (knee < 0.0) | (rate < -MAX_PF_RATE)
        hits = np.flatnonzero(due | out)
        k = int(hits[0]) if hits.size else i1 - i0
        for key, val in (("hip", hip), ("knee", knee), ("ankle", ankle)):
            self.ang[key][i0 : i0 + k, o] = val[:k]
        self.contact[i0 : i0 + k, :] = True
        if hits.size == 0:
            return i1, False
        # Toe-off: blend from the realised posture and its motion into the swing curves (cubic
        # Hermite, so the push-off peaks just after toe-off instead of at a kink).
        j = i0 + k
        if j > 1:
            end = min(self.n, j + self.to_blend)
            step = max(self.phi[j - 1, o] - self.phi[j - 2, o], 1e-9)
            x = np.clip((self.phi[j:end, o] - self.phi[j - 1, o]) / TO_BLEND, 0.0, 1.0)
            h0, h1 = 2 * x**3 - 3 * x**2 + 1, x**3 - 2 * x**2 + x
            lim = MAX_PF_RATE * TO_BLEND
            for key, cur in self.ang.items():
                ref = self.presc[key][:, o]
                delta = cur[j - 1, o] - ref[j - 1]
                rate = (delta - (cur[j - 2, o] - ref[j - 2])) / step * TO_BLEND
                cur[j:end, o] = ref[j:end] + delta * h0 + np.clip(rate, -lim, lim) * h1
        return j, True

    def run(self) -> list[list[tuple[int, str]]]:
        """Integrate the whole grid; returns per leg the (index, "ic"/"to") events."""
        legs = [self.chain(s, 0, 1) for s in (0, 1)]
        lowest = [min(lg["heel"][0, 1], lg["toe"][0, 1]) for lg in legs]
        stance = [self.psi[0, s] < PSI_TO for s in (0, 1)]
        d = int(np.argmin(lowest)) if stance[0] == stance[1] else int(stance[1])
        o = 1 - d
        events: list[list[tuple[int, str]]] = [[], []]
        i, mode, phi_to, toe_x = 0, "single", self.phi[0, o] - 1.0, 0.0
        while i < self.n:
            if mode == "single":
                i, landed = self.single(d, o, i, phi_to)
                if landed:
                    toe_x = float(self.chain(d, i - 1, i, world=True)["toe"][0, 0])
                    events[o].append((i - 1, "ic"))
                    d, o, mode = o, d, "double"
            else:
                i, off = self.double(d, o, i, toe_x)
                if off:
                    events[o].append((i, "to"))
                    phi_to, mode = self.phi[min(i, self.n - 1), o], "single"
        return events


def simulate_walk(
    p: GaitParams, duration_s: float, fps: float, rng: np.random.Generator, oversample: int = 8
) -> Walk:
    """Integrate the walker on a fine time grid (for exact contact), then sample frames."""
    a = Anthropometry(p.height_m, leg_length_fraction(p.age_months))
    fs = fps * oversample
    stride_s = 120.0 / p.cadence_steps_per_min
    # Start a stride early so that the walk has settled into its alternation at t = 0.
    n_pre = int(np.ceil(1.25 * stride_s * fs))
    n_fine = n_pre + int(round(duration_s * fs)) + 1
    tf = (np.arange(n_fine) - n_pre) / fs
    # Same random draws as a walk from t = 0 (callers' later draws stay as they were); the
    # lead-in continues the first stride backwards.
    ph_l, durations = stride_phase(tf, stride_s, p.stride_cv, rng)
    ph_l[:n_pre] = ph_l[n_pre] + tf[:n_pre] / durations[0]
    ph_r = ph_l + 0.5 - p.step_time_offset  # right initial contact lags by the offset
    phases = (ph_l, ph_r)

    sim = _Walker(p, a, np.stack(phases, 1), stride_s * fs)
    events = sim.run()
    # Contact changes between fine samples i-1 and i; keep the events within the frames.
    t_mid = np.concatenate([[-np.inf], 0.5 * (tf[1:] + tf[:-1])])
    times = {
        kind: tuple(
            np.array([t_mid[i] for i, k in events[s] if k == kind and 0 <= t_mid[i] <= tf[-1]])
            for s in (0, 1)
        )
        for kind in ("ic", "to")
    }
    angles = [{k: v[:, s] for k, v in sim.ang.items()} for s in (0, 1)]
    pelvis_x, pelvis_y = sim.px - sim.px[n_pre], sim.py
    legs = [_leg_chain(np.stack([pelvis_x, pelvis_y], -1), angles[s], a) for s in (0, 1)]

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
            J[:, INDEX[f"{name}_{k}"], 0] = xy[:, 0]
            J[:, INDEX[f"{name}_{k}"], 1] = xy[:, 1]
            # Feet point slightly outward; knees track over the feet.
            J[:, INDEX[f"{name}_{k}"], 2] = zoff * (1.0 if k == "hip" else 0.9) + pelvis[:, 2]
    neck = pelvis + a.trunk * trunk_dir
    for side, name in enumerate(SIDES):
        sgn = -1 if side == 0 else 1
        sh = neck + sgn * a.shoulder_half_width * lateral
        # Arm swings with the opposite leg's hip excursion.
        other = angles[1 - side]["hip"] - thigh_mean_deg(p)
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

    sl = slice(n_pre, None, oversample)
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
        contact=sim.contact[sl],
        anthro=a,
        initial_contact_s=times["ic"],
        toe_off_s=times["to"],
    )


def _cycle_stat(values: np.ndarray, cycle: np.ndarray, fn) -> float:
    """Mean over complete gait cycles (cycle index >= 0) of ``fn(values within the cycle)``."""
    out = [fn(values[cycle == c]) for c in np.unique(cycle[cycle >= 0]) if (cycle == c).sum() > 3]
    return float(np.mean(out)) if out else float("nan")


def _transitions(t: np.ndarray, contact: np.ndarray, onto: bool) -> np.ndarray:
    """Times at which contact starts (``onto``) or ends, mid-way between samples."""
    k = np.flatnonzero((contact[:-1] != onto) & (contact[1:] == onto)) + 1
    return 0.5 * (t[k - 1] + t[k])


def _support(ic: np.ndarray, to: np.ndarray, t0: float, t1: float) -> list[tuple[float, float]]:
    """A foot's floor-contact intervals from its events (open ends cut at ``t0``, ``t1``)."""
    out, start, on = [], t0, False
    events = sorted([(float(x), True) for x in ic] + [(float(x), False) for x in to])
    on = bool(events) and not events[0][1]  # on the floor from the start
    for x, lands in events:
        if lands and not on:
            start, on = x, True
        elif not lands and on:
            out.append((start, x))
            on = False
    if on:
        out.append((start, t1))
    return out


def _overlap(spans: list[tuple[float, float]], a: float, b: float) -> float:
    return float(sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans))


def gait_truth(w: Walk) -> dict:
    """Realised gait parameters of a simulated walk, named as the feature table names them.

    Initial contact is the onset of a foot's floor contact and toe-off its end (contact as
    simulated: the foot bears on the floor, ``Walk.contact``; event times from the fine grid
    where the walk has them); a gait cycle runs from one initial contact to the next of the
    same foot.
    """
    t, a = w.t, w.anthro
    ic_times = w.initial_contact_s or [_transitions(t, w.contact[:, s], True) for s in (0, 1)]
    to_times = w.toe_off_s or [_transitions(t, w.contact[:, s], False) for s in (0, 1)]
    cycle = np.full((len(t), 2), -1)
    for s in (0, 1):
        for c, (t0, t1) in enumerate(zip(ic_times[s][:-1], ic_times[s][1:], strict=True)):
            cycle[(t >= t0) & (t < t1), s] = c
    events = sorted((float(tt), s) for s in (0, 1) for tt in ic_times[s])
    step_times = np.diff([e[0] for e in events])
    strides = np.concatenate([np.diff(ic_times[0]), np.diff(ic_times[1])])
    # Step length between footprints: from where the other heel landed to where this one
    # lands (the trailing heel has risen by this heel's contact; its footprint has not moved).
    heel = {s: w.joints[:, INDEX[f"{SIDES[s]}_heel"], 0] for s in (0, 1)}
    steps: list[list[float]] = [[], []]
    for (t_a, s_a), (t_b, s_b) in zip(events[:-1], events[1:], strict=True):
        if s_a != s_b:
            steps[s_b].append(float(np.interp(t_b, t, heel[s_b]) - np.interp(t_a, t, heel[s_a])))
    step_len = float(np.mean(steps[0] + steps[1]))
    t0, t1 = ic_times[0][0], ic_times[0][-1]
    speed = (np.interp(t1, t, w.pelvis[:, 0]) - np.interp(t0, t, w.pelvis[:, 0])) / (t1 - t0)

    # Stance and double support per cycle from the contact intervals (exact event times).
    support = [_support(ic_times[s], to_times[s], t[0], t[-1]) for s in (0, 1)]
    cycles = [list(zip(ic_times[s][:-1], ic_times[s][1:], strict=True)) for s in (0, 1)]
    stance = [
        100 * float(np.mean([_overlap(support[s], c0, c1) / (c1 - c0) for c0, c1 in cycles[s]]))
        if cycles[s]
        else float("nan")
        for s in (0, 1)
    ]
    both = [(max(x0, y0), min(x1, y1)) for x0, x1 in support[0] for y0, y1 in support[1]]
    double = [_overlap(both, c0, c1) / (c1 - c0) for c0, c1 in cycles[0]]
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
        "double_support_pct": 100 * float(np.mean(double)) if double else float("nan"),
        "step_length_m": step_len,
        "step_length_leg": step_len / a.leg_length,
        "stride_length_leg": float(speed * np.mean(strides) / a.leg_length),
        "walking_speed_m_per_s": float(speed),
        "walking_speed_leg_per_s": float(speed / a.leg_length),
        "trunk_sway_deg": _cycle_stat(w.trunk_pitch, cycle[:, 0], np.ptp),
        "step_length_asymmetry": float(step_asym),
        "step_time_asymmetry": float(time_asym),
        "stride_time_cv": float(np.std(strides, ddof=1) / np.mean(strides)),
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
    truth["toe_off_s"] = {"left": to_times[0].tolist(), "right": to_times[1].tolist()}
    return truth
