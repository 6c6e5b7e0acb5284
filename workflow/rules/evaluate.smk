# Evaluation stage: test-subject predictions per split, then cohort metrics with subject
# bootstrap CIs and paired comparisons against the baseline model.


rule evaluate_fold:
    input:
        unpack(eval_inputs),
        poses=model_poses(),
        qc=model_qc(),
    output:
        predictions="results/eval/{model}/{split}/predictions.tsv",
        metrics="results/eval/{model}/{split}/metrics.json",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        reference_label=eval_reference_label,
    log:
        "logs/eval/{model}/{split}.log",
    benchmark:
        "benchmarks/eval/{model}/{split}.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/evaluate_fold.py"


rule aggregate_metrics:
    localrule: True
    input:
        # predictions_{model}: that model's predictions.tsv of every split.
        unpack(predictions_by_model),
        code=CODE["aggregate_metrics"],
    output:
        metrics="results/metrics.json",
        summary="results/eval/summary.json",
        comparison="results/eval/comparison.tsv",
        table=report(
            "results/eval/table.md",
            category="models",
            caption="../report/metrics_table.rst",
        ),
        confusion=report(
            expand("results/eval/{model}_confusion_subject.png", model=MODELS),
            category="models",
            subcategory="confusion matrices",
            caption="../report/confusion.rst",
        ),
        confusion_video=expand("results/eval/{model}_confusion_video.png", model=MODELS),
        # Plot data of `dvc plots show` (definitions in dvc.yaml).
        fold_plots=expand("results/eval/plots/folds/{model}.csv", model=MODELS),
        confusion_plots=expand("results/eval/plots/confusion/{model}.csv", model=MODELS),
    params:
        models=MODELS,
        n_boot=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        baseline=config["evaluation"]["baseline"],
        # GMFCS levels are ordered (QWK in the table); general-movement classes are not.
        ordinal=TASK_SPEC.ordinal,
        task=TASK,
        # The sheet's sessions: the visit level (subject + session) of a longitudinal sheet.
        sessions=session_map(),
    log:
        "logs/eval/aggregate.log",
    benchmark:
        "benchmarks/eval/aggregate.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/aggregate_metrics.py"
