"""Walking bouts, turns and still periods of one recording (part of the features stage).

A clinic recording is rarely one straight pass: the patient stands, walks towards the
camera, turns, walks away, turns again, and may end standing.  Gait features are only
defined over straight walking, so the features stage first cuts the recording into
segments from 2D keypoints alone:

* **progression** per frame, in trunk lengths per second (mid-shoulder to mid-hip, the body
  scale that every view shows): sideways from the mid-hip's image velocity, in depth from
  the rate of change of the body scale (a pinhole camera: ``d ln(scale)/dt = V / distance``,
  converted with a nominal focal length of the frame's long side, about a 56° field of view);
* the **heading** of that progression says the view: within 30° of the optical axis a
  frontal bout (towards or away), beyond 60° a side bout (left or right), oblique between;
* a **straight bout** is a run of one direction lasting ``min_bout_s``; between two bouts of
  different directions lies a **turn**, extended to where the shoulders' facing
  (left minus right shoulder x, which changes sign when a frontal walker turns round) leaves
  the values of the bouts on either side; frames with neither progression nor foot motion
  for ``min_still_s`` are **still**.

Each segment carries its frame span; the features stage computes features per straight bout
and aggregates them per recording (see :func:`motorflow.features.gait.gait_features`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, signal

from motorflow.config import config_from_mapping
from motorflow.poseio import PoseData
from motorflow.skeleton import INDEX


@dataclass(frozen=True)
class BoutConfig:
    """Settings of the segmentation (``features: bouts:`` in config/config.yaml)."""

    # Progression (trunk lengths/s) above which a frame walks; a slow patient walks at
    # ~0.4 m/s, i.e. ~0.8 trunk lengths/s.
    min_speed: float = 0.4
    # A straight bout lasts at least this long (s); shorter runs are part of a turn.
    min_bout_s: float = 1.5
    # A still period lasts at least this long (s).
    min_still_s: float = 1.0
    # A turn longer than this (s) is no turn but a pause between two walks.
    max_turn_s: float = 8.0
    # Window of the derivatives (s): about one stride, so the side-to-side sway cancels.
    smooth_s: float = 1.0
    # Nominal focal length in units of the frame's long side (converts the depth rate into a
    # speed; only the heading's split into frontal / oblique / side depends on it).
    focal_per_long_side: float = 1.0

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> BoutConfig:
        return config_from_mapping(cls, mapping, "features.gait.bouts")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Segment:
    """One stretch of a recording: frames ``start`` … ``stop - 1``."""

    kind: str  # "walk", "turn", "still"
    start: int
    stop: int
    view: str = ""  # walk: "frontal", "oblique", "side"
    direction: str = ""  # walk: "towards", "away", "left", "right"
    steps: int | None = None  # turn: foot lifts during the turn

    def to_dict(self, fps: float) -> dict:
        out = {
            "kind": self.kind,
            "start_s": round(self.start / fps, 3),
            "end_s": round(self.stop / fps, 3),
            "duration_s": round((self.stop - self.start) / fps, 3),
        }
        if self.kind == "walk":
            out.update(view=self.view, direction=self.direction)
        if self.steps is not None:
            out["steps"] = int(self.steps)
        return out


def _fill(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation over gaps of at most ``max_gap`` frames (along axis 0); longer
    gaps stay NaN."""
    return (
        pd.DataFrame(x).interpolate(limit=max_gap, limit_area="inside").to_numpy().reshape(x.shape)
    )


def _odd(n: float) -> int:
    return max(5, int(round(n)) // 2 * 2 + 1)


def _runs(values: np.ndarray) -> list[tuple[int, int, object]]:
    """(start, stop, value) of the runs of equal values."""
    values = np.asarray(values)
    if not len(values):
        return []
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(values)]])
    return [(int(a), int(b), values[a]) for a, b in zip(starts, stops, strict=True)]


