# Bundle stage: each model refitted on every subject (the `final` split, train.smk) becomes a
# self-describing bundle (results/bundle/{model}/, and one zip file for sharing) that
# `motorflow predict` applies to new recordings with nothing else.


rule bundle_model:
    input:
        unpack(bundle_inputs),
        summary="results/eval/summary.json",
        splits="results/folds/final.tsv",
        tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
        curves=expand("results/features/{video_id}.curves.npz", video_id=VIDEOS),
        poses=model_poses(),
        qc=model_qc(),
        code=CODE["bundle"],
    output:
        bundle=directory("results/bundle/{model}"),
        zip="results/bundle/{model}.zip",
    wildcard_constraints:
        model="|".join(BUNDLE_MODELS) if BUNDLE_MODELS else "(?!x)x",
    params:
        subjects=subject_map(),
        labels=label_map(),
        table=table_params(),
        settings=bundle_settings(),
        task=TASK,
        ordinal=TASK_SPEC.ordinal,
    log:
        "logs/bundle/{model}.log",
    benchmark:
        "benchmarks/bundle/{model}.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/bundle.py"
