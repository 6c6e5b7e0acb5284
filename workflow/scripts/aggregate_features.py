"""Snakemake adapter: the cohort's feature table with deviation scores."""

from motorflow.features import gait as featlib
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    table = featlib.aggregate(
        snakemake.input.tables,
        snakemake.input.curves,
        snakemake.output.table,
        subjects=snakemake.params.subjects,
        labels=snakemake.params.labels,
        reference_label=snakemake.params.reference_label,
        reference_file=snakemake.input.reference or None,
        out_reference=snakemake.output.reference,
    )
    log.info(
        "%d videos, %d with features; deviation reference: %s",
        len(table),
        int((table["status"] == "ok").sum()),
        table.attrs["deviation_reference"],
    )
