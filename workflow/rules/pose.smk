# Pose stage: each video (or keypoint recording) -> results/pose/{video_id}.npz


rule estimate_pose:
    input:
        unpack(get_pose_input),
    output:
        "results/pose/{video_id}.npz",
    params:
        source=get_source,
        fps=get_fps,
        frame_size=get_frame_size,
        options=config["pose"],
        # A recording without poses becomes a failure record (excluded downstream).
        record_failure=not config.get("qc", {}).get("fail_on_exclusion", False),
    log:
        "logs/pose/{video_id}.log",
    benchmark:
        "benchmarks/pose/{video_id}.tsv"
    threads: 1
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/pose.py"
