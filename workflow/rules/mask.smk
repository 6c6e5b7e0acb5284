# Mask stage (Paper B's background removal): person segmentation of every frame.  Only the
# masks are stored (no image pixels); a video where nobody is segmented is marked failed.


rule segment_person:
    input:
        unpack(get_video_input),
        code=CODE["mask"],
    output:
        masks="results/mask/{video_id}.npz",
        qc="results/mask/{video_id}.json",
    params:
        source=get_source,
        options=config["preprocess"]["mask"],
        # An unreadable video is recorded as failed (excluded downstream), as in pose.smk.
        record_failure=not config.get("qc", {}).get("fail_on_exclusion", False),
    log:
        "logs/mask/{video_id}.log",
    benchmark:
        "benchmarks/mask/{video_id}.tsv"
    threads: 1
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/mask.py"
