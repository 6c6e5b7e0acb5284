"""DVC around the real Snakefile: `dvc repro` on a clean clone reproduces the committed metrics,
`dvc exp run -S` of a training parameter reruns only training and what follows, and
`dvc metrics show` / `dvc plots show` read the workflow's outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config
from test_workflow import EPOCHS_RULES, copy_workflow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

# The tiny cohort as the config of record (DVC's params file is config/config.yaml).
TRACKED = ("dvc.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore", "data/README.md")
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "GIT_AUTHOR_NAME": "motorflow tests",
    "GIT_AUTHOR_EMAIL": "tests@motorflow.invalid",
    "GIT_COMMITTER_NAME": "motorflow tests",
    "GIT_COMMITTER_EMAIL": "tests@motorflow.invalid",
}


def run(cwd: Path, *cmd: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed:\n{tail}")
    return proc


def jobs_of_last_run(repo: Path) -> dict[str, int]:
    """Rules and job counts of the newest Snakemake log (its "Job stats" table)."""
    logs = sorted((repo / ".snakemake" / "log").glob("*.snakemake.log"), key=os.path.getmtime)
    lines = logs[-1].read_text().splitlines()
    start = lines.index("Job stats:") + 3
    jobs = {}
    for line in lines[start:]:
        rule, count = line.split()
        if rule == "total":
            return jobs
        jobs[rule] = int(count)
    raise AssertionError(f"no job table in {logs[-1]}")


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    """A git repository of the workflow whose author ran `dvc repro` and committed dvc.lock."""
    repo = copy_workflow(tmp_path_factory.mktemp("dvc") / "origin")
    for rel in TRACKED:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, repo / rel)
    shutil.copy2(REPO / ".gitignore", repo / ".gitignore")
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    tiny = yaml.safe_load((REPO / "config/tiny.yaml").read_text())
    update_config(config, tiny)
    (repo / "config/config.yaml").write_text(yaml.safe_dump(config))
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "workflow")
    run(repo, "dvc", "repro")
    run(repo, "git", "add", "dvc.lock")
    run(repo, "git", "commit", "-qm", "results of record")
    return repo


@pytest.fixture(scope="module")
def clone(committed, tmp_path_factory) -> Path:
    """A reader's clean clone (no results/, no DVC cache) after `dvc repro`."""
    repo = tmp_path_factory.mktemp("dvc") / "clone"
    run(committed.parent, "git", "clone", "-q", str(committed), str(repo))
    assert not (repo / "results").exists()
    run(repo, "dvc", "repro")
    return repo


def test_repro_on_a_clean_clone_reproduces_the_metrics(committed, clone):
    lock = yaml.safe_load((committed / "dvc.lock").read_text())
    stage = lock["stages"]["workflow"]
    assert {out["path"] for out in stage["outs"]} == {"results/metrics.json", "results/eval/plots"}
    assert stage["params"]["config/config.yaml"]["models"]["optim"]["epochs"] == 4
    # Same bytes, and so the same hashes as the committed dvc.lock: the clone's repro leaves
    # dvc.lock unchanged and DVC finds the pipeline up to date.
    metrics = "results/metrics.json"
    assert (clone / metrics).read_bytes() == (committed / metrics).read_bytes()
    run(clone, "git", "diff", "--exit-code", "dvc.lock")
    assert "up to date" in run(clone, "dvc", "status").stdout
    # A second repro has nothing to rerun (DVC skips the stage; no Snakemake job).
    assert "didn't change, skipping" in run(clone, "dvc", "repro").stdout
    # Nothing volatile is a rerun trigger: on a new commit (and later in time) Snakemake
    # itself still plans nothing.
    run(clone, "git", "commit", "-q", "--allow-empty", "-m", "a later commit")
    dry = run(clone, "snakemake", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_metrics_and_plots_show_read_the_workflow_outputs(clone):
    stored = json.loads((clone / "results/metrics.json").read_text())
    shown = json.loads(run(clone, "dvc", "metrics", "show", "--json").stdout)
    data = next(iter(shown.values()))["data"]["results/metrics.json"]["data"]
    assert data == stored
    models = sorted(stored)
    summary = json.loads((clone / "results/eval/summary.json").read_text())
    plots = json.loads(run(clone, "dvc", "plots", "show", "--json").stdout)["data"]

    def rows(path: str) -> list[dict]:
        (plot,) = plots[path]  # one Vega-Lite spec per file, its data inlined
        return plot["content"]["data"]["values"]

    for model in models:
        confusion = rows(f"results/eval/plots/confusion/{model}.csv")
        # Every subject the model scored, once, as true and predicted level (a feature
        # model skips a video whose gait features failed QC).
        assert len(confusion) == summary["n"][model]["subject"] >= 11
        labels = ["I", "II", "III", "IV"]
        counts = [[0] * 4 for _ in labels]
        for r in confusion:
            counts[labels.index(r["actual"])][labels.index(r["predicted"])] += 1
        assert counts == summary["confusion"][model]["subject"]
        splits = rows(f"results/eval/plots/folds/{model}.csv")
        assert sorted(row["split"] for row in splits) == ["fold0", "fold1", "fold2"]
        mean = sum(float(row["accuracy"]) for row in splits) / 3
        assert mean == pytest.approx(stored[model]["subject"]["accuracy"]["mean"], abs=1e-5)


def test_exp_run_of_a_training_param_reruns_only_training_and_downstream(clone):
    before = {
        p: p.stat().st_mtime_ns
        for stage in ("synth", "pose", "clean", "features", "folds")
        for p in (clone / "results" / stage).rglob("*")
        if p.is_file()
    }
    out = run(clone, "dvc", "exp", "run", "-S", "config/config.yaml:models.optim.epochs=3")
    assert "Ran experiment" in out.stdout
    assert "epochs: 3" in (clone / "config/config.yaml").read_text()
    assert set(jobs_of_last_run(clone)) == EPOCHS_RULES
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before  # nothing upstream of training was rewritten
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    assert lock["stages"]["workflow"]["params"]["config/config.yaml"]["models"]["optim"][
        "epochs"
    ] == 3
    # The experiment is recorded with its parameter and its metrics.
    shown = json.loads(run(clone, "dvc", "exp", "show", "--json").stdout)
    assert "epochs" in json.dumps(shown)


def test_real_recordings_added_with_dvc_make_the_workflow_stale(clone):
    videos = clone / "data" / "videos"
    videos.mkdir()
    (videos / "child01_walk1.mp4").write_bytes(b"stand-in bytes: DVC hashes, never decodes")
    run(clone, "dvc", "add", "data/videos")
    # git gets the pointer file and an ignore rule, never the recording itself.
    assert (clone / "data/videos.dvc").exists()
    assert "/videos" in (clone / "data/.gitignore").read_text()
    tracked = run(clone, "git", "status", "--porcelain", "--untracked-files=all").stdout
    assert "child01_walk1.mp4" not in tracked
    status = run(clone, "dvc", "status").stdout
    assert "workflow:" in status and "modified:" in status and "data" in status
