"""Snakemake adapter: Grad-CAM keypoint ranking of one split's ST-GCN (training subjects)."""

from motorflow import folds, interpret
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    ranking = interpret.rank_keypoints(
        table_from_rule(snakemake),
        folds.load_splits(snakemake.input.splits),
        snakemake.wildcards.split,
        snakemake.input.model,
        snakemake.output.ranking,
        snakemake.output.figure,
        top_k=snakemake.params.top_k,
    )
    log.info("top keypoints: %s", ", ".join(ranking["joint"].head(snakemake.params.top_k)))
