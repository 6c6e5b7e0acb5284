"""Rendering of the synthetic walking cohort: a clothed humanoid filmed walking.

Each video renders a clothed humanoid (filled limbs, a face, shoes: what a person detector
keys on) walking across a static camera's field, mostly in side view, over varied cluttered
backgrounds with lighting changes, slight camera shake and sometimes a second person in the
background.  The subjects, their gait parameters and the sheet come from
:mod:`motorflow.synth.gait_cohort`, the walk from :mod:`motorflow.synth.gait_motion`.

Rendering styles (``CohortConfig.styles``, drawn per video by :func:`video_style`):

``realistic``  as patients are filmed in a gait lab, a clinic corridor or at home: both legs
               in one garment (trousers, leggings, baggy trousers, shorts or a skirt over
               bare legs or tights), so the legs differ only by geometry, shading and
               occlusion; weak or no outlines, the far limbs only 7–25 % darker, socks,
               shoes, sometimes ankle-foot orthoses (a light shell around shank and foot), a
               child's larger head for the age; low effective resolution, motion blur (mean
               of sub-frame renders over the exposure time), per-frame JPEG and x264
               compression, dim rooms and back light (a bright window behind, the walker
               under-exposed); a share of the videos (``p_portrait``) is filmed on an upright
               phone: a portrait frame, hand-held shake, panning after the walker.
``classic``    the original look: outlined limbs in strong colours, far leg at 0.72
               brightness, high contrast (MediaPipe hardly ever swaps its legs).

Truth per video: a pose file of the projected joints (confidence 1) and a JSON of the
realised gait parameters (:func:`gait_motion.gait_truth`) with the style, frame size and the
drawn degradations under ``render``.

Every rendering choice comes from per-video random streams of the config's seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import uniform_filter1d

from motorflow.skeleton import INDEX
from motorflow.synth import gait_motion
from motorflow.synth.common import SKIN_TONES, draw_capsule, keyed_rng, shade, write_truth
from motorflow.synth.gait_cohort import (
    CohortConfig,
    sample_anthropometry,
    sample_subject,
    subject_params,
)
from motorflow.video import VideoWriter

# The truth pose files' ``backend_version``.
BACKEND_VERSION = "motorflow-synth"


@dataclass(frozen=True)
class Look:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]  # the lower garment: trousers, leggings, shorts or skirt
    shoes: tuple[int, int, int]
    # Realistic-style clothing and shading; the defaults are the classic look.
    lower: str = "trousers"  # trousers | leggings | baggy | shorts | skirt
    legs: tuple[int, int, int] | None = None  # below shorts/skirt: tights, or bare skin (None)
    socks: tuple[int, int, int] | None = None
    afo: tuple[bool, bool] = (False, False)  # ankle-foot orthosis on the (left, right) leg
    far_shade: float = 0.72  # brightness of the far-side limbs
    edge: bool | float = True  # limb outlines: True classic (2 px, 0.55), 0 none, else factor
    head_scale: float = 1.0  # children's heads are larger relative to stature
    highlight: float = 0.0  # cylinder shading: brightness added on each limb's upper side
    skirt_length: float = 0.6  # hem, as a fraction of the way from the hips to the knees


_HAIRS = [(20, 20, 25), (30, 50, 90), (60, 110, 170), (40, 40, 60)]
_TROUSERS = [(120, 60, 30), (40, 40, 40), (110, 150, 170), (60, 70, 90), (150, 90, 60)]
# Everyday legwear (BGR): jeans, light denim, black, charcoal, grey, navy, khaki, brown, plum.
_LEGWEAR = [
    (95, 62, 38), (140, 105, 75), (32, 32, 35), (68, 68, 72), (125, 125, 128), (72, 46, 36),
    (112, 142, 160), (55, 75, 98), (90, 60, 95),
]  # fmt: skip
_LOWER = ("trousers", "leggings", "baggy", "shorts", "skirt")
_P_LOWER = (0.3, 0.2, 0.15, 0.25, 0.1)
_AFO_COLOUR = (214, 222, 226)  # off-white polypropylene shell
_SETTINGS = ("lab", "corridor", "home")


def random_look(rng: np.random.Generator) -> Look:
    hue = int(rng.integers(180))
    sat = int(rng.integers(120, 230))
    val = int(rng.integers(120, 230))
    shirt = cv2.cvtColor(np.uint8([[[hue, sat, val]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return Look(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=_HAIRS[rng.integers(len(_HAIRS))],
        shirt=tuple(int(c) for c in shirt),
        trousers=_TROUSERS[rng.integers(len(_TROUSERS))],
        shoes=(int(rng.integers(10, 60)),) * 3,
    )


def realistic_look(
    rng: np.random.Generator, age_months: float, scene: list[np.ndarray] | None = None
) -> Look:
    """A patient as filmed in a clinic: both legs in one garment (or bare), muted colours,
    often close to the room's (``scene`` colours), weak or no outlines, the far limbs only
    slightly darker, sometimes orthoses; a child's head size for the age."""
    hue = int(rng.integers(180))
    sat = int(rng.integers(20, 150))
    val = int(rng.integers(70, 210))
    shirt = cv2.cvtColor(np.uint8([[[hue, sat, val]]]), cv2.COLOR_HSV2BGR)[0, 0]
    lower = _LOWER[int(rng.choice(len(_LOWER), p=_P_LOWER))]
    if scene and rng.uniform() < 0.25:  # clothes the colour of the floor or wall
        ref = np.asarray(scene[int(rng.integers(len(scene)))], float)
        garment = tuple(int(c) for c in np.clip(ref * rng.uniform(0.75, 1.15), 0, 255))
    else:
        garment = _LEGWEAR[int(rng.integers(len(_LEGWEAR)))]
    legs = None  # bare skin below shorts or a skirt...
    if lower == "skirt" and rng.uniform() < 0.5:  # ...or tights
        legs = _LEGWEAR[int(rng.integers(len(_LEGWEAR)))]
    socks = None
    if rng.uniform() < 0.6:
        socks = (int(rng.integers(30, 245)),) * 3
    u = rng.uniform()  # orthoses: mostly both legs (diplegia), sometimes one
    afo = ((True, True), (True, False), (False, True), (False, False))[
        int(np.searchsorted([0.2, 0.25, 0.3], u, side="right"))
    ]
    if rng.uniform() < 0.5:
        shoes = (int(rng.integers(10, 70)),) * 3
    else:
        shoes = tuple(int(c) for c in rng.integers(150, 245, 3))
    age_y = age_months / 12.0
    return Look(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=_HAIRS[rng.integers(len(_HAIRS))],
        shirt=tuple(int(c) for c in shirt),
        trousers=garment,
        shoes=shoes,
        lower=lower,
        legs=legs,
        socks=socks,
        afo=afo,
        far_shade=float(rng.uniform(0.75, 0.93)),
        edge=0.0 if rng.uniform() < 0.5 else float(rng.uniform(0.75, 0.9)),
        # Head height ~1/5.5 of stature at 5 years, ~1/7 at 13 (adult Winter radius 0.065 H).
        head_scale=float(np.clip(1.38 - 0.035 * (age_y - 5), 1.05, 1.4)),
        highlight=float(rng.uniform(0.04, 0.18)),
        skirt_length=float(rng.uniform(0.45, 0.75)),
    )


