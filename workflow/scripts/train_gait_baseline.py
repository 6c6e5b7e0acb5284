"""Snakemake adapter: the gait-feature baseline (logistic regression) on one split."""

from pathlib import Path

from motorflow import folds, train
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    info = train.train_gait_baseline(
        train.table_from_params(
            snakemake.params.subjects, snakemake.params.labels, snakemake.config["data"]["labels"]
        ),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.output.model).parent,
        train.BaselineTraining.from_mapping(snakemake.params.net),
        snakemake.params.reference_label,
        seed=snakemake.params.seed,
    )
    log.info("C=%s on %d features; %d videos left out", info["best_C"], len(info["features"]),
             len(info["skipped_videos"]))  # fmt: skip
