"""Snakemake adapter: clean one pose file and write its QC record."""

from motorflow import clean
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    clean.run(
        snakemake.input.pose,
        snakemake.output.pose,
        snakemake.output.qc,
        clean.CleanConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
    )
