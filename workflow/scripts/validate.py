"""Snakemake adapter: pose accuracy of the synthetic cohort against its truth."""

from pathlib import Path

from motorflow import validate
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    out = Path(snakemake.output.table).with_suffix("")
    result = validate.pose_accuracy(snakemake.params.results, out, video_ids=snakemake.params.video_ids)
    log.info("\n%s", validate.format_summary(result))
