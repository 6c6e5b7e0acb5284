"""Snakemake adapter: a bundle's predictions and reports for a sheet of new recordings."""

from motorflow import predict
from motorflow.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    overview = predict.run(snakemake.input.bundle, [snakemake.input.sheet], snakemake.output[0])
    for rid, rec in overview["recordings"].items():
        log.info("%s: %s %s", rid, rec["status"], rec["reason"])
