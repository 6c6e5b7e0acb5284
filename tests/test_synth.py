"""Synthetic walking cohort rendering (no MediaPipe): styles, looks, determinism, framing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from motorflow.poseio import load_pose
from motorflow.skeleton import INDEX
from motorflow.synth import gait_cohort, gait_render
from motorflow.video import probe

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(width=320, height=192, strides=1.5)  # quick renders


def _styles(cfg: gait_cohort.CohortConfig) -> list[dict]:
    return [gait_render.video_style(cfg, v) for v in gait_cohort.make_sheet(cfg)["video_id"]]


def test_style_mix_follows_the_config():
    cfg = gait_cohort.CohortConfig(
        subjects_per_level=100, styles={"realistic": 0.7, "classic": 0.3}
    )
    picks = _styles(cfg)  # 800 videos
    share = np.mean([p["style"] == "classic" for p in picks])
    assert share == pytest.approx(0.3, abs=0.05)
    portrait = [p["portrait"] for p in picks if p["style"] == "realistic"]
    assert np.mean(portrait) == pytest.approx(cfg.p_portrait, abs=0.05)
    # Classic videos are never portrait; classic only when configured, realistic likewise.
    assert not any(p["portrait"] for p in picks if p["style"] == "classic")
    only = gait_cohort.CohortConfig(subjects_per_level=20, styles={"realistic": 1.0, "classic": 0})
    assert {p["style"] for p in _styles(only)} == {"realistic"}
    classic = gait_cohort.CohortConfig(
        subjects_per_level=20, styles={"classic": 1.0}, p_portrait=1.0
    )
    assert {(p["style"], p["portrait"]) for p in _styles(classic)} == {("classic", False)}


def test_style_choice_is_per_video_and_order_free():
    a = gait_cohort.CohortConfig(subjects_per_level=3, styles={"classic": 0.4, "realistic": 0.6})
    b = gait_cohort.CohortConfig(subjects_per_level=8, styles={"realistic": 0.6, "classic": 0.4})
    assert a.styles == b.styles == (("realistic", 0.6), ("classic", 0.4))
    ids = list(gait_cohort.make_sheet(a)["video_id"])
    # More subjects (or another listing order) leave every existing video's style alone.
    style = gait_render.video_style
    assert [style(a, v) for v in ids] == [style(b, v) for v in ids]
    other = gait_cohort.CohortConfig(seed=a.seed + 1, subjects_per_level=3, styles=a.styles)
    assert [style(other, v) for v in ids] != [style(a, v) for v in ids]


def test_style_options_are_checked():
    with pytest.raises(ValueError, match="unknown synthetic style"):
        gait_cohort.cohort_config({"styles": {"cartoon": 1.0}})
    with pytest.raises(ValueError, match="not all 0"):
        gait_cohort.cohort_config({"styles": {"classic": 0, "realistic": 0}})
    with pytest.raises(ValueError, match="p_portrait"):
        gait_cohort.cohort_config({"p_portrait": 1.5})


def test_config_files_declare_the_style_mix():
    full = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg = gait_cohort.cohort_config(full["synthetic"])
    assert cfg.styles == gait_cohort.CohortConfig().styles
    assert dict(cfg.styles)["classic"] < dict(cfg.styles)["realistic"]  # not the default look
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["synthetic"]["properties"]
    assert set(props["styles"]["properties"]) == set(gait_cohort.STYLES)
    assert "p_portrait" in props
    tiny = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())["synthetic"]
    gait_cohort.cohort_config({**full["synthetic"], **tiny})


def _find(cfg: gait_cohort.CohortConfig, want) -> tuple[str, str, str]:
    for row in gait_cohort.make_sheet(cfg).itertuples():
        if want(gait_render.video_style(cfg, row.video_id)):
            return row.video_id, row.subject_id, row.view
    raise AssertionError("no such video in the sheet")


def _frame_hashes(cfg: gait_cohort.CohortConfig, vid: str, subject: str, view: str) -> list[str]:
    scene = gait_render.render_scene(cfg, vid, subject, view)
    return [hashlib.sha256(f.tobytes()).hexdigest() for f in scene["frames"]()]


@pytest.mark.parametrize("style", gait_cohort.STYLES)
def test_render_is_a_pure_function_of_the_config(style):
    cfg = gait_cohort.CohortConfig(seed=5, p_second_person=1.0, styles={style: 1.0}, **SMALL)
    vid, subject, view = _find(cfg, lambda p: True)
    first = _frame_hashes(cfg, vid, subject, view)
    assert first == _frame_hashes(cfg, vid, subject, view)
    assert len(set(first)) > len(first) // 2  # frames differ: somebody walks
    other = gait_cohort.CohortConfig(seed=6, p_second_person=1.0, styles={style: 1.0}, **SMALL)
    assert _frame_hashes(other, vid, subject, view) != first


def _shank_samples(scene: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median BGR at the middle of the near and far shank, per frame where the two shanks
    are well apart, plus whether the left leg is the near one."""
    kp = scene["keypoints"][..., :2]
    depth_left_near = []
    near, far = [], []
    stature = scene["truth"]["body_height_px"]
    for t, frame in enumerate(scene["frames"]()):
        mids = {
            s: 0.5 * (kp[t, INDEX[f"{s}_knee"]] + kp[t, INDEX[f"{s}_ankle"]])
            for s in ("left", "right")
        }
        if np.linalg.norm(mids["left"] - mids["right"]) < 0.08 * stature:
            continue
        px = {}
        for s, (x, y) in mids.items():
            x, y = int(round(x)), int(round(y))
            px[s] = np.median(frame[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3), 0)
        left_near = scene["truth"]["direction"] == "left"  # walking left: left side faces us
        depth_left_near.append(left_near)
        near.append(px["left" if left_near else "right"])
        far.append(px["right" if left_near else "left"])
    return np.array(near, float), np.array(far, float), np.array(depth_left_near)


