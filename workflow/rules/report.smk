# Report stage: the standalone summary page of the run (results/report/summary.html), one
# self-contained HTML file (figures inlined, no server, no scripts) built from the aggregate
# results only.  Its inputs are every file motorflow.report reads, so a change to any of
# them (or to the code) rebuilds the page.


rule render_summary:
    localrule: True
    input:
        summary="results/eval/summary.json",
        fold_metrics=expand(
            "results/eval/{model}/{split}/metrics.json", model=MODELS, split=SPLITS
        ),
        confusion=expand("results/eval/{model}_confusion_subject.png", model=MODELS),
        interpret=expand(
            "results/interpret/{model}/importance.png", model=registry.with_importance(MODELS)
        ),
        table="results/features/features.parquet",
        # Gait task: the cohort's gait curves are drawn from the per-video cycle curves;
        # infant task: the movement-feature figure is embedded as it is.
        features=(
            expand("results/features/{video_id}.curves.npz", video_id=VIDEOS)
            if TASK_SPEC.curves
            else "results/features/figures/movement_features.png"
        ),
        qc="results/qc/summary.tsv",
        validation=(
            [
                "results/validation/pose_accuracy.json",
                f"results/validation/{TASK_SPEC.validation}.json",
            ]
            if SYNTHETIC
            else []
        ),
        code=CODE["render_summary"],
    output:
        report(
            "results/report/summary.html",
            category="models",
            caption="../report/summary.rst",
        ),
    params:
        # The root of the results tree its inputs lie in (eval/summary.json is two below it).
        results=lambda wildcards, input: str(Path(input.summary).parents[1]),
        models=MODELS,
        splits=SPLITS,
        task=TASK,
        labels=LABELS,
    log:
        "logs/report/summary.log",
    benchmark:
        "benchmarks/report/summary.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/render_summary.py"
