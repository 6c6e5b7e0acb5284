"""No-op rerun benchmark: after a complete run, a second ``snakemake`` plans nothing, fast.

Run from the repository root after a complete run (``make run``, or any config)::

    .venv/bin/python benchmarks/bench_noop.py [--workdir .] [--configfile C ...]
        [--rounds 5] [--out benchmarks/results/noop.json]

In one process, rounds alternate (order rotated each round) between

* ``startup``: ``snakemake --version``, the interpreter and Snakemake import alone;
* ``dryrun``:  ``snakemake -n`` on the finished workflow (parse, DAG, stale checks);
* ``rerun``:   ``snakemake --cores 8`` on the finished workflow, which must report "Nothing to
  be done" (the same work, plus locking and the hooks of a real invocation).

Reported: median seconds of each, the jobs of the workflow's DAG (``--forceall -n``), the
ratio of ``rerun`` to ``startup`` (what the DAG's stale checks cost on top of starting
Snakemake), and whether the goal holds (``rerun`` ≤ 5 s). Exits 1 when a rerun planned any
job: that is a stale-detection bug, not slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 5.0
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def dag_jobs(cwd: Path, extra: list[str]) -> int:
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--forceall", "--quiet", "rules", *extra],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"^total\s+(\d+)", proc.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no job total in:\n{proc.stdout[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--configfile", nargs="*", default=[])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/noop.json"))
    args = parser.parse_args(argv)
    extra = ["--configfile", *args.configfile] if args.configfile else []
    variants = {
        "startup": [SNAKEMAKE, "--version"],
        "dryrun": [SNAKEMAKE, "-n", *extra],
        "rerun": [SNAKEMAKE, "--cores", "8", *extra],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for r in range(args.rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            seconds, proc = timed(variants[name], args.workdir)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{name} failed (exit {proc.returncode})")
            if name != "startup" and "Nothing to be done" not in proc.stdout + proc.stderr:
                print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                print(f"FAIL: {name} planned jobs on a finished workflow", file=sys.stderr)
                return 1
            times[name].append(seconds)
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "workdir": str(args.workdir.resolve()),
        "configfile": args.configfile,
        "dag_jobs": dag_jobs(args.workdir, extra),
        "rounds": args.rounds,
        "seconds": times,
        "median_s": median,
        "rerun_over_startup": median["rerun"] / median["startup"],
        "goal_s": GOAL_S,
        "goal_met": median["rerun"] <= GOAL_S,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['dag_jobs']} jobs in the DAG; median over {args.rounds} rounds: "
        f"startup {median['startup']:.2f} s, dry run {median['dryrun']:.2f} s, "
        f"rerun {median['rerun']:.2f} s (= {result['rerun_over_startup']:.1f}x startup); "
        f"goal rerun <= {GOAL_S:.0f} s: {'met' if result['goal_met'] else 'NOT met'}"
    )
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
