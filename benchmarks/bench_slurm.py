"""The tiny cohort on SLURM against the same run on this machine (goal: ≤ 1.5× wall time).

Run from the repository root (needs Debian's munge, slurmctld, slurmd and slurm-client:
``make slurm``)::

    .venv/bin/python benchmarks/bench_slurm.py [--configfile config/tiny.yaml]

Both runs start from fresh copies of the workflow in one temporary folder, one after the
other: ``snakemake --cores <cores>`` locally, then ``snakemake --profile profiles/slurm`` on a
throw-away one-node cluster of the same cores (tests/slurm_cluster.py), which submits every
job through sbatch and follows it with squeue.  The difference is SLURM's own cost: a job
step and a Snakemake start per job, and the wait for the next status check.  Reported: both
wall times, their ratio and whether metrics.json came out byte-identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import slurm_cluster  # noqa: E402  (the test suite's throw-away cluster)

GOAL_RATIO = 1.5
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
WORKFLOW = ("Snakefile", "workflow", "config", "envs", "src", "profiles")


def copy_workflow(dest: Path, names: tuple[str, ...] = WORKFLOW) -> Path:
    """A fresh copy of the workflow's ``names`` (what a run reads) under ``dest``."""
    dest.mkdir(parents=True)
    for name in names:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", default="config/tiny.yaml")
    args = ap.parse_args(argv)
    missing = slurm_cluster.missing_programs()
    if missing:
        raise SystemExit(f"{', '.join(missing)} missing: {slurm_cluster.INSTALL_HINT}")
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        local, cluster = copy_workflow(Path(tmp) / "local"), copy_workflow(Path(tmp) / "slurm")
        t_local = _timed(
            [str(SNAKEMAKE), "--cores", str(cores), "--configfile", args.configfile], local, env
        )
        with slurm_cluster.one_node_cluster(Path(tmp) / "cluster") as cluster_env:
            t_slurm = _timed(
                [str(SNAKEMAKE), "--profile", "profiles/slurm", "--configfile", args.configfile],
                cluster,
                {**env, **cluster_env},
            )
        same = (local / "results/metrics.json").read_bytes() == (
            cluster / "results/metrics.json"
        ).read_bytes()
    ratio = t_slurm / t_local
    print(f"cohort: {args.configfile}, {cores} cores")
    print(f"local   snakemake --cores {cores}:           {t_local:7.1f} s")
    print(f"SLURM   snakemake --profile profiles/slurm: {t_slurm:7.1f} s")
    print(f"ratio {ratio:.2f} (goal ≤ {GOAL_RATIO}); metrics.json identical: {same}")
    return 0 if ratio <= GOAL_RATIO and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
