"""Rendering of the synthetic infant cohort: supine infants seen from above.

The body (:mod:`motorflow.synth.infant_motion`) is placed in the image by one similarity
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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from motorflow.poseio import atomic_path
from motorflow.skeleton import INDEX, N_JOINTS
from motorflow.synth.common import (
    SKIN_TONES,
    draw_capsule,
    keyed_rng,
    shade,
    smooth_noise,
    write_truth,
)
from motorflow.synth.infant_cohort import InfantCohortConfig, subject_params
from motorflow.synth.infant_motion import (
    EAR,
    EYE,
    HEAD_ELONGATION,
    NOSE,
    BodyShape,
    Motion,
    simulate_motion,
    vary_rest,
)
from motorflow.video import VideoWriter

# The truth pose files' ``backend_version``.
BACKEND_VERSION = "motorflow-infantsim"


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
        cv2.polylines(img, [poly[: len(edge)]], False, shade(c2, 0.6), 2, cv2.LINE_AA, 4)
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
        other = shade(base, rng.uniform(0.7, 0.9))
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
        other = shade(base, rng.uniform(0.82, 0.92))
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
        cv2.circle(img, ci, int(s), shade(col, 0.6), 2, cv2.LINE_AA)
        hl = (int(c[0] - 0.35 * s), int(c[1] - 0.35 * s))
        cv2.circle(img, hl, max(2, int(0.25 * s)), shade(col, 1.5), -1, cv2.LINE_AA)
    elif kind == "ring":
        cv2.circle(img, ci, int(s), col, max(3, int(0.3 * s)), cv2.LINE_AA)
    elif kind == "block":
        box = cv2.boxPoints(((c[0], c[1]), (1.5 * s, 1.5 * s), float(rng.uniform(0, 90))))
        cv2.fillConvexPoly(img, np.round(box).astype(np.int32), col, cv2.LINE_AA)
        inner = cv2.boxPoints(((c[0], c[1]), (0.8 * s, 0.8 * s), float(rng.uniform(0, 90))))
        cv2.fillConvexPoly(img, np.round(inner).astype(np.int32), shade(col, 0.5), cv2.LINE_AA)
    elif kind == "rattle":
        d = rng.uniform(-1, 1, 2)
        d = d / (np.linalg.norm(d) + 1e-9)
        draw_capsule(img, c - 0.9 * s * d, c + 0.9 * s * d, 0.15 * s, 0.15 * s, shade(col, 0.8))
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
            col = shade(limbs, f)
            hip, kn, an = p(f"{side}_hip"), p(f"{side}_knee"), p(f"{side}_ankle")
            draw_capsule(img, hip, kn, 0.135 * g * L, 0.105 * g * L, col)
            draw_capsule(img, kn, an, 0.1 * g * L, 0.072 * g * L, col)
            foot = shade(limbs, f * 0.97)
            heel, toe = p(f"{side}_heel"), p(f"{side}_toe")
            draw_capsule(img, heel, toe, 0.075 * g * L, 0.06 * g * L, foot)
        # Torso: the hull of shoulders and hips, rounded by capsules along its edges.
        ls, rs, lh, rh = p("left_shoulder"), p("right_shoulder"), p("left_hip"), p("right_hip")
        neck, crotch = 0.5 * (ls + rs), 0.5 * (lh + rh)
        axis = neck - crotch
        down = -axis / (np.linalg.norm(axis) + 1e-9)
        torso = lk.skin if lk.style == "diaper" else lk.top
        quad = np.array([ls, rs, rh, lh])
        cv2.fillConvexPoly(img, np.round(quad * 16).astype(np.int32), torso, cv2.LINE_AA, 4)
        draw_capsule(img, ls, lh, 0.12 * g * L, 0.06 * g * L, torso)
        draw_capsule(img, rs, rh, 0.12 * g * L, 0.06 * g * L, torso)
        draw_capsule(img, ls, rs, 0.11 * g * L, 0.11 * g * L, torso, outline=False)
        draw_capsule(
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
            cv2.polylines(img, [poly], True, shade(lk.bottom, 0.7), 2, cv2.LINE_AA, 4)
        else:  # the suit's soft crease along the groin, where the legs begin: without it
            # BlazePose put a sleepsuit's hips ~0.03 L too close to the shoulders (measured)
            cv2.polylines(img, [poly[1:5]], False, shade(lk.bottom, 0.88), 2, cv2.LINE_AA, 4)
        if lk.bottom != torso:  # waistband
            cv2.line(img, _pt(pelvis[0]), _pt(pelvis[-1]), shade(lk.bottom, 0.8), 3, 16, 4)
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
            dot = shade(lk.skin, 0.7)
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
            draw_capsule(img, sh, el, 0.095 * g * L, 0.08 * g * L, shade(limbs, f))
            if lk.style in ("bodysuit", "shirt_diaper"):  # short sleeve
                mid = sh + 0.55 * (el - sh)
                draw_capsule(img, sh, mid, 0.11 * g * L, 0.1 * g * L, shade(lk.top, f))
            draw_capsule(img, el, wr, 0.08 * g * L, 0.064 * g * L, shade(limbs, f))
            draw_capsule(img, wr, hand, 0.068 * g * L, 0.062 * g * L, shade(lk.skin, f))

    def _draw_head(self, img: np.ndarray, t: int, neck: np.ndarray) -> None:
        lk, L = self.look, self.L
        r = self.body.head_radius * L
        hc, cr = self.head[t], self.crown[t]
        lat = np.array([-cr[1], cr[0]])  # towards the infant's left
        yaw = self.yaw[t]
        ang = math.degrees(math.atan2(lat[1], lat[0]))  # ellipses' x axis: the head's width
        skin_edge = shade(lk.skin, 0.65)
        # Neck: from just below the shoulder line (its round end 0.04 L below) up into the
        # head, narrower than the head.  (A neck disc reaching 0.22 L below the shoulder line
        # made BlazePose place the shoulders low.)
        base = neck + 0.1 * L * (hc - neck) / (np.linalg.norm(hc - neck) + 1e-9)
        draw_capsule(img, base, hc, 0.14 * L, 0.14 * L, shade(lk.skin, 0.92), outline=False)

        def on_head(az: float, el: float) -> tuple[tuple[int, int], float]:
            """A point of the head sphere (drawing units) and how much it faces the camera."""
            q = hc + r * (math.sin(az + yaw) * math.cos(el) * lat + math.sin(el) * cr)
            return _pt(q), math.cos(az + yaw) * math.cos(el)

        def ellipse(q, ax: float, ay: float, col, thick=-1, a0=0, a1=360) -> None:
            axes = (max(int(ax * 16), 8), max(int(ay * 16), 8))
            cv2.ellipse(img, q, axes, ang, a0, a1, col, thick, cv2.LINE_AA, 4)

        for sgn in (1, -1):  # ears, partly behind the head's rim
            q, facing = on_head(sgn * EAR[0], EAR[1])
            if facing > -0.5:
                ellipse(q, 0.2 * r, 0.3 * r, shade(lk.skin, 0.85))
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
        blush = shade(lk.skin, 0.9)
        blush = (blush[0], blush[1], min(255, blush[2] + 25))
        for sgn in (1, -1):  # cheeks, eyes, brows
            q, facing = on_head(sgn * 0.85, -0.4)
            if facing > 0.2:
                ellipse(q, 0.16 * r * facing, 0.13 * r, blush)
            q, facing = on_head(sgn * EYE[0], EYE[1])
            if facing < 0.25:
                continue
            ex, ey = 0.2 * r * facing, 0.13 * r
            # Eyes open: closed eyes cost the (face-led) person detector whole videos.
            ellipse(q, ex, ey, (245, 245, 245))
            ellipse(q, 0.11 * r * facing, 0.11 * r, (35, 25, 15))
            ellipse(q, ex, ey, shade(lk.skin, 0.5), 2)
            b, _ = on_head(sgn * EYE[0], 0.25)
            ellipse(b, ex, 0.06 * r, shade(lk.skin, 0.55), 3, 180, 360)
        q, facing = on_head(*NOSE)
        if facing > 0.2:
            ellipse(q, 0.1 * r, 0.08 * r, shade(lk.skin, 0.78))
        q, facing = on_head(0.0, -0.6)  # mouth
        if facing > 0.2:
            ellipse(q, 0.2 * r * facing, 0.08 * r, (80, 70, 185))
            ellipse(q, 0.2 * r * facing, 0.08 * r, (50, 40, 120), 2)


# --------------------------------------------------------------------------- video


def render_into(cfg: InfantCohortConfig, row, out: Path) -> dict:
    """Render one sheet row (``video_id``, ``subject_id``) into ``out/videos/`` and
    ``out/truth/``, as the workflow lays them out under ``results/synth/``."""
    vid, truth = row.video_id, out / "truth"
    return render_video(
        cfg, vid, row.subject_id, out / "videos" / f"{vid}.mp4",
        truth / f"{vid}.npz", truth / f"{vid}.json", truth / f"{vid}.masks.npz",
    )  # fmt: skip


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
    rng = keyed_rng(cfg.seed, video_id, "render")
    rest = vary_rest(rest, rng)
    motion = simulate_motion(move, body, rest, cfg.duration_s, cfg.fps, rng)
    place = sample_placement(cfg, motion, body, rng)
    skin = SKIN_TONES[int(keyed_rng(cfg.seed, subject, "skin").integers(len(SKIN_TONES)))]
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
    gain = gain + 0.03 * np.tanh(smooth_noise(rng, T, 3 * cfg.fps))
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
    save_masks(out_masks, mask_frames, masks)
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
    write_truth(kp, cfg.fps, (W, H), BACKEND_VERSION, truth, out_truth, out_params)
    return truth


def save_masks(path: str | Path, frames: np.ndarray, masks: np.ndarray) -> None:
    """Figure masks (K, H, W) of the frames ``frames`` (K,), bit-packed; see :func:`load_masks`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            frames=frames.astype(np.int64),
            masks=np.packbits(masks.ravel()),
            shape=np.array(masks.shape, np.int64),
        )


def load_masks(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices (K,), bool masks (K, H, W)) of a ``render_video`` mask file."""
    with np.load(path, allow_pickle=False) as z:
        shape = tuple(int(v) for v in z["shape"])
        bits = np.unpackbits(z["masks"], count=int(np.prod(shape)))
        return z["frames"].astype(np.int64), bits.reshape(shape).astype(bool)
