"""Snakemake adapter: one model's predictions and metrics on one split's test subjects."""

from pathlib import Path

from motorflow import evaluate, folds, inference
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    table = table_from_rule(snakemake)
    preds = inference.predict(
        snakemake.wildcards.model,
        table,
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        Path(snakemake.input.model).parent,
        snakemake.output.predictions,
        reference_label=snakemake.params.reference_label,
    )
    for video, reason in preds.attrs["skipped"].items():
        log.warning("%s not scored: %s", video, reason)
    evaluate.write_fold_metrics(
        snakemake.output.predictions, table.labels, snakemake.output.metrics
    )
    log.info("%d test videos scored", len(preds))
