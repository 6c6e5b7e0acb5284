"""Snakemake profiles: runtime settings only, combined correctly, and planned by dry runs.

profiles/default/ is Snakemake's workflow profile (applied to every run in the repository
root, last, replacing an executor profile's key as a whole); profiles/slurm/ and
profiles/kubernetes/ are executor profiles.  The dry runs plan the real workflow in the
repository root (`-n`: nothing is written to results/); `-F` plans every job, whatever the
state of results/, so the checks do not depend on earlier runs.
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
import yte

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
DEFAULT = PROFILES / "default" / "config.yaml"
SLURM = PROFILES / "slurm" / "config.yaml"
KUBERNETES = PROFILES / "kubernetes" / "config.yaml"
EXECUTOR_PROFILES = [SLURM, KUBERNETES]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
HAS_SLURM = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
needs_slurm = pytest.mark.skipif(
    not HAS_SLURM,
    reason="snakemake-executor-plugin-slurm is not installed (pip install -r requirements.lock)",
)

# The rules that train torch models and so pick the GPU with models.device: auto
# (motorflow.train.loop.pick_device); every other rule runs on the CPU.
TORCH_TRAINING = {
    "train_stgcn",
    "train_two_stream_skeleton",
    "train_fusion_xattn",
    "train_rgbflow",
}
# Profile keys that would carry experiment settings into a profile.
CONFIG_OPTIONS = {"config", "configfile", "configfiles", "replace-workflow-config"}
# Keys of runtime settings that must never appear in config/config.yaml, at any depth.
RUNTIME_KEYS = {
    "cores", "jobs", "executor", "profile", "resources", "default-resources",
    "default_resources", "set-resources", "set_resources", "set-threads", "set_threads",
    "mem_mb", "runtime", "gpu", "slurm_partition", "slurm_account", "partition", "account",
    "latency-wait", "keep-going", "container-image", "default-storage-provider",
}
YTE_KEYS = {"__use_yte__", "__definitions__"}


def load(path: Path) -> dict:
    """A profile as written (YTE expressions unevaluated)."""
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path}: not a mapping"
    return doc


def render(path: Path) -> dict:
    """A profile as Snakemake reads it (profiles.ProfileConfigFileParser: YTE on demand)."""
    with path.open() as f:
        return yte.process_yaml(f, require_use_yte=True)


def workflow_rules() -> set[str]:
    """Every rule name defined in the workflow sources (gait and infant branches alike)."""
    names: set[str] = set()
    for smk in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = smk.read_text()
        names |= set(re.findall(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", text, re.MULTILINE))
        names |= set(re.findall(r"^\s*use rule \w+ as (\w+)", text, re.MULTILINE))
    return names


def dry_run(*args: str, gpus: int = 1) -> str:
    """stdout + stderr of a dry run of every job in the repository root; must succeed.
    ``gpus``: what a training job asks for (MOTORFLOW_TRAINING_GPUS), fixed so that the
    plan does not depend on this machine's GPU or cluster."""
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    env["MOTORFLOW_TRAINING_GPUS"] = str(gpus)
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "-F", *args],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake -n {args} failed:\n{out[-4000:]}"
    assert "This was a dry-run" in out
    return out


