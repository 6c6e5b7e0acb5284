"""Models: the skeleton graph, ST-GCN, a two-stream ST-GCN, skeleton + gait-feature fusion
(Paper A) and the RGB + optical-flow two-stream network (Paper B).

Plain ``torch.nn.Module``s configured by frozen dataclasses (each with ``from_mapping`` for a
YAML section); skeleton inputs are ``(N, M, T, V, C)`` tensors, image inputs ``(N, C, H, W)``.
"""

from motorflow.models.fusion import FusionXAttn, FusionXAttnConfig
from motorflow.models.graph import (
    HEAD_TO_TORSO,
    SkeletonGraph,
    hop_distances,
    spatial_adjacency,
)
from motorflow.models.rgbflow import RGBFlowConfig, TwoStreamRGBFlow, stack_flow
from motorflow.models.stgcn import STGCN, GraphConv, STGCNBlock, STGCNConfig, TemporalConv
from motorflow.models.two_stream import TwoStreamSkeleton, TwoStreamSkeletonConfig, motion_input

__all__ = [
    "HEAD_TO_TORSO",
    "STGCN",
    "FusionXAttn",
    "FusionXAttnConfig",
    "GraphConv",
    "RGBFlowConfig",
    "STGCNBlock",
    "STGCNConfig",
    "SkeletonGraph",
    "TemporalConv",
    "TwoStreamRGBFlow",
    "TwoStreamSkeleton",
    "TwoStreamSkeletonConfig",
    "hop_distances",
    "motion_input",
    "spatial_adjacency",
    "stack_flow",
]
