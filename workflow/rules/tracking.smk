# Tracking stage: one job logs every model and split to MLflow after evaluation (parallel
# writers to one sqlite store lose runs). The store, results/mlflow/mlflow.db, accumulates
# runs across invocations (run history) and is therefore not a declared output.


rule log_mlflow:
    localrule: True
    input:
        metrics="results/metrics.json",
        folds="results/folds/folds.tsv",
        fold_metrics=expand(
            "results/eval/{model}/{split}/metrics.json", model=MODELS, split=SPLITS
        ),
        infos=expand("results/train/{model}/{split}/train.json", model=MODELS, split=SPLITS),
        importance=["results/interpret/stgcn/importance.png"] if "stgcn" in MODELS else [],
        poses=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        code=CODE["log_mlflow"],
    output:
        runs="results/mlflow/runs.json",
    params:
        experiment=config["mlflow"]["experiment"],
        models=MODELS,
        splits=SPLITS,
    log:
        "logs/mlflow/log_mlflow.log",
    benchmark:
        "benchmarks/mlflow/log_mlflow.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/log_mlflow.py"