def room_background(w: int, h: int, rng: np.random.Generator, horizon: float) -> np.ndarray:
    """A room: wall and floor with random furniture-like clutter and a lighting gradient."""
    img = np.empty((h, w, 3), np.uint8)
    wall = rng.integers(90, 235, 3)
    floor = rng.integers(50, 180, 3)
    hy = int(horizon)
    img[:hy] = wall
    img[hy:] = floor
    for _ in range(int(rng.integers(4, 14))):  # clutter: boxes, shelves, posters, doors
        x0, y0 = int(rng.integers(-40, w)), int(rng.integers(-20, hy + 10))
        bw, bh = int(rng.integers(15, w // 3)), int(rng.integers(15, h // 2))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), color, -1)
        if rng.uniform() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), (30, 30, 30), 2)
    for _ in range(int(rng.integers(0, 6))):  # floor tiles / lines
        y = int(rng.integers(hy, h))
        cv2.line(
            img, (0, y), (w, y + int(rng.integers(-20, 20))), tuple(int(c) for c in floor // 2), 1
        )
    gx = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.9, 1.3), w)[None, :, None]
    gy = np.linspace(rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1), h)[:, None, None]
    img = np.clip(img * gx * gy * rng.uniform(0.75, 1.2), 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0)


def _window(img: np.ndarray, rng: np.random.Generator, x_mid: float, horizon: float) -> None:
    """A bright window or glass door on the wall behind the walk, with a soft glow."""
    h, w = img.shape[:2]
    ww = int(rng.uniform(0.18, 0.4) * w)
    x0 = int(np.clip(x_mid + rng.uniform(-0.6, 0.1) * ww, 0, w - ww))
    y0 = int(rng.uniform(0.02, 0.2) * h)
    y1 = int(max(y0 + 20, horizon + rng.uniform(-0.15, 0.05) * h))
    glow = np.zeros((h, w), np.float32)
    glow[y0:y1, x0 : x0 + ww] = 1.0
    glow = cv2.GaussianBlur(glow, (0, 0), max(4.0, 0.04 * w))
    light = np.array(rng.integers(225, 256, 3), np.float32)
    img[:] = np.clip(img + glow[..., None] * (light - img) * 0.8, 0, 255).astype(np.uint8)
    img[y0:y1, x0 : x0 + ww] = np.clip(light, 0, 255).astype(np.uint8)
    for k in range(1, int(rng.integers(1, 4))):  # mullions
        x = x0 + k * ww // 3
        cv2.line(img, (x, y0), (x, y1), tuple(int(c) for c in 0.7 * light), 3)


