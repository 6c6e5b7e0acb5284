"""Snakemake adapter: a feature baseline (gait_baseline, movement_baseline) on one split."""

from pathlib import Path

from motorflow import folds
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging
from motorflow.train import baselines, refit

with rule_logging(snakemake.log[0]) as log:
    info = baselines.train_feature_baseline(
        snakemake.rule.removeprefix("train_"),
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.output.model).parent,
        refit.regularisation(
            baselines.BaselineTraining.from_mapping(snakemake.params.net), snakemake.input.cv
        ),
        snakemake.params.reference_label,
        seed=snakemake.params.seed,
    )
    log.info("C=%s on %d features; %d videos left out", info["best_C"], len(info["features"]),
             len(info["skipped_videos"]))  # fmt: skip
