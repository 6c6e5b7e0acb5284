"""``stgcn`` and ``two_stream_skeleton``: networks on the cleaned (or aligned) skeletons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from motorflow import registry
from motorflow.config import wrapper_from_mapping
from motorflow.data.clips import load_videos
from motorflow.data.table import TrainError, VideoTable, split_data
from motorflow.models.graph import SkeletonGraph
from motorflow.models.stgcn import STGCN, STGCNConfig
from motorflow.models.two_stream import TwoStreamSkeleton, TwoStreamSkeletonConfig
from motorflow.skeleton import JOINT_NAMES
from motorflow.train.checkpoint import flat_net, save_trained
from motorflow.train.common import config_dict
from motorflow.train.config import TrainConfig
from motorflow.train.loop import Forward, fit, pick_device, seed_everything


@dataclass(frozen=True)
class TwoStreamTraining:
    """``models.two_stream_skeleton``: the network and its auxiliary per-stream losses."""

    net: TwoStreamSkeletonConfig = field(default_factory=TwoStreamSkeletonConfig)
    # Weight of each stream's own cross-entropy (keeps both streams informative).
    aux_weight: float = 0.5

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TwoStreamTraining:
        return wrapper_from_mapping(cls, mapping, "models.two_stream_skeleton")


def skeleton_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    return model(x), []


def two_stream_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    if model.training:
        # Each stream's own head is trained too (auxiliary losses), in one pass.
        fused, joint, motion = model.all_logits(x)
        return fused, [joint, motion]
    return model(x), []


@dataclass(frozen=True)
class SkeletonNet:
    """How one skeleton model is built from its section's config (``registry.net_config``),
    trained (its forward and auxiliary-loss weight) and rebuilt from its checkpoint."""

    build: Callable[[Any, int, np.ndarray], nn.Module]  # (config, n_classes, adjacency)
    forward: Forward
    aux_weight: Callable[[Any], float] = lambda cfg: 0.0


SKELETON_NETS: dict[str, SkeletonNet] = {
    "stgcn": SkeletonNet(STGCN, skeleton_forward),
    "two_stream_skeleton": SkeletonNet(
        lambda cfg, n, adjacency: TwoStreamSkeleton(cfg.net, n, adjacency),
        two_stream_forward,
        lambda cfg: cfg.aux_weight,
    ),
}


def train_skeleton_model(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    net_cfg: STGCNConfig | TwoStreamTraining,
) -> dict:
    """Train ``stgcn`` or ``two_stream_skeleton`` on one split → model.pt, history, info."""
    if model_name not in SKELETON_NETS:
        raise TrainError(f"not a skeleton model: {model_name}")
    spec = SKELETON_NETS[model_name]
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    train = load_videos(data.train, table.labels, cfg.clip)
    val = load_videos(data.val, table.labels, cfg.clip)
    n_classes = len(table.labels)
    model = spec.build(net_cfg, n_classes, SkeletonGraph.default().adjacency)
    result = fit(
        model, spec.forward, train, val, cfg, n_classes, device, aux_weight=spec.aux_weight(net_cfg)
    )
    return save_trained(
        model_name, model, config_dict(net_cfg), cfg, table, data, device, result, out_dir,
        joint_names=list(JOINT_NAMES),
    )  # fmt: skip


def _rebuild(model_name: str, ckpt: dict) -> nn.Module:
    net_cfg = registry.net_config(model_name, flat_net(ckpt["net"]))
    adjacency = SkeletonGraph.default().adjacency
    return SKELETON_NETS[model_name].build(net_cfg, len(ckpt["labels"]), adjacency)


# How this family's checkpoints rebuild their network (checkpoint.load_model).
NETWORKS: dict[str, Callable[[dict], nn.Module]] = {
    name: partial(_rebuild, name) for name in SKELETON_NETS
}
