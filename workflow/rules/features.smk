# Features stage.  Gait task: gait events, cycle curves and clinical gait features per
# video; the cohort table with deviation scores; per-video gait-curve figures.  Infant task:
# general-movement features per video (docs/movement_features.md) and the cohort table.


if TASK_SPEC.features == "movement":

    rule extract_movement_features:
        input:
            pose="results/clean/{video_id}.npz",
            qc="results/qc/{video_id}.json",
            code=CODE["movement_features"],
        output:
            table="results/features/{video_id}.parquet",
            qc="results/features/{video_id}.json",
        params:
            options=config["features"]["movement"],
        log:
            "logs/features/{video_id}.log",
        benchmark:
            "benchmarks/features/{video_id}.tsv"
        threads: 1
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/movement_features.py"

    rule aggregate_movement_features:
        localrule: True
        input:
            tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
            code=CODE["aggregate_movement_features"],
        output:
            table="results/features/features.parquet",
        params:
            subjects=subject_map(),
            labels=label_map(),
        log:
            "logs/features/aggregate.log",
        benchmark:
            "benchmarks/features/aggregate.tsv"
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/aggregate_movement_features.py"

    rule plot_movement_features:
        localrule: True
        input:
            table="results/features/features.parquet",
            code=CODE["plot_movement_features"],
        output:
            report(
                "results/features/figures/movement_features.png",
                category="features",
                caption="../report/movement_features.rst",
            ),
        params:
            labels=LABELS,
        log:
            "logs/features/figures/movement_features.log",
        benchmark:
            "benchmarks/features/figures/movement_features.tsv"
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/plot_movement_features.py"

else:

    rule extract_features:
        input:
            pose="results/clean/{video_id}.npz",
            qc="results/qc/{video_id}.json",
            code=CODE["features"],
        output:
            table="results/features/{video_id}.parquet",
            curves="results/features/{video_id}.curves.npz",
            qc="results/features/{video_id}.json",
        params:
            options=config["features"]["gait"],
            height_cm=get_height_cm,
            age_months=get_age_months,
        log:
            "logs/features/{video_id}.log",
        benchmark:
            "benchmarks/features/{video_id}.tsv"
        threads: 1
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/features.py"


    rule aggregate_features:
        localrule: True
        input:
            tables=expand("results/features/{video_id}.parquet", video_id=VIDEOS),
            curves=expand("results/features/{video_id}.curves.npz", video_id=VIDEOS),
            reference=get_reference_file(),
            code=CODE["aggregate_features"],
        output:
            table="results/features/features.parquet",
            reference="results/features/reference.npz",
        params:
            subjects=samples["subject_id"].to_dict(),
            labels=samples["label"].astype(str).to_dict(),
            reference_label=config["features"]["reference_label"],
        log:
            "logs/features/aggregate.log",
        benchmark:
            "benchmarks/features/aggregate.tsv"
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/aggregate_features.py"


    rule plot_gait_curves:
        input:
            curves="results/features/{video_id}.curves.npz",
            qc="results/features/{video_id}.json",
            table="results/features/{video_id}.parquet",
            reference="results/features/reference.npz",
            code=CODE["plot_gait_curves"],
        output:
            report(
                "results/features/figures/{video_id}.png",
                category="features",
                subcategory="gait curves",
                caption="../report/gait_curves.rst",
                labels={"video": "{video_id}"},
            ),
        params:
            reference_label=config["features"]["reference_label"],
        log:
            "logs/features/figures/{video_id}.log",
        benchmark:
            "benchmarks/features/figures/{video_id}.tsv"
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/plot_gait_curves.py"
