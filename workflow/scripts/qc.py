"""Snakemake adapter: gather the per-video QC records."""

from motorflow import qc
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    qc.summarise(
        snakemake.input.records,
        snakemake.output[0],
        snakemake.input.features,
        snakemake.input.preprocess,
    )