def test_realistic_legs_share_their_colour_and_classic_ones_do_not():
    cfg = gait_cohort.CohortConfig(seed=11, p_second_person=0.0, styles={"realistic": 1.0},
                             p_portrait=0.0, strides=2.0)  # fmt: skip
    found = None
    for row in gait_cohort.make_sheet(cfg).itertuples():
        if row.view != "side":
            continue
        scene = gait_render.render_scene(cfg, row.video_id, row.subject_id, row.view)
        look = scene["truth"]["render"]["look"]
        if look["lower"] in ("trousers", "leggings", "baggy") and len(set(look["afo"])) == 1:
            found = scene
            break
    assert found is not None
    near, far, _ = _shank_samples(found)
    assert len(near) >= 10
    n, f = np.median(near, 0), np.median(far, 0)
    # Same garment: the far shank is the near one's colour, only a little darker.
    chroma = lambda c: c / max(c.sum(), 1.0)  # noqa: E731
    assert np.abs(chroma(n) - chroma(f)).max() < 0.04, (n, f)
    assert 0.75 < f.sum() / n.sum() < 1.08, (n, f)
    # The classic look draws the far leg at 0.72 brightness (a giveaway for left/right).
    classic = replace(cfg, styles={"classic": 1.0})
    row = next(r for r in gait_cohort.make_sheet(classic).itertuples() if r.view == "side")
    near, far, _ = _shank_samples(gait_render.render_scene(classic, row.video_id, row.subject_id,
                                                     row.view))  # fmt: skip
    ratio = np.median(far, 0).sum() / np.median(near, 0).sum()
    assert 0.6 < ratio < 0.8


def test_truth_records_style_and_degradations(tmp_path):
    cfg = gait_cohort.CohortConfig(seed=2, styles={"realistic": 1.0}, **SMALL)
    vid, subject, view = _find(cfg, lambda p: not p["portrait"])
    paths = [tmp_path / f"{vid}.{k}" for k in ("mp4", "npz", "json")]
    truth = gait_render.render_video(cfg, vid, subject, view, *paths)
    saved = json.loads(paths[2].read_text())
    assert saved["render"] == json.loads(json.dumps(truth["render"]))
    r = saved["render"]
    assert r["style"] == "realistic" and r["frame_size"] == [cfg.width, cfg.height]
    deg = r["degradation"]
    assert deg["setting"] in ("lab", "corridor", "home")
    assert 0 < deg["exposure"] <= 1.05 and 0 < deg["resolution"] <= 1
    assert 0 <= deg["blur"] <= 1 and 0 < deg["jpeg_quality"] <= 100
    assert r["look"]["lower"] in ("trousers", "leggings", "baggy", "shorts", "skirt")


def test_portrait_videos_have_the_portrait_frame_size(tmp_path):
    cfg = gait_cohort.CohortConfig(seed=4, styles={"realistic": 1.0}, p_portrait=1.0, width=848,
                             height=480, strides=1.5)  # fmt: skip
    vid, subject, view = _find(cfg, lambda p: p["portrait"])
    paths = [tmp_path / f"{vid}.{k}" for k in ("mp4", "npz", "json")]
    truth = gait_render.render_video(cfg, vid, subject, view, *paths)
    assert truth["render"]["frame_size"] == [480, 848]
    info = probe(paths[0])  # what the pose stage records as the pose file's frame_size
    assert (info.width, info.height) == (480, 848)
    pose = load_pose(paths[1])
    assert pose.frame_size == (480, 848)
    uv = pose.keypoints[..., :2]
    assert (uv[..., 0] > 0).all() and (uv[..., 0] < 480).all()  # the walker stays in frame
    assert (uv[..., 1] > 0).all() and (uv[..., 1] < 848).all()
    # A phone held upright follows the walker: he is not a speck in the tall frame.
    assert truth["body_height_px"] > 0.25 * 848
    assert truth["render"]["degradation"]["pan"]
