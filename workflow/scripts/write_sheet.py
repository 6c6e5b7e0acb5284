"""Snakemake adapter: write the synthetic cohort's sample sheet (for lineage and reuse)."""

from motorflow import infantsim, synth
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    lib = infantsim if snakemake.params.task == "infant" else synth
    sheet = lib.make_sheet(lib.cohort_config(snakemake.params.cohort))
    synth.write_sheet(sheet, snakemake.output[0])
