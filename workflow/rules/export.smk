# Export stage: the skeleton models' keypoints + labels + folds for mmaction2 / pyskl.


rule export_skeletons:
    input:
        poses=model_poses(),
        qc=model_qc(),
        folds="results/folds/folds.tsv",
        code=CODE["export"],
    output:
        "results/export/mmaction2.pkl",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        label_order=LABELS,
    log:
        "logs/export/mmaction2.log",
    benchmark:
        "benchmarks/export/mmaction2.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/export.py"
