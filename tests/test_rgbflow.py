"""Two-stream RGB + flow CNN: shapes, stream ablations, fusion, what each stream can learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from motorflow.flow import compute_flow, dequantise, quantise
from motorflow.models.rgbflow import RGBFlowConfig, TwoStreamRGBFlow, stack_flow

pytestmark = pytest.mark.usefixtures("one_torch_thread")

L = 3
TINY = RGBFlowConfig(channels=(8, 16), flow_frames=L, fusion_channels=16, dropout=0.0)
SETTINGS = [
    ("both", False),
    ("both", True),
    ("spatial", False),
    ("temporal", False),
]


def _model(streams: str = "both", late: bool = False, seed: int = 0, **kw) -> TwoStreamRGBFlow:
    torch.manual_seed(seed)
    cfg = RGBFlowConfig(**{**TINY.__dict__, "streams": streams, "late_fusion": late, **kw})
    return TwoStreamRGBFlow(cfg, n_classes=3)


def _inputs(n: int = 4, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.rand(n, 2 * L, size, size) * 2 - 1


# --------------------------------------------------------------------------------- config


def test_config_from_mapping_and_validation():
    cfg = RGBFlowConfig.from_mapping({"channels": [8, 16], "streams": "temporal", "dropout": None})
    assert cfg.channels == (8, 16) and cfg.streams == "temporal" and cfg.dropout == 0.2
    assert cfg.flow_channels == 2 * cfg.flow_frames
    with pytest.raises(ValueError, match="unknown rgbflow option 'stream'"):
        RGBFlowConfig.from_mapping({"stream": "both"})
    for bad, match in [
        ({"streams": "rgb"}, "streams must be one of both, spatial, temporal"),
        ({"channels": []}, "at least one stage"),
        ({"channels": 16}, "channels"),
        ({"flow_frames": 0}, "flow_frames"),
        ({"late_fusion": "yes"}, "late_fusion"),
        ({"dropout": 1.0}, "dropout"),
        ({"fusion_channels": 0}, "fusion_channels"),
    ]:
        with pytest.raises(ValueError, match=match):
            RGBFlowConfig.from_mapping(bad)


# ---------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("streams, late", SETTINGS)
@pytest.mark.parametrize("size", [32, 48])
def test_output_shapes(streams, late, size):
    model = _model(streams, late)
    rgb, flow = _inputs(size=size)
    assert model(rgb, flow).shape == (4, 3)
    out = model.all_logits(rgb, flow)
    expected = {"fused"} | ({"spatial", "temporal"} if streams == "both" else {streams})
    assert set(out) == expected
    assert all(v.shape == (4, 3) for v in out.values())


@pytest.mark.parametrize("streams, absent", [("spatial", "temporal"), ("temporal", "spatial")])
def test_single_stream_has_no_parameters_of_the_other_and_ignores_its_input(streams, absent):
    model = _model(streams).eval()
    assert getattr(model, absent) is None and model.fuse is None and model.head is None
    names = [name for name, _ in model.named_parameters()]
    assert names and all(name.startswith(f"{streams}.") for name in names)
    rgb, flow = _inputs()
    with torch.no_grad():
        if streams == "spatial":
            full, alone = model(rgb, flow), model(rgb, None)
        else:
            full, alone = model(rgb, flow), model(None, flow)
    torch.testing.assert_close(full, alone)


def test_both_streams_need_both_inputs_of_the_right_shape():
    model = _model("both")
    rgb, flow = _inputs()
    with pytest.raises(ValueError, match="flow input is required"):
        model(rgb, None)
    with pytest.raises(ValueError, match=r"flow must be \(N, 6, S, S\)"):
        model(rgb, flow[:, :4])
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(rgb, flow[:2])
    with pytest.raises(ValueError, match="same size"):
        model(rgb, torch.zeros(4, 2 * L, 48, 48))
    # Late fusion pools each stream on its own, so the sizes may differ.
    assert _model("both", late=True)(rgb, torch.zeros(4, 2 * L, 48, 48)).shape == (4, 3)


# ---------------------------------------------------------------------------------- fusion


def test_late_fusion_is_the_mean_of_the_stream_logits():
    model = _model("both", late=True, dropout=0.3).eval()
    assert model.fuse is None and model.head is None
    rgb, flow = _inputs()
    with torch.no_grad():
        out = model.all_logits(rgb, flow)
        torch.testing.assert_close(out["fused"], 0.5 * (out["spatial"] + out["temporal"]))
        torch.testing.assert_close(model(rgb, flow), out["fused"])
        torch.testing.assert_close(out["spatial"], model.spatial(rgb))
        torch.testing.assert_close(out["temporal"], model.temporal(flow))


def test_feature_fusion_gradients_reach_both_streams():
    model = _model("both")
    rgb, flow = _inputs()
    model(rgb, flow).logsumexp(dim=1).sum().backward()
    for stream in (model.spatial, model.temporal):
        first_conv = stream.body[0].weight
        assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
        # The fused logits do not go through the streams' own heads.
        assert all(p.grad is None for p in stream.head.parameters())
    model.zero_grad(set_to_none=True)
    sum(v.sum() for v in model.all_logits(rgb, flow).values()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_deterministic_with_a_fixed_seed():
    rgb, flow = _inputs()
    a, b = _model(seed=3).eval(), _model(seed=3).eval()
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    with torch.no_grad():
        assert torch.equal(a(rgb, flow), b(rgb, flow))
    assert not torch.equal(a.spatial.body[0].weight, _model(seed=4).spatial.body[0].weight)


# ------------------------------------------------------------------------------ stack_flow


def test_stack_flow_interleaves_x_and_y_per_time_step():
    bound = 8.0
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, size=(6, 5, 5, 2), dtype=np.uint8)
    out = stack_flow(q, start=2, length=3, bound=bound)
    assert out.shape == (6, 5, 5) and out.dtype == np.float32
    for k in range(3):
        for c in range(2):
            np.testing.assert_allclose(out[2 * k + c], dequantise(q[2 + k, ..., c], bound) / bound)
    assert out.min() >= -1.0 and out.max() <= 1.0
    np.testing.assert_allclose(
        stack_flow(quantise(np.full((1, 2, 2, 2), -bound), bound), 0, 1, bound), -1.0
    )


def test_stack_flow_rejects_out_of_range_chunks_and_wrong_dtype():
    q = np.zeros((4, 5, 5, 2), dtype=np.uint8)
    assert stack_flow(q, 1, 3, 20.0).shape == (6, 5, 5)
    with pytest.raises(ValueError, match="flow has 4"):
        stack_flow(q, 2, 3, 20.0)
    with pytest.raises(ValueError, match="start"):
        stack_flow(q, -1, 2, 20.0)
    with pytest.raises(ValueError, match="uint8"):
        stack_flow(q.astype(np.float32), 0, 2, 20.0)


# -------------------------------------------------------------------- what streams can learn

SIZE, BOUND = 32, 5.0
STREAMS = ("spatial", "temporal")


def _clips(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half moving, half static periodic textures with sensor noise: the classes differ only
    in motion, so any single frame of either class has the same distribution."""
    rng = np.random.default_rng(seed)
    rgbs, flows, labels = [], [], []
    for i in range(n):
        moving = i % 2
        tex = gaussian_filter(rng.random((SIZE, SIZE)), 1.5, mode="wrap")
        tex = (tex - tex.min()) / (tex.max() - tex.min()) * 200 + 25
        step = rng.choice([-2, -1, 1, 2], size=2) * moving
        gray = [np.roll(tex, tuple(t * step), axis=(0, 1)) for t in range(L + 1)]
        frames = np.stack(
            [np.clip(g + rng.normal(0, 3, g.shape), 0, 255).astype(np.uint8) for g in gray]
        )
        frames = np.repeat(frames[..., None], 3, axis=-1)
        flows.append(stack_flow(quantise(compute_flow(frames), BOUND), 0, L, BOUND))
        rgbs.append((frames[L // 2].transpose(2, 0, 1) / 255.0 - 0.5) / 0.25)
        labels.append(moving)
    return (
        torch.as_tensor(np.stack(rgbs), dtype=torch.float32),
        torch.as_tensor(np.stack(flows)),
        torch.as_tensor(labels),
    )


@pytest.fixture(scope="module")
def motion_data():
    return _clips(64, seed=0), _clips(64, seed=1)


def _fit_and_score(streams: str, late: bool, data, steps: int = 40) -> tuple[float, float]:
    (rgb, flow, y), (rgb_test, flow_test, y_test) = data
    torch.manual_seed(0)
    cfg = RGBFlowConfig(
        channels=(8, 16), flow_frames=L, streams=streams, late_fusion=late, fusion_channels=16
    )  # default dropout: the heads must learn through it
    model = TwoStreamRGBFlow(cfg, n_classes=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        out = model.all_logits(rgb, flow)
        loss = torch.nn.functional.cross_entropy(out["fused"], y)
        if streams == "both":  # auxiliary per-stream losses, as in training
            loss = loss + sum(torch.nn.functional.cross_entropy(out[k], y) for k in STREAMS)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        train = (model(rgb, flow).argmax(1) == y).float().mean().item()
        test = (model(rgb_test, flow_test).argmax(1) == y_test).float().mean().item()
    return train, test


@pytest.mark.parametrize("streams, late", [("temporal", False), ("both", False), ("both", True)])
def test_motion_streams_separate_moving_from_static(motion_data, streams, late):
    train, test = _fit_and_score(streams, late, motion_data)
    assert train >= 0.9 and test >= 0.9


def test_spatial_stream_cannot_see_motion(motion_data):
    # Held-out: the stream can memorise the training textures, but no frame shows motion.
    _, test = _fit_and_score("spatial", False, motion_data)
    assert 0.3 <= test <= 0.7
