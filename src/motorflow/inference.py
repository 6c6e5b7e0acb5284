"""Inference: one trained model's predictions on its split's test subjects (the evaluation
stage's input).  Test subjects are read here and nowhere in training."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from motorflow import registry
from motorflow.data.chunks import load_frame_videos, rgbflow_clips
from motorflow.data.clips import SKELETON_CLIPS, load_videos
from motorflow.data.table import VideoTable, split_data
from motorflow.poseio import atomic_path
from motorflow.train.baselines import baseline_features, full_probs
from motorflow.train.checkpoint import load_model
from motorflow.train.config import TrainConfig
from motorflow.train.fusion import FeatureScaler, fusion_forward
from motorflow.train.loop import Forward, predict_videos
from motorflow.train.rgbflow import rgbflow_forward
from motorflow.train.skeleton import skeleton_forward


def predict(
    model_name: str,
    table: VideoTable,
    splits: pd.DataFrame,
    split: str,
    model_dir: str | Path,
    out_tsv: str | Path,
    reference_label: str | None = None,
) -> pd.DataFrame:
    """Test-subject predictions of one split: ``video_id, subject_id, label, pred,
    prob_<label>…, split, repeat, fold``; unscorable videos are left out (train.json and
    the returned frame's ``attrs['skipped']`` say why)."""
    model_dir = Path(model_dir)
    data = split_data(table, splits, split)
    test = data.test
    skipped: dict[str, str] = {}
    family = registry.SPECS[model_name].family
    if family == "features":
        blob = pickle.loads((model_dir / "model.pkl").read_bytes())
        if test.empty:  # every test video was left out upstream (e.g. by the cleaning QC)
            feats = pd.DataFrame(columns=["status", "reason"])
        else:
            feats, _, _ = baseline_features(model_name, test, data, reference_label)
        ok = feats["status"] == "ok"
        kind = model_name.removesuffix("_baseline")
        for v in feats.index[~ok]:
            skipped[v] = f"no {kind} features: {feats.at[v, 'reason']}"
        if blob["pipeline"] is None:  # abstained on this split (train_feature_baseline)
            skipped.update({v: blob["abstain"] for v in feats.index[ok]})
            ok = pd.Series(False, index=feats.index)
        test = test[test["video_id"].isin(feats.index[ok])].reset_index(drop=True)
        probs = (
            blob["pipeline"].predict_proba(feats.loc[list(test["video_id"]), blob["columns"]])
            if len(test)
            else np.zeros((0, len(table.labels)))
        )
        if blob["pipeline"] is not None:
            probs = full_probs(probs, blob["pipeline"].classes_, len(table.labels))
    else:
        model, ckpt = load_model(model_dir / "model.pt")
        clip = TrainConfig.from_mapping(ckpt["training"]).clip
        source = SKELETON_CLIPS
        forward: Forward = skeleton_forward
        if family == "rgbflow":
            videos: list = load_frame_videos(test, table.labels)
            source, forward = rgbflow_clips(model.cfg.flow_frames), rgbflow_forward()
        else:
            videos = load_videos(test, table.labels, clip)
        if family == "fusion":
            feats = pd.read_parquet(model_dir / "features.parquet").set_index("video_id")
            scaler = FeatureScaler(
                ckpt["feature_columns"],
                np.asarray(ckpt["scaler_mean"]),
                np.asarray(ckpt["scaler_sd"]),
            )
            z, miss = scaler.transform(feats.loc[list(test["video_id"])])
            forward = fusion_forward(z, miss, torch.device("cpu"))
        probs = (
            predict_videos(model, forward, videos, clip, torch.device("cpu"), source=source)
            if videos
            else np.zeros((0, len(table.labels)))
        )
    r, k = splits.loc[splits["split"] == split, ["repeat", "fold"]].iloc[0]
    out = pd.DataFrame(
        {
            "video_id": test["video_id"],
            "subject_id": test["subject_id"],
            "label": test["label"],
            "pred": [table.labels[i] for i in probs.argmax(axis=1)] if len(probs) else [],
        }
    )
    for j, lab in enumerate(table.labels):
        out[f"prob_{lab}"] = probs[:, j] if len(probs) else []
    out["split"], out["repeat"], out["fold"] = split, int(r), int(k)
    with atomic_path(out_tsv) as tmp:
        out.to_csv(tmp, sep="\t", index=False, float_format="%.6f", lineterminator="\n")
    out.attrs["skipped"] = {**data.skipped, **skipped}
    return out
