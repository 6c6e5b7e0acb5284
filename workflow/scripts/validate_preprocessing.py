"""Snakemake adapter: masking and alignment accuracy against the infant cohort's truth."""

from pathlib import Path

from motorflow import validate
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    i = snakemake.input
    result = validate.preprocess_accuracy(
        i.truth, i.params, i.truth_masks, i.masks, i.align, i.clips,
        output=Path(snakemake.output.table).with_suffix(""),
    )  # fmt: skip
    log.info("\n%s", validate.format_preprocess_summary(result))