@dataclass
class Camera:
    f: float
    cx: float
    cy: float
    cam_height: float  # metres above the floor

    def project(self, pts_cam: np.ndarray) -> np.ndarray:
        z = pts_cam[..., 2]
        u = self.f * pts_cam[..., 0] / z + self.cx
        v = self.f * pts_cam[..., 1] / z + self.cy
        return np.stack([u, v], -1)


def _max_focal(
    pts_cam: np.ndarray, cx: float, cy: float, w: int, h: int, margin: np.ndarray
) -> float:
    """Largest focal length (px) at which every camera-frame point projects inside the frame,
    ``margin`` (x, y px) away from its edges; the principal point must lie inside that."""
    limit = np.inf
    for axis, c, size in ((0, cx, w), (1, cy, h)):
        r = pts_cam[..., axis] / pts_cam[..., 2]
        r = r[np.isfinite(r)]
        pos, neg = r[r > 1e-9], r[r < -1e-9]
        if pos.size:
            limit = min(limit, (size - margin[axis] - c) / pos.max())
        if neg.size:
            limit = min(limit, (margin[axis] - c) / neg.min())
    return float(limit)


def to_camera(
    joints: np.ndarray, heading: float, origin: np.ndarray, cam_height: float
) -> np.ndarray:
    """Walker frame (X fwd, Y up, Z right) → OpenCV camera frame (x right, y down, z ahead).

    ``heading`` 0 walks toward image right; π toward image left; values between walk
    obliquely, away from the camera for positive angles.
    """
    fwd = np.array([math.cos(heading), 0.0, math.sin(heading)])
    up = np.array([0.0, -1.0, 0.0])
    right = np.cross(fwd, up)
    rot = np.stack([fwd, up, right], 1)  # columns: images of local X, Y, Z
    out = joints @ rot.T + origin
    out[..., 1] += cam_height
    return out


def _draw_leg(img, a, scale, look: Look, side: str, f: float) -> None:
    J = INDEX
    hip, knee, ank = a[J[f"{side}_hip"]], a[J[f"{side}_knee"]], a[J[f"{side}_ankle"]]
    heel, toe = a[J[f"{side}_heel"]], a[J[f"{side}_toe"]]
    s = scale[J[f"{side}_knee"]]
    cloth = shade(look.trousers, f)
    if look.edge is True:  # classic
        draw_capsule(img, hip, knee, 0.075 * s, 0.055 * s, cloth)
        draw_capsule(img, knee, ank, 0.055 * s, 0.04 * s, cloth)
        shoe = shade(look.shoes, f)
        draw_capsule(img, heel, toe, 0.035 * s, 0.028 * s, shoe)
        draw_capsule(img, ank, 0.5 * (heel + toe), 0.04 * s, 0.035 * s, shoe, outline=False)
        return
    kw = dict(outline=look.edge, highlight=look.highlight)
    afo = look.afo[0 if side == "left" else 1]
    bare = look.lower in ("shorts", "skirt")
    leg = shade(look.legs if look.legs is not None else look.skin, f) if bare else cloth
    thigh, shank = {
        "trousers": ((0.075, 0.055), (0.055, 0.042)),
        "leggings": ((0.066, 0.05), (0.048, 0.036)),
        "baggy": ((0.095, 0.08), (0.08, 0.072)),
    }.get(look.lower, ((0.064, 0.049), (0.047, 0.035)))
    covered = look.lower in ("trousers", "baggy")
    if afo and covered:  # trousers over an orthosis: a bulkier shank
        shank = (shank[0] * 1.1, shank[1] * 1.3)
    draw_capsule(img, hip, knee, thigh[0] * s, thigh[1] * s, leg, **kw)
    draw_capsule(img, knee, ank, shank[0] * s, shank[1] * s, leg, **kw)
    if look.socks is not None and not covered:
        draw_capsule(img, ank, ank + 0.2 * (knee - ank), 0.042 * s, 0.042 * s,
                     shade(look.socks, f), **kw)  # fmt: skip
    if afo and not covered:  # the shell: calf to foot, over socks/leggings
        shell = shade(_AFO_COLOUR, f)
        draw_capsule(img, ank, ank + 0.7 * (knee - ank), 0.052 * s, 0.058 * s, shell,
                     outline=max(float(look.edge), 0.85), highlight=look.highlight)  # fmt: skip
        # Velcro strap: a thin band across the top of the shell.
        top, axis = ank + 0.64 * (knee - ank), knee - ank
        across = np.array([-axis[1], axis[0]]) / max(np.hypot(*axis), 1e-6) * 0.06 * s
        cv2.line(img, tuple(np.round((top + across) * 16).astype(int)),
                 tuple(np.round((top - across) * 16).astype(int)), shade((60, 60, 60), f),
                 max(1, int(round(0.02 * s))), cv2.LINE_AA, 4)  # fmt: skip
    if look.lower == "shorts":
        draw_capsule(img, hip, hip + 0.55 * (knee - hip), 0.088 * s, 0.082 * s, cloth, **kw)
    big = 1.15 if afo else 1.0
    shoe = shade(look.shoes, f)
    draw_capsule(img, heel, toe, 0.035 * s * big, 0.029 * s * big, shoe, **kw)
    draw_capsule(img, ank, 0.5 * (heel + toe), 0.042 * s * big, 0.036 * s * big, shoe,
                 outline=False)  # fmt: skip


