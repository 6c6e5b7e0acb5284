"""Snakemake adapter: Paper A's Grad-CAM-guided cross-attention fusion on one split."""

from pathlib import Path

from motorflow import folds
from motorflow.data.table import table_from_rule
from motorflow.features import gait as featlib
from motorflow.logs import rule_logging
from motorflow.train import fusion, refit
from motorflow.train.config import TrainConfig

with rule_logging(snakemake.log[0]) as log:
    info = fusion.train_fusion(
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.output.model).parent,
        refit.epochs(TrainConfig.from_mapping(snakemake.params.training), snakemake.input.cv),
        fusion.FusionTraining.from_mapping(snakemake.params.net),
        snakemake.input.ranking,
        snakemake.input.stgcn,
        featlib.FeatureConfig.from_mapping(snakemake.params.gait),
        snakemake.params.reference_label,
    )
    log.info("keypoints %s -> %d features; best epoch %s", info["keypoints"],
             len(info["features"]), info["best_epoch"])  # fmt: skip
