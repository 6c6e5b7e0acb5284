"""Flow stage: Farneback accuracy on known motion, 8-bit storage, the stage's file contract."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from motorflow.flow import (
    FlowConfig,
    compute_flow,
    dequantise,
    quantise,
    run,
    sample_times,
)

S = 64


def _texture(size: int, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Smoothed noise on 0..255, periodic so that whole-pixel rolls have no seams."""
    rng = np.random.default_rng(seed)
    t = gaussian_filter(rng.random((size, size)), sigma, mode="wrap")
    return ((t - t.min()) / (t.max() - t.min()) * 255.0).astype(np.float32)


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _translated(tex: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``tex`` moved by (dx, dy) px: content at (x, y) ends up at (x + dx, y + dy)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = tex.shape
    return cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)


def _write_clip(
    path: Path,
    frames: np.ndarray,
    fps: float = 30.0,
    status: str = "ok",
    reason: str = "",
    first_index: int = 100,
) -> Path:
    np.savez_compressed(
        path,
        frames=frames,
        frame_index=np.arange(first_index, first_index + len(frames)),
        fps=np.float64(fps),
        matrix=np.tile(np.eye(2, 3), (len(frames), 1, 1)),
        status=np.array(status),
        reason=np.array(reason),
    )
    return path


def _moving_clip(n: int, step_px: int = 1, size: int = S) -> np.ndarray:
    """Frame i is the texture rolled right by ``i * step_px``: flow between frames i < j is
    exactly ``(j - i) * step_px`` px in x, so it tells which frames were paired."""
    tex = _texture(size)
    frames = [_rgb(np.roll(tex, i * step_px, axis=1)) for i in range(n)]
    return np.stack(frames) if frames else np.zeros((0, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------- flow accuracy


@pytest.mark.parametrize("dx, dy", [(1.0, 0.0), (0.4, -0.3), (2.5, 1.5), (-3.0, 4.0)])
def test_translation_is_recovered_within_a_tenth_of_a_pixel(dx, dy):
    tex = _texture(96)
    flow = compute_flow(np.stack([_rgb(tex), _rgb(_translated(tex, dx, dy))]))
    assert flow.shape == (1, 96, 96, 2) and flow.dtype == np.float32
    assert abs(np.median(flow[0, ..., 0]) - dx) < 0.1
    assert abs(np.median(flow[0, ..., 1]) - dy) < 0.1


def test_rotation_matches_the_analytic_field_in_the_interior():
    size, angle = 112, 3.0
    tex = _texture(size, seed=1)
    centre = ((size - 1) / 2, (size - 1) / 2)
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    rotated = cv2.warpAffine(
        tex, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    flow = compute_flow(np.stack([_rgb(tex), _rgb(rotated)]))[0]
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    expected_x = m[0, 0] * x + m[0, 1] * y + m[0, 2] - x
    expected_y = m[1, 0] * x + m[1, 1] * y + m[1, 2] - y
    interior = np.hypot(x - centre[0], y - centre[1]) < 40  # up to ~2 px of motion
    err = np.hypot(flow[..., 0] - expected_x, flow[..., 1] - expected_y)[interior]
    assert err.mean() < 0.2
    assert np.percentile(err, 95) < 0.35
    # The field rotates (curl), it does not translate: opposite sides move oppositely.
    assert np.corrcoef(flow[..., 0][interior], expected_x[interior])[0, 1] > 0.95
    assert np.corrcoef(flow[..., 1][interior], expected_y[interior])[0, 1] > 0.95


def test_compute_flow_rejects_wrong_input_and_handles_one_frame():
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        compute_flow(np.zeros((2, 8, 8), dtype=np.uint8))
    assert compute_flow(np.zeros((1, 8, 8, 3), dtype=np.uint8)).shape == (0, 8, 8, 2)


# ---------------------------------------------------------------------------- 8-bit storage


def test_quantise_round_trip_error_is_within_bound_over_255():
    bound = 20.0
    flow = np.random.default_rng(0).uniform(-bound, bound, size=(3, 16, 16, 2)).astype(np.float32)
    flow[0, 0, 0] = (-bound, bound)  # the ends map onto 0 and 255 exactly
    q = quantise(flow, bound)
    assert q.dtype == np.uint8
    assert q[0, 0, 0].tolist() == [0, 255]
    back = dequantise(q, bound)
    assert back.dtype == np.float32
    assert np.abs(back - flow).max() <= bound / 255 + 1e-5


def test_quantise_clips_at_the_bound():
    bound = 5.0
    q = quantise(np.array([-100.0, -5.0, 5.0, 7.5, np.float32(1e9)]), bound)
    assert q.tolist() == [0, 0, 255, 255, 255]
    np.testing.assert_allclose(dequantise(q, bound), [-5, -5, 5, 5, 5])
    with pytest.raises(ValueError, match="bound"):
        quantise(np.zeros(3), 0.0)


# ---------------------------------------------------------------------------------- config


def test_config_defaults_and_validation():
    cfg = FlowConfig.from_mapping({"bound": 15, "fps": None, "levels": 4})
    assert (cfg.bound, cfg.fps, cfg.levels, cfg.winsize, cfg.poly_n) == (15, None, 4, 15, 5)
    assert FlowConfig.from_mapping(None) == FlowConfig()
    with pytest.raises(ValueError, match="unknown flow option.*winsiz"):
        FlowConfig.from_mapping({"winsiz": 9})
    for bad, match in [
        ({"bound": 0}, "bound"),
        ({"bound": float("inf")}, "bound"),
        ({"fps": -1}, "fps"),
        ({"pyr_scale": 1.0}, "pyr_scale"),
        ({"levels": 0}, "levels"),
        ({"winsize": 2.5}, "winsize"),
        ({"iterations": True}, "iterations"),
        ({"poly_n": 6}, "poly_n"),
        ({"poly_sigma": 0}, "poly_sigma"),
    ]:
        with pytest.raises(ValueError, match=match):
            FlowConfig.from_mapping(bad)


# ------------------------------------------------------------------------------- the stage


def test_run_writes_the_documented_fields(tmp_path):
    frames = _moving_clip(12, step_px=2)
    clip = _write_clip(tmp_path / "v01.clip.npz", frames, fps=25.0)
    out = tmp_path / "flow" / "v01.flow.npz"
    info = run(clip, out, FlowConfig(bound=10.0))
    assert info["video_id"] == "v01"
    assert info["status"] == "ok" and info["reason"] == ""
    assert info["n_pairs"] == 11 and info["fps"] == 25.0 and info["bound"] == 10.0
    assert info["mean_magnitude"] == pytest.approx(2.0, abs=0.1)
    assert info["clipped_fraction"] == 0.0
    with np.load(out) as z:
        assert set(z.files) == {
            "flow", "frame_index", "clip_index", "fps", "bound", "status", "reason"
        }  # fmt: skip
        assert z["flow"].shape == (11, S, S, 2) and z["flow"].dtype == np.uint8
        assert z["frame_index"].tolist() == list(range(100, 111))
        assert float(z["fps"]) == 25.0 and float(z["bound"]) == 10.0
        assert str(z["status"]) == "ok" and str(z["reason"]) == ""
        flow = dequantise(z["flow"], float(z["bound"]))
    assert np.median(flow[..., 0]) == pytest.approx(2.0, abs=0.1)
    assert np.median(flow[..., 1]) == pytest.approx(0.0, abs=0.1)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left behind


def test_failed_clip_gives_a_failed_flow_file_with_its_reason(tmp_path):
    frames = np.zeros((0, S, S, 3), dtype=np.uint8)
    clip = _write_clip(tmp_path / "bad.npz", frames, status="failed", reason="no infant found")
    out = tmp_path / "bad.flow.npz"
    info = run(clip, out, FlowConfig(), video_id="bad")
    assert info["status"] == "failed" and info["reason"] == "no infant found"
    assert info["n_pairs"] == 0 and info["mean_magnitude"] is None
    with np.load(out) as z:
        assert str(z["status"]) == "failed" and str(z["reason"]) == "no infant found"
        assert z["flow"].shape == (0, S, S, 2) and z["flow"].dtype == np.uint8
        assert z["frame_index"].shape == (0,)
    # However the failed clip stores its empty frames.
    np.savez(
        clip,
        frames=np.zeros(0, np.uint8),
        frame_index=np.zeros(0, int),
        fps=0.0,
        status="failed",
        reason="lost",
    )
    assert run(clip, out, FlowConfig())["reason"] == "lost"
    with np.load(out) as z:
        assert z["flow"].shape == (0, 0, 0, 2)


@pytest.mark.parametrize("n_frames, fps", [(1, None), (0, None), (4, 5.0)])
def test_short_clip_fails_as_too_short(tmp_path, n_frames, fps):
    # 4 frames at 30 fps last 0.1 s: at 5 fps only the first frame is taken.
    clip = _write_clip(tmp_path / "short.npz", _moving_clip(n_frames))
    out = tmp_path / "short.flow.npz"
    info = run(clip, out, FlowConfig(fps=fps))
    assert info["status"] == "failed" and info["reason"].startswith("too short")
    with np.load(out) as z:
        assert str(z["status"]) == "failed" and z["flow"].shape[0] == 0
        assert str(z["reason"]) == info["reason"]


def test_fps_subsampling_pairs_the_right_frames(tmp_path):
    # 30 fps clip, flow at 10 fps: frames 0, 3, 6, ... -> 3 px per pair.
    clip = _write_clip(tmp_path / "c.npz", _moving_clip(13, step_px=1), fps=30.0)
    out = tmp_path / "c.flow.npz"
    info = run(clip, out, FlowConfig(fps=10.0))
    assert info["n_pairs"] == 4 and info["fps"] == 10.0
    with np.load(out) as z:
        assert z["frame_index"].tolist() == [100, 103, 106, 109]
        assert z["clip_index"].tolist() == [0, 3, 6, 9]
        assert float(z["fps"]) == 10.0
        flow = dequantise(z["flow"], float(z["bound"]))
    np.testing.assert_allclose(np.median(flow[..., 0], axis=(1, 2)), 3.0, atol=0.1)


def test_sample_times_picks_nearest_frames():
    np.testing.assert_array_equal(sample_times(5, 30.0, None), np.arange(5))
    np.testing.assert_array_equal(sample_times(5, 30.0, 30.0), np.arange(5))
    # 25 -> 10 fps: times 0, .1, .2, .3, .4 s are frames 0, 2.5, 5, 7.5, 10 (ties go forward).
    np.testing.assert_array_equal(sample_times(11, 25.0, 10.0), [0, 3, 5, 8, 10])
    # 30 -> 12.5 fps: frames 0, 2.4, 4.8 -> 0, 2, 5; 7.2 lies past the last frame (7).
    np.testing.assert_array_equal(sample_times(8, 30.0, 12.5), [0, 2, 5])
    np.testing.assert_array_equal(sample_times(9, 30.0, 12.5), [0, 2, 5, 7])
    idx = sample_times(1000, 29.97, 7.3)
    assert (np.diff(idx) > 0).all() and idx[-1] <= 999
    assert sample_times(0, 30.0, 10.0).shape == (0,)
    with pytest.raises(ValueError, match="exceeds"):
        sample_times(10, 25.0, 30.0)


def test_run_rejects_flow_fps_above_the_clip_rate_and_malformed_files(tmp_path):
    clip = _write_clip(tmp_path / "c.npz", _moving_clip(5), fps=15.0)
    with pytest.raises(ValueError, match=r"c\.npz.*exceeds"):
        run(clip, tmp_path / "o.npz", FlowConfig(fps=30.0))
    np.savez(tmp_path / "x.npz", frames=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="missing"):
        run(tmp_path / "x.npz", tmp_path / "o.npz", FlowConfig())
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="garbage"):
        run(tmp_path / "garbage.npz", tmp_path / "o.npz", FlowConfig())
    assert not (tmp_path / "o.npz").exists()
