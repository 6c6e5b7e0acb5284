"""Snakemake adapter: one video's gait-curve figure over the reference band."""

from motorflow import plots
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    plots.gait_curves_figure(
        snakemake.input.curves,
        snakemake.input.table,
        snakemake.input.reference,
        snakemake.output[0],
        video_id=snakemake.wildcards.video_id,
        reference_label=snakemake.params.reference_label,
        qc_path=snakemake.input.qc,
    )
