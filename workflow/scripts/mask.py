"""Snakemake adapter: person segmentation masks of one video."""

from motorflow import mask
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    qc = mask.run(
        snakemake.params.source,
        snakemake.output.masks,
        snakemake.output.qc,
        mask.MaskConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
        record_failure=snakemake.params.record_failure,
    )
    log.info("status %s %s", qc["status"], qc["reason"])
