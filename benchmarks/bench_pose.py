"""Pose-stage benchmark: overhead of ``motorflow.pose.run`` over bare MediaPipe, and memory.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pose.py [--out benchmarks/results/pose.json]

1. Speed.  One synthetic side-view walking video is rendered (``motorflow.synth``).  In the
   same process, rounds alternate (order rotated each round) between

   * ``bare``: PyAV decode → ``mediapipe.solutions.pose.Pose(model_complexity=1,
     static_image_mode=False).process(rgb)``, nothing else;
   * ``run_p1``: ``motorflow.pose.run(video, out.npz, PoseConfig(max_people=1))`` end to end
     (probe, decode, MediaPipe, landmark mapping, writing the pose file);
   * ``run_p2``: the same with the default ``PoseConfig()`` (``max_people=2``): the price of
     tracking bystanders (a second BlazePose on the frame with the first person painted out).

   Each timing covers the whole call, model construction included, for every variant.
   Reported: median frames/s per variant and the ratios of medians to ``bare``
   (goal for ``run_p1``: ≥ 0.90).

2. Memory.  The rendered video is looped ``--loop`` times (default 10) into a new mp4,
   streamed frame by frame through ``motorflow.video.VideoWriter``.  ``motorflow.pose.run``
   with the default config runs on the 1× and the long video, each in a fresh subprocess
   that reports its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``).  Goal: flat (ratio
   close to 1).  The only thing that must grow is the keypoint array, T × P × 21 × 3 × 4 bytes.

MediaPipe's native logging (TFLite/absl, written straight to file descriptor 2) is sent to a
log file in the temporary directory unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import av

from motorflow.poseio import write_json
from motorflow.skeleton import N_JOINTS
from motorflow.video import VideoWriter, iter_frames, probe

ROOT = Path(__file__).resolve().parents[1]
GOAL_SPEED_RATIO = 0.90

# Runs in a fresh interpreter: argv = video, out.npz, max_people.  Prints one JSON line.
_CHILD = r"""
import json, resource, sys, time
from absl import logging as absl_logging
absl_logging.set_verbosity(absl_logging.ERROR)
import mediapipe  # noqa: F401  (imported before the baseline so it is not counted as growth)
from motorflow.pose import PoseConfig, run

def rss_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

base = rss_kib()
t0 = time.perf_counter()
pose = run(sys.argv[1], sys.argv[2], PoseConfig(max_people=int(sys.argv[3])))
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"frames": pose.n_frames, "seconds": dt, "rss_after_imports_kib": base,
                  "peak_rss_kib": peak,
                  "candidates": None if pose.candidates is None else list(pose.candidates.shape)}))
