"""Snakemake adapter: log every model and split to MLflow, from this one job only."""

import os
from pathlib import Path

from motorflow import registry, tracking
from motorflow.logs import rule_logging

# No usage telemetry leaves the machine (clinical projects; offline machines).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

with rule_logging(snakemake.log[0]) as log:
    config = snakemake.config
    models = snakemake.params.models
    shared = {k: config.get(k, {}) for k in ("data", "cv", "evaluation", "features")}
    shared["models"] = {k: v for k, v in config["models"].items() if k not in models}
    poses = {Path(p).stem: p for p in snakemake.input.poses}

    def section(model: str) -> dict:
        # Paper B's ablations train the two_stream_rgbflow network with one stream.
        spec = registry.SPECS[model]
        values = config["models"].get(spec.section, {})
        return {**values, "streams": spec.streams} if spec.streams else values

    result = tracking.log_results(
        "results",
        tracking.default_tracking_uri(Path.cwd()),
        snakemake.params.experiment,
        models,
        snakemake.params.splits,
        {**shared, **{m: section(m) for m in models}},
        tracking.run_tags(Path.cwd(), config, poses),
        snakemake.output.runs,
    )
    log.info("experiment %s: %d runs", result["experiment"], len(result["runs"]))