def job_resources(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run prints."""
    jobs: list[tuple[str, dict[str, str]]] = []
    rule = None
    for line in out.splitlines():
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
            continue
        m = re.match(r"\s+resources: (.*)$", line)
        if m and rule is not None:
            jobs.append((rule, dict(item.split("=", 1) for item in m.group(1).split(", "))))
            rule = None
    return jobs


def check_jobs(jobs: list[tuple[str, dict[str, str]]], per_rule: dict, defaults: dict) -> None:
    """Each job carries its rule's set-resources (else ``defaults``) and a GPU only if asked."""
    for rule, res in jobs:
        want = {**defaults, **per_rule.get(rule, {})}
        for key in ("mem_mb", "runtime"):
            if key in want:
                assert res.get(key) == str(want[key]), (rule, key, res)
        assert res.get("gpu") == (str(want["gpu"]) if "gpu" in want else None), (rule, res)


# --------------------------------------------------------------------------- what goes where


@pytest.mark.parametrize("path", [DEFAULT, *EXECUTOR_PROFILES], ids=lambda p: p.parent.name)
def test_profiles_hold_no_experiment_settings(path):
    keys = set(load(path))
    experiment = set(load(REPO / "config" / "config.yaml"))
    assert not keys & CONFIG_OPTIONS, f"{path}: experiment settings belong in config/"
    assert not keys & experiment, f"{path}: sections of config/config.yaml: {keys & experiment}"


def test_config_holds_no_runtime_settings():
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield str(k)
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    found = set(keys(load(REPO / "config" / "config.yaml"))) & RUNTIME_KEYS
    assert not found, f"config/config.yaml holds runtime settings {found}: move them to profiles/"


@pytest.mark.parametrize("path", EXECUTOR_PROFILES, ids=lambda p: p.parent.name)
def test_no_key_in_both_the_workflow_profile_and_an_executor_profile(path):
    # profiles/default is read last and replaces such a key of the executor profile whole:
    # the executor profile's value would be dropped without a word.
    shared = (set(load(DEFAULT)) - YTE_KEYS) & set(load(path))
    assert not shared, f"{sorted(shared)} set in profiles/default and {path.parent.name}"


def test_executor_profiles_name_their_executor():
    assert load(SLURM)["executor"] == "slurm"
    assert load(KUBERNETES)["executor"] == "kubernetes"
    assert "executor" not in load(DEFAULT)  # local unless an executor profile says otherwise


# --------------------------------------------------------------------------- per-rule needs


def test_set_resources_name_existing_rules():
    # Snakemake ignores set-resources of an unknown rule: a misspelt name would silently
    # leave that rule with the defaults.
    per_rule = load(DEFAULT)["set-resources"]
    assert set(per_rule) - workflow_rules() == set()
    assert TORCH_TRAINING <= workflow_rules()


def test_only_torch_training_may_ask_for_a_gpu(monkeypatch):
    monkeypatch.setenv("MOTORFLOW_TRAINING_GPUS", "1")
    per_rule = render(DEFAULT)["set-resources"]
    gpu = {rule for rule, res in per_rule.items() if "gpu" in res}
    assert gpu == TORCH_TRAINING
    assert all(per_rule[rule]["gpu"] == 1 for rule in gpu)
    # Heavier than the light default (2 GB, 30 min) and explicit everywhere.
    assert all(per_rule[rule]["mem_mb"] >= 8000 and per_rule[rule]["runtime"] >= 120
               for rule in TORCH_TRAINING)
    assert all({"mem_mb", "runtime"} <= set(res) for res in per_rule.values())
    assert "log_mlflow" not in per_rule  # one light job: the executor's defaults


def _fake_sinfo(monkeypatch, stdout: str | None, returncode: int = 0) -> None:
    """sinfo as the profile calls it: absent (None), failing, or printing ``stdout``; a
    SLURM configuration is visible wherever sinfo is there."""
    real_which, real_run = shutil.which, subprocess.run
    if stdout is None:
        monkeypatch.delenv("SLURM_CONF", raising=False)
    else:
        monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    monkeypatch.setattr(
        shutil, "which",
        lambda name, *a, **k: (None if stdout is None else "/usr/bin/sinfo")
        if name == "sinfo" else real_which(name, *a, **k),
    )

    def run(cmd, *args, **kwargs):
        if cmd and str(cmd[0]).endswith("sinfo"):
            return subprocess.CompletedProcess(cmd, returncode, stdout or "", "")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)


