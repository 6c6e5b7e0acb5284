"""Snakemake adapter: whole-body general-movement features by class (figure)."""

from motorflow import plots
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    plots.movement_features_figure(
        snakemake.input.table, snakemake.output[0], snakemake.params.labels
    )
