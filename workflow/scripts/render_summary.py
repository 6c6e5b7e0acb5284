"""Snakemake adapter: the standalone summary page of the run."""

from pathlib import Path

from motorflow import summary
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    # The declared inputs are the files under this results folder that the page reads.
    results = Path(snakemake.input.summary).parent.parent
    out = summary.render_summary(
        results,
        snakemake.output[0],
        models=snakemake.params.models,
        splits=snakemake.params.splits,
        task=snakemake.params.task,
        labels=snakemake.params.labels,
    )
    log.info("wrote %s", out)
