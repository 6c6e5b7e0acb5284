"""Two-stream skeleton network: joint positions + joint motion, fused on feature maps.

The skeleton analogue of an appearance + optical-flow two-stream network: one ST-GCN trunk
sees where the joints are, a second sees how they move between frames (frame differences are
invariant to where the walker stands in the image).  Their last feature maps are fused by a
1x1 convolution before pooling, so the classifier can combine "where" and "how" per joint and
frame; ``late_fusion`` instead averages the two streams' logits, the usual baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from motorflow.checks import check_bool, check_int
from motorflow.config import config_from_mapping
from motorflow.models.stgcn import STGCN, STGCNConfig, check_input

N_COORDS = 2  # x, y; channels after these (visibility) are not differenced


def motion_input(x: Tensor, n_coords: int = N_COORDS) -> Tensor:
    """Frame differences of ``(N, M, T, V, C)`` positions, same shape.

    Coordinates: ``x[t+1] - x[t]``, the last difference repeated so T is unchanged.  Extra
    channels (visibility): the minimum of the two frames, so a difference is only as visible
    as its worse end.  Differences touching a zero-visibility (zero-filled, missing) joint are
    set to 0: they would otherwise be a jump from the image origin, not motion.
    """
    if x.shape[2] < 2:
        return torch.zeros_like(x)
    coords = x[:, :, 1:, :, :n_coords] - x[:, :, :-1, :, :n_coords]
    if x.shape[-1] > n_coords:
        vis = torch.minimum(x[:, :, 1:, :, n_coords:], x[:, :, :-1, :, n_coords:])
        present = (vis[..., :1] > 0).to(coords.dtype)
        motion = torch.cat([coords * present, vis], dim=-1)
    else:
        motion = coords
    return torch.cat([motion, motion[:, :, -1:]], dim=2)


@dataclass(frozen=True)
class TwoStreamSkeletonConfig:
    """Two-stream model (``two_stream:`` in the model config); both trunks share ``stream``."""

    stream: STGCNConfig = field(default_factory=STGCNConfig)
    # Channels of the 1x1 convolution that fuses the two streams' feature maps.
    fusion_channels: int = 64
    # True: average the two streams' logits instead of fusing feature maps (baseline).
    late_fusion: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.stream, STGCNConfig):
            raise ValueError(f"stream must be an STGCNConfig; got {type(self.stream).__name__}")
        check_int("fusion_channels", self.fusion_channels, 1)
        check_bool("late_fusion", self.late_fusion)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TwoStreamSkeletonConfig:
        return config_from_mapping(cls, mapping, "two_stream")


class TwoStreamSkeleton(nn.Module):
    """Joint stream + motion stream ST-GCNs with feature-map (or late) fusion.

    Each stream keeps its own linear head (``stream_logits``): the caller adds their
    cross-entropy to the loss with a weight, which trains them as auxiliary heads and gives
    single-stream ablations from the same run.
    """

    def __init__(self, cfg: TwoStreamSkeletonConfig, n_classes: int, adjacency: np.ndarray) -> None:
        super().__init__()
        self.cfg, self.n_classes = cfg, n_classes
        self.joint = STGCN(cfg.stream, n_classes, adjacency)
        self.motion = STGCN(cfg.stream, n_classes, adjacency)
        if cfg.late_fusion:
            self.fuse: nn.Module | None = None
            self.head: nn.Module | None = None
        else:
            c = self.joint.out_channels
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * c, cfg.fusion_channels, kernel_size=1),
                nn.BatchNorm2d(cfg.fusion_channels),
                nn.ReLU(inplace=True),
            )
            self.head = nn.Sequential(
                nn.Dropout(cfg.stream.dropout), nn.Linear(cfg.fusion_channels, n_classes)
            )

    @property
    def out_channels(self) -> int:
        """Size of ``embed``: the fused channels, or both streams' embeddings concatenated."""
        if self.cfg.late_fusion:
            return 2 * self.joint.out_channels
        return self.cfg.fusion_channels

    def _maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_input(x, self.joint.n_joints, self.cfg.stream.in_channels)
        return self.joint.feature_maps(x), self.motion.feature_maps(motion_input(x))

    def stream_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(joint_logits, motion_logits)``, each ``(N, n_classes)``, from the streams' heads."""
        n = x.shape[0]
        joint_maps, motion_maps = self._maps(x)
        return (
            self.joint.logits_from_maps(joint_maps, n),
            self.motion.logits_from_maps(motion_maps, n),
        )

    def _embed_maps(self, joint_maps: Tensor, motion_maps: Tensor, n: int) -> Tensor:
        if self.fuse is None:
            return torch.cat(
                [self.joint.pool_maps(joint_maps, n), self.motion.pool_maps(motion_maps, n)],
                dim=1,
            )
        fused = self.fuse(torch.cat([joint_maps, motion_maps], dim=1))
        pooled = fused.mean(dim=(2, 3))
        return pooled.view(n, -1, pooled.shape[1]).mean(dim=1)

    def embed(self, x: Tensor) -> Tensor:
        """``(N, out_channels)`` clip embedding (before the classifier)."""
        return self._embed_maps(*self._maps(x), x.shape[0])

    def all_logits(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(fused, joint, motion)`` logits from one pass of the trunks (for training with
        the auxiliary heads; ``forward`` and ``stream_logits`` would run them twice)."""
        n = x.shape[0]
        joint_maps, motion_maps = self._maps(x)
        joint_logits = self.joint.logits_from_maps(joint_maps, n)
        motion_logits = self.motion.logits_from_maps(motion_maps, n)
        if self.head is None:
            fused = 0.5 * (joint_logits + motion_logits)
        else:
            fused = self.head(self._embed_maps(joint_maps, motion_maps, n))
        return fused, joint_logits, motion_logits

    def forward(self, x: Tensor) -> Tensor:
        """``(N, n_classes)`` logits of the fused model."""
        if self.head is None:
            joint_logits, motion_logits = self.stream_logits(x)
            return 0.5 * (joint_logits + motion_logits)
        return self.head(self.embed(x))
