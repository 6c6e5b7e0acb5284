"""Snakemake adapter: pose accuracy of the synthetic cohort against its truth."""

from pathlib import Path

from motorflow.logs import rule_logging
from motorflow.validate import pose

with rule_logging(snakemake.log[0]) as log:
    i = snakemake.input
    result = pose.accuracy_from_files(
        i.truth, i.params, i.raw, i.clean, output=Path(snakemake.output.table).with_suffix("")
    )
    log.info("\n%s", pose.format_summary(result))
