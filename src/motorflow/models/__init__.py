"""Skeleton models: the graph, ST-GCN, a two-stream ST-GCN and skeleton + gait-feature fusion.

Plain ``torch.nn.Module``s configured by frozen dataclasses (each with ``from_mapping`` for a
YAML section); inputs are ``(N, M, T, V, C)`` tensors.
"""

from motorflow.models.fusion import FusionXAttn, FusionXAttnConfig
from motorflow.models.graph import (
    HEAD_TO_TORSO,
    SkeletonGraph,
    hop_distances,
    spatial_adjacency,
)
from motorflow.models.stgcn import STGCN, GraphConv, STGCNBlock, STGCNConfig, TemporalConv
from motorflow.models.two_stream import TwoStreamSkeleton, TwoStreamSkeletonConfig, motion_input

__all__ = [
    "HEAD_TO_TORSO",
    "STGCN",
    "FusionXAttn",
    "FusionXAttnConfig",
    "GraphConv",
    "STGCNBlock",
    "STGCNConfig",
    "SkeletonGraph",
    "TemporalConv",
    "TwoStreamSkeleton",
    "TwoStreamSkeletonConfig",
    "hop_distances",
    "motion_input",
    "spatial_adjacency",
]
