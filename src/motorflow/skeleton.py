"""The motorflow skeleton: joint names, left/right pairs and bones.

Every pose file uses these 21 joints in this order: the 17 COCO keypoints followed by
heels and big toes (the foot points gait analysis needs).  ``left`` is the subject's left.
Importers map other layouts (MediaPipe's 33 landmarks, OpenPose BODY_25, COCO-17) onto it;
joints a source does not provide are NaN.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_toe",
    "right_toe",
)
INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}
N_JOINTS = len(JOINT_NAMES)

# Bones used for drawing and for the skeleton graph of later stages.
BONES: tuple[tuple[str, str], ...] = (
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_toe"),
    ("left_ankle", "left_toe"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_toe"),
    ("right_ankle", "right_toe"),
)

LEG_JOINTS: tuple[str, ...] = ("hip", "knee", "ankle", "heel", "toe")
ARM_JOINTS: tuple[str, ...] = ("shoulder", "elbow", "wrist")
FACE_JOINTS: tuple[str, ...] = ("eye", "ear")


def side_pairs(parts: tuple[str, ...]) -> list[tuple[int, int]]:
    """Index pairs (left, right) for the given body parts, e.g. ``("knee", "ankle")``."""
    return [(INDEX[f"left_{p}"], INDEX[f"right_{p}"]) for p in parts]


def flip_permutation() -> np.ndarray:
    """Permutation that exchanges every left joint with its right partner."""
    perm = np.arange(N_JOINTS)
    for name, i in INDEX.items():
        if name.startswith("left_"):
            j = INDEX["right_" + name[len("left_") :]]
            perm[i], perm[j] = j, i
    return perm


def body_height_px(keypoints: np.ndarray) -> float:
    """Robust body height in pixels: median over frames of nose-to-lowest-foot-point distance.

    A 2D proxy used to express joint errors relative to body size; ~0.9 of stature since the
    nose sits below the crown.
    """
    xy = keypoints[..., :2]
    nose = xy[:, INDEX["nose"]]
    feet = xy[:, [INDEX[n] for n in ("left_heel", "right_heel", "left_ankle", "right_ankle")]]
    foot_y = np.nanmax(feet[..., 1], axis=1)
    h = foot_y - nose[:, 1]
    h = h[np.isfinite(h) & (h > 0)]
    return float(np.median(h)) if h.size else float("nan")
