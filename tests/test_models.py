"""Skeleton graph, ST-GCN, two-stream and fusion models: shapes, invariances, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motorflow.models.fusion import FusionXAttn, FusionXAttnConfig
from motorflow.models.graph import HEAD_TO_TORSO, SkeletonGraph, spatial_adjacency
from motorflow.models.stgcn import STGCN, STGCNConfig
from motorflow.models.two_stream import TwoStreamSkeleton, TwoStreamSkeletonConfig, motion_input
from motorflow.skeleton import BONES, INDEX, JOINT_NAMES, flip_permutation

V = len(JOINT_NAMES)
SMALL = STGCNConfig(channels=(8, 16), strides=(1, 2), temporal_kernel=5, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def adjacency() -> np.ndarray:
    return SkeletonGraph.default().adjacency


def _x(n: int = 2, t: int = 48, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, t, V, 3, generator=g)
    x[..., 2] = 1.0
    return x


# ------------------------------------------------------------------------------------ graph


def test_adjacency_partitions_are_normalised_and_finite(adjacency):
    a = adjacency
    assert a.shape == (3, V, V)
    assert np.isfinite(a).all() and (a >= 0).all()
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, atol=1e-12)  # every column
    assert (np.diag(a[0]) > 0).all()
    # The partitions are disjoint.
    assert ((a > 0).sum(axis=0) <= 1).all()


def test_adjacency_centripetal_is_centrifugal_transposed(adjacency):
    centripetal, centrifugal = adjacency[1] > 0, adjacency[2] > 0
    assert centripetal.any() and centrifugal.any()
    np.testing.assert_array_equal(centripetal, centrifugal.T)
    # Root edges other than self loops are symmetric too (equal distance both ways).
    root = adjacency[0] > 0
    np.testing.assert_array_equal(root, root.T)


def test_adjacency_known_neighbourhoods(adjacency):
    hip, knee, ankle = INDEX["left_hip"], INDEX["left_knee"], INDEX["left_ankle"]
    # The knee aggregates itself, the hip (closer to the centre) and the ankle (farther),
    # each 1/3 since its neighbourhood has three members.
    assert adjacency[0, knee, knee] == pytest.approx(1 / 3)
    assert adjacency[1, hip, knee] == pytest.approx(1 / 3)
    assert adjacency[2, ankle, knee] == pytest.approx(1 / 3)
    assert adjacency[:, ankle, hip].sum() == 0  # two hops away
    # Both hips are centre joints: equal distance -> root subset.
    rhip = INDEX["right_hip"]
    assert adjacency[0, rhip, hip] > 0 and adjacency[1:, rhip, hip].sum() == 0
    # The head hangs from the shoulders through the graph-only links.
    nose, lsh = INDEX["nose"], INDEX["left_shoulder"]
    assert adjacency[1, lsh, nose] > 0 and adjacency[2, nose, lsh] > 0


def test_unreachable_joints_raise_with_their_names():
    # motorflow's drawing bones leave the head floating; the graph must refuse them.
    with pytest.raises(ValueError, match="nose.*left_ear"):
        spatial_adjacency(JOINT_NAMES, BONES)
    with pytest.raises(ValueError, match="elbw"):
        spatial_adjacency(JOINT_NAMES, (*BONES, ("left_elbw", "nose")))
    with pytest.raises(ValueError, match="centre joint 'pelvis'"):
        spatial_adjacency(JOINT_NAMES, BONES + HEAD_TO_TORSO, centre=("pelvis",))


def test_max_hop_two_widens_the_neighbourhood():
    a2 = spatial_adjacency(JOINT_NAMES, BONES + HEAD_TO_TORSO, max_hop=2)
    np.testing.assert_allclose(a2.sum(axis=(0, 1)), 1.0, atol=1e-12)
    assert a2[1, INDEX["left_hip"], INDEX["left_ankle"]] > 0


def test_skeleton_graph_default():
    g = SkeletonGraph.default()
    assert g.V == V
    np.testing.assert_array_equal(
        g.adjacency, spatial_adjacency(JOINT_NAMES, BONES + HEAD_TO_TORSO)
    )
    assert hash(g) == hash(SkeletonGraph(list(JOINT_NAMES), list(BONES + HEAD_TO_TORSO)))


# ---------------------------------------------------------------------------------- configs


def test_config_from_mapping():
    cfg = STGCNConfig.from_mapping({"channels": [16, 32], "strides": [1, 2], "dropout": None})
    assert cfg.channels == (16, 32) and cfg.strides == (1, 2) and cfg.dropout == 0.1
    assert STGCNConfig.from_mapping(None) == STGCNConfig()
    with pytest.raises(ValueError, match="'chanels'"):
        STGCNConfig.from_mapping({"chanels": [16]})
    with pytest.raises(ValueError, match="strides"):
        STGCNConfig.from_mapping({"channels": [16, 32]})  # default strides have 4 entries
    with pytest.raises(ValueError, match="temporal_kernel"):
        STGCNConfig(temporal_kernel=4)
    two = TwoStreamSkeletonConfig.from_mapping(
        {"stream": {"channels": [8], "strides": [1]}, "late_fusion": True}
    )
    assert two.stream.channels == (8,) and two.late_fusion
    with pytest.raises(ValueError, match="'chanels'"):
        TwoStreamSkeletonConfig.from_mapping({"stream": {"chanels": [8]}})
    fusion = FusionXAttnConfig.from_mapping({"stgcn": None, "d_model": 32, "n_heads": 8})
    assert fusion.stgcn == STGCNConfig() and fusion.d_model == 32
    with pytest.raises(ValueError, match="divisible"):
        FusionXAttnConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="'heads'"):
        FusionXAttnConfig.from_mapping({"heads": 2})


# ------------------------------------------------------------------------------------ STGCN


def test_stgcn_shapes_and_stride(adjacency):
    torch.manual_seed(0)
    model = STGCN(STGCNConfig(), 3, adjacency)
    x = _x()
    assert model(x).shape == (2, 3)
    assert model.embed(x).shape == (2, model.out_channels) == (2, 64)
    assert model.feature_maps(x).shape == (2, 64, 24, V)  # one stride-2 block: 48 -> 24
    flat = STGCN(STGCNConfig(strides=(1, 1, 1, 1)), 3, adjacency)
    assert flat.feature_maps(x).shape[2] == 48
    # M persons are averaged: two copies of a person give that person's output.
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(
            model(torch.cat([x, x], dim=1)).numpy(), model(x).numpy(), atol=1e-5
        )
    with pytest.raises(ValueError, match="V=21"):
        model(torch.zeros(2, 1, 48, 17, 3))
    with pytest.raises(ValueError, match=r"\(N, M, T, V, C\)"):
        model(torch.zeros(2, 48, V, 3))


def test_stgcn_is_deterministic_under_seed_and_small(adjacency):
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = STGCN(STGCNConfig(), 2, adjacency)
        model.train()
        outs.append(model(_x()).detach())
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    n_params = sum(p.numel() for p in model.parameters())
    assert 50_000 < n_params < 300_000


def test_stgcn_left_right_symmetry(adjacency):
    """The graph is mirror-symmetric and the layers are shared across joints, so at
    initialisation swapping left and right joints changes nothing; only learned per-joint
    weights (edge importance, data BN) let the network tell the sides apart."""
    perm = torch.from_numpy(flip_permutation())
    np.testing.assert_allclose(adjacency[:, perm][:, :, perm], adjacency)
    torch.manual_seed(0)
    model = STGCN(SMALL, 2, adjacency).eval()
    x = _x()
    flipped = x[:, :, :, perm]
    with torch.no_grad():
        torch.testing.assert_close(model(flipped), model(x))
        model.blocks[0].gcn.edge_importance.uniform_(0.0, 2.0)
        assert (model(flipped) - model(x)).abs().max() > 1e-4


# ------------------------------------------------------------------------------- two-stream


def test_motion_input():
    x = torch.zeros(1, 1, 4, 2, 3)
    x[0, 0, :, 0, 0] = torch.tensor([0.0, 1.0, 3.0, 6.0])
    x[..., 2] = 1.0
    x[0, 0, 2, 1, 2] = 0.0  # joint 1 missing in frame 2
    x[0, 0, :, 1, 1] = torch.tensor([5.0, 5.0, 0.0, 5.0])  # zero-filled where missing
    m = motion_input(x)
    assert m.shape == x.shape
    np.testing.assert_allclose(m[0, 0, :, 0, 0].numpy(), [1, 2, 3, 3])  # last repeated
    np.testing.assert_allclose(m[0, 0, :, 1, 2].numpy(), [1, 0, 0, 0])  # min visibility
    np.testing.assert_allclose(m[0, 0, :, 1, 1].numpy(), [0, 0, 0, 0])  # no fake jumps


def test_two_stream_shapes_and_variants(adjacency):
    torch.manual_seed(0)
    x = _x(t=32)
    cfg = TwoStreamSkeletonConfig(stream=SMALL, fusion_channels=12)
    model = TwoStreamSkeleton(cfg, 3, adjacency).eval()
    with torch.no_grad():
        logits = model(x)
        joint, motion = model.stream_logits(x)
        fused, joint2, motion2 = model.all_logits(x)
    assert logits.shape == joint.shape == motion.shape == (2, 3)
    assert model.embed(x).shape == (2, 12) == (2, model.out_channels)
    torch.testing.assert_close(fused, logits)
    torch.testing.assert_close(joint2, joint)
    torch.testing.assert_close(motion2, motion)

    late = TwoStreamSkeleton(TwoStreamSkeletonConfig(stream=SMALL, late_fusion=True), 3, adjacency)
    late.eval()
    with torch.no_grad():
        j, m = late.stream_logits(x)
        torch.testing.assert_close(late(x), 0.5 * (j + m))
        assert late.embed(x).shape == (2, 2 * SMALL.channels[-1])
    assert not any(name.startswith("fuse") for name, _ in late.named_parameters())


def test_motion_stream_ignores_where_the_walker_stands(adjacency):
    torch.manual_seed(0)
    model = TwoStreamSkeleton(TwoStreamSkeletonConfig(stream=SMALL), 2, adjacency).eval()
    x = _x(t=32)
    shifted = x.clone()
    shifted[..., :2] += torch.tensor([3.0, -2.0])
    with torch.no_grad():
        j0, m0 = model.stream_logits(x)
        j1, m1 = model.stream_logits(shifted)
    torch.testing.assert_close(m1, m0, atol=1e-5, rtol=1e-5)
    assert (j1 - j0).abs().max() > 1e-3


# ----------------------------------------------------------------------------------- fusion


def _fusion(adjacency, n_features: int = 4) -> FusionXAttn:
    cfg = FusionXAttnConfig(stgcn=SMALL, d_model=16, n_heads=2, dropout=0.0, feature_dropout=0.0)
    return FusionXAttn(cfg, 2, adjacency, n_features)


def test_fusion_shapes_and_attention(adjacency):
    torch.manual_seed(0)
    model = _fusion(adjacency).eval()
    x, feats = _x(n=3, t=32), torch.randn(3, 4)
    assert model(x, feats).shape == (3, 2)
    assert model.embed(x, feats).shape == (3, model.out_channels)
    model.train()
    att = model.attention_weights(x, feats)
    assert model.training  # restored
    s2f, f2s = att["skeleton_to_features"], att["features_to_skeleton"]
    assert s2f.shape == (3, V, 4) and f2s.shape == (3, 4, V)
    torch.testing.assert_close(s2f.sum(-1), torch.ones(3, V))
    torch.testing.assert_close(f2s.sum(-1), torch.ones(3, 4))
    one = _fusion(adjacency, n_features=1).eval()
    assert one(x, torch.randn(3, 1)).shape == (3, 2)
    with pytest.raises(ValueError, match="feats"):
        model(x, torch.randn(3, 5))


def test_fusion_missing_mask(adjacency):
    torch.manual_seed(0)
    model = _fusion(adjacency).eval()
    x, feats = _x(n=2, t=32), torch.randn(2, 4)
    missing = torch.zeros(2, 4, dtype=torch.bool)
    missing[:, 1] = True
    with torch.no_grad():
        full = model(x, feats)
        masked = model(x, feats, missing)
        with_nan = feats.clone()
        with_nan[:, 1] = float("nan")
        nan_out = model(x, with_nan)
        # A missing value is ignored: changing it changes nothing.
        other = feats.clone()
        other[:, 1] = 100.0
        masked_other = model(x, other, missing)
    assert (masked - full).abs().max() > 1e-4
    torch.testing.assert_close(nan_out, masked)
    torch.testing.assert_close(masked_other, masked)


def test_load_skeleton_copies_and_freezes(adjacency):
    torch.manual_seed(1)
    trained = STGCN(SMALL, 5, adjacency)  # a different head size is fine: the head is skipped
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p))
    torch.manual_seed(2)
    model = _fusion(adjacency)
    model.load_skeleton(trained.state_dict(), freeze=True)
    own = model.skeleton.state_dict()
    for key, value in trained.state_dict().items():
        if not key.startswith("head."):
            torch.testing.assert_close(own[key], value, rtol=0, atol=0)
    assert not any(p.requires_grad for p in model.skeleton.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    model.train()
    assert model.training and not model.skeleton.training  # frozen BN statistics
    model.load_skeleton(trained.state_dict(), freeze=False)
    assert all(p.requires_grad for p in model.skeleton.parameters())
    other = STGCN(STGCNConfig(channels=(8, 8), strides=(1, 2), temporal_kernel=5), 2, adjacency)
    with pytest.raises(ValueError, match="does not match"):
        model.load_skeleton(other.state_dict())


def test_fusion_learns_a_label_carried_by_a_gait_feature(adjacency):
    """The skeleton is pure noise; the label is in feature 2 only (others are noise)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = rng.integers(0, 2, n)
        feats = rng.normal(0, 1, (n, 3))
        feats[:, 2] = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.3, n)
        x = torch.from_numpy(rng.normal(0, 1, (n, 1, 16, V, 3)).astype(np.float32))
        return x, torch.from_numpy(feats.astype(np.float32)), torch.from_numpy(y)

    (xtr, ftr, ytr), (xte, fte, yte) = data(128), data(64)
    cfg = FusionXAttnConfig(
        stgcn=STGCNConfig(channels=(8,), strides=(1,), temporal_kernel=3),
        d_model=16,
        n_heads=2,
    )
    model = FusionXAttn(cfg, 2, adjacency, n_features=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        model.train()
        for idx in torch.randperm(128).split(16):
            loss = torch.nn.functional.cross_entropy(model(xtr[idx], ftr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte, fte).argmax(1) == yte).float().mean().item()
    assert acc >= 0.9
