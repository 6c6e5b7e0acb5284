"""Snakemake adapter: write the synthetic cohort's sample sheet (for lineage and reuse)."""

from motorflow import tasks
from motorflow.logs import rule_logging
from motorflow.synth import common

with rule_logging(snakemake.log[0]):
    cohort = tasks.get(snakemake.params.task).cohort_module()
    sheet = cohort.make_sheet(cohort.cohort_config(snakemake.params.cohort))
    common.write_sheet(sheet, snakemake.output[0])
