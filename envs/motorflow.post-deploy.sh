#!/usr/bin/env bash
# Snakemake (`--sdm conda`) runs this once, inside the freshly created motorflow.yaml env,
# from its working directory, after creating the environment.  It installs the motorflow
# package from the checkout the workflow runs from, editable, without touching the pinned
# dependencies.  (A `-e ../` line in the yaml's pip section cannot do this: Snakemake copies
# the yaml to <conda-prefix>/<hash>.yaml before `conda env create`, and conda resolves pip
# paths relative to that copy.)
set -euo pipefail
if ! grep -qs '^name = "motorflow"' pyproject.toml; then
    echo "motorflow post-deploy: run snakemake from the motorflow repository root" \
        "(working directory is $PWD, which has no motorflow pyproject.toml)" >&2
    exit 1
fi
python -m pip install --no-deps -e .
