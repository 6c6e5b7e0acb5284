# Predict stage (only when asked for: `snakemake predict`): a bundle applied to a sheet of new
# recordings, pose -> clean -> features -> model with the bundle's own settings; one report
# per recording and per patient under results/predict/ (motorflow.predict).


rule predict:
    input:
        unpack(predict_inputs),
        code=CODE["predict"],
    output:
        directory("results/predict"),
    log:
        "logs/predict/predict.log",
    benchmark:
        "benchmarks/predict/predict.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/predict.py"
