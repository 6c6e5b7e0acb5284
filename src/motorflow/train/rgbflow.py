"""``two_stream_rgbflow`` (Paper B) and its single-stream ablations on RGB + flow chunks;
chunk outputs are averaged per video (and, in the evaluation, per subject)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from motorflow import registry
from motorflow.config import wrapper_from_mapping
from motorflow.data.chunks import load_frame_videos, rgbflow_clips
from motorflow.data.table import TrainError, VideoTable, split_data
from motorflow.models.rgbflow import RGBFlowConfig, TwoStreamRGBFlow
from motorflow.train.checkpoint import flat_net, save_trained
from motorflow.train.common import config_dict
from motorflow.train.config import TrainConfig
from motorflow.train.loop import Forward, fit, pick_device, seed_everything


@dataclass(frozen=True)
class RGBFlowTraining:
    """``models.two_stream_rgbflow`` (shared by its single-stream ablations)."""

    net: RGBFlowConfig = field(default_factory=RGBFlowConfig)
    # Weight of each stream's own cross-entropy in the fused model.
    aux_weight: float = 0.5
    # Probability that the fused model sees a blank frame in a training chunk (modality
    # dropout): the fusion must not lean on the appearance stream alone, which with a few
    # dozen infants memorises their clothes and mats (measured: fused accuracy 0.50 without,
    # 0.67 with 0.5 on the synthetic infant cohort).
    appearance_dropout: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.appearance_dropout < 1.0:
            raise ValueError(
                f"appearance_dropout must be in [0, 1), not {self.appearance_dropout!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> RGBFlowTraining:
        return wrapper_from_mapping(cls, mapping, "models.two_stream_rgbflow")

    def for_model(self, model_name: str) -> RGBFlowTraining:
        """The configuration of one ablation variant (its ``streams``)."""
        spec = registry.SPECS.get(model_name)
        if spec is None or spec.family != "rgbflow":
            raise TrainError(f"not an RGB/flow model: {model_name}")
        return replace(self, net=replace(self.net, streams=spec.streams))


def rgbflow_forward(appearance_dropout: float = 0.0) -> Forward:
    """Forward of the RGB/flow models; in training, the fused model gets auxiliary per-stream
    logits and, with probability ``appearance_dropout`` per chunk, a blank frame."""

    def forward(model: nn.Module, x: torch.Tensor, rows: np.ndarray):
        rgb, flow = x[:, :3], x[:, 3:]
        if model.training and model.cfg.streams == "both":
            if appearance_dropout > 0:
                keep = torch.rand(len(x), 1, 1, 1, device=x.device) >= appearance_dropout
                rgb = rgb * keep
            logits = model.all_logits(rgb, flow)
            return logits["fused"], [logits["spatial"], logits["temporal"]]
        return model(rgb, flow), []

    return forward


def train_rgbflow_model(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    out_dir: str | Path,
    cfg: TrainConfig,
    rgb_cfg: RGBFlowTraining,
) -> dict:
    """Train ``two_stream_rgbflow`` or one of its single-stream ablations on one split."""
    out_dir = Path(out_dir)
    rgb_cfg = rgb_cfg.for_model(model_name)
    data = split_data(table, splits, split)
    seed_everything(cfg.seed, cfg.threads)
    device = pick_device(cfg.device)
    train = load_frame_videos(data.train, table.labels)
    val = load_frame_videos(data.val, table.labels)
    n_classes = len(table.labels)
    model = TwoStreamRGBFlow(rgb_cfg.net, n_classes)
    source = rgbflow_clips(rgb_cfg.net.flow_frames)
    result = fit(
        model, rgbflow_forward(rgb_cfg.appearance_dropout), train, val, cfg, n_classes, device,
        aux_weight=rgb_cfg.aux_weight, source=source,
    )  # fmt: skip
    net_params = config_dict(rgb_cfg)
    return save_trained(
        model_name, model, net_params, cfg, table, data, device, result, out_dir,
        input_size=int(train[0].frames.shape[1]),
    )  # fmt: skip


def _rgbflow_net(ckpt: dict) -> nn.Module:
    net = RGBFlowTraining.from_mapping(flat_net(ckpt["net"])).net
    return TwoStreamRGBFlow(net, len(ckpt["labels"]))


# How this family's checkpoints rebuild their network (checkpoint.load_model).
NETWORKS: dict[str, Callable[[dict], nn.Module]] = {
    name: _rgbflow_net for name in registry.family("rgbflow")
}
