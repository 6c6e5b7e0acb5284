"""Snakemake adapter: quantised optical flow of one aligned clip."""

from motorflow import flow
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    info = flow.run(
        snakemake.input.clip,
        snakemake.output[0],
        flow.FlowConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
    )
    log.info("status %s %s", info["status"], info["reason"])
