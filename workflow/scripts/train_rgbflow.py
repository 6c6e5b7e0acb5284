"""Snakemake adapter: train two_stream_rgbflow (or a single-stream ablation) on one split."""

from pathlib import Path

from motorflow import folds
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging
from motorflow.train import refit, rgbflow
from motorflow.train.config import TrainConfig

with rule_logging(snakemake.log[0]) as log:
    info = rgbflow.train_rgbflow_model(
        snakemake.wildcards.model,
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.output.model).parent,
        refit.epochs(TrainConfig.from_mapping(snakemake.params.training), snakemake.input.cv),
        rgbflow.RGBFlowTraining.from_mapping(snakemake.params.net),
    )
    log.info("best epoch %s of %s (%.1f s)", info["best_epoch"], info["epochs_run"],
             info["seconds"])  # fmt: skip
