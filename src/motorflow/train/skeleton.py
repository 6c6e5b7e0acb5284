"""``stgcn`` and ``two_stream_skeleton``: networks on the cleaned (or aligned) skeletons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from motorflow.data.clips import load_videos
from motorflow.data.table import TrainError, VideoTable, split_data
from motorflow.models.graph import SkeletonGraph
from motorflow.models.stgcn import STGCN, STGCNConfig
from motorflow.models.two_stream import TwoStreamSkeleton, TwoStreamSkeletonConfig
from motorflow.skeleton import JOINT_NAMES
from motorflow.train.checkpoint import flat_net, save_trained
from motorflow.train.common import config_dict
from motorflow.train.config import TrainConfig
from motorflow.train.loop import fit, pick_device, seed_everything


@dataclass(frozen=True)
class TwoStreamTraining:
    """``models.two_stream_skeleton``: the network and its auxiliary per-stream losses."""

    net: TwoStreamSkeletonConfig = field(default_factory=TwoStreamSkeletonConfig)
    # Weight of each stream's own cross-entropy (keeps both streams informative).
    aux_weight: float = 0.5

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TwoStreamTraining:
        mapping = dict(mapping or {})
        aux = mapping.pop("aux_weight", 0.5)
        return cls(net=TwoStreamSkeletonConfig.from_mapping(mapping), aux_weight=aux)


def skeleton_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    return model(x), []


def two_stream_forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
    if model.training:
        # Each stream's own head is trained too (auxiliary losses), in one pass.
        fused, joint, motion = model.all_logits(x)
        return fused, [joint, motion]
    return model(x), []


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
    out_dir = Path(out_dir)
    data = split_data(table, splits, split)
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    train = load_videos(data.train, table.labels, cfg.clip)
    val = load_videos(data.val, table.labels, cfg.clip)
    n_classes = len(table.labels)
    graph = SkeletonGraph.default()
    if model_name == "stgcn":
        assert isinstance(net_cfg, STGCNConfig)
        model: nn.Module = STGCN(net_cfg, n_classes, graph.adjacency)
        forward, aux, net_params = skeleton_forward, 0.0, config_dict(net_cfg)
    elif model_name == "two_stream_skeleton":
        assert isinstance(net_cfg, TwoStreamTraining)
        model = TwoStreamSkeleton(net_cfg.net, n_classes, graph.adjacency)
        forward, aux, net_params = two_stream_forward, net_cfg.aux_weight, config_dict(net_cfg)
    else:
        raise TrainError(f"not a skeleton model: {model_name}")
    result = fit(model, forward, train, val, cfg, n_classes, device, aux_weight=aux)
    return save_trained(
        model_name, model, net_params, cfg, table, data, device, result, out_dir,
        joint_names=list(JOINT_NAMES),
    )  # fmt: skip


def _stgcn_net(ckpt: dict) -> nn.Module:
    adjacency = SkeletonGraph.default().adjacency
    return STGCN(STGCNConfig.from_mapping(ckpt["net"]), len(ckpt["labels"]), adjacency)


def _two_stream_net(ckpt: dict) -> nn.Module:
    net = TwoStreamTraining.from_mapping(flat_net(ckpt["net"])).net
    return TwoStreamSkeleton(net, len(ckpt["labels"]), SkeletonGraph.default().adjacency)


# How this family's checkpoints rebuild their network (checkpoint.load_model).
NETWORKS: dict[str, Callable[[dict], nn.Module]] = {
    "stgcn": _stgcn_net,
    "two_stream_skeleton": _two_stream_net,
}
