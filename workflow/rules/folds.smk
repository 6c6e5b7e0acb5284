# Folds stage: subject-wise, label-stratified cross-validation splits with inner validation,
# and the final models' split (every subject in training).


rule make_folds:
    localrule: True
    input:
        code=CODE["folds"],
    output:
        folds="results/folds/folds.tsv",
        splits="results/folds/splits.tsv",
        final="results/folds/final.tsv",
    params:
        subjects=subject_map(),
        labels=label_map(),
        cv=config["cv"],
    log:
        "logs/folds/make_folds.log",
    benchmark:
        "benchmarks/folds/make_folds.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/folds.py"
