"""Snakemake adapter: pose accuracy of the synthetic cohort against its truth."""

from pathlib import Path

from motorflow import validate
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    i = snakemake.input
    result = validate.accuracy_from_files(
        i.truth, i.params, i.raw, i.clean, output=Path(snakemake.output.table).with_suffix("")
    )
    log.info("\n%s", validate.format_summary(result))