@dataclass
class Signals:
    """Per-frame signals the segmentation rests on."""

    scale: np.ndarray  # trunk length, px
    lateral: np.ndarray  # sideways progression, trunk lengths/s (image right +)
    depth: np.ndarray  # progression towards the camera, trunk lengths/s
    facing: np.ndarray  # (left − right shoulder x) / trunk length
    foot_speed: np.ndarray  # (T, 2) left and right foot speed, trunk lengths/s


def signals(pose: PoseData, cfg: BoutConfig) -> Signals:
    fps = float(pose.fps)
    kp = np.asarray(pose.keypoints[..., :2], dtype=float)
    n = len(kp)

    def J(name: str) -> np.ndarray:
        return kp[:, INDEX[name]]

    with np.errstate(all="ignore"):
        sh = np.nanmean(np.stack([J("left_shoulder"), J("right_shoulder")]), 0)
        hp = np.nanmean(np.stack([J("left_hip"), J("right_hip")]), 0)
    gap = int(round(0.5 * fps))
    trunk = _fill(np.linalg.norm(sh - hp, axis=-1), gap)
    trunk = pd.Series(trunk).rolling(_odd(0.3 * fps), center=True, min_periods=1).median()
    trunk = trunk.to_numpy()
    nan = np.full(n, np.nan)
    if n < _odd(cfg.smooth_s * fps) or not np.isfinite(trunk).any():
        return Signals(trunk, nan, nan, nan, np.stack([nan, nan], 1))
    win = min(_odd(cfg.smooth_s * fps), n - (1 - n % 2))
    ok = np.isfinite(trunk) & (trunk > 0)

    def deriv(x: np.ndarray, window: int = win) -> np.ndarray:
        # Savitzky-Golay along axis 0 over the stretches where every column is known (NaN
        # gaps are not bridged).
        out = np.full(x.shape, np.nan)
        known = np.isfinite(x).all(axis=1) if x.ndim > 1 else np.isfinite(x)
        for a, b, good in _runs(known):
            if good and b - a >= 5:
                w = min(window, (b - a) - (1 - (b - a) % 2))
                out[a:b] = signal.savgol_filter(x[a:b], max(w, 3), 2, deriv=1, axis=0) * fps
        return out

    log_s = np.where(ok, np.log(np.where(ok, trunk, 1.0)), np.nan)
    focal = cfg.focal_per_long_side * max(pose.frame_size)
    # d ln(s)/dt = V / D and D = f·T / s (T: trunk length in metres): V/T = rate·f / s.
    depth = deriv(log_s) * focal / np.where(ok, trunk, np.nan)
    lateral = deriv(_fill(hp[:, 0], gap)) / trunk
    facing = (J("left_shoulder")[:, 0] - J("right_shoulder")[:, 0]) / trunk
    facing = pd.Series(facing).rolling(_odd(0.3 * fps), center=True, min_periods=1).median()
    speeds = []
    for s in ("left", "right"):
        v = []
        for p in ("ankle", "heel", "toe"):  # a foot's swing: a fifth of a second resolves it
            xy = _fill(J(f"{s}_{p}"), gap)
            v.append(np.hypot(*deriv(xy, _odd(0.2 * fps)).T) if np.isfinite(xy).any() else nan)
        with np.errstate(all="ignore"):
            # The slowest of ankle, heel and toe: a foot pivoting on its heel or toes stays put.
            speeds.append(np.nanmin(np.stack(v, 1), axis=1) / trunk)
    return Signals(trunk, lateral, depth, facing.to_numpy(), np.stack(speeds, 1))


def _direction(lateral: float, depth: float) -> tuple[str, str]:
    """View and direction of a progression vector (trunk lengths/s)."""
    heading = np.degrees(np.arctan2(abs(lateral), abs(depth)))  # 0: along the optical axis
    along = "towards" if depth > 0 else "away"
    across = "right" if lateral > 0 else "left"
    if heading < 30:
        return "frontal", along
    if heading > 60:
        return "side", across
    return "oblique", f"{along}-{across}"


