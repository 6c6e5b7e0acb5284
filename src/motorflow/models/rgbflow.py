"""Two-stream RGB + optical-flow CNN (Paper B, arXiv 2207.03344), in plain PyTorch.

An appearance ("spatial") stream sees one RGB frame, a motion ("temporal") stream sees ``L``
consecutive flow fields stacked as ``2L`` channels; their last feature maps are concatenated
and fused by a 1x1 convolution before pooling, so the classifier can combine what is where
with how it moves at each location.  ``late_fusion`` averages the two streams' logits instead
(the classic two-stream baseline); ``streams`` keeps only one stream (Paper B's ablation).

Inputs are ``rgb`` (N, 3, S, S), normalised by the caller, and ``flow`` (N, 2L, S, S) in
[-1, 1] (dequantised flow / bound, see :func:`stack_flow`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from motorflow.checks import check_bool, check_int, check_prob
from motorflow.config import config_from_mapping
from motorflow.flow import dequantise

Streams = Literal["both", "spatial", "temporal"]
STREAMS: tuple[str, ...] = get_args(Streams)


@dataclass(frozen=True)
class RGBFlowConfig:
    """Architecture of the RGB + flow model (``rgbflow:`` in the model config).

    ``streams`` decides which submodules exist: "both" builds ``spatial``, ``temporal`` and
    (unless ``late_fusion``) the fusion layers; "spatial" / "temporal" build that stream only,
    whose own head then gives the logits (``late_fusion`` and ``fusion_channels`` are unused).
    """

    # Output channels of each stage; every stage halves the resolution (stride-2 conv).
    channels: tuple[int, ...] = (16, 32, 64)
    # L: flow fields stacked for the temporal stream (2L input channels: x, y per field).
    flow_frames: int = 8
    streams: Streams = "both"
    # True: average the two streams' logits instead of fusing feature maps (baseline).
    late_fusion: bool = False
    # Channels of the 1x1 convolution that fuses the two streams' feature maps.
    fusion_channels: int = 64
    # Before every linear head (fused and per-stream).
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.channels, int | str) or not hasattr(self.channels, "__iter__"):
            raise ValueError(f"channels must be a list of integers; got {self.channels!r}")
        object.__setattr__(self, "channels", tuple(self.channels))
        if not self.channels:
            raise ValueError("channels must list at least one stage")
        for c in self.channels:
            check_int("channels entries", c, 1)
        check_int("flow_frames", self.flow_frames, 1)
        if self.streams not in STREAMS:
            raise ValueError(f"streams must be one of {', '.join(STREAMS)}; got {self.streams!r}")
        check_bool("late_fusion", self.late_fusion)
        check_int("fusion_channels", self.fusion_channels, 1)
        check_prob("dropout", self.dropout)

    @property
    def flow_channels(self) -> int:
        """Input channels of the temporal stream, 2L."""
        return 2 * self.flow_frames

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> RGBFlowConfig:
        return config_from_mapping(cls, mapping, "rgbflow")


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    # No conv bias: BatchNorm's shift replaces it.
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class ConvStream(nn.Module):
    """Plain CNN: per stage conv3x3/2-BN-ReLU then conv3x3-BN-ReLU; global pool; linear head.

    ``(N, C_in, S, S) -> (N, channels[-1], S / 2^stages, S / 2^stages)`` feature maps.
    """

    def __init__(
        self, in_channels: int, channels: tuple[int, ...], n_classes: int, dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.in_channels, self.out_channels = in_channels, c_in
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def feature_maps(self, x: Tensor) -> Tensor:
        return self.body(x)

    def logits_from_maps(self, maps: Tensor) -> Tensor:
        return self.head(maps.mean(dim=(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.logits_from_maps(self.feature_maps(x))


def check_image(name: str, x: Tensor | None, channels: int) -> Tensor:
    if x is None:
        raise ValueError(f"{name} input is required by this model; got None")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must be (N, {channels}, S, S); got shape {tuple(x.shape)}")
    return x


class TwoStreamRGBFlow(nn.Module):
    """Spatial (RGB frame) + temporal (stacked flow) CNNs with feature-map or late fusion.

    ``spatial`` / ``temporal`` are ``None`` when ``cfg.streams`` leaves them out, so a
    single-stream model holds no parameters of the other stream.  Each present stream has its
    own linear head: :meth:`all_logits` returns them for auxiliary losses.
    """

    def __init__(self, cfg: RGBFlowConfig, n_classes: int) -> None:
        super().__init__()
        check_int("n_classes", n_classes, 1)
        self.cfg, self.n_classes = cfg, n_classes
        self.spatial: ConvStream | None = None
        self.temporal: ConvStream | None = None
        if cfg.streams in ("both", "spatial"):
            self.spatial = ConvStream(3, cfg.channels, n_classes, cfg.dropout)
        if cfg.streams in ("both", "temporal"):
            self.temporal = ConvStream(cfg.flow_channels, cfg.channels, n_classes, cfg.dropout)
        self.fuse: nn.Module | None = None
        self.head: nn.Module | None = None
        if cfg.streams == "both" and not cfg.late_fusion:
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * cfg.channels[-1], cfg.fusion_channels, kernel_size=1, bias=False),
                nn.BatchNorm2d(cfg.fusion_channels),
                nn.ReLU(inplace=True),
            )
            self.head = nn.Sequential(
                nn.Dropout(cfg.dropout), nn.Linear(cfg.fusion_channels, n_classes)
            )

    def feature_maps(self, rgb: Tensor | None, flow: Tensor | None) -> dict[str, Tensor]:
        """Last feature maps of the present streams, ``{"spatial": ..., "temporal": ...}``."""
        maps: dict[str, Tensor] = {}
        if self.spatial is not None:
            rgb = check_image("rgb", rgb, 3)
        if self.temporal is not None:
            flow = check_image("flow", flow, self.cfg.flow_channels)
        if rgb is not None and flow is not None and self.cfg.streams == "both":
            if rgb.shape[0] != flow.shape[0]:
                raise ValueError(
                    f"rgb and flow batch sizes differ: {rgb.shape[0]} vs {flow.shape[0]}"
                )
            # Concatenated feature maps must align location by location.
            if self.fuse is not None and rgb.shape[2:] != flow.shape[2:]:
                raise ValueError(
                    "feature-map fusion needs rgb and flow of the same size; got "
                    f"{tuple(rgb.shape[2:])} and {tuple(flow.shape[2:])}"
                )
        if self.spatial is not None and rgb is not None:
            maps["spatial"] = self.spatial.feature_maps(rgb)
        if self.temporal is not None and flow is not None:
            maps["temporal"] = self.temporal.feature_maps(flow)
        return maps

    def all_logits(self, rgb: Tensor | None, flow: Tensor | None) -> dict[str, Tensor]:
        """``{"fused", "spatial"?, "temporal"?}`` logits, each ``(N, n_classes)``, from one pass
        of the trunks.  A single-stream model's "fused" is its stream's logits."""
        maps = self.feature_maps(rgb, flow)
        out: dict[str, Tensor] = {}
        if self.spatial is not None:
            out["spatial"] = self.spatial.logits_from_maps(maps["spatial"])
        if self.temporal is not None:
            out["temporal"] = self.temporal.logits_from_maps(maps["temporal"])
        if self.fuse is not None and self.head is not None:
            fused = self.fuse(torch.cat([maps["spatial"], maps["temporal"]], dim=1))
            out["fused"] = self.head(fused.mean(dim=(2, 3)))
        elif self.cfg.streams == "both":
            out["fused"] = 0.5 * (out["spatial"] + out["temporal"])
        else:
            out["fused"] = out[self.cfg.streams]
        return out

    def forward(self, rgb: Tensor | None, flow: Tensor | None) -> Tensor:
        """``(N, n_classes)`` logits; the input of a left-out stream may be None (ignored)."""
        return self.all_logits(rgb, flow)["fused"]


def stack_flow(flow: np.ndarray, start: int, length: int, bound: float) -> np.ndarray:
    """Temporal-stream input for the ``length`` flow pairs from ``start``: float32 (2L, S, S).

    ``flow`` is the stage's uint8 (P, S, S, 2); channels are interleaved per time step,
    ``[x_start, y_start, x_start+1, y_start+1, ...]``, each dequantised and divided by
    ``bound`` so values lie in [-1, 1].
    """
    flow = np.asarray(flow)
    if flow.dtype != np.uint8 or flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be uint8 (P, S, S, 2); got {flow.dtype} {tuple(flow.shape)}")
    check_int("length", length, 1)
    check_int("start", start, 0)
    if start + length > flow.shape[0]:
        raise ValueError(
            f"pairs {start}..{start + length - 1} requested but the flow has {flow.shape[0]}"
        )
    chunk = dequantise(flow[start : start + length], bound) / np.float32(bound)
    # (L, S, S, 2) -> (L, 2, S, S) -> (2L, S, S): x, y of one step stay adjacent.
    return np.ascontiguousarray(chunk.transpose(0, 3, 1, 2).reshape(-1, *flow.shape[1:3]))
