"""Snakemake adapter: the standalone summary page of the run."""

from motorflow import report
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    # The page reads the results tree through motorflow.layout; the rule declares those
    # files as its inputs (tests/test_report.py checks the two agree).
    out = report.render_summary(
        snakemake.params.results,
        snakemake.output[0],
        models=snakemake.params.models,
        splits=snakemake.params.splits,
        task=snakemake.params.task,
        labels=snakemake.params.labels,
    )
    log.info("wrote %s", out)
