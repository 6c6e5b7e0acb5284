"""What both synthetic cohorts share: keyed random streams, skin tones, the limb-drawing
primitive, smooth noise, and the writers of the sample sheet and of the truth files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from motorflow.poseio import PoseData, atomic_path, save_pose, write_json

# Skin tones (BGR), light to dark.
SKIN_TONES = [(189, 224, 255), (150, 190, 235), (110, 150, 205), (80, 110, 160), (60, 80, 120)]


def keyed_rng(*keys: object) -> np.random.Generator:
    """Independent, order-free stream per (seed, subject, video): adding subjects never
    changes the existing ones."""
    digest = hashlib.sha256(":".join(map(str, keys)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise of unit standard deviation (sigma in samples)."""
    sigma = max(sigma, 0.5)
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma, mode="reflect")[pad:-pad]
    delta = np.zeros(2 * pad + 1)
    delta[pad] = 1.0
    return x / np.sqrt(np.sum(gaussian_filter1d(delta, sigma, mode="constant") ** 2))


# --------------------------------------------------------------------------- drawing


def shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    """Colour ``c`` with its channels scaled by ``f`` (clipped to 0–255)."""
    return tuple(int(np.clip(v * f, 0, 255)) for v in c)


def draw_capsule(img, p0, p1, r0, r1, color, outline: bool | float = True, highlight=0.0) -> None:
    """Filled tapered limb segment between two projected points.

    ``outline``: True draws the classic 2 px outline at 0.55 brightness, a float a 1 px one
    at that brightness factor, False/0 none.  ``highlight`` > 0 adds a lighter band on the
    segment's upper side (cylinder shading)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    n = np.hypot(*d)
    if n < 1e-6:
        cv2.circle(img, tuple(np.round(p0).astype(int)), max(int(r0), 1), color, -1, cv2.LINE_AA)
        return
    perp = np.array([-d[1], d[0]]) / n
    poly = np.array([p0 + r0 * perp, p1 + r1 * perp, p1 - r1 * perp, p0 - r0 * perp])
    pts = np.round(poly * 16).astype(np.int32)
    if outline is True or (outline is not False and outline > 0):
        factor, thick = (0.55, 2) if outline is True else (float(outline), 1)
        edge = shade(color, factor)
        cv2.polylines(img, [pts], True, edge, thick, cv2.LINE_AA, shift=4)
        for p, r in ((p0, r0), (p1, r1)):
            cv2.circle(
                img, tuple(np.round(p * 16).astype(int)), int(r * 16) + 8, edge, thick,
                cv2.LINE_AA, 4,
            )  # fmt: skip
    cv2.fillPoly(img, [pts], color, cv2.LINE_AA, shift=4)
    for p, r in ((p0, r0), (p1, r1)):
        cv2.circle(img, tuple(np.round(p * 16).astype(int)), int(r * 16), color, -1, cv2.LINE_AA, 4)
    if highlight > 0:
        up = perp if perp[1] < 0 else -perp  # light from above
        draw_capsule(
            img, p0 + 0.4 * r0 * up, p1 + 0.4 * r1 * up, 0.38 * r0, 0.38 * r1,
            shade(color, 1 + highlight), outline=False,
        )  # fmt: skip


# --------------------------------------------------------------------------- files


def write_sheet(sheet: pd.DataFrame, path: str | Path) -> None:
    """A cohort's sample sheet as TSV (either cohort's ``make_sheet``)."""
    with atomic_path(path) as tmp:
        sheet.to_csv(tmp, sep="\t", index=False)


def write_truth(
    keypoints: np.ndarray,
    fps: float,
    frame_size: tuple[int, int],
    backend_version: str,
    truth: dict,
    out_pose: str | Path,
    out_params: str | Path,
) -> None:
    """The truth of one rendered video: the projected joints as a pose file (backend
    ``truth``, confidence 1) and the realised parameters as JSON."""
    save_pose(
        PoseData(
            keypoints=keypoints,
            fps=fps,
            frame_size=frame_size,
            backend="truth",
            backend_version=backend_version,
        ),
        out_pose,
    )
    write_json(truth, out_params)
