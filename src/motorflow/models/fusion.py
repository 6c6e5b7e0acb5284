"""Dual-stream fusion of skeleton sequences and gait features with cross-attention.

Paper A's model: an ST-GCN reads the pose sequence and yields one token per joint; a
FT-Transformer-style tokenizer turns each scalar gait feature (cadence, stride time, ...) into
a token; two cross-attentions let joints look up features and features look up joints.  The
two attention maps are returned by ``attention_weights`` so a reader can see which features a
joint relied on and vice versa.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from motorflow.checks import check_int, check_prob
from motorflow.config import config_from_mapping
from motorflow.models.stgcn import STGCN, STGCNConfig


@dataclass(frozen=True)
class FusionXAttnConfig:
    """Skeleton + gait-feature fusion model (``fusion:`` in the model config)."""

    stgcn: STGCNConfig = field(default_factory=STGCNConfig)
    # Token width shared by joint and feature tokens; must be divisible by n_heads.
    d_model: int = 64
    n_heads: int = 4
    dropout: float = 0.1
    # Training only: each feature token is replaced by its "missing" embedding with this
    # probability, so the model learns to cope with the features a clip fails to yield.
    feature_dropout: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.stgcn, STGCNConfig):
            raise ValueError(f"stgcn must be an STGCNConfig; got {type(self.stgcn).__name__}")
        check_int("d_model", self.d_model, 1)
        check_int("n_heads", self.n_heads, 1)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        check_prob("dropout", self.dropout)
        check_prob("feature_dropout", self.feature_dropout)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FusionXAttnConfig:
        return config_from_mapping(cls, mapping, "fusion")


class FeatureTokenizer(nn.Module):
    """Scalar features -> tokens (FT-Transformer): ``value * W_f + b_f`` per feature ``f``.

    A missing feature (mask True, or NaN) becomes a learned per-feature "missing" token, so
    missingness is information the model can use rather than a fake value.
    """

    def __init__(self, n_features: int, d_model: int) -> None:
        super().__init__()
        bound = d_model**-0.5  # FT-Transformer's uniform initialisation
        self.weight = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))
        self.missing = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))

    def forward(self, feats: Tensor, missing: Tensor) -> Tensor:
        """``(N, F)`` values and ``(N, F)`` bool mask -> ``(N, F, d_model)`` tokens."""
        values = torch.where(missing, torch.zeros_like(feats), feats)
        tokens = values[..., None] * self.weight + self.bias
        return torch.where(missing[..., None], self.missing.expand_as(tokens), tokens)


class CrossAttentionBlock(nn.Module):
    """Queries attend to a context, then residual + LayerNorm and a small FFN (post-norm)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, 2 * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * d_model, d_model),
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, query: Tensor, context: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        out, weights = self.attn(
            query, context, context, need_weights=need_weights, average_attn_weights=True
        )
        h = self.norm1(query + self.drop(out))
        return self.norm2(h + self.drop(self.ffn(h))), weights


