"""Synthetic walking cohort: GMFCS-like severity levels I–IV rendered as videos with truth.

Each subject draws clinically meaningful gait parameters whose distributions shift with
severity (overlapping between neighbouring levels), plus anthropometry.  Each video renders a
clothed humanoid (filled limbs, skin vs clothes contrast, a face, shoes: what a person
detector keys on) walking across a static camera's field, mostly in side view, over varied
cluttered backgrounds with lighting changes, slight camera shake and sometimes a second
person in the background.  Truth per video: a pose file of the projected joints
(confidence 1) and a JSON of the realised gait parameters (:func:`gaitsim.gait_truth`).

The sheet (subjects, videos, labels, per-video seeds) is a pure function of the config, so
the workflow's DAG is known before anything is rendered.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from motorflow import gaitsim
from motorflow.poseio import PoseData, atomic_path, save_pose, write_json
from motorflow.skeleton import INDEX
from motorflow.video import VideoWriter

LEVELS = ("I", "II", "III", "IV")

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
    width: int = 848  # a multiple of 16: reproducible x264 output
    height: int = 480
    strides: float = 3.5  # strides walked per video (duration follows from cadence)
    p_second_person: float = 0.25
    p_oblique: float = 0.2  # otherwise a pure side view
    video_dir: str = "results/synth/videos"


def _rng(*keys: object) -> np.random.Generator:
    """Independent, order-free stream per (seed, subject, video): adding subjects never
    changes the existing ones."""
    digest = hashlib.sha256(":".join(map(str, keys)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sample_anthropometry(rng: np.random.Generator) -> dict:
    """Age 5–13 years and a stature that grows with it (children's growth, roughly)."""
    age_months = float(rng.uniform(60, 156))
    height = float(np.clip(0.75 + 0.0047 * age_months + rng.normal(0, 0.05), 1.0, 1.7))
    return {"age_months": round(age_months, 1), "height_cm": round(100 * height, 1)}


def sample_subject(
    level: str, rng: np.random.Generator, anthro: dict
) -> tuple[gaitsim.GaitParams, dict]:
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

    params = gaitsim.GaitParams(
        height_m=height,
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


def calibrate(p: gaitsim.GaitParams, rng: np.random.Generator) -> gaitsim.GaitParams:
    """Scale the hip excursion so that the realised step length meets the target."""
    probe = replace(p, stride_cv=0.0)
    scale = 1.0
    for _ in range(4):
        q = replace(probe, hip_amplitude_deg=tuple(a * scale for a in p.hip_amplitude_deg))
        w = gaitsim.simulate_walk(q, 4 * 120 / p.cadence_steps_per_min, 30, rng, oversample=4)
        got = gaitsim.gait_truth(w)["step_length_leg"]
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
                rng = _rng(cfg.seed, subject, v, "sheet")
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
    info = {s: sample_anthropometry(_rng(cfg.seed, s, "anthro")) for s in sheet["subject_id"]}
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


def write_sheet(sheet: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        sheet.to_csv(tmp, sep="\t", index=False)


def level_of(subject: str) -> str:
    return subject[len("syn") :].rstrip("0123456789")


def subject_params(cfg: CohortConfig, subject: str) -> tuple[gaitsim.GaitParams, dict]:
    anthro = sample_anthropometry(_rng(cfg.seed, subject, "anthro"))
    return sample_subject(level_of(subject), _rng(cfg.seed, subject, "gait"), anthro)


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Look:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]


_SKINS = [(189, 224, 255), (150, 190, 235), (110, 150, 205), (80, 110, 160), (60, 80, 120)]
_HAIRS = [(20, 20, 25), (30, 50, 90), (60, 110, 170), (40, 40, 60)]
_TROUSERS = [(120, 60, 30), (40, 40, 40), (110, 150, 170), (60, 70, 90), (150, 90, 60)]


def random_look(rng: np.random.Generator) -> Look:
    hue = int(rng.integers(180))
    sat = int(rng.integers(120, 230))
    val = int(rng.integers(120, 230))
    shirt = cv2.cvtColor(np.uint8([[[hue, sat, val]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return Look(
        skin=_SKINS[rng.integers(len(_SKINS))],
        hair=_HAIRS[rng.integers(len(_HAIRS))],
        shirt=tuple(int(c) for c in shirt),
        trousers=_TROUSERS[rng.integers(len(_TROUSERS))],
        shoes=(int(rng.integers(10, 60)),) * 3,
    )


def _background(w: int, h: int, rng: np.random.Generator, horizon: float) -> np.ndarray:
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


def _shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(v * f, 0, 255)) for v in c)


def _capsule(img, p0, p1, r0, r1, color, outline=True) -> None:
    """Filled tapered limb segment between two projected points."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    n = np.hypot(*d)
    if n < 1e-6:
        cv2.circle(img, tuple(np.round(p0).astype(int)), max(int(r0), 1), color, -1, cv2.LINE_AA)
        return
    perp = np.array([-d[1], d[0]]) / n
    poly = np.array([p0 + r0 * perp, p1 + r1 * perp, p1 - r1 * perp, p0 - r0 * perp])
    pts = np.round(poly * 16).astype(np.int32)
    edge = _shade(color, 0.55)
    if outline:
        cv2.polylines(img, [pts], True, edge, 2, cv2.LINE_AA, shift=4)
        for p, r in ((p0, r0), (p1, r1)):
            cv2.circle(
                img, tuple(np.round(p * 16).astype(int)), int(r * 16) + 8, edge, 2, cv2.LINE_AA, 4
            )
    cv2.fillPoly(img, [pts], color, cv2.LINE_AA, shift=4)
    for p, r in ((p0, r0), (p1, r1)):
        cv2.circle(img, tuple(np.round(p * 16).astype(int)), int(r * 16), color, -1, cv2.LINE_AA, 4)


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

    def draw_leg(side: str, f: float) -> None:
        hip, knee, ank = a[J[f"{side}_hip"]], a[J[f"{side}_knee"]], a[J[f"{side}_ankle"]]
        heel, toe = a[J[f"{side}_heel"]], a[J[f"{side}_toe"]]
        s = scale[J[f"{side}_knee"]]
        _capsule(img, hip, knee, 0.075 * s, 0.055 * s, _shade(look.trousers, f))
        _capsule(img, knee, ank, 0.055 * s, 0.04 * s, _shade(look.trousers, f))
        shoe = _shade(look.shoes, f)
        _capsule(img, heel, toe, 0.035 * s, 0.028 * s, shoe)
        _capsule(img, ank, 0.5 * (heel + toe), 0.04 * s, 0.035 * s, shoe, outline=False)

    def draw_arm(side: str, f: float) -> None:
        sh, el, wr = a[J[f"{side}_shoulder"]], a[J[f"{side}_elbow"]], a[J[f"{side}_wrist"]]
        s = scale[J[f"{side}_elbow"]]
        _capsule(img, sh, el, 0.05 * s, 0.042 * s, _shade(look.shirt, f))
        _capsule(img, el, wr, 0.036 * s, 0.03 * s, _shade(look.skin, f))
        hand = wr + 0.35 * (wr - el)
        _capsule(img, wr, hand, 0.034 * s, 0.03 * s, _shade(look.skin, f))

    far, near = order
    draw_arm(far, 0.72)
    draw_leg(far, 0.72)
    # Torso: hull of shoulders and hips, dilated so it reads as a body in side view too.
    sh_c = 0.5 * (a[J["left_shoulder"]] + a[J["right_shoulder"]])
    hip_c = 0.5 * (a[J["left_hip"]] + a[J["right_hip"]])
    quad = np.array(
        [a[J["left_shoulder"]], a[J["right_shoulder"]], a[J["right_hip"]], a[J["left_hip"]]]
    )
    hull = cv2.convexHull(np.round(quad * 16).astype(np.int32))
    cv2.fillConvexPoly(img, hull, look.shirt, cv2.LINE_AA, 4)
    _capsule(img, sh_c, hip_c, 0.11 * hgt, 0.10 * hgt, look.shirt)
    _capsule(
        img,
        a[J["left_hip"]],
        a[J["right_hip"]],
        0.09 * hgt,
        0.09 * hgt,
        look.trousers,
        outline=False,
    )
    _capsule(
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
    _capsule(img, sh_c, head_c, 0.035 * hgt, 0.035 * hgt, _shade(look.skin, 0.9), outline=False)
    r = gaitsim.Anthropometry(height_m).head_radius * scale[J["nose"]]
    hc = tuple(np.round(head_c * 16).astype(int))
    cv2.circle(img, hc, int(r * 16) + 8, _shade(look.skin, 0.6), 2, cv2.LINE_AA, 4)
    cv2.circle(img, hc, int(r * 16), look.skin, -1, cv2.LINE_AA, 4)
    # Hair on the back/top of the head: a filled ellipse arc opposite the face.
    face_dir = a[J["nose"]] - head_c
    ang = math.degrees(math.atan2(face_dir[1], face_dir[0]))
    frontal = np.hypot(*(a[J["left_eye"]] - a[J["right_eye"]])) > 0.45 * r
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
                _shade(look.skin, 0.8),
                -1,
                cv2.LINE_AA,
                4,
            )
    nose = a[J["nose"]]
    cv2.circle(
        img,
        tuple(np.round(nose * 16).astype(int)),
        int(0.17 * r * 16),
        _shade(look.skin, 0.85),
        -1,
        cv2.LINE_AA,
        4,
    )
    mouth = head_c + 0.75 * (nose - head_c) + np.array([0, 0.45 * r])
    cv2.circle(
        img,
        tuple(np.round(mouth * 16).astype(int)),
        int(0.12 * r * 16),
        (60, 60, 170),
        -1,
        cv2.LINE_AA,
        4,
    )
    draw_leg(near, 1.0)
    draw_arm(near, 1.0)


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
    params, info = subject_params(cfg, subject)
    rng = _rng(cfg.seed, video_id, "render")
    stride_s = 120.0 / params.cadence_steps_per_min
    duration = cfg.strides * stride_s + 0.5
    walk = gaitsim.simulate_walk(params, duration, cfg.fps, rng)
    truth = gaitsim.gait_truth(walk)

    W, H = cfg.width, cfg.height
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
    cam_h = float(rng.uniform(0.6, 1.1))
    cam = Camera(f=f, cx=W / 2, cy=H / 2 + float(rng.uniform(-0.08, 0.08)) * H, cam_height=cam_h)
    start = -0.5 * path_len
    origin = np.array([0.0, 0.0, distance])
    local = walk.joints.copy()
    local[..., 0] += start
    cam_pts = to_camera(local, heading, origin, cam_h)
    # Camera shake: a smooth random walk of a few pixels.
    shake = np.cumsum(rng.normal(0, 0.6, (len(cam_pts), 2)), 0)
    shake -= np.linspace(shake[0], shake[-1], len(cam_pts))
    # Zoom out where the framing above would cut the walker off: it ignores that the camera
    # height moves the body off-centre (feet below the frame) and that oblique walks come near.
    margin = 0.02 * np.array([W, H]) + np.abs(shake).max(0)
    f = cam.f = min(f, _max_focal(cam_pts, cam.cx, cam.cy, W, H, margin))
    uv = cam.project(cam_pts)
    uv = uv + shake[:, None, :]
    scale = f / cam_pts[..., 2]  # px per metre at each joint

    horizon = cam.cy - f * cam_h / (distance * 3)  # far wall edge
    bg = _background(W, H, rng, np.clip(horizon, 0.25 * H, 0.7 * H))
    look = random_look(rng)
    noise_sd = float(rng.uniform(1.0, 4.0))
    gain = 1.0 + 0.08 * np.sin(np.linspace(0, rng.uniform(1, 4) * np.pi, len(uv)))  # flicker

    second = None
    if rng.uniform() < cfg.p_second_person:
        p2, _ = sample_subject("I", rng, sample_anthropometry(rng))
        stand = replace(
            p2,
            cadence_steps_per_min=60.0,
            hip_amplitude_deg=(2.0, 2.0),
            knee_rom_deg=(3.0, 3.0),
            ankle_rom_deg=(2.0, 2.0),
        )
        w2 = gaitsim.simulate_walk(stand, duration, cfg.fps, rng)
        j2 = w2.joints.copy()
        j2[..., 0] -= j2[:1, :, 0].mean()
        d2 = distance * float(rng.uniform(1.6, 2.4))
        x2 = float(rng.uniform(-0.35, 0.35)) * W * d2 / f
        h2 = float(rng.choice([0.5 * math.pi, -0.5 * math.pi, 0.0, math.pi]))
        c2 = to_camera(j2, h2, np.array([x2, 0.0, d2]), cam_h)
        second = (
            cam.project(c2) + shake[:, None, :],
            c2[..., 2],
            f / c2[..., 2],
            random_look(rng),
            p2.height_m,
        )

    # Sensor noise from a small bank of frames, shifted per frame: per-frame normal() draws
    # at 480p would double the rendering time.
    bank = rng.normal(0, noise_sd, (4, H, W, 3)).astype(np.float32)
    with VideoWriter(out_video, W, H, cfg.fps) as vw:
        for t in range(len(uv)):
            frame = bg.copy()
            if second is not None:
                draw_person(frame, second[0][t], second[1][t], second[2][t], second[3], second[4])
            draw_person(frame, uv[t], cam_pts[t, :, 2], scale[t], look, params.height_m)
            noise = np.roll(bank[t % 4], tuple(rng.integers(0, (H, W))), axis=(0, 1))
            noisy = frame.astype(np.float32) * np.float32(gain[t]) + noise
            vw.write(np.clip(noisy, 0, 255).astype(np.uint8))

    kp = np.concatenate([uv, np.ones(uv.shape[:2] + (1,))], -1).astype(np.float32)
    save_pose(
        PoseData(
            keypoints=kp,
            fps=cfg.fps,
            frame_size=(W, H),
            backend="truth",
            backend_version="motorflow-synth",
        ),
        out_truth,
    )
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
    )
    write_json(truth, out_params)
    return truth
