"""ST-GCN (Yan et al. 2018) for gait classification, in plain PyTorch.

Inputs follow the skeleton-toolbox layout ``(N, M, T, V, C)``: M persons (averaged), T
frames, V joints, C channels (x, y, visibility; missing joints zero-filled by the caller).
The graph comes in as a ``(K, V, V)`` array from :mod:`motorflow.models.graph`, so the layers
know nothing about which skeleton they run on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from motorflow.checks import check_bool, check_int, check_prob
from motorflow.config import config_from_mapping


@dataclass(frozen=True)
class STGCNConfig:
    """Architecture of an ST-GCN trunk (``stgcn:`` in the model config)."""

    in_channels: int = 3
    # Output channels of each ST-GCN block, one block per entry.
    channels: tuple[int, ...] = (32, 32, 64, 64)
    # Temporal stride of each block (same length as ``channels``); 2 halves T'.
    strides: tuple[int, ...] = (1, 1, 2, 1)
    # Frames covered by one temporal convolution (odd, so padding keeps T centred).
    temporal_kernel: int = 9
    dropout: float = 0.1
    # A learnable weight per graph edge and block (ST-GCN's edge importance weighting).
    edge_importance: bool = True
    # BatchNorm over joints x channels of the raw input: puts pixel coordinates and
    # visibilities on one scale without a separate normalisation step.
    data_bn: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "strides", tuple(self.strides))
        check_int("in_channels", self.in_channels, 1)
        if not self.channels:
            raise ValueError("channels must list at least one block")
        for c in self.channels:
            check_int("channels entries", c, 1)
        for s in self.strides:
            check_int("strides entries", s, 1)
        if len(self.strides) != len(self.channels):
            raise ValueError(
                f"strides must have one entry per block: {len(self.channels)} channels "
                f"{self.channels} but {len(self.strides)} strides {self.strides}"
            )
        check_int("temporal_kernel", self.temporal_kernel, 1)
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd; got {self.temporal_kernel}")
        check_prob("dropout", self.dropout)
        check_bool("edge_importance", self.edge_importance)
        check_bool("data_bn", self.data_bn)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> STGCNConfig:
        return config_from_mapping(cls, mapping, "stgcn")


class GraphConv(nn.Module):
    """Spatial graph convolution: one 1x1 conv per partition, summed over the graph.

    ``(N, C_in, T, V) -> (N, C_out, T, V)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, adjacency: Tensor, edge_importance: bool
    ) -> None:
        super().__init__()
        self.k, self.out_channels = adjacency.shape[0], out_channels
        self.register_buffer("adjacency", adjacency.clone())
        self.conv = nn.Conv2d(in_channels, out_channels * self.k, kernel_size=1)
        # Multiplicative, so it can only re-weight existing edges, never add new ones.
        self.edge_importance = nn.Parameter(torch.ones_like(adjacency)) if edge_importance else None

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.k, self.out_channels, t, v)
        a = self.adjacency
        if self.edge_importance is not None:
            a = a * self.edge_importance
        return torch.einsum("nkctv,kvw->nctw", x, a).contiguous()


class TemporalConv(nn.Module):
    """BN-ReLU-conv(kt x 1)-BN-dropout along time, per joint (ST-GCN's ``tcn``)."""

    def __init__(self, channels: int, kernel: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                channels, channels, (kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0)
            ),
            nn.BatchNorm2d(channels),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class STGCNBlock(nn.Module):
    """Graph conv then temporal conv, with a residual path; ``(N, C_in, T, V) -> (N, C_out,
    ceil(T / stride), V)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: Tensor,
        *,
        stride: int = 1,
        temporal_kernel: int = 9,
        dropout: float = 0.0,
        edge_importance: bool = True,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, adjacency, edge_importance)
        self.tcn = TemporalConv(out_channels, temporal_kernel, stride, dropout)
        if in_channels == out_channels and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.tcn(self.gcn(x)) + self.residual(x))


def check_input(x: Tensor, n_joints: int, n_channels: int) -> None:
    """Fail with a readable message when ``x`` is not ``(N, M, T, V, C)`` for this model."""
    if x.dim() != 5:
        raise ValueError(f"expected input (N, M, T, V, C); got shape {tuple(x.shape)}")
    if x.shape[3] != n_joints or x.shape[4] != n_channels:
        raise ValueError(
            f"expected V={n_joints} joints and C={n_channels} channels in (N, M, T, V, C); "
            f"got shape {tuple(x.shape)}"
        )


class STGCN(nn.Module):
    """Spatial-temporal graph convolutional network: blocks, global pool, linear head."""

    def __init__(self, cfg: STGCNConfig, n_classes: int, adjacency: np.ndarray) -> None:
        super().__init__()
        check_int("n_classes", n_classes, 1)
        a = torch.as_tensor(np.asarray(adjacency), dtype=torch.float32)
        if a.dim() != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"adjacency must be (K, V, V); got shape {tuple(a.shape)}")
        if not torch.isfinite(a).all():
            raise ValueError("adjacency contains non-finite values")
        self.cfg, self.n_classes = cfg, n_classes
        self.n_joints = a.shape[1]
        self.data_bn: nn.Module = (
            nn.BatchNorm1d(self.n_joints * cfg.in_channels) if cfg.data_bn else nn.Identity()
        )
        blocks, c_in = [], cfg.in_channels
        for i, (c_out, stride) in enumerate(zip(cfg.channels, cfg.strides, strict=True)):
            blocks.append(
                STGCNBlock(
                    c_in,
                    c_out,
                    a,
                    stride=stride,
                    temporal_kernel=cfg.temporal_kernel,
                    # No dropout on the first block: it would drop raw coordinates.
                    dropout=cfg.dropout if i > 0 else 0.0,
                    edge_importance=cfg.edge_importance,
                )
            )
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c_in, n_classes)

    @property
    def out_channels(self) -> int:
        """Channels of the last feature map (C_last), i.e. the size of ``embed``."""
        return self.cfg.channels[-1]

    def feature_maps(self, x: Tensor) -> Tensor:
        """The last block's output, ``(N*M, C_last, T', V)``: what Grad-CAM and fusion read."""
        check_input(x, self.n_joints, self.cfg.in_channels)
        n, m, t, v, c = x.shape
        # BatchNorm1d over V*C features, frames as the length axis.
        h = x.permute(0, 1, 3, 4, 2).reshape(n * m, v * c, t)
        h = self.data_bn(h)
        h = h.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()  # (N*M, C, T, V)
        for block in self.blocks:
            h = block(h)
        return h

    def pool_maps(self, maps: Tensor, n: int) -> Tensor:
        """Global average over (T', V), then over the M persons: ``(N, C_last)``."""
        pooled = maps.mean(dim=(2, 3))
        return pooled.view(n, -1, pooled.shape[1]).mean(dim=1)

    def logits_from_maps(self, maps: Tensor, n: int) -> Tensor:
        """Head applied to feature maps of ``n`` samples (lets Grad-CAM differentiate w.r.t.
        the maps without re-running the trunk)."""
        return self.head(self.pool_maps(maps, n))

    def embed(self, x: Tensor) -> Tensor:
        """``(N, C_last)`` clip embedding (before the linear head)."""
        return self.pool_maps(self.feature_maps(x), x.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        """``(N, n_classes)`` logits."""
        return self.head(self.embed(x))