def _draw_skirt(img, a, scale, look: Look, hgt: float) -> None:
    """A skirt: the hull of the hips and both thighs down to ~60 % of the way to the knees."""
    J = INDEX
    length = look.skirt_length
    pts = []
    for side in ("left", "right"):
        hip, knee = a[J[f"{side}_hip"]], a[J[f"{side}_knee"]]
        s = scale[J[f"{side}_knee"]]
        hem = hip + length * (knee - hip)
        for p, r in ((hip, 0.1 * hgt), (hem, 0.1 * s + 0.04 * hgt)):
            for ang in np.linspace(0, 2 * np.pi, 8, endpoint=False):
                pts.append(p + r * np.array([math.cos(ang), math.sin(ang)]))
    hull = cv2.convexHull(np.round(np.array(pts) * 16).astype(np.int32))
    cv2.fillConvexPoly(img, hull, look.trousers, cv2.LINE_AA, 4)


def draw_person(
    img, uv: np.ndarray, depth: np.ndarray, scale: np.ndarray, look: Look, height_m: float
) -> None:
    """Draw one humanoid from its projected joints (V, 2); ``scale`` px per metre per joint."""
    J = INDEX
    a = uv
    # Near side (smaller depth) is drawn last; far-side limbs darker for a depth cue.
    near_left = depth[J["left_hip"]] < depth[J["right_hip"]]
    order = ("right", "left") if near_left else ("left", "right")
    hgt = scale[J["left_hip"]]  # px per metre at the hips
    classic = look.edge is True
    kw = {} if classic else dict(outline=look.edge, highlight=look.highlight)

    def draw_arm(side: str, f: float) -> None:
        sh, el, wr = a[J[f"{side}_shoulder"]], a[J[f"{side}_elbow"]], a[J[f"{side}_wrist"]]
        s = scale[J[f"{side}_elbow"]]
        draw_capsule(img, sh, el, 0.05 * s, 0.042 * s, shade(look.shirt, f), **kw)
        draw_capsule(img, el, wr, 0.036 * s, 0.03 * s, shade(look.skin, f), **kw)
        hand = wr + 0.35 * (wr - el)
        draw_capsule(img, wr, hand, 0.034 * s, 0.03 * s, shade(look.skin, f), **kw)

    far, near = order
    draw_arm(far, look.far_shade)
    _draw_leg(img, a, scale, look, far, look.far_shade)
    # Torso: hull of shoulders and hips, dilated so it reads as a body in side view too.
    sh_c = 0.5 * (a[J["left_shoulder"]] + a[J["right_shoulder"]])
    hip_c = 0.5 * (a[J["left_hip"]] + a[J["right_hip"]])
    quad = np.array(
        [a[J["left_shoulder"]], a[J["right_shoulder"]], a[J["right_hip"]], a[J["left_hip"]]]
    )
    hull = cv2.convexHull(np.round(quad * 16).astype(np.int32))
    cv2.fillConvexPoly(img, hull, look.shirt, cv2.LINE_AA, 4)
    draw_capsule(img, sh_c, hip_c, 0.11 * hgt, 0.10 * hgt, look.shirt, **kw)
    draw_capsule(
        img,
        a[J["left_hip"]],
        a[J["right_hip"]],
        0.09 * hgt,
        0.09 * hgt,
        look.trousers,
        outline=False,
    )
    draw_capsule(
        img,
        hip_c + 0.15 * (sh_c - hip_c),
        hip_c,
        0.1 * hgt,
        0.095 * hgt,
        look.trousers,
        outline=False,
    )
    # Neck and head.
    head_c = 0.5 * (a[J["left_ear"]] + a[J["right_ear"]])
    draw_capsule(img, sh_c, head_c, 0.035 * hgt, 0.035 * hgt, shade(look.skin, 0.9), outline=False)
    r0 = gait_motion.Anthropometry(height_m).head_radius * scale[J["nose"]]
    r = r0 * look.head_scale
    if look.head_scale != 1.0:  # a child's larger cranium grows upward from the face
        up = head_c - sh_c
        head_c = head_c + (r - r0) * up / max(np.hypot(*up), 1e-6)
    hc = tuple(np.round(head_c * 16).astype(int))
    if classic:
        cv2.circle(img, hc, int(r * 16) + 8, shade(look.skin, 0.6), 2, cv2.LINE_AA, 4)
    cv2.circle(img, hc, int(r * 16), look.skin, -1, cv2.LINE_AA, 4)
    # Hair on the back/top of the head: a filled ellipse arc opposite the face.
    face_dir = a[J["nose"]] - head_c
    ang = math.degrees(math.atan2(face_dir[1], face_dir[0]))
    frontal = np.hypot(*(a[J["left_eye"]] - a[J["right_eye"]])) > 0.45 * r0
    if frontal:
        cv2.ellipse(img, hc, (int(r * 16), int(r * 16)), 0, 180, 360, look.hair, -1, cv2.LINE_AA, 4)
    else:
        cv2.ellipse(
            img,
            hc,
            (int(r * 16) + 8, int(r * 16) + 8),
            ang + 180,
            -100,
            60,
            look.hair,
            -1,
            cv2.LINE_AA,
            4,
        )
    r = r0  # face features keep the adult size around the face joints
    # Face features only where they face the camera.
    for side in ("left", "right"):
        if depth[J[f"{side}_eye"]] < depth[J["left_ear"]] / 2 + depth[J["right_ear"]] / 2:
            e = tuple(np.round(a[J[f"{side}_eye"]] * 16).astype(int))
            cv2.circle(img, e, int(0.22 * r * 16), (250, 250, 250), -1, cv2.LINE_AA, 4)
            cv2.circle(img, e, int(0.12 * r * 16), (30, 20, 10), -1, cv2.LINE_AA, 4)
        if depth[J[f"{side}_ear"]] <= depth[J[f"{('right' if side == 'left' else 'left')}_ear"]]:
            ear = a[J[f"{side}_ear"]]
            cv2.ellipse(
                img,
                tuple(np.round(ear * 16).astype(int)),
                (int(0.18 * r * 16), int(0.28 * r * 16)),
                0,
                0,
                360,
                shade(look.skin, 0.8),
                -1,
                cv2.LINE_AA,
                4,
            )
    nose = a[J["nose"]]
    cv2.circle(
        img,
        tuple(np.round(nose * 16).astype(int)),
        int(0.17 * r * 16),
        shade(look.skin, 0.85),
        -1,
        cv2.LINE_AA,
        4,
    )
    mouth = head_c + 0.75 * (nose - head_c) + np.array([0, 0.45 * r])
    if not classic:
        mouth = 0.5 * (a[J["left_ear"]] + a[J["right_ear"]])
        mouth = mouth + 0.75 * (nose - mouth) + np.array([0, 0.45 * r])
    cv2.circle(
        img,
        tuple(np.round(mouth * 16).astype(int)),
        int(0.12 * r * 16),
        (60, 60, 170),
        -1,
        cv2.LINE_AA,
        4,
    )
    _draw_leg(img, a, scale, look, near, 1.0)
    if look.lower == "skirt":
        _draw_skirt(img, a, scale, look, hgt)
    draw_arm(near, 1.0)


