"""Snakemake adapter: body-position normalisation of one video (clip, keypoints, preview)."""

from motorflow import align
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    o = snakemake.output
    info = align.run(
        snakemake.params.source,
        snakemake.input.masks,
        snakemake.input.pose,
        o.clip,
        o.pose,
        o.info,
        o.preview,
        align.AlignConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
    )
    log.info("status %s %s", info["status"], info["reason"])
