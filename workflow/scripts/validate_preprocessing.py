"""Snakemake adapter: masking and alignment accuracy against the infant cohort's truth."""

from pathlib import Path

from motorflow.logs import rule_logging
from motorflow.validate import preprocess

with rule_logging(snakemake.log[0]) as log:
    i = snakemake.input
    result = preprocess.preprocess_accuracy(
        i.truth, i.params, i.truth_masks, i.masks, i.align, i.clips,
        output=Path(snakemake.output.table).with_suffix(""),
    )  # fmt: skip
    log.info("\n%s", preprocess.format_preprocess_summary(result))
