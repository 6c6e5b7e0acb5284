"""Snakemake adapter: the cohort's general-movement feature table."""

from motorflow.features import movement
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    table = movement.aggregate(
        snakemake.input.tables,
        snakemake.output.table,
        subjects=snakemake.params.subjects,
        labels=snakemake.params.labels,
    )
    log.info("%d videos, %d with features", len(table), int((table["status"] == "ok").sum()))
