"""Grad-CAM joint importance: finds the one joint that carries the class, leaves the model be."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from motorflow.gradcam import (
    TEMPLATE_XY,
    joint_importance,
    plot_skeleton_importance,
    rank_joints,
)
from motorflow.models.graph import SkeletonGraph
from motorflow.models.stgcn import STGCN, STGCNConfig
from motorflow.skeleton import INDEX, JOINT_NAMES

V = len(JOINT_NAMES)
FPS, T = 8.0, 32
LEFT_FOOT = {"left_ankle", "left_heel", "left_toe", "left_knee"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _walkers(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standing template plus 0.05 noise on every joint; only the left ankle's height
    oscillates, at 1 Hz (class 0) or 2 Hz (class 1), with a random phase."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = np.array([TEMPLATE_XY[name] for name in JOINT_NAMES])
    x = np.zeros((n, 1, T, V, 3), np.float32)
    x[..., :2] = base + rng.normal(0, 0.05, (n, 1, T, V, 2))
    t = np.arange(T) / FPS
    freq = np.where(y == 0, 1.0, 2.0)
    phase = rng.uniform(0, 2 * np.pi, n)
    x[:, 0, :, INDEX["left_ankle"], 1] += 0.1 * np.sin(
        2 * np.pi * freq[:, None] * t + phase[:, None]
    )
    x[..., 2] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.fixture(scope="module")
def trained() -> tuple[STGCN, torch.Tensor, torch.Tensor]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    (xtr, ytr), (xte, yte) = _walkers(128, 100), _walkers(64, 200)
    cfg = STGCNConfig(channels=(16, 16, 32), strides=(1, 2, 1), dropout=0.0)
    model = STGCN(cfg, 2, SkeletonGraph.default().adjacency)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    epochs, batch = 10, 16
    # One-cycle: the small final learning rate lets BatchNorm's running statistics settle.
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=1e-2, total_steps=epochs * len(xtr) // batch
    )
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr)).split(batch):
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    torch.set_num_threads(before)
    return model, xte, yte


def test_stgcn_learns_the_ankle_frequency(trained):
    model, x, y = trained
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.9


def test_gradcam_points_at_the_oscillating_foot(trained):
    model, x, y = trained
    imp = joint_importance(model, x, y)
    assert imp.shape == (len(x), V)
    assert (imp >= 0).all()
    np.testing.assert_allclose(imp.sum(axis=1), 1.0)
    top3 = [name for name, _ in rank_joints(imp)[:3]]
    assert set(top3) <= LEFT_FOOT, top3
    # The right foot, the mirror image, carries no signal.
    ranked = dict(rank_joints(imp))
    assert ranked["left_ankle"] > 3 * ranked["right_ankle"]


def test_gradcam_matches_a_hook_based_reference(trained):
    """Independent Grad-CAM: hook the last block, backprop the full forward."""
    model, x, _ = trained
    x = x[:6]
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, out: torch.Tensor) -> None:
        out.retain_grad()
        saved["maps"] = out

    handle = model.blocks[-1].register_forward_hook(keep)
    try:
        logits = model(x)
        target = torch.tensor([1, 0, 1, 1, 0, 0])
        logits.gather(1, target[:, None]).sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    maps = saved["maps"]
    weights = maps.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(1)).mean(1).detach().double().numpy()
    expected = cam / cam.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(joint_importance(model, x, target), expected, rtol=1e-4)
    # Default target is the predicted class; an int applies to every sample.
    pred = logits.argmax(1)
    np.testing.assert_allclose(joint_importance(model, x), joint_importance(model, x, pred))
    np.testing.assert_allclose(
        joint_importance(model, x, 1), joint_importance(model, x, torch.ones(6, dtype=int))
    )


def test_gradcam_leaves_the_model_untouched():
    torch.manual_seed(0)
    model = STGCN(
        STGCNConfig(channels=(8,), strides=(1,), temporal_kernel=3),
        3,
        SkeletonGraph.default().adjacency,
    )
    model.train()
    x = torch.randn(2, 1, 12, V, 3)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    imp = joint_importance(model, x)
    assert model.training
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)  # incl. BN running stats
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert imp.shape == (2, V)


def test_gradcam_without_positive_evidence_is_uniform():
    torch.manual_seed(0)
    model = STGCN(
        STGCNConfig(channels=(8,), strides=(1,), temporal_kernel=3),
        2,
        SkeletonGraph.default().adjacency,
    )
    with torch.no_grad():
        model.head.weight.zero_()  # no gradient reaches the feature map
    imp = joint_importance(model, torch.randn(3, 1, 12, V, 3))
    np.testing.assert_allclose(imp, 1.0 / V)


def test_rank_joints():
    imp = np.zeros((2, V))
    imp[0, INDEX["left_knee"]] = 0.6
    imp[1, INDEX["left_knee"]] = 0.2
    imp[:, INDEX["nose"]] = 0.3
    imp[:, INDEX["right_toe"]] = 0.3
    ranked = rank_joints(imp, JOINT_NAMES)
    assert [name for name, _ in ranked[:3]] == ["left_knee", "nose", "right_toe"]
    assert ranked[0][1] == pytest.approx(0.4)
    # Ties keep the skeleton's order.
    assert [name for name, _ in ranked[3:5]] == ["left_eye", "right_eye"]
    assert rank_joints(imp[0])[0] == ("left_knee", pytest.approx(0.6))
    with pytest.raises(ValueError, match="V=21"):
        rank_joints(np.ones(20))


def test_plot_skeleton_importance(tmp_path):
    a = np.full(V, 1.0 / V)
    b = np.zeros(V)
    b[INDEX["left_ankle"]] = 1.0
    pa = plot_skeleton_importance(a, tmp_path / "a.png", title="importance")
    pb = plot_skeleton_importance(b, tmp_path / "sub" / "b.png", title="importance")
    assert pa == tmp_path / "a.png" and pb.stat().st_size > 1000
    ia, ib = imread(pa), imread(pb)
    assert ia.ndim == 3 and ia.std() > 0
    # Same title and layout: only the joints' sizes and colours can differ.
    assert ia.shape != ib.shape or np.abs(ia - ib).max() > 0
    labelled = plot_skeleton_importance(b, tmp_path / "c.png", title="importance", top_k=3)
    assert labelled.stat().st_size > 1000
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["a.png", "b.png", "c.png", "sub"]  # no temporary files left
    with pytest.raises(ValueError, match="21 joints"):
        plot_skeleton_importance(np.ones(20), tmp_path / "d.png")
