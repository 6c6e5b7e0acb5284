# Training stage: every model on every split (results/train/{model}/{split}/), and the
# Grad-CAM keypoint ranking that feeds Paper A's fusion model.


rule train_stgcn:
    input:
        splits="results/folds/splits.tsv",
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        code=CODE["stgcn"],
    output:
        model="results/train/stgcn/{split}/model.pt",
        history="results/train/stgcn/{split}/history.tsv",
        info="results/train/stgcn/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        training=training_params(),
        net=config["models"].get("stgcn", {}),
    log:
        "logs/train/stgcn/{split}.log",
    benchmark:
        "benchmarks/train/stgcn/{split}.tsv"
    threads: config["models"].get("threads", 1)
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/train_skeleton.py"


use rule train_stgcn as train_two_stream_skeleton with:
    input:
        splits="results/folds/splits.tsv",
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        code=CODE["two_stream_skeleton"],
    output:
        model="results/train/two_stream_skeleton/{split}/model.pt",
        history="results/train/two_stream_skeleton/{split}/history.tsv",
        info="results/train/two_stream_skeleton/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        training=training_params(),
        net=config["models"].get("two_stream_skeleton", {}),
    log:
        "logs/train/two_stream_skeleton/{split}.log",
    benchmark:
        "benchmarks/train/two_stream_skeleton/{split}.tsv"


rule rank_keypoints:
    input:
        model="results/train/stgcn/{split}/model.pt",
        splits="results/folds/splits.tsv",
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        code=CODE["gradcam"],
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
    input:
        rankings=expand("results/interpret/stgcn/{split}/importance.tsv", split=SPLITS),
        code=CODE["gradcam"],
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


rule train_fusion_xattn:
    input:
        ranking="results/interpret/stgcn/{split}/importance.tsv",
        stgcn="results/train/stgcn/{split}/model.pt",
        splits="results/folds/splits.tsv",
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        code=CODE["fusion_xattn"],
    output:
        model="results/train/fusion_xattn/{split}/model.pt",
        history="results/train/fusion_xattn/{split}/history.tsv",
        info="results/train/fusion_xattn/{split}/train.json",
        keypoints="results/train/fusion_xattn/{split}/keypoints.json",
        features="results/train/fusion_xattn/{split}/features.parquet",
    params:
        subjects=subject_map(),
        labels=label_map(),
        training=training_params(),
        net=config["models"]["fusion_xattn"],
        gait=config["features"]["gait"],
        reference_label=config["features"]["reference_label"],
    log:
        "logs/train/fusion_xattn/{split}.log",
    benchmark:
        "benchmarks/train/fusion_xattn/{split}.tsv"
    threads: config["models"].get("threads", 1)
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/train_fusion.py"


rule train_gait_baseline:
    input:
        splits="results/folds/splits.tsv",
        tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
        curves=expand("results/features/{video_id}.curves.npz", video_id=VIDEOS),
        qc=expand("results/qc/{video_id}.json", video_id=VIDEOS),
        code=CODE["gait_baseline"],
    output:
        model="results/train/gait_baseline/{split}/model.pkl",
        importance="results/train/gait_baseline/{split}/importance.tsv",
        selection="results/train/gait_baseline/{split}/selection.tsv",
        info="results/train/gait_baseline/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        net=config["models"]["gait_baseline"],
        seed=config["models"]["seed"],
        reference_label=config["features"]["reference_label"],
    log:
        "logs/train/gait_baseline/{split}.log",
    benchmark:
        "benchmarks/train/gait_baseline/{split}.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/train_gait_baseline.py"


rule plot_feature_importance:
    input:
        tables=expand("results/train/gait_baseline/{split}/importance.tsv", split=SPLITS),
        code=CODE["plots"],
    output:
        table="results/interpret/gait_baseline/importance.tsv",
        figure=report(
            "results/interpret/gait_baseline/importance.png",
            category="interpretability",
            subcategory="gait features",
            caption="../report/feature_importance.rst",
        ),
    log:
        "logs/interpret/gait_baseline.log",
    benchmark:
        "benchmarks/interpret/gait_baseline.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/plot_feature_importance.py"
