"""``motorflow export --format mmaction2``: cleaned skeletons + labels for skeleton-action toolkits.

The output is the skeleton-annotation pickle that mmaction2's ``PoseDataset`` and pyskl train
from (``ann_file`` of their skeleton configs)::

    {"split": {name: [frame_dir, ...]},
     "annotations": [{"frame_dir": video_id,
                      "label": int,                 # index in the configured label order
                      "img_shape": (h, w), "original_shape": (h, w),
                      "total_frames": T,
                      "keypoint": float32 (1, T, V, 2),        # x, y in pixels
                      "keypoint_score": float32 (1, T, V)}, ...]}

* ``layout="coco17"`` keeps the 17 COCO keypoints (what the COCO-graph configs of mmaction2 and
  pyskl expect: ``graph_cfg=dict(layout="coco", ...)``); ``"motorflow21"`` keeps all 21 joints
  (heels and toes too; needs a custom graph).
* Missing joints (NaN) become coordinates 0 with score 0, mmaction2's convention.
* Splits: ``"all"`` without folds; with the subject-wise folds of the models stage
  (``results/folds/folds.tsv``: subject_id, label, repeat, fold) ``"fold{k}_train"`` /
  ``"fold{k}_test"`` for each fold, prefixed ``"rep{r}_"`` when there are several repeats, so
  mmaction2 configs select them with ``split="fold0_train"`` etc.
* Videos of the sample table without a pose file (excluded by QC) are skipped and reported.

The pickle is written with protocol 4 (readable by every Python >= 3.4).
"""

from __future__ import annotations

import argparse
import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.poseio import PoseData, atomic_path, load_pose
from motorflow.skeleton import N_JOINTS

#: layout name -> number of leading motorflow joints kept (COCO order first).
LAYOUTS: dict[str, int] = {"coco17": 17, "motorflow21": N_JOINTS}
FORMATS = ("mmaction2",)
PICKLE_PROTOCOL = 4


def _check_layout(layout: str) -> int:
    if layout not in LAYOUTS:
        raise ValueError(
            f"unknown skeleton layout {layout!r}; allowed: {', '.join(sorted(LAYOUTS))}"
        )
    return LAYOUTS[layout]


def pose_annotation(pose: PoseData, video_id: str, label: int, layout: str = "coco17") -> dict:
    """One mmaction2 annotation record from a (cleaned) pose."""
    n_joints = _check_layout(layout)
    kp = pose.keypoints[:, :n_joints]  # (T, V, 3)
    xy = kp[..., :2].astype(np.float32)
    score = kp[..., 2].astype(np.float32)
    missing = ~np.isfinite(xy).all(axis=-1)
    xy = np.where(missing[..., None], np.float32(0.0), xy)
    score = np.where(missing | ~np.isfinite(score), np.float32(0.0), score)
    width, height = (int(v) for v in pose.frame_size)
    return {
        "frame_dir": str(video_id),
        "label": int(label),
        "img_shape": (height, width),
        "original_shape": (height, width),
        "total_frames": int(pose.n_frames),
        "keypoint": np.ascontiguousarray(xy[None], dtype=np.float32),
        "keypoint_score": np.ascontiguousarray(score[None], dtype=np.float32),
    }


def build_splits(videos: pd.DataFrame, folds: pd.DataFrame | None) -> dict[str, list[str]]:
    """Split name -> video ids, subject-wise.

    ``videos`` has columns video_id, subject_id (the exported videos, in output order);
    ``folds`` has subject_id, repeat, fold (one row per subject and repeat).  Every subject of
    ``videos`` must have a fold in every repeat.
    """
    vids = [str(v) for v in videos["video_id"]]
    if folds is None:
        return {"all": vids}
    for col in ("subject_id", "repeat", "fold"):
        if col not in folds.columns:
            raise ValueError(f"folds table lacks column {col!r} (needs subject_id, repeat, fold)")
    subjects = [str(s) for s in videos["subject_id"]]
    f = folds.assign(subject_id=folds["subject_id"].astype(str))
    repeats = sorted(int(r) for r in f["repeat"].unique())
    splits: dict[str, list[str]] = {}
    for r in repeats:
        fr = f[f["repeat"].astype(int) == r]
        dup = fr["subject_id"][fr["subject_id"].duplicated()]
        if len(dup):
            raise ValueError(
                f"folds table: subject(s) {', '.join(sorted(set(dup)))} in several folds "
                f"of repeat {r}"
            )
        fold_of = dict(zip(fr["subject_id"], fr["fold"].astype(int), strict=True))
        unknown = sorted({s for s in subjects if s not in fold_of})
        if unknown:
            raise ValueError(
                f"folds table: repeat {r} has no fold for subject(s) {', '.join(unknown)}"
            )
        prefix = f"rep{r}_" if len(repeats) > 1 else ""
        for k in sorted(set(fold_of.values())):
            test = [v for v, s in zip(vids, subjects, strict=True) if fold_of[s] == k]
            train = [v for v, s in zip(vids, subjects, strict=True) if fold_of[s] != k]
            splits[f"{prefix}fold{k}_train"] = train
            splits[f"{prefix}fold{k}_test"] = test
    return splits


