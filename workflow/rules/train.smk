# Training stage: every model on every split (results/train/{model}/{split}/), and the final
# model on the `final` split (every subject; epochs and C from the CV runs, `cv`); the
# Grad-CAM keypoint ranking that feeds Paper A's fusion model is in interpret.smk.


rule train_stgcn:
    input:
        splits=splits_of,
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["train_skeleton"],
        cv=cv_runs("stgcn"),
    output:
        model="results/train/stgcn/{split}/model.pt",
        history="results/train/stgcn/{split}/history.tsv",
        info="results/train/stgcn/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
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
        splits=splits_of,
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["train_skeleton"],
        cv=cv_runs("two_stream_skeleton"),
    output:
        model="results/train/two_stream_skeleton/{split}/model.pt",
        history="results/train/two_stream_skeleton/{split}/history.tsv",
        info="results/train/two_stream_skeleton/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        training=training_params(),
        net=config["models"].get("two_stream_skeleton", {}),
    log:
        "logs/train/two_stream_skeleton/{split}.log",
    benchmark:
        "benchmarks/train/two_stream_skeleton/{split}.tsv"


rule train_fusion_xattn:
    input:
        ranking="results/interpret/stgcn/{split}/importance.tsv",
        stgcn="results/train/stgcn/{split}/model.pt",
        splits=splits_of,
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["train_fusion"],
        cv=cv_runs("fusion_xattn"),
    output:
        model="results/train/fusion_xattn/{split}/model.pt",
        history="results/train/fusion_xattn/{split}/history.tsv",
        info="results/train/fusion_xattn/{split}/train.json",
        keypoints="results/train/fusion_xattn/{split}/keypoints.json",
        features="results/train/fusion_xattn/{split}/features.parquet",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
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
        splits=splits_of,
        tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
        curves=expand("results/features/{video_id}.curves.npz", video_id=VIDEOS),
        qc=model_qc(),
        code=CODE["train_feature_baseline"],
        cv=cv_runs("gait_baseline"),
    output:
        model="results/train/gait_baseline/{split}/model.pkl",
        importance="results/train/gait_baseline/{split}/importance.tsv",
        selection="results/train/gait_baseline/{split}/selection.tsv",
        info="results/train/gait_baseline/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
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
        "../scripts/train_feature_baseline.py"


use rule train_gait_baseline as train_movement_baseline with:
    input:
        splits=splits_of,
        tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
        qc=model_qc(),
        code=CODE["train_feature_baseline"],
        cv=cv_runs("movement_baseline"),
    output:
        model="results/train/movement_baseline/{split}/model.pkl",
        importance="results/train/movement_baseline/{split}/importance.tsv",
        selection="results/train/movement_baseline/{split}/selection.tsv",
        info="results/train/movement_baseline/{split}/train.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        net=config["models"].get("movement_baseline", {}),
        seed=config["models"]["seed"],
        reference_label=None,
    log:
        "logs/train/movement_baseline/{split}.log",
    benchmark:
        "benchmarks/train/movement_baseline/{split}.tsv"


rule train_rgbflow:
    input:
        splits=splits_of,
        clips=expand("results/align/{video_id}.npz", video_id=VIDEOS),
        flows=expand("results/flow/{video_id}.npz", video_id=VIDEOS),
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["train_rgbflow"],
        cv=cv_runs(),
    output:
        model="results/train/{model}/{split}/model.pt",
        history="results/train/{model}/{split}/history.tsv",
        info="results/train/{model}/{split}/train.json",
    wildcard_constraints:
        model="|".join(RGBFLOW_MODELS),
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        training=training_params(),
        net=config["models"].get("two_stream_rgbflow", {}),
    log:
        "logs/train/{model}/{split}.log",
    benchmark:
        "benchmarks/train/{model}/{split}.tsv"
    threads: config["models"].get("threads", 1)
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/train_rgbflow.py"