def segment(pose: PoseData, cfg: BoutConfig | None = None) -> tuple[list[Segment], Signals]:
    """Straight walking bouts, turns and still periods, in time order (see module docstring).

    Frames in no segment are neither: too short a walk, missing keypoints, shuffling.
    """
    cfg = cfg or BoutConfig()
    fps = float(pose.fps)
    sig = signals(pose, cfg)
    n = pose.n_frames
    speed = np.hypot(sig.lateral, sig.depth)
    keys = np.array([""] * n, dtype=object)
    for i in np.flatnonzero(np.isfinite(speed) & (speed >= cfg.min_speed)):
        keys[i] = _direction(sig.lateral[i], sig.depth[i])[1]
    # A mode filter over half a step removes flickers at the thresholds.
    half = max(1, int(round(0.25 * fps)))
    cats = pd.Categorical(keys)
    votes = np.eye(len(cats.categories))[cats.codes]  # (T, categories) one-hot
    votes = ndimage.uniform_filter1d(votes, 2 * half + 1, axis=0, mode="nearest")
    keys = np.asarray(cats.categories)[np.argmax(votes, axis=1)]
    min_bout = int(round(cfg.min_bout_s * fps))
    walks: list[Segment] = []
    for a, b, key in _runs(keys):
        if key and b - a >= min_bout:
            lat, dep = np.nanmedian(sig.lateral[a:b]), np.nanmedian(sig.depth[a:b])
            view, direction = _direction(lat, dep)
            if walks and walks[-1].direction == direction and a - walks[-1].stop <= fps:
                walks[-1].stop = b  # the same bout across a flicker or a slower second
            else:
                walks.append(Segment("walk", a, b, view, direction))
    walks = [
        p
        for w in walks
        for p in (_split_at_reversal(w, sig, fps, min_bout) if w.view == "frontal" else [w])
    ]
    out: list[Segment] = []
    for k, w in enumerate(walks):
        out.append(w)
        if k + 1 == len(walks):
            break
        nxt = walks[k + 1]
        # The facing is the shoulders' width from the front: it says a turn between two
        # frontal bouts only (from the side it is near zero and its sign is noise).
        frontal = w.view == nxt.view == "frontal"
        turned = nxt.direction != w.direction or (frontal and _reverses(sig.facing, w, nxt))
        if turned and (nxt.start - w.stop) <= cfg.max_turn_s * fps:
            a, b = _turn_span(sig.facing, w, nxt, fps)
            w.stop, nxt.start = a, b
            out.append(Segment("turn", a, b, steps=_lifts(sig.foot_speed, a, b, fps)))
    # Still: no progression and no foot motion, outside the walks and turns.
    taken = np.zeros(n, bool)
    for s in out:
        taken[s.start : s.stop] = True
    still = ~taken & np.isfinite(speed) & (speed < cfg.min_speed)
    with np.errstate(invalid="ignore"):
        still &= ~(sig.foot_speed > 2 * cfg.min_speed).any(axis=1)
    for a, b, flag in _runs(still):
        if flag and b - a >= int(round(cfg.min_still_s * fps)):
            out.append(Segment("still", a, b))
    out.sort(key=lambda s: s.start)
    return [s for s in out if s.kind != "walk" or s.stop - s.start >= min_bout], sig


def _level(facing: np.ndarray, s: Segment) -> float:
    return float(np.nanmedian(facing[s.start : s.stop])) if s.stop > s.start else np.nan


def _reverses(facing: np.ndarray, a: Segment, b: Segment) -> bool:
    """The shoulders' facing changes sign between two bouts: the walker turned round."""
    fa, fb = _level(facing, a), _level(facing, b)
    return bool(np.isfinite(fa - fb) and abs(fa - fb) > 0.1 and np.sign(fa) != np.sign(fb))


