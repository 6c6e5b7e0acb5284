"""Snakemake adapter: write the synthetic cohort's sample sheet (for lineage and reuse)."""

from motorflow import synth
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    synth.write_sheet(
        synth.make_sheet(synth.cohort_config(snakemake.params.cohort)), snakemake.output[0]
    )
