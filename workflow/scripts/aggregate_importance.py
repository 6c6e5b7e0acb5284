"""Snakemake adapter: Grad-CAM keypoint importance over folds, drawn on a skeleton."""

from motorflow import interpret
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    interpret.aggregate_importance(
        snakemake.input.rankings,
        snakemake.output.table,
        snakemake.output.figure,
        top_k=snakemake.params.top_k,
    )