def _split_at_reversal(w: Segment, sig: Signals, fps: float, min_bout: int) -> list[Segment]:
    """A bout in which the walker turns round (the facing changes sign for half a second or
    more on either side) without the progression reversing yet: the parts before and after
    the reversal, each with its own direction; parts shorter than a bout are dropped."""
    f = sig.facing[w.start : w.stop]
    level = np.nanmedian(np.abs(f)) if np.isfinite(f).any() else np.nan
    if not np.isfinite(level) or level < 0.1:
        return [w]
    sign = np.where(np.abs(np.nan_to_num(f)) > 0.5 * level, np.sign(np.nan_to_num(f)), 0)
    long = [(a, b, v) for a, b, v in _runs(sign) if v != 0 and b - a >= 0.5 * fps]
    cuts = [w.start]
    for (_, b0, v0), (a1, _, v1) in zip(long[:-1], long[1:], strict=True):
        if v0 != v1:
            cuts.append(w.start + (b0 + a1) // 2)
    if len(cuts) == 1:
        return [w]
    cuts.append(w.stop)
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b - a >= min_bout:
            view, direction = _direction(
                np.nanmedian(sig.lateral[a:b]), np.nanmedian(sig.depth[a:b])
            )
            parts.append(Segment("walk", a, b, view, direction))
    return parts


def _turn_span(facing: np.ndarray, a: Segment, b: Segment, fps: float) -> tuple[int, int]:
    """Frames of the turn between bouts ``a`` and ``b``.

    A frontal walker turning round reverses the shoulders' facing signal, which follows the
    cosine of the heading: normalised between the two bouts' levels, its arc cosine is the
    heading change (0° in bout ``a``, 180° in ``b``).  The turn is where the heading runs
    from 30° to 150°, extended in proportion to the whole 0–180° (the ends of a turn are
    too flat in the cosine to time against keypoint noise).  Without a reversal (a side
    view) the turn is the gap between the bouts' progressions.
    """
    lo, hi = a.stop, b.start
    if _reverses(facing, a, b):
        fa, fb = _level(facing, a), _level(facing, b)
        i0 = a.start + (a.stop - a.start) // 2
        i1 = b.stop - (b.stop - b.start) // 2
        x = np.clip((facing[i0:i1] - (fa + fb) / 2) / ((fa - fb) / 2), -1.0, 1.0)
        heading = np.degrees(np.arccos(x))  # NaN where the shoulders are missing
        centre = (lo + hi) // 2 - i0
        before = np.flatnonzero(heading[: centre + 1] <= 30.0)
        after = np.flatnonzero(heading[centre:] >= 150.0)
        if len(before) and len(after):
            t30, t150 = i0 + before[-1], i0 + centre + after[0]
            pad = int(round((t150 - t30) * 30.0 / 120.0))
            lo = max(i0, min(lo, t30 - pad))
            hi = min(i1, max(hi, t150 + pad))
    if hi <= lo:  # bouts touching: the turn is the frame where the direction changed
        hi = lo + 1
    return lo, hi


def _lifts(foot_speed: np.ndarray, a: int, b: int, fps: float) -> int:
    """Foot lifts centred in frames a…b-1, both feet: runs of a foot's motion above a sixth of
    its 95th percentile speed in the recording (its swing speed), lasting 0.1 s.  Turning
    steps are short and slow, and from the front a walking swing is foreshortened."""
    count = 0
    for v in foot_speed.T:
        if not np.isfinite(v).any():
            continue
        thr = np.nanpercentile(v, 95) / 6.0
        moving = np.where(np.isfinite(v), v > thr, False)
        min_len = max(1, int(round(0.1 * fps)))
        for s, e, flag in _runs(moving):  # one swing across a dip of under 0.15 s
            if not flag and s > 0 and e < len(moving) and e - s < 0.15 * fps:
                moving[s:e] = True
        # A lift belongs to the turn when its middle does (a bout's last swing can end
        # inside the turn's first frames).
        count += sum(1 for s, e, flag in _runs(moving)
                     if flag and e - s >= min_len and a <= (s + e) / 2 < b)  # fmt: skip
    return count
