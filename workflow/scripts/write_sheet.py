"""Snakemake adapter: write the synthetic cohort's sample sheet (for lineage and reuse)."""

from motorflow.logs import rule_logging
from motorflow.synth import common, gait_cohort, infant_cohort

with rule_logging(snakemake.log[0]):
    cohort = infant_cohort if snakemake.params.task == "infant" else gait_cohort
    sheet = cohort.make_sheet(cohort.cohort_config(snakemake.params.cohort))
    common.write_sheet(sheet, snakemake.output[0])