def export_mmaction2(
    poses: Mapping[str, str | os.PathLike],
    samples: pd.DataFrame,
    labels: list[str],
    out_path: str | os.PathLike,
    folds: pd.DataFrame | None = None,
    layout: str = "coco17",
) -> tuple[dict, list[str]]:
    """Write the mmaction2/pyskl skeleton pickle; return ``(data written, skipped video ids)``.

    ``poses``: video_id -> cleaned pose ``.npz``; ``samples``: one row per video with
    video_id, subject_id, label (label names of ``labels``, whose order gives the integer
    labels).  Videos of ``samples`` absent from ``poses`` are skipped (returned, in sample
    order); a pose without a sample row, an unknown label or a bad layout raises ValueError.
    """
    _check_layout(layout)
    for col in ("video_id", "subject_id", "label"):
        if col not in samples.columns:
            raise ValueError(
                f"sample table lacks column {col!r} (needs video_id, subject_id, label)"
            )
    table = samples.reset_index(drop=True)
    video_ids = [str(v) for v in table["video_id"]]
    dup = sorted({v for v in video_ids if video_ids.count(v) > 1})
    if dup:
        raise ValueError(f"sample table lists video(s) {', '.join(dup)} more than once")
    pose_paths = {str(k): Path(v) for k, v in poses.items()}
    orphans = sorted(set(pose_paths) - set(video_ids))
    if orphans:
        raise ValueError(f"pose file(s) without a sample row: {', '.join(orphans)}")
    label_index = {str(name): i for i, name in enumerate(labels)}
    if len(label_index) != len(labels):
        raise ValueError(f"duplicate names in label order {list(labels)}")

    annotations: list[dict] = []
    kept_rows: list[int] = []
    skipped: list[str] = []
    for i, (vid, label) in enumerate(zip(video_ids, table["label"], strict=True)):
        if str(label) not in label_index:
            raise ValueError(
                f"video {vid}: unknown label {label!r} (allowed: {', '.join(label_index)})"
            )
        if vid not in pose_paths:
            skipped.append(vid)
            continue
        pose = load_pose(pose_paths[vid])
        annotations.append(pose_annotation(pose, vid, label_index[str(label)], layout))
        kept_rows.append(i)

    data = {
        "split": build_splits(table.iloc[kept_rows], folds),
        "annotations": annotations,
    }
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=PICKLE_PROTOCOL)
    return data, skipped


def load_mmaction2(path: str | os.PathLike) -> dict:
    """Read a skeleton-annotation pickle (only open files you trust: it is a pickle)."""
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    if not isinstance(data, dict) or "annotations" not in data or "split" not in data:
        raise ValueError(f"{path}: not an mmaction2 skeleton annotation file")
    return data


# --- command line (``motorflow export``; registered by motorflow.cli) -------------------------


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``motorflow export`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "export",
        help="cleaned poses + labels → skeleton-annotation pickle (mmaction2 / pyskl)",
    )
    p.add_argument("output", help="annotation pickle (.pkl)")
    p.add_argument("poses", nargs="+", help="cleaned pose files (.npz); video id = file stem")
    p.add_argument("--format", choices=FORMATS, default="mmaction2")
    p.add_argument("--sheet", required=True, help="sample sheet (video_id, subject_id, label)")
    p.add_argument("--labels", nargs="+", help="label order (default: the config's data.labels)")
    p.add_argument("--config", help="config YAML (its `data: labels:`)")
    p.add_argument("--folds", help="folds TSV (subject_id, label, repeat, fold)")
    p.add_argument("--layout", choices=sorted(LAYOUTS), default="coco17")
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args: argparse.Namespace) -> int:
    import yaml

    from motorflow.sheet import read_sheet

    labels = args.labels
    if not labels and args.config:
        with open(args.config) as fh:
            labels = ((yaml.safe_load(fh) or {}).get("data") or {}).get("labels")
    if not labels:
        raise ValueError("no label order: give --labels or --config with data.labels")
    folds = pd.read_csv(args.folds, sep="\t", dtype={"subject_id": str}) if args.folds else None
    poses = {Path(p).name.removesuffix(".npz"): p for p in args.poses}
    data, skipped = export_mmaction2(
        poses, read_sheet(args.sheet), list(labels), args.output, folds=folds, layout=args.layout
    )
    note = f"; skipped (no pose file): {', '.join(skipped)}" if skipped else ""
    print(f"{args.output}: {len(data['annotations'])} videos, splits {', '.join(data['split'])}"
          f"{note}")  # fmt: skip
    return 0
