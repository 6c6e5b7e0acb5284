"""Snakemake adapter: pose estimation (or keypoint import) for one video."""

from motorflow import pose
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]):
    pose.run(
        snakemake.params.source,
        snakemake.output[0],
        pose.PoseConfig.from_mapping(snakemake.params.options),
        fps=snakemake.params.fps,
        frame_size=snakemake.params.frame_size,
        recording=snakemake.wildcards.video_id,
        record_failure=snakemake.params.record_failure,
    )
