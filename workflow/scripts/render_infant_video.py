"""Snakemake adapter: render one synthetic infant video with its truth files."""

from motorflow.logs import rule_logging
from motorflow.synth import infant_cohort, infant_render

with rule_logging(snakemake.log[0]) as log:
    truth = infant_render.render_video(
        infant_cohort.cohort_config(snakemake.params.cohort),
        snakemake.wildcards.video_id,
        snakemake.params.subject_id,
        snakemake.output.video,
        snakemake.output.truth,
        snakemake.output.params,
        snakemake.output.masks,
    )
    log.info("rendered %s: %d frames", snakemake.wildcards.video_id, truth["n_frames"])