class FusionXAttn(nn.Module):
    """ST-GCN joint tokens x gait-feature tokens, bidirectional cross-attention, MLP head.

    ``forward(x, feats, missing)``: ``x`` is ``(N, M, T, V, C)``, ``feats`` ``(N, F)``
    (standardised by the caller; NaN counts as missing), ``missing`` an optional ``(N, F)``
    bool mask (True = missing).
    """

    def __init__(
        self, cfg: FusionXAttnConfig, n_classes: int, adjacency: np.ndarray, n_features: int
    ) -> None:
        super().__init__()
        check_int("n_features", n_features, 1)
        self.cfg, self.n_classes, self.n_features = cfg, n_classes, n_features
        d = cfg.d_model
        # A full STGCN (head included) so a trained skeleton model's state_dict loads as is.
        self.skeleton = STGCN(cfg.stgcn, n_classes, adjacency)
        self._skeleton_frozen = False
        self.joint_proj = nn.Linear(self.skeleton.out_channels, d)
        self.joint_pos = nn.Parameter(torch.zeros(1, self.skeleton.n_joints, d))
        nn.init.normal_(self.joint_pos, std=0.02)
        self.tokenizer = FeatureTokenizer(n_features, d)
        self.skel_to_feat = CrossAttentionBlock(d, cfg.n_heads, cfg.dropout)
        self.feat_to_skel = CrossAttentionBlock(d, cfg.n_heads, cfg.dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * d, d),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(d, n_classes),
        )

    @property
    def out_channels(self) -> int:
        """Size of ``embed``: pooled joint and feature tokens, concatenated."""
        return 2 * self.cfg.d_model

    def load_skeleton(self, state_dict: Mapping[str, Tensor], freeze: bool = False) -> None:
        """Load a trained :class:`STGCN`'s weights (its classifier head is skipped).

        ``freeze=True`` stops gradients to the trunk and keeps its BatchNorm statistics fixed
        (the trunk stays in eval mode even when the model trains), so the fusion model is
        trained on exactly the features the skeleton model learned.
        """
        trunk = {k: v for k, v in state_dict.items() if not k.startswith("head.")}
        own = {k: v for k, v in self.skeleton.state_dict().items() if not k.startswith("head.")}
        missing = sorted(set(own) - set(trunk))
        unexpected = sorted(set(trunk) - set(own))
        resized = sorted(
            k for k in set(own) & set(trunk) if tuple(own[k].shape) != tuple(trunk[k].shape)
        )
        if missing or unexpected or resized:
            raise ValueError(
                "state_dict does not match the fusion model's ST-GCN (missing: "
                f"{missing}, unexpected: {unexpected}, other shape: {resized}); "
                "same stgcn config and graph?"
            )
        self.skeleton.load_state_dict(trunk, strict=False)
        self._skeleton_frozen = freeze
        for p in self.skeleton.parameters():
            p.requires_grad_(not freeze)
        self.train(self.training)

    def train(self, mode: bool = True) -> FusionXAttn:
        super().train(mode)
        if self._skeleton_frozen:
            self.skeleton.eval()
        return self

    def _tokens(self, x: Tensor, feats: Tensor, missing: Tensor | None) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        if feats.dim() != 2 or feats.shape != (n, self.n_features):
            raise ValueError(
                f"feats must be (N, F) = ({n}, {self.n_features}); got {tuple(feats.shape)}"
            )
        feats = feats.to(dtype=torch.float32)
        miss = torch.isnan(feats)
        if missing is not None:
            if missing.shape != feats.shape:
                raise ValueError(
                    f"missing must have the shape of feats {tuple(feats.shape)}; "
                    f"got {tuple(missing.shape)}"
                )
            miss = miss | missing.to(dtype=torch.bool, device=feats.device)
        if self.training and self.cfg.feature_dropout > 0:
            miss = miss | (torch.rand_like(feats) < self.cfg.feature_dropout)
        feat_tokens = self.tokenizer(feats, miss)

        maps = self.skeleton.feature_maps(x)  # (N*M, C, T', V)
        per_joint = maps.mean(dim=2)  # pool time: one token per joint
        per_joint = per_joint.view(n, -1, *per_joint.shape[1:]).mean(dim=1)  # persons
        joint_tokens = self.joint_proj(per_joint.transpose(1, 2)) + self.joint_pos
        return joint_tokens, feat_tokens

    def _fuse(
        self, x: Tensor, feats: Tensor, missing: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        joints, features = self._tokens(x, feats, missing)
        # Both directions read the other side's tokens before cross-attention (symmetric).
        joints_out, w_jf = self.skel_to_feat(joints, features, need_weights)
        features_out, w_fj = self.feat_to_skel(features, joints, need_weights)
        return torch.cat([joints_out.mean(dim=1), features_out.mean(dim=1)], dim=1), w_jf, w_fj

    def embed(self, x: Tensor, feats: Tensor, missing: Tensor | None = None) -> Tensor:
        """``(N, 2 * d_model)``: pooled joint and feature tokens after cross-attention."""
        return self._fuse(x, feats, missing, need_weights=False)[0]

    def forward(self, x: Tensor, feats: Tensor, missing: Tensor | None = None) -> Tensor:
        """``(N, n_classes)`` logits."""
        return self.head(self.embed(x, feats, missing))

    @torch.no_grad()
    def attention_weights(
        self, x: Tensor, feats: Tensor, missing: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Head-averaged attention maps, computed in eval mode (no dropout), rows sum to 1.

        ``"skeleton_to_features"``: ``(N, V, F)``, how much each joint token read each
        feature; ``"features_to_skeleton"``: ``(N, F, V)``, the converse.
        """
        was_training = self.training
        self.eval()
        try:
            _, w_jf, w_fj = self._fuse(x, feats, missing, need_weights=True)
        finally:
            self.train(was_training)
        assert w_jf is not None and w_fj is not None
        return {"skeleton_to_features": w_jf, "features_to_skeleton": w_fj}
