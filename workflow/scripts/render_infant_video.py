"""Snakemake adapter: render one synthetic infant video with its truth files."""

from motorflow import infantsim
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    truth = infantsim.render_video(
        infantsim.cohort_config(snakemake.params.cohort),
        snakemake.wildcards.video_id,
        snakemake.params.subject_id,
        snakemake.output.video,
        snakemake.output.truth,
        snakemake.output.params,
        snakemake.output.masks,
    )
    log.info("rendered %s: %d frames", snakemake.wildcards.video_id, truth["n_frames"])
