# Export stage: cleaned skeletons + labels + folds for mmaction2 / pyskl.


rule export_skeletons:
    input:
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        folds="results/folds/folds.tsv",
        code=CODE["export"],
    output:
        "results/export/mmaction2.pkl",
    params:
        subjects=subject_map(),
        labels=label_map(),
        label_order=LABELS,
    log:
        "logs/export/mmaction2.log",
    benchmark:
        "benchmarks/export/mmaction2.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/export.py"
