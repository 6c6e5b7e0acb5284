# Flow stage: dense optical flow (OpenCV Farneback) on the aligned clips, clipped to +-bound
# and quantised to uint8 (the temporal stream's input).


rule compute_flow:
    input:
        clip="results/align/{video_id}.npz",
        code=CODE["flow"],
    output:
        "results/flow/{video_id}.npz",
    params:
        options=config["preprocess"]["flow"],
    log:
        "logs/flow/{video_id}.log",
    benchmark:
        "benchmarks/flow/{video_id}.tsv"
    threads: 1
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/flow.py"