def _portrait_size(width: int, height: int) -> tuple[int, int]:
    """An upright phone frame of the configured one's pixels: short side (rounded down to a
    multiple of 16, see ``width``) across, long side (even) down."""
    short, long = min(width, height), max(width, height)
    return max(16, short // 16 * 16), long - long % 2


def video_style(cfg: CohortConfig, video_id: str) -> dict:
    """The rendering style of one video and its frame size; a pure function of the config
    (its own random stream, so the walk and the classic rendering draws are unaffected)."""
    rng = keyed_rng(cfg.seed, video_id, "style")
    names = [k for k, _ in cfg.styles]
    w = np.array([v for _, v in cfg.styles], float)
    style = names[int(rng.choice(len(names), p=w / w.sum()))]
    portrait = bool(rng.uniform() < cfg.p_portrait) and style == "realistic"
    size = _portrait_size(cfg.width, cfg.height) if portrait else (cfg.width, cfg.height)
    return {"style": style, "portrait": portrait, "frame_size": size}


@dataclass(frozen=True)
class Degradation:
    """How a realistic video is filmed (drawn per video; recorded in the truth JSON)."""

    setting: str = "lab"  # lab | corridor | home
    exposure: float = 1.0  # global brightness factor (dim rooms < 1)
    backlit: bool = False  # a bright window behind the walker, the walker under-exposed
    subject_light: float = 1.0  # extra factor on the walker's colours (back light)
    resolution: float = 1.0  # effective resolution: render, downscale by this, upscale
    blur: float = 0.0  # motion blur: exposure time as a fraction of the frame interval
    jpeg_quality: int = 0  # per-frame JPEG round trip (0: none)
    crf: int = 20  # x264 quality of the mp4
    noise_sd: float = 2.0
    pan: bool = False  # a hand-held (portrait) phone following the walker
    shake_sd: float = 0.6


def _degradation(rng: np.random.Generator, portrait: bool) -> Degradation:
    setting = _SETTINGS[int(rng.choice(3, p=(0.35, 0.35, 0.3)))]
    lo, hi = {"lab": (0.75, 1.05), "corridor": (0.55, 0.95), "home": (0.45, 0.85)}[setting]
    exposure = float(rng.uniform(lo, hi))
    backlit = setting != "lab" and bool(rng.uniform() < 0.4)
    # Back light under-exposes the walker, but an auto-exposing camera keeps him visible:
    # his colours at >= 45 % of their lit value overall.
    subject = max(float(rng.uniform(0.5, 0.8)), 0.45 / exposure) if backlit else 1.0
    return Degradation(
        setting=setting,
        exposure=exposure,
        backlit=backlit,
        subject_light=min(subject, 1.0),
        resolution=float(rng.uniform(0.35, 0.75)),
        blur=float(np.clip(rng.uniform(0.15, 0.4) / exposure, 0.15, 0.5)),
        jpeg_quality=int(rng.integers(30, 76)),
        crf=int(rng.integers(22, 29)),
        noise_sd=float(rng.uniform(1.5, 4.0) / math.sqrt(exposure)),
        pan=portrait,  # an upright phone follows the walker; landscape cameras stand still
        shake_sd=float(rng.uniform(1.0, 2.0)) if setting == "home" or portrait else 0.6,
    )


def _lit(look: Look, factor: float) -> Look:
    if factor == 1.0:
        return look
    sh = lambda c: None if c is None else shade(c, factor)  # noqa: E731
    return replace(
        look, skin=sh(look.skin), hair=sh(look.hair), shirt=sh(look.shirt),
        trousers=sh(look.trousers), shoes=sh(look.shoes), legs=sh(look.legs),
        socks=sh(look.socks),
    )  # fmt: skip


def _at(uv: np.ndarray, t: int, delta: float) -> np.ndarray:
    """Joints at frame ``t`` + ``delta`` (a fraction of a frame), linearly interpolated."""
    if delta >= 0:
        return uv[t] + delta * (uv[min(t + 1, len(uv) - 1)] - uv[t])
    return uv[t] + delta * (uv[t] - uv[max(t - 1, 0)])


def render_into(cfg: CohortConfig, row, out: Path) -> dict:
    """Render one sheet row (``video_id``, ``subject_id``, ``view``) into ``out/videos/`` and
    ``out/truth/``, as the workflow lays them out under ``results/synth/``."""
    vid = row.video_id
    return render_video(cfg, vid, row.subject_id, row.view, out / "videos" / f"{vid}.mp4",
                        out / "truth" / f"{vid}.npz", out / "truth" / f"{vid}.json")  # fmt: skip


def render_video(
    cfg: CohortConfig,
    video_id: str,
    subject: str,
    view: str,
    out_video: str | Path,
    out_truth: str | Path,
    out_params: str | Path,
) -> dict:
    """Render one cohort video and write its truth files; returns the truth dict."""
    scene = render_scene(cfg, video_id, subject, view)
    W, H = scene["frame_size"]
    with VideoWriter(out_video, W, H, cfg.fps, crf=scene["crf"]) as vw:
        for frame in scene["frames"]():
            vw.write(frame)
    write_truth(
        scene["keypoints"], cfg.fps, (W, H), BACKEND_VERSION, scene["truth"],
        out_truth, out_params,
    )  # fmt: skip
    return scene["truth"]


def render_scene(cfg: CohortConfig, video_id: str, subject: str, view: str) -> dict:
    """Everything of one video but the files: ``frames`` (a callable yielding the BGR frames
    in order), ``keypoints`` (the truth pose, (T, 21, 3)), ``frame_size``, ``crf`` and
    ``truth`` (the truth JSON's content)."""
    params, info = subject_params(cfg, subject)
    pick = video_style(cfg, video_id)
    realistic = pick["style"] == "realistic"
    rng = keyed_rng(cfg.seed, video_id, "render")
    # The realistic style's own choices come from a second per-video stream: the walk and
    # the camera path below are the same in both styles.
    rrng = keyed_rng(cfg.seed, video_id, "realistic")
    deg = _degradation(rrng, pick["portrait"]) if realistic else None
    stride_s = 120.0 / params.cadence_steps_per_min
    duration = cfg.strides * stride_s + 0.5
    walk = gait_motion.simulate_walk(params, duration, cfg.fps, rng)
    truth = gait_motion.gait_truth(walk)

    W, H = pick["frame_size"]
    going_right = bool(rng.uniform() < 0.5)
    oblique = (
        math.radians(rng.uniform(15, 30)) * (1 if rng.uniform() < 0.5 else -1)
        if view == "oblique"
        else 0.0
    )
    heading = (0.0 if going_right else math.pi) + (oblique if going_right else -oblique)
    distance = float(rng.uniform(3.0, 5.5))
    path_len = float(walk.pelvis[-1, 0] - walk.pelvis[0, 0])
    # Field of view: the walk spans ~70 % of the width, but the person stays 40–75 % of H.
    body_frac = float(rng.uniform(0.42, 0.72))
    f = min(
        0.7 * W * distance / max(abs(path_len * math.cos(oblique)), 1e-3),
        body_frac * H * distance / params.height_m,
    )
    if deg is not None and deg.pan:  # the camera follows: only the walker's size limits f
        frac = rrng.uniform(0.3, 0.5) if pick["portrait"] else rrng.uniform(0.5, 0.75)
        f = float(frac) * H * distance / params.height_m
    cam_h = float(rng.uniform(0.6, 1.1))
    cam = Camera(f=f, cx=W / 2, cy=H / 2 + float(rng.uniform(-0.08, 0.08)) * H, cam_height=cam_h)
    start = -0.5 * path_len
    origin = np.array([0.0, 0.0, distance])
    local = walk.joints.copy()
    local[..., 0] += start
    cam_pts = to_camera(local, heading, origin, cam_h)
    # Camera shake: a smooth random walk of a few pixels.
    shake_sd = 0.6 if deg is None else deg.shake_sd
    shake = np.cumsum(rng.normal(0, 0.6, (len(cam_pts), 2)), 0) * (shake_sd / 0.6)
    shake -= np.linspace(shake[0], shake[-1], len(cam_pts))
    # A following camera: pan (as a horizontal image shift) after the pelvis with a lag.
    pan_ratio = np.zeros(len(cam_pts))
    if deg is not None and deg.pan:
        hips = cam_pts[:, [INDEX["left_hip"], INDEX["right_hip"]]].mean(1)
        ratio = hips[:, 0] / hips[:, 2]
        lag = int(rrng.integers(2, 9))
        ratio = np.concatenate([np.full(lag, ratio[0]), ratio[: len(ratio) - lag]])
        pan_ratio = float(rrng.uniform(0.8, 1.0)) * uniform_filter1d(ratio, 15, mode="nearest")
    framed = cam_pts.copy()
    framed[..., 0] -= pan_ratio[:, None] * framed[..., 2]
    # Zoom out where the framing above would cut the walker off: it ignores that the camera
    # height moves the body off-centre (feet below the frame) and that oblique walks come near.
    margin = 0.02 * np.array([W, H]) + np.abs(shake).max(0)
    f = cam.f = min(f, _max_focal(framed, cam.cx, cam.cy, W, H, margin))
    uv = cam.project(cam_pts)
    pan_px = f * pan_ratio
    uv[..., 0] -= pan_px[:, None]
    uv = uv + shake[:, None, :]
    scale = f / cam_pts[..., 2]  # px per metre at each joint

    horizon = cam.cy - f * cam_h / (distance * 3)  # far wall edge
    horizon = float(np.clip(horizon, 0.25 * H, 0.7 * H))
    x_lo = int(math.floor(pan_px.min()))
    bg_w = W + int(math.ceil(pan_px.max())) - x_lo
    bg = room_background(bg_w, H, rng, horizon)
    if realistic:
        scene_cols = [
            bg[int(0.5 * horizon), bg_w // 2],
            bg[min(H - 1, int(horizon) + 10), bg_w // 2],
        ]
        look = realistic_look(rrng, info["age_months"], scene_cols)
        random_look(rng)  # keep the classic stream's draws in step
        # The room's exposure; a window stays bright (drawn after), the walker does not.
        bg = np.clip(bg * deg.exposure, 0, 255).astype(np.uint8)
        if deg.backlit:
            _window(bg, rrng, W / 2 - x_lo, horizon)
        look = _lit(look, deg.subject_light * deg.exposure)
    else:
        look = random_look(rng)
    noise_sd = float(rng.uniform(1.0, 4.0))
    gain = 1.0 + 0.08 * np.sin(np.linspace(0, rng.uniform(1, 4) * np.pi, len(uv)))  # flicker

    second = None
    if rng.uniform() < cfg.p_second_person:
        p2, i2 = sample_subject("I", rng, sample_anthropometry(rng))
        stand = replace(
            p2,
            cadence_steps_per_min=60.0,
            hip_amplitude_deg=(2.0, 2.0),
            knee_rom_deg=(3.0, 3.0),
            ankle_rom_deg=(2.0, 2.0),
        )
        w2 = gait_motion.simulate_walk(stand, duration, cfg.fps, rng)
        j2 = w2.joints.copy()
        j2[..., 0] -= j2[:1, :, 0].mean()
        d2 = distance * float(rng.uniform(1.6, 2.4))
        x2 = float(rng.uniform(-0.35, 0.35)) * W * d2 / f
        h2 = float(rng.choice([0.5 * math.pi, -0.5 * math.pi, 0.0, math.pi]))
        c2 = to_camera(j2, h2, np.array([x2, 0.0, d2]), cam_h)
        look2 = random_look(rng)
        if realistic:
            look2 = _lit(realistic_look(rrng, i2["age_months"]), deg.subject_light * deg.exposure)
        uv2 = cam.project(c2) + shake[:, None, :]
        uv2[..., 0] -= pan_px[:, None]
        second = (uv2, c2[..., 2], f / c2[..., 2], look2, p2.height_m)

    depth = cam_pts[..., 2]
    T = len(uv)
    if deg is None:
        # Sensor noise from a small bank of frames, shifted per frame: per-frame normal()
        # draws at 480p would double the rendering time.
        bank = rng.normal(0, noise_sd, (4, H, W, 3)).astype(np.float32)
        shifts = [tuple(rng.integers(0, (H, W))) for _ in range(T)]

        def frames():
            for t in range(T):
                frame = bg.copy()
                if second is not None:
                    draw_person(frame, second[0][t], second[1][t], second[2][t], second[3],
                                second[4])  # fmt: skip
                draw_person(frame, uv[t], depth[t], scale[t], look, params.height_m)
                noise = np.roll(bank[t % 4], shifts[t], axis=(0, 1))
                noisy = frame.astype(np.float32) * np.float32(gain[t]) + noise
                yield np.clip(noisy, 0, 255).astype(np.uint8)

    else:
        # Low resolution, but a walker of at least ~120 px: smaller, MediaPipe loses him.
        stature = float(np.median(scale[:, INDEX["nose"]])) * params.height_m
        deg = replace(deg, resolution=float(min(1.0, max(deg.resolution, 120.0 / stature))))
        lw, lh = max(32, round(W * deg.resolution)), max(32, round(H * deg.resolution))
        bank = rrng.normal(0, deg.noise_sd, (4, lh, lw, 3)).astype(np.float32)
        shifts = [tuple(rrng.integers(0, (lh, lw))) for _ in range(T)]
        subs = (-0.5 * deg.blur, 0.0, 0.5 * deg.blur) if deg.blur > 0 else (0.0,)
        pad = 0.25 * float(np.median(scale[:, INDEX["nose"]])) * params.height_m

        def frames():
            for t in range(T):
                x0 = int(round(pan_px[t])) - x_lo
                base = bg[:, x0 : x0 + W].copy()
                if second is not None:
                    draw_person(base, second[0][t], second[1][t], second[2][t], second[3],
                                second[4])  # fmt: skip
                # Motion blur: the mean of sub-frame renders within the exposure time.
                near = uv[max(t - 1, 0) : t + 2].reshape(-1, 2)
                bx0, by0 = np.clip(np.floor(near.min(0) - pad), 0, (W, H)).astype(int)
                bx1, by1 = np.clip(np.ceil(near.max(0) + pad), 0, (W, H)).astype(int)
                frame = base.astype(np.float32)
                acc = np.zeros((by1 - by0, bx1 - bx0, 3), np.float32)
                for delta in subs:
                    img = base.copy()
                    draw_person(img, _at(uv, t, delta), depth[t], scale[t], look,
                                params.height_m)  # fmt: skip
                    acc += img[by0:by1, bx0:bx1]
                frame[by0:by1, bx0:bx1] = acc / len(subs)
                frame *= np.float32(gain[t])
                small = cv2.resize(frame, (lw, lh), interpolation=cv2.INTER_AREA)
                small += np.roll(bank[t % 4], shifts[t], axis=(0, 1))
                small = np.clip(small, 0, 255).astype(np.uint8)
                out = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
                if deg.jpeg_quality:
                    ok, buf = cv2.imencode(
                        ".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, deg.jpeg_quality]
                    )
                    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                yield out

    kp = np.concatenate([uv, np.ones(uv.shape[:2] + (1,))], -1).astype(np.float32)
    render = {"style": pick["style"], "portrait": pick["portrait"], "frame_size": [W, H]}
    if realistic:
        render.update(
            degradation=asdict(deg),
            look={k: v for k, v in asdict(look).items() if k in
                  ("lower", "afo", "far_shade", "edge", "head_scale")}
            | {"socks": look.socks is not None, "bare_legs": look.lower in ("shorts", "skirt")
               and look.legs is None},
        )  # fmt: skip
    truth.update(
        video_id=video_id,
        subject_id=subject,
        view=view,
        direction="right" if going_right else "left",
        heading_deg=math.degrees(heading),
        second_person=second is not None,
        n_frames=int(len(uv)),
        body_height_px=float(np.median(scale[:, INDEX["nose"]]) * params.height_m),
        params=params.to_dict(),
        subject=info,
        render=render,
    )
    return {"frames": frames, "keypoints": kp, "frame_size": (W, H),
            "crf": 20 if deg is None else deg.crf, "truth": truth}  # fmt: skip
