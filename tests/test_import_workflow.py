"""The pose rule on a sheet of third-party keypoint files: MediaPipe landmarks scaled by the
sheet's width/height, a skeleton pickle's recording named as path#frame_dir."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_workflow import copy_workflow, smk, write_config

from motorflow.export import export_mmaction2
from motorflow.poseio import PoseData, load_pose, save_pose
from motorflow.skeleton import INDEX, N_JOINTS

pytestmark = pytest.mark.slow


def test_pose_rule_imports_mediapipe_and_pickle_rows(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    data = wd / "data"
    data.mkdir()
    n = 45
    lm = np.zeros((n, 33, 3))
    lm[..., 0] = 0.25 + 0.01 * np.arange(33)
    lm[..., 1] = 0.5 + 0.002 * np.arange(n)[:, None]
    times = 1000 + np.arange(n) * 33367.0  # µs; row 10 dropped below
    rows = [f"{t:.0f},1," + ",".join(f"{v:.6f}" for v in frame.ravel())
            for i, (t, frame) in enumerate(zip(times, lm, strict=True)) if i != 10]  # fmt: skip
    (data / "walk.csv").write_text("\n".join(rows) + "\n")
    kp = np.full((40, N_JOINTS, 3), 0.8)
    kp[..., 0], kp[..., 1] = 100.0, 200.0
    pose = PoseData(keypoints=kp, fps=30.0, frame_size=(320, 240), backend="mediapipe")
    save_pose(pose, data / "p.npz")
    samples = pd.DataFrame({"video_id": ["clip"], "subject_id": ["s9"], "label": ["I"]})
    export_mmaction2({"clip": data / "p.npz"}, samples, ["I"], data / "cohort.pkl")
    sheet = pd.DataFrame(
        [("walk", "s1", "data/walk.csv", "I", "720", "1080"),
         ("nosize", "s2", "data/walk.csv", "II", "", ""),
         ("fromkl", "s3", "data/cohort.pkl#clip", "I", "", "")],
        columns=["video_id", "subject_id", "path", "label", "width", "height"],
    )  # fmt: skip
    sheet.to_csv(wd / "config/imports.tsv", sep="\t", index=False)
    cfg = write_config(wd, "imports.yaml", {
        "data": {"source": "sheet", "sheet": "config/imports.tsv", "labels": ["I", "II"]},
        "models": {"run": []}, "pose": {"backend": "precomputed"},
    })  # fmt: skip
    targets = [f"results/pose/{v}.npz" for v in sheet["video_id"]]
    smk(wd, *targets, "--configfile", cfg)  # the row without a frame size fails, alone
    walk = load_pose(wd / "results/pose/walk.npz")
    assert walk.frame_size == (720, 1080) and walk.n_frames == n
    assert not np.isfinite(walk.keypoints[10, :, 0]).any()
    np.testing.assert_allclose(walk.keypoints[20, INDEX["right_toe"], :2],
                               (lm[20, 32, 0] * 720, lm[20, 32, 1] * 1080), rtol=1e-5)  # fmt: skip
    got = load_pose(wd / "results/pose/fromkl.npz")
    assert got.frame_size == (320, 240) and got.n_frames == 40
    np.testing.assert_allclose(got.keypoints[:, :17], kp[:, :17], rtol=1e-6)
    # ... as a failure record naming the file and the reason, the others complete.
    failed = load_pose(wd / "results/pose/nosize.npz")
    assert failed.n_frames == 0 and "walk.csv" in failed.failure
    assert "frame size" in failed.failure
    log = (wd / "logs/pose/nosize.log").read_text()
    assert "walk.csv" in log and "frame size" in log, log
