# motorflow: clinical movement videos -> validated motor-assessment models.
# Run: snakemake --cores 8   (see README.md). Rules live in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# The global description of `snakemake --report results/report.html`.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/pose.smk"
include: "workflow/rules/clean.smk"
include: "workflow/rules/mask.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/folds.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/bundle.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
