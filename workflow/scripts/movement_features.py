"""Snakemake adapter: general-movement features of one cleaned infant pose file."""

from motorflow.features import movement
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    _, qc = movement.run(
        snakemake.input.pose,
        snakemake.output.table,
        snakemake.output.qc,
        movement.MovementConfig.from_mapping(snakemake.params.options),
        video_id=snakemake.wildcards.video_id,
        clean_qc=snakemake.input.qc,
    )
    log.info("status %s %s", qc["status"], qc["reason"])
