# Interpretation stage (results/interpret/): Grad-CAM keypoint ranking of each fold's ST-GCN on
# its training subjects (Paper A's fusion selects its keypoints from it), the mean over folds,
# and the feature baselines' standardised coefficients.


rule rank_keypoints:
    input:
        model="results/train/stgcn/{split}/model.pt",
        splits=splits_of,
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["rank_keypoints"],
    output:
        ranking="results/interpret/stgcn/{split}/importance.tsv",
        figure=report(
            "results/interpret/stgcn/{split}/importance.png",
            category="interpretability",
            subcategory="Grad-CAM per fold",
            caption="../report/gradcam.rst",
            labels={"split": "{split}"},
        ),
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        top_k=config["models"]["fusion_xattn"]["top_k"],
    log:
        "logs/interpret/stgcn/{split}.log",
    benchmark:
        "benchmarks/interpret/stgcn/{split}.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/rank_keypoints.py"


rule aggregate_importance:
    localrule: True
    input:
        rankings=expand("results/interpret/stgcn/{split}/importance.tsv", split=SPLITS),
        code=CODE["aggregate_importance"],
    output:
        table="results/interpret/stgcn/importance.tsv",
        figure=report(
            "results/interpret/stgcn/importance.png",
            category="interpretability",
            subcategory="Grad-CAM",
            caption="../report/gradcam.rst",
        ),
    params:
        top_k=config["models"]["fusion_xattn"]["top_k"],
    log:
        "logs/interpret/stgcn/aggregate.log",
    benchmark:
        "benchmarks/interpret/stgcn/aggregate.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/aggregate_importance.py"


rule plot_feature_importance:
    localrule: True
    input:
        tables=expand("results/train/{{baseline}}/{split}/importance.tsv", split=SPLITS),
        code=CODE["plot_feature_importance"],
    output:
        table="results/interpret/{baseline}/importance.tsv",
        figure=report(
            "results/interpret/{baseline}/importance.png",
            category="interpretability",
            subcategory="features",
            caption="../report/feature_importance.rst",
        ),
    wildcard_constraints:
        baseline="gait_baseline|movement_baseline",
    log:
        "logs/interpret/{baseline}.log",
    benchmark:
        "benchmarks/interpret/{baseline}.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/plot_feature_importance.py"
