"""Snakemake adapter: cleaned skeletons, labels and folds as an mmaction2/pyskl pickle."""

import pandas as pd

from motorflow import export
from motorflow.data.table import table_from_rule
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    table = table_from_rule(snakemake)
    usable, skipped = table.usable()
    data, missing = export.export_mmaction2(
        dict(zip(usable["video_id"], usable["pose"], strict=True)),
        usable[["video_id", "subject_id", "label"]],
        list(snakemake.params.label_order),
        snakemake.output[0],
        folds=pd.read_csv(snakemake.input.folds, sep="\t", dtype={"subject_id": str, "label": str}),
    )
    for video, reason in skipped.items():
        log.warning("%s not exported: %s", video, reason)
    log.info("%d skeletons exported", len(data["annotations"]))
