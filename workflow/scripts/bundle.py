"""Snakemake adapter: the bundle of one final model."""

import json
from pathlib import Path

from motorflow import bundle, folds
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    manifest = bundle.build(
        snakemake.wildcards.model,
        Path(snakemake.input.model).parent,
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        json.loads(Path(snakemake.input.summary).read_text()),
        snakemake.params.settings,
        snakemake.output.bundle,
        snakemake.output.zip,
        task=snakemake.params.task,
        ordinal=snakemake.params.ordinal,
    )
    log.info("%s: %d subjects, calibration %s", snakemake.wildcards.model,
             manifest["training"]["n_subjects"], manifest["calibration"]["reason"])  # fmt: skip
