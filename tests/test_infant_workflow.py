"""Paper B's task end to end: the real Snakefile on a tiny infant config in a temp dir.

Checks what a neonatal follow-up researcher relies on: every stage runs (pose -> clean ->
mask -> align -> flow -> movement features -> folds -> six models -> Paper B's metrics), the
preprocessing is accurate against the rendered truth, ``results/`` holds no unblurred face
pixels and no raw frames, and a preprocessing parameter reruns only what depends on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_workflow import copy_workflow, planned, smk, write_config

from motorflow import align
from motorflow import mask as masklib
from motorflow.poseio import load_pose
from motorflow.skeleton import INDEX
from motorflow.video import VideoWriter, iter_frames, probe

pytestmark = pytest.mark.slow

MODELS = [
    "two_stream_rgbflow",
    "rgbflow_spatial",
    "rgbflow_temporal",
    "stgcn",
    "two_stream_skeleton",
    "movement_baseline",
]
TINY = {
    "synthetic_infant": {"subjects_per_class": 3, "duration_s": 6.0},
    "cv": {"folds": 3},
    "models": {
        "clip": {"frames": 20, "test_clips": 2},
        "optim": {"epochs": 2, "clips_per_video": 2, "patience": 2},
        "stgcn": {"channels": [8, 16], "strides": [1, 2]},
        "two_stream_skeleton": {"stream": {"channels": [8, 16], "strides": [1, 2]},
                                "fusion_channels": 8},  # fmt: skip
        "two_stream_rgbflow": {"channels": [8, 16], "flow_frames": 4, "fusion_channels": 16},
    },
    "evaluation": {"bootstrap": 200},
}
FACE = [INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]


@pytest.fixture(scope="module")
def infant_run(tmp_path_factory) -> tuple[Path, list[str]]:
    wd = copy_workflow(tmp_path_factory.mktemp("infant"))
    args = ["--configfile", "config/infant.yaml", write_config(wd, "infant_tiny.yaml", TINY)]
    smk(wd, *args)
    return wd, args


def test_every_stage_and_model_runs(infant_run):
    wd, _ = infant_run
    res = wd / "results"
    sheet = pd.read_csv(res / "synth/samples.tsv", sep="\t")
    assert sorted(sheet["label"].unique()) == ["fidgety", "poor_repertoire", "writhing"]
    metrics = json.loads((res / "metrics.json").read_text())
    assert sorted(metrics) == sorted(MODELS)
    # Paper B's metrics are reported; the table has Cohen's kappa but no QWK (nominal classes).
    table = (res / "eval/table.md").read_text()
    assert "Cohen's κ" in table and "MCC" in table and "macro precision" in table
    assert "QWK" not in table
    qc = pd.read_csv(res / "qc/summary.tsv", sep="\t")
    assert (qc["preprocess_status"] == "ok").all() and not qc["excluded"].any()
    feats = pd.read_parquet(res / "features/features.parquet")
    assert (feats["status"] == "ok").all() and feats["speed_mean"].notna().all()
    # Flow is quantised around the zero level, and the infants move.
    with np.load(res / f"flow/{sheet['video_id'][0]}.npz") as f:
        assert f["flow"].dtype == np.uint8 and str(f["status"]) == "ok"
        assert np.abs(f["flow"].astype(float) - 127.5).mean() > 0.5


def test_infant_who_leaves_the_view_is_excluded_by_preprocessing_qc(infant_run, tmp_path):
    """Bad input inside a whole run (own recordings, a sample sheet): in one video the infant
    is taken out of view after 60 % of the recording. The workflow requires a person in 80 %
    of the frames: that video is excluded in QC with the segmentation's reason, and every
    other video goes through pose, mask, align, flow and features."""
    wd, _ = infant_run
    run = copy_workflow(tmp_path / "sheet")
    sheet = pd.read_csv(wd / "results/synth/samples.tsv", sep="\t").iloc[:3]
    data = tmp_path / "videos"
    data.mkdir()
    rows = []
    for i, row in enumerate(sheet.itertuples()):
        src = wd / "results/synth/videos" / f"{row.video_id}.mp4"
        dst = data / f"{row.video_id}.mp4"
        if i == 0:
            info = probe(src)
            frames = list(iter_frames(src))
            keep = int(0.6 * len(frames))
            # The empty mat: the scene's median colour with a little sensor noise.
            mat = np.median(frames[0].reshape(-1, 3), axis=0)
            rng = np.random.default_rng(0)
            with VideoWriter(dst, info.width, info.height, info.fps) as out:
                for k, frame in enumerate(frames):
                    if k >= keep:
                        noise = rng.normal(0, 3, frame.shape)
                        frame = np.clip(mat + noise, 0, 255).astype(np.uint8)
                    out.write(frame)
        else:
            dst.write_bytes(src.read_bytes())
        rows.append((row.video_id, row.subject_id, str(dst), row.label))
    pd.DataFrame(rows, columns=["video_id", "subject_id", "path", "label"]).to_csv(
        run / "config/bad.tsv", sep="\t", index=False
    )
    override = write_config(run, "bad.yaml", {
        "data": {"source": "sheet", "sheet": "config/bad.tsv"},
        "preprocess": {"mask": {"min_person_fraction": 0.8}},
        "models": {"run": []},
    })  # fmt: skip
    smk(run, "--configfile", "config/infant.yaml", override)
    qc = pd.read_csv(run / "results/qc/summary.tsv", sep="\t").set_index("video_id")
    bad, good = rows[0][0], [r[0] for r in rows[1:]]
    assert bool(qc.loc[bad, "excluded"]) and qc.loc[bad, "preprocess_status"] == "failed"
    reason = qc.loc[bad, "reason"]
    assert reason.startswith("video preprocessing: mask stage failed:"), reason
    assert f"{bad}.mp4" in reason and "segmentation found a person in" in reason, reason
    assert not qc.loc[good, "excluded"].any()
    assert (qc.loc[good, "preprocess_status"] == "ok").all()
    for vid in good:
        with np.load(run / f"results/flow/{vid}.npz") as f:
            assert str(f["status"]) == "ok" and len(f["flow"]) > 0
    feats = pd.read_parquet(run / "results/features/features.parquet").set_index("video_id")
    assert (feats.loc[good, "status"] == "ok").all()


def test_mlflow_records_each_ablation_with_its_network_settings(infant_run):
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    wd, _ = infant_run
    client = MlflowClient(f"sqlite:///{wd / 'results/mlflow/mlflow.db'}")
    exp = json.loads((wd / "results/mlflow/runs.json").read_text())["experiment_id"]
    found = client.search_runs([exp], max_results=1000)
    parents = {
        r.data.tags["motorflow.model"]: r.data.params
        for r in found
        if "mlflow.parentRunId" not in r.data.tags
    }
    streams = {"two_stream_rgbflow": "both", "rgbflow_spatial": "spatial",
               "rgbflow_temporal": "temporal"}  # fmt: skip
    for model, stream in streams.items():
        assert parents[model]["streams"] == stream, model
        assert parents[model]["flow_frames"] == "4", model  # TINY's two_stream_rgbflow


def test_preprocessing_meets_its_accuracy_goals(infant_run):
    wd, _ = infant_run
    acc = pd.read_csv(wd / "results/validation/preprocess_accuracy.tsv", sep="\t")
    assert acc["mask_iou"].median() >= 0.85
    assert (acc["angle_error_deg"].abs() <= 5).all()
    assert (acc["centre_error_pct"].abs() <= 5).all()
    assert (acc["scale_error_pct"].abs() <= 5).all()
    assert (acc["upright_deg"] <= 5).all()


def _detail(img: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """Variance of the Laplacian inside a disk: high for a sharp face, ~0 once blurred."""
    grey = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.Laplacian(grey, cv2.CV_64F)
    yy, xx = np.mgrid[: grey.shape[0], : grey.shape[1]]
    disk = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2
    return float(lap[disk].var()) if disk.sum() > 4 else 0.0


def _map(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return xy @ matrix[:, :2].T + matrix[:, 2]


def test_results_hold_no_unblurred_face_and_no_raw_frame(infant_run):
    """For every aligned clip frame and preview panel: the true face region (from the
    renderer's truth) has < 10 % of the detail it has without face blurring."""
    wd, _ = infant_run
    res = wd / "results"
    checked = 0
    for info_path in sorted((res / "align").glob("*.json")):
        vid = info_path.stem
        info = json.loads(info_path.read_text())
        cfg = align.AlignConfig.from_mapping(info["config"])
        truth = load_pose(res / f"synth/truth/{vid}.npz").keypoints[..., :2].astype(float)
        axis = json.loads((res / f"synth/truth/{vid}.json").read_text())["transform"]
        face = np.nanmean(truth[:, FACE], axis=1)
        r_face = 0.2 * axis["axis_len_px"]  # well inside the head
        with np.load(res / f"align/{vid}.npz") as z:
            frames, index, matrix = z["frames"], z["frame_index"], z["matrix"]
        masks, _ = masklib.load_masks(res / f"mask/{vid}.npz")
        sharp, sharp_index = align.align_video(
            res / f"synth/videos/{vid}.mp4", masks, load_pose(res / f"clean/{vid}.npz"),
            align.Transform.from_dict(info["transform"]),
            align.AlignConfig.from_mapping({**info["config"], "blur_faces": False}),
        )  # fmt: skip
        np.testing.assert_array_equal(index, sharp_index)
        scale = float(np.linalg.norm(matrix[:, 0]))
        for k, t in enumerate(index):
            c = _map(matrix, face[t])
            ref = _detail(sharp[k], c, r_face * scale)
            assert _detail(frames[k], c, r_face * scale) <= 0.1 * ref + 1e-6, (vid, k)
            checked += 1
        # Preview panels: aligned frames (resized) and the masked source frame.
        preview = cv2.cvtColor(cv2.imread(str(res / f"align/previews/{vid}.png")),
                               cv2.COLOR_BGR2RGB)  # fmt: skip
        lay = info["preview_layout"]
        for (x, y, w, h), k in zip(lay["aligned"], lay["aligned_clip_frames"], strict=True):
            # Back to the clip's size: upsampling alone smooths a sharp face.
            panel = cv2.resize(preview[y : y + h, x : x + w], (cfg.size, cfg.size),
                               interpolation=cv2.INTER_AREA)  # fmt: skip
            c = _map(matrix, face[index[k]])
            ref = _detail(sharp[k], c, r_face * scale)
            assert _detail(panel, c, r_face * scale) <= 0.1 * ref + 1e-6, (vid, "preview")
        x, y, w, h = lay["source"]
        src = next(f for i, f in enumerate(iter_frames(res / f"synth/videos/{vid}.mp4", rgb=True))
                   if i == lay["source_frame"])  # fmt: skip
        s = lay["source_scale"]
        c = face[lay["source_frame"]] * s
        ref = _detail(cv2.resize(src, (w, h)), c, r_face * s)
        assert _detail(preview[y : y + h, x : x + w], c, r_face * s) <= 0.1 * ref + 1e-6
    assert checked > 100
    # No raw frames: no array under results/ (beyond the synthetic renders themselves) has
    # the videos' frame size with colour channels.
    for npz in res.rglob("*.npz"):
        if "synth" in npz.parts:
            continue
        with np.load(npz) as z:
            for key in z.files:
                shape = z[key].shape
                assert not (len(shape) >= 3 and shape[-3:-1] == (480, 640)), (npz, key)


def test_flow_parameter_reruns_only_flow_and_rgbflow_models(infant_run):
    wd, args = infant_run
    assert planned(wd, *args) == {}
    changed = write_config(wd, "bound.yaml", {"preprocess": {"flow": {"bound": 15.0}}})
    jobs = planned(wd, *args, changed)
    assert jobs["compute_flow"] == 9
    assert jobs["train_rgbflow"] == 9  # 3 models x 3 folds
    assert not {"estimate_pose", "segment_person", "align_body", "clean_pose", "train_stgcn",
                "train_two_stream_skeleton", "extract_movement_features"} & set(jobs)  # fmt: skip


def test_lineage_manifest_audits_clean_then_names_a_modified_file(infant_run):
    wd, _ = infant_run
    manifest = json.loads((wd / "results/lineage.json").read_text())
    entry = manifest["files"]["results/metrics.json"]
    assert entry["rule"] == "aggregate_metrics"
    assert any(p.endswith("predictions.tsv") for p in entry["inputs"])
    cli = [sys.executable, "-m", "motorflow.cli", "audit", "--workdir", str(wd)]
    assert subprocess.run(cli, capture_output=True).returncode == 0
    target = wd / "results/eval/two_stream_rgbflow/fold0/metrics.json"
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b"accuracy", b"accuracY"))
        proc = subprocess.run(cli, capture_output=True, text=True)
        assert proc.returncode == 1
        assert "results/eval/two_stream_rgbflow/fold0/metrics.json" in proc.stdout
    finally:
        target.write_bytes(original)


def test_gait_workflow_switches_on_the_video_preprocessing(tmp_path):
    """preprocess.enabled in the gait task: every walking video is masked, aligned and its
    flow computed, and two_stream_rgbflow trains on it next to the skeleton models."""
    wd = copy_workflow(tmp_path / "gait")
    switch = write_config(wd, "switch.yaml", {
        "preprocess": {"enabled": True},
        "models": {"run": ["stgcn", "two_stream_rgbflow"]},
    })  # fmt: skip
    jobs = planned(wd, "--configfile", "config/tiny.yaml", switch)
    assert jobs["segment_person"] == jobs["align_body"] == jobs["compute_flow"] == 12
    # RGB/flow: 3 folds; the ST-GCN also its final model (a bundle; RGB/flow has none).
    assert jobs["train_rgbflow"] == 3 and jobs["train_stgcn"] == 4
    # Without the switch the RGB/flow model is refused before any job starts.
    off = write_config(wd, "off.yaml", {"models": {"run": ["two_stream_rgbflow"]}})
    proc = smk(wd, "-n", "--configfile", "config/tiny.yaml", off, check=False)
    assert proc.returncode != 0 and "preprocess.enabled" in proc.stdout + proc.stderr
