# Validation of pose + clean against the synthetic cohort's truth (synthetic source only).


rule validate_pose:
    localrule: True
    input:
        truth=expand("results/synth/truth/{video_id}.npz", video_id=VIDEOS),
        params=expand("results/synth/truth/{video_id}.json", video_id=VIDEOS),
        raw=expand("results/pose/{video_id}.npz", video_id=VIDEOS),
        clean=expand("results/clean/{video_id}.npz", video_id=VIDEOS),
        code=CODE["validate"],
    output:
        table=report(
            "results/validation/pose_accuracy.tsv",
            category="QC",
            caption="../report/pose_accuracy.rst",
        ),
        summary="results/validation/pose_accuracy.json",
    log:
        "logs/validation/pose_accuracy.log",
    benchmark:
        "benchmarks/validation/pose_accuracy.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/validate.py"


rule validate_features:
    localrule: True
    input:
        truth=expand("results/synth/truth/{video_id}.npz", video_id=VIDEOS),
        params=expand("results/synth/truth/{video_id}.json", video_id=VIDEOS),
        table="results/features/features.parquet",
        code=CODE["validate_features"],
    output:
        table=report(
            "results/validation/feature_accuracy.tsv",
            category="features",
            caption="../report/feature_accuracy.rst",
        ),
        summary="results/validation/feature_accuracy.json",
    params:
        options=config["features"]["gait"],
    log:
        "logs/validation/feature_accuracy.log",
    benchmark:
        "benchmarks/validation/feature_accuracy.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/validate_features.py"


rule validate_preprocessing:
    localrule: True
    input:
        truth=expand("results/synth/truth/{video_id}.npz", video_id=VIDEOS),
        params=expand("results/synth/truth/{video_id}.json", video_id=VIDEOS),
        truth_masks=expand("results/synth/truth/{video_id}.masks.npz", video_id=VIDEOS),
        masks=expand("results/mask/{video_id}.npz", video_id=VIDEOS),
        align=expand("results/align/{video_id}.json", video_id=VIDEOS),
        clips=expand("results/align/{video_id}.npz", video_id=VIDEOS),
        code=CODE["validate_preprocessing"],
    output:
        table=report(
            "results/validation/preprocess_accuracy.tsv",
            category="QC",
            caption="../report/preprocess_accuracy.rst",
        ),
        summary="results/validation/preprocess_accuracy.json",
    log:
        "logs/validation/preprocess_accuracy.log",
    benchmark:
        "benchmarks/validation/preprocess_accuracy.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/validate_preprocessing.py"
