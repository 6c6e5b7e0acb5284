"""Snakemake adapter: gait-feature accuracy of the synthetic cohort against its truth."""

from pathlib import Path

from motorflow.features import gait as featlib
from motorflow.logs import rule_logging
from motorflow.validate import features as feature_validation

with rule_logging(snakemake.log[0]) as log:
    result = feature_validation.feature_accuracy(
        snakemake.input.truth,
        snakemake.input.params,
        snakemake.input.table,
        output=Path(snakemake.output.table).with_suffix(""),
        cfg=featlib.FeatureConfig.from_mapping(snakemake.params.options),
    )
    log.info("\n%s", feature_validation.format_feature_summary(result))
