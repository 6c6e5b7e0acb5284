"""Snakemake adapter: gait_baseline feature importance over folds (table and figure)."""

from motorflow import plots
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    plots.feature_importance_figure(
        snakemake.input.tables, snakemake.output.table, snakemake.output.figure
    )
