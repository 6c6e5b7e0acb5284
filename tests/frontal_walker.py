"""An analytic clinic walk seen from the front, with exact truth (test helper).

A walker stands, walks towards a pinhole camera, turns on the spot, walks away, turns, …,
and stands again.  Feet are still on the floor in stance and swing from footprint to
footprint (swing 40 % of the stride); footprints lie half a step width either side of the
path; the pelvis progresses at step length / step time and sways sideways once per stride;
wrists swing fore-aft about the shoulders; knees may sit medially (valgus) or laterally.
Everything is in metres, projected with focal length ``focal`` px onto a portrait frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motorflow.poseio import PoseData
from motorflow.skeleton import INDEX, N_JOINTS


@dataclass
class Walk:
    cadence: float = 100.0  # steps/min
    step_length: float = 0.55  # m
    step_width: float = 0.12  # m between the feet's centrelines
    hip_width: float = 0.18  # m between the hip joints
    shoulder_width: float = 0.36
    passes: int = 6  # straight passes, alternating towards / away
    steps_per_pass: int = 8
    turn_s: float = 1.8
    turn_steps: int = 4
    still_s: float = 1.5
    near: float = 2.5  # m: closest and furthest distance of the passes
    arm_swing: tuple[float, float] = (0.20, 0.20)  # m fore-aft amplitude, left and right
    knee_medial: float = 0.0  # m: knee shift towards the midline (valgus > 0)
    sway: float = 0.02  # m: lateral pelvis sway amplitude
    fps: float = 30.0
    focal: float = 1080.0
    size: tuple[int, int] = (720, 1080)
    camera_height: float = 1.0


def render(w: Walk) -> tuple[PoseData, dict]:
    step_t = 60.0 / w.cadence
    swing_t = 0.8 * step_t  # 40 % of the stride
    speed = w.step_length / step_t
    far = w.near + w.steps_per_pass * w.step_length
    # Timeline: still, then passes with turns between them, then still.
    events = []  # (t_lift, t_land, foot, (x, z) landing)
    segs = []
    t = w.still_s
    heading_at = []  # (t0, t1, theta0, theta1, pivot or None, z0, direction)
    foot = 0  # 0 left, 1 right
    z_start = far
    for k in range(w.passes):
        towards = k % 2 == 0
        u = -1.0 if towards else 1.0  # dz/dt sign
        theta = 0.0 if towards else np.pi  # 0: facing the camera
        t0 = t
        z0 = z_start
        for j in range(w.steps_per_pass):
            land = t0 + (j + 1) * step_t
            z_land = z0 + u * (speed * (land - t0) + w.step_length / 2)
            side = 1.0 if foot == 0 else -1.0  # left foot at +x facing the camera
            x_land = side * np.cos(theta) * w.step_width / 2
            events.append((land - swing_t, land, foot, (x_land, z_land)))
            foot = 1 - foot
        t1 = t0 + w.steps_per_pass * step_t
        heading_at.append((t0, t1, theta, theta, None, z0, u))
        segs.append(("walk", t0, t1, "towards" if towards else "away"))
        z_end = z0 + u * speed * (t1 - t0)
        t = t1
        if k + 1 < w.passes:
            ta, tb = t, t + w.turn_s
            heading_at.append((ta, tb, theta, theta + np.pi, z_end, z_end, 0.0))
            for j in range(w.turn_steps):
                land = ta + (j + 1) * w.turn_s / (w.turn_steps + 1)
                th = theta + np.pi * (land - ta) / w.turn_s
                side = 1.0 if foot == 0 else -1.0
                events.append((land - swing_t * 0.7, land, foot,
                               (side * np.cos(th) * w.step_width / 2,
                                z_end - side * np.sin(th) * w.step_width / 2)))  # fmt: skip
                foot = 1 - foot
            segs.append(("turn", ta, tb, ""))
            t = tb
        z_start = z_end
    t_end = t + w.still_s
    n = int(round(t_end * w.fps))
    tt = np.arange(n) / w.fps

    # Heading and pelvis position per frame.
    theta = np.zeros(n)
    px, pz = np.zeros(n), np.zeros(n)
    first, last = heading_at[0], heading_at[-1]
    for i, ti in enumerate(tt):
        if ti < first[0]:
            theta[i], pz[i] = first[2], first[5]
            continue
        if ti >= last[1]:
            theta[i], pz[i] = last[3], last[5] + last[6] * speed * (last[1] - last[0])
            continue
        for t0, t1, th0, th1, _, z0, u in heading_at:
            if t0 <= ti < t1:
                frac = (ti - t0) / (t1 - t0)
                theta[i] = th0 + (th1 - th0) * frac
                pz[i] = z0 + u * speed * (ti - t0)
                break
    stride_phase = 2 * np.pi * tt / (2 * step_t)
    px += w.sway * np.sin(stride_phase)
    left_dir = np.stack([np.cos(theta), -np.sin(theta)], 1)  # (x, z) of the walker's left
    fwd_dir = np.stack([np.sin(theta), -np.cos(theta)], 1)  # (x, z) walking direction

    # Feet: still between swings, smooth swing with a lift of 8 cm.
    feet = np.zeros((2, n, 3))  # x, y (height), z
    for f in range(2):
        side = 1.0 if f == 0 else -1.0
        pos = np.array([side * w.step_width / 2, 0.0, first[5]])
        mine = sorted([e for e in events if e[2] == f])
        for i, ti in enumerate(tt):
            cur = pos.copy()
            for t_lift, t_land, _, (xl, zl) in mine:
                if ti >= t_land:
                    pos = np.array([xl, 0.0, zl])
                    cur = pos.copy()
                elif t_lift <= ti < t_land:
                    s = (ti - t_lift) / (t_land - t_lift)
                    sm = s * s * (3 - 2 * s)
                    cur = pos + sm * (np.array([xl, 0.0, zl]) - pos)
                    cur[1] = 0.08 * np.sin(np.pi * s)
                    break
                else:
                    break
            feet[f, i] = cur

    kp = np.full((n, N_JOINTS, 3), np.nan)
    world = {}
    hip_y, sh_y, knee_y, ank_h = 0.92, 1.42, 0.5, 0.08
    for f, s in enumerate(("left", "right")):
        sign = 1.0 if f == 0 else -1.0
        hip = np.stack([px + sign * left_dir[:, 0] * w.hip_width / 2, np.full(n, hip_y),
                        pz + sign * left_dir[:, 1] * w.hip_width / 2], 1)  # fmt: skip
        sh = np.stack([px + sign * left_dir[:, 0] * w.shoulder_width / 2, np.full(n, sh_y),
                       pz + sign * left_dir[:, 1] * w.shoulder_width / 2], 1)  # fmt: skip
        ankle = feet[f] + np.array([0.0, ank_h, 0.0])
        knee = (hip + ankle) / 2
        knee[:, 1] = np.maximum(knee_y + feet[f][:, 1], knee[:, 1])
        # Medial shift: towards the other hip.
        knee[:, 0] -= sign * left_dir[:, 0] * w.knee_medial
        knee[:, 2] -= sign * left_dir[:, 1] * w.knee_medial
        heel = ankle.copy()
        heel[:, 0] -= 0.05 * fwd_dir[:, 0]
        heel[:, 2] -= 0.05 * fwd_dir[:, 1]
        heel[:, 1] = feet[f][:, 1] + 0.02
        toe = ankle.copy()
        toe[:, 0] += 0.15 * fwd_dir[:, 0]
        toe[:, 2] += 0.15 * fwd_dir[:, 1]
        toe[:, 1] = feet[f][:, 1] + 0.01
        # Arms swing in anti-phase with the same-side leg, fore-aft.
        a = w.arm_swing[f] * np.sin(stride_phase + (0 if f == 0 else np.pi))
        wrist = sh + np.array([0.0, -0.6, 0.0])
        wrist[:, 0] += a * fwd_dir[:, 0]
        wrist[:, 2] += a * fwd_dir[:, 1]
        elbow = (sh + wrist) / 2
        world.update({f"{s}_hip": hip, f"{s}_shoulder": sh, f"{s}_knee": knee,
                      f"{s}_ankle": ankle, f"{s}_heel": heel, f"{s}_toe": toe,
                      f"{s}_wrist": wrist, f"{s}_elbow": elbow})  # fmt: skip
    head = (world["left_shoulder"] + world["right_shoulder"]) / 2 + np.array([0.0, 0.25, 0.0])
    world["nose"] = head + np.stack([fwd_dir[:, 0] * 0.1, np.zeros(n), fwd_dir[:, 1] * 0.1], 1)
    for s, sign in (("left", 1.0), ("right", -1.0)):
        off = np.stack([sign * left_dir[:, 0] * 0.07, np.zeros(n), sign * left_dir[:, 1] * 0.07], 1)
        world[f"{s}_ear"] = head + off
        world[f"{s}_eye"] = head + off * 0.5 + (world["nose"] - head) * 0.8
    cx, cy = w.size[0] / 2, w.size[1] / 2
    for name, p in world.items():
        z = p[:, 2]
        kp[:, INDEX[name], 0] = cx + w.focal * p[:, 0] / z
        kp[:, INDEX[name], 1] = cy - w.focal * (p[:, 1] - w.camera_height) / z
        kp[:, INDEX[name], 2] = 1.0
    pose = PoseData(kp, w.fps, w.size, "analytic-frontal")
    truth = {
        "cadence": w.cadence,
        "segments": segs,
        "step_width_hip": w.step_width / w.hip_width,
        "turn_s": w.turn_s,
        "turn_steps": w.turn_steps,
    }
    return pose, truth