"""


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def native_stderr_to(log_path: Path | None) -> Iterator[None]:
    """Redirect file descriptor 2 (where MediaPipe's C++ logs go) to ``log_path``.

    On an exception the descriptor is restored first, and the log's tail is printed, so
    nothing that explains a failure is hidden.
    """
    if log_path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            print("\n".join(["-- MediaPipe log (tail) --", *tail]), file=sys.stderr)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def render_side_video(work: Path) -> dict:
    from motorflow.synth.gait_cohort import CohortConfig, make_sheet
    from motorflow.synth.gait_render import render_video

    cfg = CohortConfig()
    sheet = make_sheet(cfg)
    row = sheet[sheet["view"] == "side"].iloc[0]
    video = work / f"{row['video_id']}.mp4"
    t0 = time.perf_counter()
    truth = render_video(
        cfg, row["video_id"], row["subject_id"], row["view"], video,
        work / "truth.npz", work / "truth.json",
    )
    return {
        "path": str(video),
        "video_id": str(row["video_id"]),
        "view": str(row["view"]),
        "second_person": bool(truth["second_person"]),
        "frames": int(truth["n_frames"]),
        "width": cfg.width,
        "height": cfg.height,
        "fps": cfg.fps,
        "render_s": round(time.perf_counter() - t0, 2),
    }


def loop_video(src: Path, dst: Path, times: int) -> int:
    """Concatenate ``src`` ``times`` times into ``dst``, one frame in memory at a time."""
    info = probe(src)
    n = 0
    with VideoWriter(dst, info.width, info.height, info.fps) as vw:
        for _ in range(times):
            for frame in iter_frames(src):  # BGR, what VideoWriter takes
                vw.write(frame)
                n += 1
    return n


def bare_loop(video: Path) -> int:
    """PyAV decode → BlazePose, nothing else; returns the number of frames."""
    import mediapipe as mp

    n = 0
    with (
        mp.solutions.pose.Pose(model_complexity=1, static_image_mode=False) as tracker,
        av.open(str(video)) as container,
    ):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # as motorflow.video.iter_frames does
        for frame in container.decode(stream):
            tracker.process(frame.to_ndarray(format="rgb24"))
            n += 1
    return n


def motorflow_run(video: Path, out: Path, max_people: int) -> int:
    from motorflow.pose import PoseConfig, run

    return run(video, out, PoseConfig(max_people=max_people)).n_frames


def measure_speed(video: Path, work: Path, rounds: int, log: Path | None) -> dict:
    variants: dict[str, Callable[[], int]] = {
        "bare": lambda: bare_loop(video),
        "run_p1": lambda: motorflow_run(video, work / "pose_p1.npz", 1),
        "run_p2": lambda: motorflow_run(video, work / "pose_p2.npz", 2),
    }
    names = list(variants)
    fps: dict[str, list[float]] = {k: [] for k in names}
    cpu_ms: dict[str, list[float]] = {k: [] for k in names}  # CPU time, all threads
    with native_stderr_to(log):
        bare_loop(video)  # warm-up: shared libraries, model files, page cache
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                c0, t0 = time.process_time(), time.perf_counter()
                n = variants[name]()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                fps[name].append(n / wall)
                cpu_ms[name].append(1000 * cpu / n)
            print(f"  round {r + 1}/{rounds}: "
                  + ", ".join(f"{k} {fps[k][-1]:.1f} fps" for k in names), flush=True)
    med = {k: statistics.median(v) for k, v in fps.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu_ms.items()}
    paired = {
        k: statistics.median(a / b for a, b in zip(fps[k], fps["bare"], strict=True))
        for k in ("run_p1", "run_p2")
    }
    return {
        "rounds": rounds,
        "fps_per_round": {k: [round(x, 2) for x in v] for k, v in fps.items()},
        "fps_median": {k: round(v, 2) for k, v in med.items()},
        "ratio_run_p1_over_bare": round(med["run_p1"] / med["bare"], 3),
        "ratio_run_p2_over_bare": round(med["run_p2"] / med["bare"], 3),
        "ratio_paired_median": {k: round(v, 3) for k, v in paired.items()},
        # Best of the rounds: the least disturbed by other load (timeit's rule).
        "fps_best": {k: round(max(v), 2) for k, v in fps.items()},
        "ratio_best_run_p1_over_bare": round(max(fps["run_p1"]) / max(fps["bare"]), 3),
        "ratio_best_run_p2_over_bare": round(max(fps["run_p2"]) / max(fps["bare"]), 3),
        "cpu_ms_per_frame_median": {k: round(v, 2) for k, v in cpu_med.items()},
        # CPU time is less sensitive than wall time to other load on a shared machine.
        "cpu_ratio_bare_over_run_p1": round(cpu_med["bare"] / cpu_med["run_p1"], 3),
        "cpu_ratio_bare_over_run_p2": round(cpu_med["bare"] / cpu_med["run_p2"], 3),
        "goal_run_p1_over_bare": GOAL_SPEED_RATIO,
        "goal_met": med["run_p1"] / med["bare"] >= GOAL_SPEED_RATIO,
        "note_run_p2": "default PoseConfig (max_people=2): cost of bystander tracking",
    }


def child_peak_rss(video: Path, out: Path, max_people: int, log: Path | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(video), str(out), str(max_people)],
        capture_output=True, text=True, env=env, check=False,
    )
    if log is not None:
        with open(log, "a") as fh:
            fh.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"pose subprocess failed on {video}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_memory(video: Path, work: Path, loop: int, log: Path | None) -> dict:
    from motorflow.pose import PoseConfig

    max_people = PoseConfig().max_people
    long_video = work / f"loop{loop}x.mp4"
    t0 = time.perf_counter()
    n_long = loop_video(video, long_video, loop)
    loop_s = time.perf_counter() - t0
    short = child_peak_rss(video, work / "mem_1x.npz", max_people, log)
    long = child_peak_rss(long_video, work / f"mem_{loop}x.npz", max_people, log)
    per_frame = max_people * N_JOINTS * 3 * 4  # float32 (P, V, 3) per frame
    grow = (long["frames"] - short["frames"]) * per_frame
    return {
        "max_people": max_people,
        "loop": loop,
        "make_long_video_s": round(loop_s, 2),
        "frames": {"1x": short["frames"], f"{loop}x": n_long},
        "peak_rss_mib": {"1x": round(short["peak_rss_kib"] / 1024, 1),
                         f"{loop}x": round(long["peak_rss_kib"] / 1024, 1)},
        "rss_after_imports_mib": {"1x": round(short["rss_after_imports_kib"] / 1024, 1),
                                  f"{loop}x": round(long["rss_after_imports_kib"] / 1024, 1)},
        "peak_growth_during_run_mib": {
            "1x": round((short["peak_rss_kib"] - short["rss_after_imports_kib"]) / 1024, 1),
            f"{loop}x": round((long["peak_rss_kib"] - long["rss_after_imports_kib"]) / 1024, 1),
        },
        "ratio_peak_rss": round(long["peak_rss_kib"] / short["peak_rss_kib"], 3),
        "seconds": {"1x": round(short["seconds"], 2), f"{loop}x": round(long["seconds"], 2)},
        "keypoint_bytes_per_frame": per_frame,
        "keypoint_array_growth_mib": round(grow / 2**20, 3),
        "note": ("the (T, P, 21, 3) float32 keypoint array is the only state that must grow "
                 "with T; during run it exists up to ~3 times (per-frame list, stacked array, "
                 "primary/candidates copies), still negligible next to the peak RSS"),
    }


def machine_facts() -> dict:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = None
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "loadavg_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: version(d) for d in
                     ("mediapipe", "torch", "av", "opencv-contrib-python", "numpy", "motorflow")},
        "git_commit": commit,
    }


def markdown(result: dict) -> str:
    s, m = result["speed"], result["memory"]
    f, per, c = s["fps_median"], s["fps_per_round"], s["cpu_ms_per_frame_median"]
    loop = m["loop"]
    lines = [
        f"### Pose stage speed ({result['video']['frames']} frames, "
        f"{result['video']['width']}x{result['video']['height']}, median of {s['rounds']} "
        "interleaved rounds)",
        "",
        "| variant | frames/s | per round | ratio to bare | CPU ms/frame | CPU ratio |",
        "|---|---:|---|---:|---:|---:|",
        f"| bare: PyAV decode + BlazePose `process` | {f['bare']:.1f} | "
        f"{', '.join(f'{x:.1f}' for x in per['bare'])} | 1.000 | {c['bare']:.1f} | 1.000 |",
        f"| `pose.run`, max_people=1 (goal ≥ {GOAL_SPEED_RATIO:.2f}) | {f['run_p1']:.1f} | "
        f"{', '.join(f'{x:.1f}' for x in per['run_p1'])} | {s['ratio_run_p1_over_bare']:.3f} | "
        f"{c['run_p1']:.1f} | {s['cpu_ratio_bare_over_run_p1']:.3f} |",
        f"| `pose.run`, default max_people=2 (bystander tracking cost) | {f['run_p2']:.1f} | "
        f"{', '.join(f'{x:.1f}' for x in per['run_p2'])} | {s['ratio_run_p2_over_bare']:.3f} | "
        f"{c['run_p2']:.1f} | {s['cpu_ratio_bare_over_run_p2']:.3f} |",
        "",
        "Ratios are throughput relative to bare (higher is better): frames/s ÷ bare frames/s, "
        "and bare CPU ms/frame ÷ CPU ms/frame.  Best-of-rounds ratios: "
        f"{s['ratio_best_run_p1_over_bare']:.3f} (max_people=1), "
        f"{s['ratio_best_run_p2_over_bare']:.3f} (max_people=2).  "
        f"Load average (1, 5, 15 min): {result['machine']['loadavg_1_5_15_at_start']} "
        f"(start), {result['machine']['loadavg_1_5_15_at_end']} (end) "
        f"on {result['machine']['cpus_usable']} usable CPUs.",
        "",
        f"### Pose stage memory (fresh subprocess each, max_people={m['max_people']})",
        "",
        "| video | frames | peak RSS MiB | RSS after imports MiB | growth during run MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for k in ("1x", f"{loop}x"):
        lines.append(
            f"| {k} | {m['frames'][k]} | {m['peak_rss_mib'][k]:.1f} | "
            f"{m['rss_after_imports_mib'][k]:.1f} | {m['peak_growth_during_run_mib'][k]:.1f} |"
        )
    lines += [
        "",
        f"Peak RSS ratio {loop}x / 1x: **{m['ratio_peak_rss']:.3f}** (goal: close to 1).  "
        f"Keypoint array growth: {m['keypoint_bytes_per_frame']} B/frame x "
        f"{m['frames'][f'{loop}x'] - m['frames']['1x']} extra frames = "
        f"{m['keypoint_array_growth_mib']:.3f} MiB (negligible).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pose.json",
                    help="JSON result file (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds")
    ap.add_argument("--loop", type=int, default=10, help="length factor of the long video")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this directory and keep the videos (default: temp dir)")
    ap.add_argument("--verbose", action="store_true", help="let MediaPipe log to stderr")
    args = ap.parse_args(argv)

    # Before MediaPipe is first imported (it is imported lazily; subprocesses inherit these).
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)

    t_start, load_start = time.perf_counter(), os.getloadavg()
    with contextlib.ExitStack() as stack:
        if args.keep is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_pose_")))
        else:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        log = None if args.verbose else work / "mediapipe.log"
        print("rendering a synthetic side-view video ...", flush=True)
        video = render_side_video(work)
        print(f"  {video['video_id']}: {video['frames']} frames in {video['render_s']} s",
              flush=True)
        print(f"speed: {args.rounds} interleaved rounds ...", flush=True)
        speed = measure_speed(Path(video["path"]), work, args.rounds, log)
        print(f"memory: 1x and {args.loop}x video in fresh subprocesses ...", flush=True)
        memory = measure_memory(Path(video["path"]), work, args.loop, log)
        video["path"] = Path(video["path"]).name
        result = {
            "benchmark": "pose",
            "machine": machine_facts() | {
                "loadavg_1_5_15_at_start": [round(x, 2) for x in load_start]},
            "video": video,
            "speed": speed,
            "memory": memory,
            "total_s": round(time.perf_counter() - t_start, 1),
        }
    print()
    print(markdown(result))
    print(f"\ntotal {result['total_s']} s; JSON: {args.out}")
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
