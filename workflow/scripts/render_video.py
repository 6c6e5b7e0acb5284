"""Snakemake adapter: render one synthetic video with its truth files."""

from motorflow.logs import rule_logging
from motorflow.synth import gait_cohort, gait_render

with rule_logging(snakemake.log[0]) as log:
    cfg = gait_cohort.cohort_config(snakemake.params.cohort)
    truth = gait_render.render_video(
        cfg,
        snakemake.wildcards.video_id,
        snakemake.params.subject_id,
        snakemake.params.view,
        snakemake.output.video,
        snakemake.output.truth,
        snakemake.output.params,
    )
    log.info("rendered %s: %d frames", snakemake.wildcards.video_id, truth["n_frames"])
