"""Snakemake adapter: render one synthetic video with its truth files."""

from motorflow import synth
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    cfg = synth.cohort_config(snakemake.params.cohort)
    truth = synth.render_video(
        cfg,
        snakemake.wildcards.video_id,
        snakemake.params.subject_id,
        snakemake.params.view,
        snakemake.output.video,
        snakemake.output.truth,
        snakemake.output.params,
    )
    log.info("rendered %s: %d frames", snakemake.wildcards.video_id, truth["n_frames"])
