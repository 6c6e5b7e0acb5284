"""Snakemake adapter: gait features of one cleaned pose file."""

from motorflow.features import gait as featlib
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    result = featlib.run(
        snakemake.input.pose,
        snakemake.output.table,
        snakemake.output.curves,
        snakemake.output.qc,
        featlib.FeatureConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
        height_cm=snakemake.params.height_cm,
        age_months=snakemake.params.age_months,
        clean_qc=snakemake.input.qc,
    )
    log.info("status %s %s", result.info["status"], result.info["reason"])
