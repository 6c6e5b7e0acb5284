"""Snakemake adapter: train a skeleton model (stgcn or two_stream_skeleton) on one split."""

from pathlib import Path

from motorflow import folds, registry
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging
from motorflow.train import refit, skeleton
from motorflow.train.config import TrainConfig

with rule_logging(snakemake.log[0]) as log:
    model = snakemake.rule.removeprefix("train_")
    net = registry.net_config(model, snakemake.params.net)
    info = skeleton.train_skeleton_model(
        model,
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.output.model).parent,
        refit.epochs(TrainConfig.from_mapping(snakemake.params.training), snakemake.input.cv),
        net,
    )
    log.info("best epoch %s of %s (%.1f s)", info["best_epoch"], info["epochs_run"],
             info["seconds"])  # fmt: skip
