"""``fusion_xattn`` (Paper A): Grad-CAM-selected keypoints → their gait features → fused with
the fold's ST-GCN stream by cross-attention."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from motorflow.config import wrapper_from_mapping
from motorflow.data.clips import load_videos, quiet
from motorflow.data.features import MODEL_FEATURES, gait_feature_table
from motorflow.data.table import TrainError, VideoTable, split_data
from motorflow.features import gait as featlib
from motorflow.models.fusion import FusionXAttn, FusionXAttnConfig
from motorflow.models.graph import SkeletonGraph
from motorflow.models.stgcn import STGCNConfig
from motorflow.poseio import atomic_path, write_json
from motorflow.skeleton import JOINT_NAMES
from motorflow.train.checkpoint import flat_net, save_torch, train_info
from motorflow.train.common import config_dict, write_outputs
from motorflow.train.config import TrainConfig
from motorflow.train.loop import Forward, fit, pick_device, seed_everything


@dataclass(frozen=True)
class FusionTraining:
    """``models.fusion_xattn``: keypoint selection and the dual-stream network."""

    net: FusionXAttnConfig = field(default_factory=FusionXAttnConfig)
    # Keypoints kept from the Grad-CAM ranking.
    top_k: int = 8
    # If the top-k keypoints support fewer gait features than this, the next-ranked
    # keypoints are added until they do (saved with the selection).
    min_features: int = 6
    # Keep the fold's trained ST-GCN stream fixed (True) or fine-tune it (False).
    freeze_skeleton: bool = True

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FusionTraining:
        return wrapper_from_mapping(cls, mapping, "models.fusion_xattn")


def select_keypoints(ranking: pd.DataFrame, top_k: int, min_features: int) -> dict:
    """Top-k joints, extended down the ranking until they support ``min_features`` features."""
    order = list(ranking.sort_values("rank")["joint"])
    n = min(top_k, len(order))
    while True:
        chosen = order[:n]
        supported = [c for c in MODEL_FEATURES if c in set(featlib.supported_features(chosen))]
        if len(supported) >= min_features or n >= len(order):
            break
        n += 1
    imp = dict(zip(ranking["joint"], ranking["importance"], strict=True))
    return {
        "top_k": top_k,
        "n_selected": n,
        "extended": n > top_k,
        "keypoints": chosen,
        "importances": {j: float(imp[j]) for j in chosen},
        "features": supported,
    }


@dataclass
class FeatureScaler:
    """Per-column mean/SD of the training videos; missing values become 0 with a mask."""

    columns: list[str]
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: list[str]) -> FeatureScaler:
        x = df[columns].to_numpy(float)
        with quiet():
            mean = np.nan_to_num(np.nanmean(x, axis=0))
            sd = np.nanstd(x, axis=0)
        sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
        return cls(list(columns), mean, sd)

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = df[self.columns].to_numpy(float)
        missing = ~np.isfinite(x)
        z = np.where(missing, 0.0, (x - self.mean) / self.sd)
        return np.clip(z, -6, 6).astype(np.float32), missing


def fusion_forward(feats: np.ndarray, missing: np.ndarray, device: torch.device) -> Forward:
    f = torch.from_numpy(feats).to(device)
    m = torch.from_numpy(missing).to(device)

    def forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
        idx = torch.from_numpy(np.asarray(rows)).to(device)
        return model(x, f[idx], m[idx]), []

    return forward


def train_fusion(
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    fusion_cfg: FusionTraining,
    ranking_tsv: str | Path,
    stgcn_path: str | Path,
    gait_cfg: featlib.FeatureConfig,
    reference_label: str | None,
) -> dict:
    """Paper A's dual-stream model on one split.

    Keypoints: the fold's Grad-CAM ranking (training subjects only) → top-k (extended until
    ``min_features`` gait features are supported) → those features for every video of the
    split, computed from the selected keypoints only; scaling fitted on training videos;
    missing features are masked, not invented.  The skeleton stream starts from the fold's
    trained ST-GCN.
    """
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    ranking = pd.read_csv(ranking_tsv, sep="\t")
    if set(ranking["split"]) != {split}:
        raise TrainError(f"{ranking_tsv}: ranking is for {set(ranking['split'])}, not {split}")
    selection = select_keypoints(ranking, fusion_cfg.top_k, fusion_cfg.min_features)
    if not selection["features"]:
        raise TrainError(f"split {split}: the ranked keypoints support no gait feature")
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    everyone = pd.concat([data.train, data.val, data.test], ignore_index=True)
    feats, note = gait_feature_table(
        everyone, data, reference_label, joints=selection["keypoints"], gait_cfg=gait_cfg
    )
    cols = selection["features"]
    scaler = FeatureScaler.fit(feats.loc[list(data.train["video_id"])], cols)
    n_classes = len(table.labels)
    # The skeleton stream is the fold's ST-GCN: its architecture comes from that checkpoint.
    stgcn_ckpt = torch.load(stgcn_path, map_location="cpu", weights_only=False)
    fusion_cfg = replace(
        fusion_cfg, net=replace(fusion_cfg.net, stgcn=STGCNConfig.from_mapping(stgcn_ckpt["net"]))
    )
    model = FusionXAttn(fusion_cfg.net, n_classes, SkeletonGraph.default().adjacency, len(cols))
    model.load_skeleton(stgcn_ckpt["state_dict"], freeze=fusion_cfg.freeze_skeleton)

    def part(df: pd.DataFrame):
        z, miss = scaler.transform(feats.loc[list(df["video_id"])])
        return load_videos(df, table.labels, cfg.clip), z, miss

    train, z_tr, m_tr = part(data.train)
    val, z_va, m_va = part(data.val)
    fwd_train = fusion_forward(z_tr, m_tr, device)
    fwd_val = fusion_forward(z_va, m_va, device)

    def forward(model, x, rows):
        return (fwd_train if model.training else fwd_val)(model, x, rows)

    result = fit(model, forward, train, val, cfg, n_classes, device)
    net_params = {**config_dict(fusion_cfg)}
    write_json(
        {**selection, "split": split, "deviation_reference": note}, out_dir / "keypoints.json"
    )
    feats_out = feats.reset_index()
    with atomic_path(out_dir / "features.parquet") as tmp:
        feats_out.to_parquet(tmp, index=False)
    save_torch(
        {
            "model": "fusion_xattn",
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "net": net_params,
            "training": config_dict(cfg),
            "labels": table.labels,
            "joint_names": list(JOINT_NAMES),
            "feature_columns": cols,
            "scaler_mean": scaler.mean,
            "scaler_sd": scaler.sd,
            "keypoints": selection["keypoints"],
        },
        out_dir / "model.pt",
    )
    info = train_info(
        "fusion_xattn",
        data,
        cfg,
        device,
        {"fusion_xattn": net_params},
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
        stopped_early=result.stopped_early,
        seconds=round(result.seconds, 2),
        keypoints=selection["keypoints"],
        features=cols,
        deviation_reference=note,
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    write_outputs(out_dir, result.history, info)
    return info


def _fusion_net(ckpt: dict) -> nn.Module:
    net = FusionTraining.from_mapping(flat_net(ckpt["net"])).net
    adjacency = SkeletonGraph.default().adjacency
    return FusionXAttn(net, len(ckpt["labels"]), adjacency, len(ckpt["feature_columns"]))


# How this family's checkpoints rebuild their network (checkpoint.load_model).
NETWORKS: dict[str, Callable[[dict], nn.Module]] = {"fusion_xattn": _fusion_net}