# Where a training job asks for a GPU: SLURM rejects `--gpus=1` on a node without GRES (the
# whole training stage of a CPU-only cluster failed at sbatch), so only where one is
# configured or detected.
@pytest.mark.parametrize(
    ("env", "sinfo", "cuda", "gpus", "partition"),
    [
        ({}, None, False, None, None),  # laptop, CPU torch: no request
        ({}, None, True, 1, None),  # workstation with a CUDA build and an NVIDIA GPU
        ({}, "cpu* (null)\ngpu gpu:a100:4(S:0-1)\n", False, None, None),  # CPU default
        ({}, "batch* gpu:a100:4(S:0-1)\n", False, 1, None),  # GPUs in the default partition
        ({}, "", False, None, None),  # sinfo answers nothing: no cluster GPUs
        ({"MOTORFLOW_GPU_PARTITION": "gpu"}, "cpu* (null)\n", False, 1, "gpu"),
        ({"MOTORFLOW_TRAINING_GPUS": "2"}, None, False, 2, None),
        ({"MOTORFLOW_TRAINING_GPUS": "0"}, "batch* gpu:4\n", True, None, None),  # forced off
    ],
)
def test_training_asks_for_a_gpu_only_where_one_is_configured_or_detected(
    monkeypatch, env, sinfo, cuda, gpus, partition
):
    for name in ("MOTORFLOW_TRAINING_GPUS", "MOTORFLOW_GPU_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _fake_sinfo(monkeypatch, sinfo)
    real_version, real_glob = importlib.metadata.version, glob.glob
    torch_version = "2.13.0" if cuda else "2.13.0+cpu"
    monkeypatch.setattr(
        importlib.metadata, "version",
        lambda name: torch_version if name == "torch" else real_version(name),
    )
    monkeypatch.setattr(
        glob, "glob",
        lambda pattern, *a, **k: ["/proc/driver/nvidia/gpus/0"]
        if pattern.startswith("/proc/driver/nvidia") else real_glob(pattern, *a, **k),
    )
    per_rule = render(DEFAULT)["set-resources"]
    for rule in TORCH_TRAINING:
        assert per_rule[rule].get("gpu") == gpus, (rule, per_rule[rule])
        assert per_rule[rule].get("slurm_partition") == partition, (rule, per_rule[rule])
    assert not any("gpu" in per_rule[r] or "slurm_partition" in per_rule[r]
                   for r in set(per_rule) - TORCH_TRAINING)


def test_sinfo_is_not_asked_without_a_slurm_configuration(monkeypatch):
    # Without one, sinfo would look for a controller in DNS at every Snakemake start.
    for name in ("MOTORFLOW_TRAINING_GPUS", "MOTORFLOW_GPU_PARTITION", "SLURM_CONF_SERVER"):
        monkeypatch.delenv(name, raising=False)
    _fake_sinfo(monkeypatch, "batch* gpu:a100:4(S:0-1)\n")
    monkeypatch.delenv("SLURM_CONF")
    real_exists = os.path.exists
    monkeypatch.setattr(
        os.path, "exists", lambda p: False if str(p).endswith("slurm.conf") else real_exists(p)
    )
    monkeypatch.setattr(glob, "glob", lambda *a, **k: [])
    assert "gpu" not in render(DEFAULT)["set-resources"]["train_stgcn"]  # GRES never seen
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    assert render(DEFAULT)["set-resources"]["train_stgcn"]["gpu"] == 1


def test_a_failing_sinfo_falls_back_to_this_machine(monkeypatch):
    for name in ("MOTORFLOW_TRAINING_GPUS", "MOTORFLOW_GPU_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    _fake_sinfo(monkeypatch, "sinfo: fatal: Could not establish a configuration source", 1)
    monkeypatch.setattr(glob, "glob", lambda *a, **k: [])
    assert "gpu" not in render(DEFAULT)["set-resources"]["train_stgcn"]


def test_gpu_limit_counts_per_machine():
    profile = load(DEFAULT)
    assert profile["set-resource-scopes"] == {"gpu": "local"}
    assert set(profile["resources"]) == {"gpu"}


# The gpu limit: 1 where training runs on a GPU, the number of cores where it runs on the CPU.
@pytest.mark.parametrize(
    ("torch_version", "nvidia_gpus", "limit"),
    [
        ("2.13.0+cpu", [], "cores"),
        ("2.13.0+cpu", ["/proc/driver/nvidia/gpus/0000:01:00.0"], "cores"),  # CPU build
        ("2.13.0", [], "cores"),  # CUDA build, no GPU
        ("2.13.0", ["/proc/driver/nvidia/gpus/0000:01:00.0"], 1),
        ("2.13.0+cu126", ["/proc/driver/nvidia/gpus/0000:01:00.0"], 1),
        (None, ["/proc/driver/nvidia/gpus/0000:01:00.0"], "cores"),  # no torch at all
    ],
)
def test_gpu_limit_follows_where_training_runs(monkeypatch, torch_version, nvidia_gpus, limit):
    real_version, real_glob = importlib.metadata.version, glob.glob

    def version(name):
        if name != "torch":
            return real_version(name)
        if torch_version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return torch_version

    def fake_glob(pattern, *args, **kwargs):
        if pattern.startswith("/proc/driver/nvidia/gpus"):
            return list(nvidia_gpus)
        return real_glob(pattern, *args, **kwargs)

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(glob, "glob", fake_glob)
    expected = os.cpu_count() if limit == "cores" else limit
    assert render(DEFAULT)["resources"] == {"gpu": expected}


def test_gpu_limit_on_this_machine_is_a_positive_number():
    gpu = render(DEFAULT)["resources"]["gpu"]
    assert isinstance(gpu, int) and gpu >= 1


# --------------------------------------------------------------------------- dry runs


@pytest.mark.parametrize("configfile", [None, "config/infant.yaml"], ids=["gait", "infant"])
def test_default_profile_dry_run_gives_each_rule_its_resources(configfile, monkeypatch):
    out = dry_run(*(["--configfile", configfile] if configfile else []))
    assert "workflow specific profile profiles/default" in out
    jobs = job_resources(out)
    monkeypatch.setenv("MOTORFLOW_TRAINING_GPUS", "1")
    per_rule = render(DEFAULT)["set-resources"]
    check_jobs(jobs, per_rule, defaults={})
    rules = {rule for rule, _ in jobs}
    trained = TORCH_TRAINING & rules
    assert trained >= {"train_stgcn", "train_two_stream_skeleton"}
    if configfile:
        assert "train_rgbflow" in trained and "render_infant_video" in rules
    else:
        assert "train_fusion_xattn" in trained and "render_video" in rules
    gpu_jobs = [rule for rule, res in jobs if "gpu" in res]
    assert gpu_jobs and set(gpu_jobs) == trained
    assert [rule for rule, _ in jobs].count("log_mlflow") == 1


@needs_slurm
@pytest.mark.parametrize("gpus", [0, 1], ids=["cpu-only", "gpu"])
def test_slurm_dry_run_plans_the_workflow(gpus, monkeypatch):
    out = dry_run("--profile", "profiles/slurm", gpus=gpus)
    assert "Using profiles profiles/slurm and workflow specific profile profiles/default" in out
    jobs = job_resources(out)
    assert len(jobs) > 100
    # Rules sized in profiles/default keep their needs; the others get the SLURM defaults.
    slurm_defaults = load(SLURM)["default-resources"]
    monkeypatch.setenv("MOTORFLOW_TRAINING_GPUS", str(gpus))
    check_jobs(jobs, render(DEFAULT)["set-resources"], defaults=slurm_defaults)
    light = {rule: res for rule, res in jobs if rule in ("plot_gait_curves", "log_mlflow")}
    assert light["log_mlflow"]["mem_mb"] == "2000" and light["plot_gait_curves"]["runtime"] == "30"
    assert [rule for rule, _ in jobs].count("log_mlflow") == 1
    training = [rule for rule, _ in jobs if rule in TORCH_TRAINING]
    assert training and sum("gpu" in res for _, res in jobs) == len(training) * gpus


@needs_slurm
def test_slurm_profile_layers_under_the_workflow_profile(monkeypatch):
    from snakemake.cli import parse_args

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    monkeypatch.setenv("MOTORFLOW_TRAINING_GPUS", "1")
    _, args = parse_args(["--profile", "profiles/slurm", "-n"])
    assert args.executor == "slurm"
    assert args.jobs == load(SLURM)["jobs"]
    assert args.default_resources["mem_mb"].value == 2000  # from profiles/slurm
    assert args.default_resources["runtime"].value == 30
    assert args.set_resources["train_stgcn"]["gpu"].value == 1  # from profiles/default
    assert args.set_resource_scopes == {"gpu": "local"}
    assert args.keep_going and args.rerun_incomplete


@needs_slurm
def test_slurm_plugin_turns_the_rule_needs_into_sbatch_options(monkeypatch):
    # The resource names are the ones the pinned plugin reads: mem_mb -> --mem,
    # runtime -> -t, gpu -> --gpus (and nothing of the kind for CPU rules).
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.__getitem__

    params = dict(run_uuid="u", slurm_logfile="log", comment_str="c", account="",
                  partition="", workdir=str(REPO))
    defaults = load(SLURM)["default-resources"]
    monkeypatch.setenv("MOTORFLOW_TRAINING_GPUS", "1")
    for rule, res in {**render(DEFAULT)["set-resources"], "log_mlflow": {}}.items():
        job = SimpleNamespace(resources=Resources({**defaults, **res}), threads=1)
        call = get_submit_command(job, params) + set_gres_string(job)
        want = {**defaults, **res}
        assert f"--mem {want['mem_mb']}" in call, (rule, call)
        assert f"-t {want['runtime']}" in call, (rule, call)
        assert ("--gpus=1" in call) == (rule in TORCH_TRAINING), (rule, call)


def group_jobs(out: str) -> list[list[tuple[str, str]]]:
    """[(rule, wildcards), ...] of every group job a dry run prints."""
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] | None = None
    rule = None
    for line in out.splitlines():
        if re.search(r"Group job \w+ \(jobs in lexicogr\. order\):$", line):
            current = []
            groups.append(current)
            continue
        if current is None:
            continue
        if line.strip() and not line.startswith("    "):
            current = None
            continue
        m = re.match(r"    (?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
        m = re.match(r"\s+wildcards: (.*)$", line)
        if m and rule is not None:
            current.append((rule, m.group(1)))
            rule = None
    return groups


@needs_slurm
@pytest.mark.parametrize("configfile", ["config/tiny.yaml", "config/infant.yaml"])
def test_slurm_runs_each_recordings_chain_as_one_job_and_aggregates_locally(configfile):
    # A SLURM job costs an sbatch, a job step, two Snakemake starts and a status-check wait:
    # per recording, its light per-recording rules go as one job; aggregates are local.
    groups = load(SLURM)["groups"]
    assert set(groups) <= workflow_rules() and set(groups.values()) == {"recording"}
    out = dry_run("--profile", "profiles/slurm", "--configfile", configfile, gpus=0)
    jobs = group_jobs(out)
    recordings = [{wc for _, wc in group} for group in jobs]
    assert jobs and all(len(r) == 1 and next(iter(r)).startswith("video_id=") for r in recordings)
    assert len({next(iter(r)) for r in recordings}) == len(jobs)  # one job per recording
    assert all(len(group) >= 3 for group in jobs)  # pose, cleaning, features at least
    local = local_rules()
    assert {"summarise_qc", "aggregate_metrics", "log_mlflow", "render_summary"} <= local
    assert not local & (TORCH_TRAINING | set(groups) | set(load(DEFAULT)["set-resources"]))


def local_rules() -> set[str]:
    """Rules marked `localrule: True` in workflow/rules/ (run in the Snakemake process)."""
    names: set[str] = set()
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        blocks = re.split(r"^\s*(?=rule \w+:)", smk.read_text(), flags=re.MULTILINE)
        for block in blocks:
            m = re.match(r"rule (\w+):", block)
            if m and re.search(r"^\s+localrule: True$", block, re.MULTILINE):
                names.add(m.group(1))
    return names
