"""``motorflow predict`` against the pose stage alone, on the same video (goal: ≤ 1.5×).

Run from the repository root after a run that built the bundles::

    .venv/bin/python benchmarks/bench_predict.py [--bundle results/bundle/stgcn.zip]
        [--video ../shared/data/videos/walk_side_sports2d.mp4] [--rounds 3]

Each round runs, in fresh processes and in alternating order, ``motorflow pose VIDEO`` (the
pose stage with the workflow's default settings) and ``motorflow predict BUNDLE VIDEO``
(pose → clean → features → model → report.json and report.html).  Both are whole commands,
interpreter start-up and imports included, as a user runs them.  Reported: the median wall
time of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 1.5
MOTORFLOW = Path(sys.executable).with_name("motorflow")


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "results/bundle/stgcn.zip"))
    ap.add_argument(
        "--video", default=str(ROOT.parent / "shared/data/videos/walk_side_sports2d.mp4")
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="write the result as JSON here")
    args = ap.parse_args(argv)
    for path in (args.bundle, args.video):
        if not Path(path).exists():
            print(f"bench_predict: {path} not found (run the workflow first?)", file=sys.stderr)
            return 2
    times: dict[str, list[float]] = {"pose": [], "predict": []}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {
            "pose": [str(MOTORFLOW), "pose", args.video, f"{tmp}/pose.npz"],
            "predict": [str(MOTORFLOW), "predict", args.bundle, args.video, "--out", f"{tmp}/p"],
        }
        for r in range(args.rounds):
            for name in ("pose", "predict") if r % 2 == 0 else ("predict", "pose"):
                times[name].append(_timed(cmds[name]))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["predict"] / med["pose"]
    met = ratio <= GOAL_RATIO
    result = {"video": args.video, "bundle": args.bundle, "seconds": times,
              "median_s": med, "ratio": ratio, "goal": GOAL_RATIO, "met": met}  # fmt: skip
    print(f"pose {med['pose']:.1f} s, predict {med['predict']:.1f} s: ratio {ratio:.2f} "
          f"(goal <= {GOAL_RATIO}: {'met' if met else 'NOT met'})")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
