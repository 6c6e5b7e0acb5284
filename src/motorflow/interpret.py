"""Interpretation: Grad-CAM keypoint ranking of each fold's ST-GCN on its TRAINING subjects
(the fusion's keypoint selection reads it), and the mean over folds on a skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from motorflow import gradcam
from motorflow.data.clips import load_videos, test_clips, to_tensor
from motorflow.data.table import VideoTable, split_data
from motorflow.poseio import atomic_path
from motorflow.skeleton import JOINT_NAMES
from motorflow.train import skeleton as skeleton_family
from motorflow.train.checkpoint import load_model
from motorflow.train.config import TrainConfig


def rank_keypoints(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    model_path: str | Path,
    out_tsv: str | Path,
    out_figure: str | Path | None = None,
    top_k: int = 8,
) -> pd.DataFrame:
    """Per-joint Grad-CAM importance of the fold's ST-GCN over its TRAINING subjects' videos.

    Each video's importance is the mean over its test clips (target: the true label),
    normalised to sum 1; the ranking is the mean over videos.  Validation and test subjects
    are never read (the selection must not see them).
    """
    data = split_data(table, splits, split)
    # Grad-CAM ranks the joints of a skeleton network (the fold's ST-GCN).
    model, ckpt = load_model(model_path, skeleton_family.NETWORKS)
    clip = TrainConfig.from_mapping(ckpt["training"]).clip
    videos = load_videos(data.train, table.labels, clip)
    per_video = []
    for v in videos:
        clips, _ = test_clips([v], clip)
        clips = clips[::2]  # unmirrored clips: joint identities stay put
        target = torch.full((len(clips),), v.label, dtype=torch.long)
        imp = gradcam.joint_importance(model, to_tensor(clips, torch.device("cpu")), target)
        per_video.append(imp.mean(axis=0))
    imp = np.mean(per_video, axis=0)
    imp = imp / imp.sum() if imp.sum() > 0 else np.full_like(imp, 1 / len(imp))
    ranked = gradcam.rank_joints(imp, JOINT_NAMES)
    df = pd.DataFrame(ranked, columns=["joint", "importance"])
    df["rank"] = np.arange(1, len(df) + 1)
    df.insert(0, "split", split)
    df["n_videos"] = len(videos)
    df["n_subjects"] = int(data.train["subject_id"].nunique())
    with atomic_path(out_tsv) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    if out_figure is not None:
        gradcam.plot_skeleton_importance(
            imp, out_figure, title=f"ST-GCN Grad-CAM, {split} (training subjects)", top_k=top_k
        )
    return df


def aggregate_importance(
    paths: list[str | Path], out_tsv: str | Path, out_figure: str | Path, top_k: int = 8
) -> pd.DataFrame:
    """Mean ± SD importance over folds, and how often each joint was in a fold's top-k."""
    per = pd.concat([pd.read_csv(p, sep="\t") for p in paths], ignore_index=True)
    g = per.groupby("joint")
    df = pd.DataFrame(
        {
            "importance_mean": g["importance"].mean(),
            "importance_sd": g["importance"].std(ddof=1).fillna(0.0),
            "top_k_folds": g["rank"].apply(lambda r: int((r <= top_k).sum())),
            "n_folds": g.size(),
        }
    ).reindex(list(JOINT_NAMES))
    df = df.sort_values(["importance_mean"], ascending=False, kind="stable")
    df.index.name = "joint"
    with atomic_path(out_tsv) as tmp:
        df.to_csv(tmp, sep="\t", float_format="%.6g")
    mean = df.reindex(list(JOINT_NAMES))["importance_mean"].to_numpy()
    gradcam.plot_skeleton_importance(
        mean, out_figure, title=f"ST-GCN Grad-CAM, mean over {len(paths)} folds", top_k=top_k
    )
    return df.reset_index()
