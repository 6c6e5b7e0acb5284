# Cleaning stage: person choice, swap fixes, gap filling, smoothing, per-video QC.


rule clean_pose:
    input:
        pose="results/pose/{video_id}.npz",
        code=CODE["clean"],
    output:
        pose="results/clean/{video_id}.npz",
        qc="results/qc/{video_id}.json",
    params:
        options=config["clean"],
    log:
        "logs/clean/{video_id}.log",
    benchmark:
        "benchmarks/clean/{video_id}.tsv"
    threads: 1
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/clean.py"


rule summarise_qc:
    localrule: True
    input:
        records=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        features=expand("results/features/{video_id}.json", video_id=VIDEOS),
        preprocess=(
            expand("results/align/{video_id}.json", video_id=VIDEOS) if PREPROCESS else []
        ),
        code=CODE["qc"],
    output:
        report(
            "results/qc/summary.tsv",
            category="QC",
            caption="../report/qc_summary.rst",
        ),
    log:
        "logs/qc/summary.log",
    benchmark:
        "benchmarks/qc/summary.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/qc.py"
