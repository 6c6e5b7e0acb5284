"""Grad-CAM on ST-GCN: which joints drove a gait classification (Paper A's keypoint ranking).

Grad-CAM (Selvaraju et al. 2017) weights each channel of the last feature map by the mean
gradient of the class score and keeps the positive evidence; on a skeleton the map's joint
axis gives a per-joint importance, averaged over time and persons.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

from motorflow.models.stgcn import STGCN
from motorflow.poseio import atomic_path
from motorflow.skeleton import BONES, JOINT_NAMES


def joint_importance(model: STGCN, x: Tensor, target: Tensor | int | None = None) -> np.ndarray:
    """Per-joint Grad-CAM importance, ``(N, V)``, each row summing to 1.

    ``model``: an :class:`STGCN` (or any module with ``feature_maps(x)`` and
    ``logits_from_maps(maps, n)``); ``x``: ``(N, M, T, V, C)``; ``target``: class per sample
    (``(N,)`` tensor or one int for all), default the predicted class.

    Runs in eval mode (BatchNorm running statistics, no dropout) and differentiates with
    ``torch.autograd.grad`` w.r.t. a detached copy of the feature map, so the model's
    parameters, their ``.grad`` and its train/eval flag are left as they were.  A sample
    whose CAM is zero everywhere (no positive evidence) gets the uniform ``1 / V``.
    """
    for attr in ("feature_maps", "logits_from_maps"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(f"joint_importance needs a model with {attr}(); got {type(model)}")
    was_training = model.training
    model.eval()
    try:
        n = x.shape[0]
        with torch.no_grad():
            maps = model.feature_maps(x)
        maps = maps.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model.logits_from_maps(maps, n)
            if target is None:
                tgt = logits.argmax(dim=1)
            elif isinstance(target, int):
                tgt = torch.full((n,), target, dtype=torch.long, device=logits.device)
            else:
                tgt = torch.as_tensor(target, device=logits.device).long().reshape(n)
            score = logits.gather(1, tgt[:, None]).sum()
            (grads,) = torch.autograd.grad(score, maps)
    finally:
        model.train(was_training)
    with torch.no_grad():
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (N*M, C, 1, 1)
        cam = torch.relu((weights * maps).sum(dim=1))  # (N*M, T', V)
        per_joint = cam.mean(dim=1)  # over time
        per_joint = per_joint.view(n, -1, per_joint.shape[-1]).mean(dim=1)  # over persons
    imp = per_joint.double().cpu().numpy()
    total = imp.sum(axis=1, keepdims=True)
    v = imp.shape[1]
    return np.where(total > 0, imp / np.where(total > 0, total, 1.0), 1.0 / v)


def rank_joints(
    importance: np.ndarray, joint_names: Sequence[str] = JOINT_NAMES
) -> list[tuple[str, float]]:
    """``(name, mean importance)`` sorted descending; ties keep the skeleton's joint order."""
    imp = np.asarray(importance, dtype=float)
    if imp.ndim == 2:
        imp = imp.mean(axis=0)
    if imp.ndim != 1 or imp.shape[0] != len(joint_names):
        raise ValueError(
            f"importance must be (V,) or (N, V) with V={len(joint_names)}; got {importance.shape}"
        )
    order = sorted(range(len(imp)), key=lambda i: (-imp[i], i))
    return [(joint_names[i], float(imp[i])) for i in order]


# Upright template skeleton seen from the front, in units of body height (y up, feet at 0).
# The subject's left is on the viewer's right, as when facing the camera.
TEMPLATE_XY: dict[str, tuple[float, float]] = {
    "nose": (0.0, 0.915),
    "left_eye": (0.03, 0.945),
    "right_eye": (-0.03, 0.945),
    "left_ear": (0.065, 0.93),
    "right_ear": (-0.065, 0.93),
    "left_shoulder": (0.12, 0.82),
    "right_shoulder": (-0.12, 0.82),
    "left_elbow": (0.16, 0.63),
    "right_elbow": (-0.16, 0.63),
    "left_wrist": (0.18, 0.47),
    "right_wrist": (-0.18, 0.47),
    "left_hip": (0.08, 0.52),
    "right_hip": (-0.08, 0.52),
    "left_knee": (0.09, 0.28),
    "right_knee": (-0.09, 0.28),
    "left_ankle": (0.10, 0.05),
    "right_ankle": (-0.10, 0.05),
    "left_heel": (0.095, 0.01),
    "right_heel": (-0.095, 0.01),
    "left_toe": (0.15, 0.0),
    "right_toe": (-0.15, 0.0),
}


def plot_skeleton_importance(
    importance: np.ndarray,
    out_path: str | Path,
    title: str = "",
    joint_names: Sequence[str] = JOINT_NAMES,
    bones: Sequence[tuple[str, str]] = BONES,
    top_k: int | None = None,
) -> Path:
    """Draw per-joint importance on a front-view template skeleton; write a PNG atomically.

    Joints are circles whose area and colour grow with importance (colourbar); the ``top_k``
    most important joints are labelled.  Joints without a template position are an error.
    """
    imp = np.asarray(importance, dtype=float).reshape(-1)
    if imp.shape[0] != len(joint_names):
        raise ValueError(f"importance has {imp.shape[0]} values for {len(joint_names)} joints")
    unknown = [name for name in joint_names if name not in TEMPLATE_XY]
    if unknown:
        raise ValueError(f"no template position for joint(s) {', '.join(unknown)}")
    xy = np.array([TEMPLATE_XY[name] for name in joint_names])
    index = {name: i for i, name in enumerate(joint_names)}
    finite = np.where(np.isfinite(imp), imp, 0.0)
    vmax = float(finite.max()) if finite.max() > 0 else 1.0
    norm = Normalize(vmin=0.0, vmax=vmax)
    cmap = colormaps["viridis"]

    fig = Figure(figsize=(5.0, 5.0))  # no pyplot: no global figure state to leak
    ax = fig.add_subplot()
    for a, b in bones:
        if a in index and b in index:
            i, j = index[a], index[b]
            ax.plot(xy[[i, j], 0], xy[[i, j], 1], color="0.6", lw=2, zorder=1)
    sizes = 20 + 280 * finite / vmax
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=sizes,
        c=cmap(norm(finite)),
        edgecolors="k",
        linewidths=0.6,
        zorder=2,
    )
    if top_k:
        for rank, (name, value) in enumerate(rank_joints(finite, joint_names)[:top_k], 1):
            x, y = xy[index[name]]
            ax.annotate(
                f"{rank}. {name} ({value:.2f})",
                (x, y),
                xytext=(8 if x >= 0 else -8, 4),
                textcoords="offset points",
                ha="left" if x >= 0 else "right",
                fontsize=7,
            )
    fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7, pad=0.02, label="importance"
    )
    ax.set_xlim(-0.6, 0.6)  # room for labels
    ax.set_ylim(-0.05, 1.02)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return out_path
