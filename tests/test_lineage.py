"""Lineage manifest and audit against a real (toy) Snakemake run in a temp dir."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motorflow import lineage, provenance, tracking

SNAKEFILE = """\
configfile: "config/config.yaml"

rule all:
    input: "results/total.txt", "results/parts"

rule raw:
    output: "results/raw/{s}.txt"
    params: value=lambda wc: config["values"][wc.s]
    shell: "echo {params.value} > {output}"

rule scale:
    input: "results/raw/{s}.txt"
    output: "results/scaled/{s}.txt"
    params: factor=config["factor"]
    script: "scripts/scale.py"

rule total:
    input: expand("results/scaled/{s}.txt", s=sorted(config["values"]))
    output: "results/total.txt"
    shell: "cat {input} > {output}"

rule parts:
    output: directory("results/parts")
    shell: "mkdir -p {output} && echo x > {output}/one.txt && echo y > {output}/two.txt"
"""

SCRIPT = """\
from pathlib import Path

x = float(Path(snakemake.input[0]).read_text())
Path(snakemake.output[0]).write_text(f"{x * snakemake.params.factor}\\n")
"""

RULES = {
    "results/raw/a.txt": "raw",
    "results/raw/b.txt": "raw",
    "results/scaled/a.txt": "scale",
    "results/scaled/b.txt": "scale",
    "results/total.txt": "total",
    "results/parts/one.txt": "parts",
    "results/parts/two.txt": "parts",
}


def write_config(workdir: Path, values: dict, factor: float = 2.0) -> None:
    (workdir / "config").mkdir(exist_ok=True)
    text = json.dumps({"values": values, "factor": factor})  # JSON is valid YAML
    (workdir / "config" / "config.yaml").write_text(text)


def snakemake(workdir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--quiet"],
                          cwd=workdir, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """One real Snakemake run; tests work on copies so they can break them."""
    workdir = tmp_path_factory.mktemp("toy")
    (workdir / "Snakefile").write_text(SNAKEFILE)
    (workdir / "scripts").mkdir()
    (workdir / "scripts" / "scale.py").write_text(SCRIPT)
    write_config(workdir, {"a": 1, "b": 2})
    snakemake(workdir)
    return workdir


@pytest.fixture
def wd(toy_run, tmp_path, monkeypatch) -> Path:
    dest = tmp_path / "wd"
    shutil.copytree(toy_run, dest, symlinks=True)
    # The temp dir must not be found inside some enclosing git repo.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return dest


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kinds(drifts) -> set[tuple[str, str]]:
    return {(d.path, d.kind) for d in drifts}


def test_sha256_file_streams_across_chunks(tmp_path):
    data = os.urandom(int(2.5 * provenance.CHUNK))
    (tmp_path / "f").write_bytes(data)
    assert provenance.sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_manifest_records_rule_inputs_and_hashes(wd):
    (wd / "results" / "stray.txt").write_text("hand-made\n")
    (wd / "results" / "mlflow" / "artifacts" / "run1").mkdir(parents=True)
    (wd / "results" / "mlflow" / "artifacts" / "run1" / "m.txt").write_text("1")
    (wd / "results" / "mlflow" / "mlflow.db").write_bytes(b"sqlite")
    (wd / "results" / "lineage.json").write_text("{}")

    m = lineage.build_manifest(workdir=wd)

    assert {k: v["rule"] for k, v in m["files"].items()} == RULES
    for key, entry in m["files"].items():
        assert entry["sha256"] == sha(wd / key), key
        assert entry["bytes"] == (wd / key).stat().st_size
    # Inputs with the hashes of the files the jobs read.
    total = m["files"]["results/total.txt"]
    assert total["inputs"] == {f"results/scaled/{s}.txt": sha(wd / f"results/scaled/{s}.txt")
                               for s in "ab"}  # fmt: skip
    assert m["files"]["results/scaled/b.txt"]["inputs"] == {
        "results/raw/b.txt": sha(wd / "results/raw/b.txt")}  # fmt: skip
    assert m["files"]["results/raw/a.txt"]["inputs"] == {}
    # Param values as Snakemake recorded them, de-duplicated by hash.
    assert m["params"][m["files"]["results/raw/a.txt"]["params_hash"]] == ["1"]
    assert m["params"][m["files"]["results/raw/b.txt"]["params_hash"]] == ["2"]
    assert m["params"][m["files"]["results/scaled/a.txt"]["params_hash"]] == ["2.0"]
    scale = m["files"]["results/scaled/a.txt"]
    assert scale["script"] == {"path": "scripts/scale.py",
                               "sha256_at_build": sha(wd / "scripts/scale.py")}  # fmt: skip
    assert m["files"]["results/raw/a.txt"]["shellcmd"] == "echo 1 > results/raw/a.txt"
    assert m["files"]["results/parts/one.txt"]["output_dir"] == "results/parts"
    assert m["files"]["results/total.txt"]["code_hash"] != scale["code_hash"]
    # Written outside Snakemake: listed, not given lineage; excluded stores appear nowhere.
    assert m["unrecorded"] == ["results/stray.txt"]
    assert m["incomplete"] == []
    # Environment and code version.
    assert m["schema"] == 1
    assert m["code"]["git_commit"] is None and m["code"]["git_dirty"] is None
    assert m["config_files"] == {"config/config.yaml": sha(wd / "config/config.yaml")}
    import snakemake

    assert m["packages"]["snakemake"] == snakemake.__version__
    assert set(lineage.PACKAGES) <= set(m["packages"])
    # Volatile times live outside "files".
    assert set(m["times"]) == set(RULES)
    assert not any("time" in field for e in m["files"].values() for field in e)


def test_manifest_is_deterministic(wd):
    first = lineage.build_manifest(workdir=wd)
    second = lineage.build_manifest(workdir=wd)
    assert lineage.dumps(first["files"]) == lineage.dumps(second["files"])
    assert first["params"] == second["params"] and first["times"] == second["times"]


def test_source_hash_follows_code(wd):
    before = lineage.build_manifest(workdir=wd)["code"]["source_sha256"]
    (wd / "workflow" / "scripts").mkdir(parents=True)
    (wd / "workflow" / "scripts" / "x.py").write_text("print(1)\n")
    after = lineage.build_manifest(workdir=wd)["code"]
    assert after["source_sha256"] != before and after["source_files"] == 2


def test_incomplete_outputs_get_no_lineage(wd):
    key = base64.urlsafe_b64encode(b"results/raw/a.txt").decode()
    (wd / ".snakemake" / "incomplete" / key).write_text('{"external_jobid": null}')
    m = lineage.build_manifest(workdir=wd)
    assert m["incomplete"] == ["results/raw/a.txt"]
    assert "results/raw/a.txt" not in m["files"]


def test_audit_clean_after_fresh_run(wd, capsys):
    manifest = lineage.write_manifest(workdir=wd)
    on_disk = json.loads((wd / "results" / "lineage.json").read_text())
    assert on_disk["files"] == manifest["files"]
    assert lineage.audit(workdir=wd) == []
    assert lineage.main_audit(argparse.Namespace(
        manifest="results/lineage.json", results="results", workdir=str(wd))) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("OK: 7 recorded files")


def test_audit_changed_file_and_its_consumer(wd, capsys):
    lineage.write_manifest(workdir=wd)
    (wd / "results" / "scaled" / "a.txt").write_text("999.0\n")
    drifts = lineage.audit(workdir=wd)
    assert kinds(drifts) == {("results/scaled/a.txt", "changed")}
    assert len(drifts) == 2  # its own hash, and the hash results/total.txt was built from
    own, consumer = sorted(drifts, key=lambda d: "total" in d.detail)
    assert "rule scale" in own.detail
    assert "results/total.txt" in consumer.detail and "not rebuilt" in consumer.detail
    assert lineage.main_audit(["--workdir", str(wd)]) == 1
    assert "results/scaled/a.txt" in capsys.readouterr().out


def test_audit_catches_intermediate_edited_before_manifest(wd):
    # Snakemake's recorded input checksum, not the bytes at build time, is the lineage.
    (wd / "results" / "raw" / "b.txt").write_text("7\n")
    lineage.write_manifest(workdir=wd)
    drifts = lineage.audit(workdir=wd)
    assert kinds(drifts) == {("results/raw/b.txt", "changed")}
    assert "results/scaled/b.txt" in drifts[0].detail


def test_audit_missing(wd):
    lineage.write_manifest(workdir=wd)
    (wd / "results" / "total.txt").unlink()
    (wd / "results" / "raw" / "b.txt").unlink()
    drifts = lineage.audit(workdir=wd)
    assert kinds(drifts) == {("results/total.txt", "missing"), ("results/raw/b.txt", "missing")}
    assert len(drifts) == 2


def test_audit_unrecorded(wd, capsys):
    lineage.write_manifest(workdir=wd)
    (wd / "results" / "scaled" / "extra.txt").write_text("?\n")
    (wd / "results" / "mlflow" / "artifacts").mkdir(parents=True)
    (wd / "results" / "mlflow" / "artifacts" / "a.txt").write_text("excluded\n")
    drifts = lineage.audit(workdir=wd)
    assert kinds(drifts) == {("results/scaled/extra.txt", "unrecorded")}
    assert lineage.main_audit(["--workdir", str(wd)]) == 1
    out = capsys.readouterr().out
    assert "unrecorded" in out and "results/scaled/extra.txt" in out


@pytest.mark.parametrize("content", [None, "{not json", '{"schema": 1}'])
def test_main_audit_bad_manifest(wd, capsys, content):
    path = wd / "results" / "lineage.json"
    if content is not None:
        path.write_text(content)
    assert lineage.main_audit(["--workdir", str(wd)]) == 2
    assert str(path) in capsys.readouterr().err
    with pytest.raises(lineage.ManifestError):
        lineage.audit(workdir=wd)


def test_param_change_touches_only_affected_records(wd):
    before = lineage.build_manifest(workdir=wd)
    write_config(wd, {"a": 5, "b": 2})
    snakemake(wd)
    after = lineage.build_manifest(workdir=wd)

    a_before, a_after = before["files"]["results/raw/a.txt"], after["files"]["results/raw/a.txt"]
    assert a_after["params_hash"] != a_before["params_hash"]
    assert after["params"][a_after["params_hash"]] == ["5"]
    assert a_after["sha256"] == sha(wd / "results/raw/a.txt") != a_before["sha256"]
    # Downstream of a/: rebuilt from the new bytes.
    assert (after["files"]["results/scaled/a.txt"]["inputs"]["results/raw/a.txt"]
            == a_after["sha256"])  # fmt: skip
    assert after["files"]["results/total.txt"] != before["files"]["results/total.txt"]
    for key in ("results/raw/b.txt", "results/scaled/b.txt", "results/parts/one.txt"):
        assert after["files"][key] == before["files"][key], key
        assert after["times"][key] == before["times"][key], key
    assert after["config_sha256"] != before["config_sha256"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_info(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    assert lineage.git_info(tmp_path) == {"git_commit": None, "git_dirty": None}

    def git(*args):
        cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
        return subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    assert lineage.git_info(tmp_path) == {"git_commit": None, "git_dirty": False}
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD").strip()
    assert lineage.git_info(tmp_path) == {"git_commit": head, "git_dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert lineage.git_info(tmp_path) == {"git_commit": head, "git_dirty": True}
    git("checkout", "-q", "a.py")
    # A new module neither tracked nor ignored may be imported by the run: dirty too.
    (tmp_path / "b.py").write_text("y = 1\n")
    assert lineage.git_info(tmp_path)["git_dirty"] is True
    (tmp_path / ".gitignore").write_text("b.py\nresults/\n")
    git("add", ".gitignore")
    git("commit", "-q", "-m", "ignore")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "m.json").write_text("{}")
    assert lineage.git_info(tmp_path)["git_dirty"] is False
    # MLflow's tags and the lineage manifest read one state: they cannot disagree.
    (tmp_path / "a.py").write_text("x = 3\n")
    info, tags = lineage.git_info(tmp_path), tracking.run_tags(tmp_path, {}, "data")
    assert tags["git_commit"] == info["git_commit"] and tags["git_dirty"] == "true"
