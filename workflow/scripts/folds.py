"""Snakemake adapter: subject-wise cross-validation folds and inner validation splits."""

import pandas as pd

from motorflow import folds
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    samples = pd.DataFrame({
        "subject_id": pd.Series(snakemake.params.subjects),
        "label": pd.Series(snakemake.params.labels),
    })  # fmt: skip
    fold_table, splits = folds.run(
        samples,
        folds.FoldConfig.from_mapping(snakemake.params.cv),
        snakemake.output.folds,
        snakemake.output.splits,
        final_out=snakemake.output.final,
    )
    log.info("%d subjects in %d splits", len(fold_table), splits["split"].nunique())
