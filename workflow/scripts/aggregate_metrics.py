"""Snakemake adapter: cohort metrics, bootstrap CIs, paired comparisons, the results table."""

from pathlib import Path

from motorflow import evaluate
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    labels = snakemake.config["data"]["labels"]
    models = snakemake.params.models
    summary = evaluate.summarise_files(
        {m: snakemake.input[f"predictions_{m}"] for m in models},
        labels,
        n_boot=snakemake.params.n_boot,
        seed=snakemake.params.seed,
        baseline=snakemake.params.baseline,
        ordinal=snakemake.params.ordinal,
        sessions=snakemake.params.sessions,
    )
    summary["task"] = snakemake.params.task  # the run's own record (read by the summary page)
    evaluate.write_summary(summary, snakemake.output.metrics, Path(snakemake.output.summary).parent)
    evaluate.write_dvc_plots(
        summary,
        dict(zip(models, snakemake.output.fold_plots, strict=True)),
        dict(zip(models, snakemake.output.confusion_plots, strict=True)),
    )
    log.info("metrics of %s", ", ".join(summary["metrics"]))
