"""Planning cost as the cohort grows: ``snakemake -n`` on sheets of 64, 640 and 6 400 recordings.

Run from the repository root (no rendering, no MediaPipe; minutes for the largest sheet)::

    .venv/bin/python benchmarks/bench_scale.py [--sizes 64 640 6400] [--out FILE.json]

For each size a fresh copy of the workflow gets a synthetic sheet (two recordings per subject,
four GMFCS levels, every row pointing at one small placeholder video) and the default models.
Measured, in fresh processes:

* ``plan``: ``snakemake -n`` on an empty results/ (every job to do): parse, sheet checks,
  folds, DAG;
* ``noop``: ``snakemake -n`` once every output exists and is newer than its inputs (created
  in the plan's order, empty), which must plan nothing: the stale checks of a finished run;
* the peak RSS of each.

Reported per size: seconds, milliseconds per recording, peak MiB, and the growth of the
per-recording cost from the smallest to the largest size (goal: it does not grow, and
``plan`` of 6 400 recordings ≤ 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_slurm import WORKFLOW, copy_workflow  # the same fresh copy of the workflow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GOAL_PLAN_S = 60.0
LEVELS = ("I", "II", "III", "IV")


def _copy(dest: Path) -> Path:
    # Without profiles/: the plan as Snakemake makes it, not the runtime defaults.
    copy_workflow(dest, tuple(n for n in WORKFLOW if n != "profiles"))
    # Every workflow file (code inputs among them) older than the outputs created below.
    for path in dest.rglob("*"):
        os.utime(path, (1e9, 1e9))
    return dest


def _sheet(wd: Path, n: int) -> str:
    (wd / "data").mkdir()
    clip = wd / "data/clip.mp4"
    clip.write_bytes(b"")  # planning never opens it
    os.utime(clip, (1e9, 1e9))  # older than every output created below
    rows = ["video_id\tsubject_id\tpath\tlabel\tview\tfps\theight_cm\tage_months"]
    for i in range(n):
        subject = i // 2
        level = LEVELS[subject % len(LEVELS)]
        rows.append(f"rec{i:05d}\tsubj{subject:05d}\tdata/clip.mp4\t{level}\tside\t30\t130\t96")
    (wd / "config/scale.tsv").write_text("\n".join(rows) + "\n")
    (wd / "config/scale.yaml").write_text("data: {source: sheet, sheet: config/scale.tsv}\n")
    return "config/scale.yaml"


def _measured(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout+stderr of one command."""
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{out[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def _create_outputs(plan: str, wd: Path) -> int:
    """Create every planned output, empty, in the plan's (topological) order, each newer than
    the last, so that the tree looks like a finished run to the stale checks."""
    files: list[str] = []
    for line in plan.splitlines():
        m = re.match(r"\s+output: (.+)$", line)
        if m:
            files += [f.strip() for f in m.group(1).split(",") if f.strip()]
    stamp = time.time() - len(files) - 10
    for i, name in enumerate(dict.fromkeys(files)):
        path = wd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (stamp + i, stamp + i))
    return len(files)


def measure(n: int, tmp: Path) -> dict:
    wd = _copy(tmp / f"n{n}")
    configfile = _sheet(wd, n)
    plan_s, plan_mib, plan = _measured([SNAKEMAKE, "-n", "--configfile", configfile], wd)
    jobs = int(re.search(r"^total\s+(\d+)", plan, re.MULTILINE).group(1))
    _create_outputs(plan, wd)
    noop_s, noop_mib, noop = _measured([SNAKEMAKE, "-n", "--configfile", configfile], wd)
    if "Nothing to be done" not in noop:
        raise SystemExit(f"n={n}: a finished tree still plans jobs:\n{noop[-3000:]}")
    shutil.rmtree(wd)
    return {
        "recordings": n,
        "jobs": jobs,
        "plan_s": round(plan_s, 2),
        "plan_ms_per_recording": round(1000 * plan_s / n, 2),
        "plan_peak_mib": round(plan_mib, 1),
        "noop_s": round(noop_s, 2),
        "noop_ms_per_recording": round(1000 * noop_s / n, 2),
        "noop_peak_mib": round(noop_mib, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 640, 6400])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        rows = [measure(n, Path(tmp)) for n in sorted(args.sizes)]
    print(
        f"{'recordings':>10} {'jobs':>7} {'plan s':>8} {'ms/rec':>7} {'MiB':>6} "
        f"{'no-op s':>8} {'ms/rec':>7} {'MiB':>6}"
    )
    for r in rows:
        print(
            f"{r['recordings']:>10} {r['jobs']:>7} {r['plan_s']:>8.1f} "
            f"{r['plan_ms_per_recording']:>7.2f} {r['plan_peak_mib']:>6.0f} {r['noop_s']:>8.1f} "
            f"{r['noop_ms_per_recording']:>7.2f} {r['noop_peak_mib']:>6.0f}"
        )
    small, large = rows[0], rows[-1]
    growth = {
        k: round(large[f"{k}_ms_per_recording"] / small[f"{k}_ms_per_recording"], 2)
        for k in ("plan", "noop")
    }
    print(
        f"per-recording cost, {large['recordings']} vs {small['recordings']}: "
        f"plan x{growth['plan']}, no-op x{growth['noop']}"
    )
    result = {"sizes": rows, "per_recording_growth": growth, "goal_plan_s": GOAL_PLAN_S}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = large["recordings"] < 6400 or large["plan_s"] <= GOAL_PLAN_S
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
