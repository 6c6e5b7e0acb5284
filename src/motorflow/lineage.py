"""Data lineage of every result: ``results/lineage.json`` and an audit against it.

For each file under ``results/`` that a Snakemake job wrote, the manifest records its sha256,
the rule, the inputs with their sha256, the rule's params, the rule's code and the software
around it; :func:`audit` re-hashes the tree and lists every drift from the manifest.

Where the facts come from: Snakemake (9.x, file persistence backend, record format 6) writes
one JSON record per output to ``.snakemake/metadata/<name>``, where ``<name>`` is the
urlsafe-base64 of the output path as the Snakefile spelled it, split into ``@``-prefixed
directory components when it exceeds the file-name limit
(``snakemake.persistence.file.FilePersistence._record_path``). ``snakemake.persistence``
offers no reader without a DAG (constructing ``FilePersistence`` creates lock and migration
folders), so the records are read here as plain JSON, tolerating missing keys and corrupt
files. What a record holds and how it is used:

* ``rule``, ``input`` (paths), ``log``, ``shellcmd``, ``code`` (the shell command or
  ``run:`` source or, for ``script:`` rules, only the directive text; Snakemake tracks script
  edits by mtime, not content).
* ``params``: the *values*, not a hash: the sorted ``repr`` of every param not derived from
  input/output (so param names are lost, values such as config sections are kept). The
  manifest stores ``params_hash`` per file and the values once per hash in ``params``.
  Config read inside scripts via ``snakemake.config`` is not recorded by Snakemake; the
  manifest's ``config_sha256`` covers it for the config files in ``config/``.
* ``input_checksums``: ``sha256:<hex>`` of each input as the job read it, for inputs up to
  Snakemake's ``--max-checksum-file-size`` (1 MB by default). The manifest prefers these
  (they prove what was consumed) and hashes larger inputs at build time, listed per file
  under ``inputs_hashed_at_build``.
* ``job_hash``: Python ``hash()`` of the job object, only meaningful within one Snakemake
  run (outputs of one job share it); ``starttime``/``endtime`` are kept apart under
  ``times`` so that ``files`` holds no volatile values.
* Outputs whose job is running or failed are marked in ``.snakemake/incomplete/`` with the
  same encoding; those files are listed under ``incomplete``, not ``files``.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
import os
import platform
import re
import sys
from base64 import urlsafe_b64decode
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from motorflow.provenance import git_state, sha256_file, sha256_json, sha256_text

SCHEMA = 1

# Paths (relative to the results folder, fnmatch patterns where "*" also crosses "/") that
# change by design and so have no stable lineage: the manifest itself, and MLflow's tracking
# store (its SQLite file with journals, and artifact copies keyed by run ids that change on
# every logging run). results/mlflow/runs.json is a Snakemake output and is not excluded.
# Also Snakemake's own empty mtime marker inside directory() outputs: bookkeeping, not data,
# and `snakemake --report results/report.html`, made from the run outside any job.
EXCLUDE = (
    "lineage.json",
    "report.html",
    "mlflow/mlflow.db*",
    "mlflow/artifacts/*",
    ".snakemake_timestamp",
    "*/.snakemake_timestamp",
)

PACKAGES = (
    "motorflow",
    "snakemake",
    "torch",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "mediapipe",
    "opencv-contrib-python",
    "av",
    "pyarrow",
    "mlflow",
    "dvc",
)

# Code whose content decides results: the package and the workflow (rules, scripts, schemas).
SOURCE_GLOBS = ("src/motorflow/**/*.py", "workflow/**/*", "Snakefile")
CONFIG_DIR = "config"

# A script:/notebook: directive as Snakemake stores it in ``code``: just the quoted path.
_SCRIPT_RE = re.compile(r"""^(?:(?:script|notebook)\s*:\s*)?["']([^"']+)["']\s*,?$""")


class ManifestError(RuntimeError):
    """The lineage manifest is missing or unreadable."""


@dataclass(frozen=True)
class Drift:
    path: str
    kind: Literal["changed", "missing", "unrecorded"]
    detail: str


# ---------------------------------------------------------------------------- hashing


def _hash_many(paths: Iterable[Path]) -> dict[Path, str]:
    """sha256 of many files; threads overlap I/O and hashlib releases the GIL on big reads."""
    paths = sorted(set(paths))
    if not paths:
        return {}
    workers = min(8, os.cpu_count() or 1, len(paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths), strict=True))


# ---------------------------------------------------------------------------- paths


def _rel(path: Path, workdir: Path) -> str:
    """Manifest key: posix path relative to the workdir (absolute if outside it)."""
    try:
        return path.relative_to(workdir).as_posix()
    except ValueError:
        return path.as_posix()


def _abs(key: str, workdir: Path) -> Path:
    return Path(os.path.normpath(workdir / key))


def _excluded(rel_to_results: str, extra: Iterable[str] = ()) -> bool:
    return any(fnmatch.fnmatchcase(rel_to_results, pat) for pat in (*EXCLUDE, *extra))


def _walk_results(results: Path, extra_exclude: Iterable[str] = ()) -> Iterator[Path]:
    extra = tuple(extra_exclude)
    for root, dirs, files in os.walk(results):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if not _excluded(path.relative_to(results).as_posix(), extra) and path.is_file():
                yield path


def _decode_record_name(rel: str) -> str | None:
    """Output path from a record's path under the metadata folder (inverse of _record_path)."""
    try:
        return urlsafe_b64decode("".join(p.lstrip("@") for p in rel.split("/"))).decode()
    except (ValueError, UnicodeDecodeError):
        return None  # not a record (e.g. the ``migration_underway`` marker)


def _record_files(folder: Path) -> Iterator[tuple[str, Path]]:
    if not folder.is_dir():
        return
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            key = _decode_record_name(path.relative_to(folder).as_posix())
            if key is not None:
                yield key, path


def read_records(metadata_dir: str | os.PathLike, workdir: str | os.PathLike = ".") -> dict:
    """Snakemake's metadata records keyed by normalised output path (see module docstring)."""
    workdir = Path(workdir).resolve()
    records = {}
    for key, path in _record_files(Path(metadata_dir)):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # Snakemake itself ignores half-written records
        if isinstance(rec, dict) and rec.get("rule"):
            records[_rel(_abs(key, workdir), workdir)] = rec
    return records


def _incomplete_keys(metadata_dir: Path, workdir: Path) -> set[str]:
    markers = _record_files(metadata_dir.parent / "incomplete")
    return {_rel(_abs(key, workdir), workdir) for key, _ in markers}


# ---------------------------------------------------------------------------- environment


def git_info(workdir: str | os.PathLike = ".") -> dict:
    """Commit and dirty flag (:func:`motorflow.provenance.git_state`), as manifest keys."""
    state = git_state(workdir)
    return {"git_commit": state["commit"], "git_dirty": state["dirty"]}


def _tree_files(workdir: Path, patterns: Iterable[str]) -> list[Path]:
    found = set()
    for pattern in patterns:
        for p in workdir.glob(pattern):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                found.add(p)
    return sorted(found)


def _digest_table(table: dict[str, str]) -> str:
    return sha256_text("".join(f"{k}\0{v}\n" for k, v in sorted(table.items())))


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _script_path(code: str | None, workdir: Path) -> Path | None:
    """The script a ``script:`` rule ran. Snakemake resolves it against the file holding the
    rule, which the record does not name, so try the usual layouts inside the workdir."""
    match = _SCRIPT_RE.match((code or "").strip())
    if not match or "{" in match.group(1):
        return None
    for base in (workdir / "workflow" / "rules", workdir / "workflow", workdir):
        cand = Path(os.path.normpath(base / match.group(1)))
        if cand.is_file() and cand.is_relative_to(workdir):
            return cand
    return None


def _iso(ts: Any) -> str | None:
    if not isinstance(ts, int | float):
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------- manifest


def build_manifest(
    results_dir: str | os.PathLike = "results",
    workdir: str | os.PathLike = ".",
    metadata_dir: str | os.PathLike | None = None,
    exclude: Iterable[str] = (),
) -> dict:
    """Lineage of every file under ``results_dir`` (see the module docstring).

    Relative ``results_dir`` / ``metadata_dir`` are taken against ``workdir`` (the folder
    Snakemake ran in; its default metadata folder is ``<workdir>/.snakemake/metadata``).
    ``exclude``: extra fnmatch patterns relative to ``results_dir``, on top of :data:`EXCLUDE`.
    """
    workdir = Path(workdir).resolve()
    results = (workdir / results_dir).resolve()
    metadata = (workdir / (metadata_dir or ".snakemake/metadata")).resolve()
    records = read_records(metadata, workdir)
    incomplete = _incomplete_keys(metadata, workdir)

    def owner(key: str) -> str | None:
        """Record key for a file: its own, or that of a directory() output holding it."""
        path = key
        while path and path not in records:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
        return path or None

    files = list(_walk_results(results, exclude))
    owned, unrecorded, incomplete_files = {}, [], []
    for path in files:
        key = _rel(path, workdir)
        rec_key = owner(key)
        if rec_key is None:
            unrecorded.append(key)
        elif rec_key in incomplete or records[rec_key].get("incomplete"):
            incomplete_files.append(key)
        else:
            owned[key] = rec_key

    # Everything to hash, once: the results, inputs Snakemake gave no checksum for, scripts.
    to_hash = {_abs(k, workdir) for k in owned}
    for rec_key in set(owned.values()):
        rec = records[rec_key]
        checks = rec.get("input_checksums") or {}
        for raw in rec.get("input") or []:
            if not str(checks.get(raw, "")).startswith("sha256:"):
                p = _abs(raw, workdir)
                if p.is_file():
                    to_hash.add(p)
        script = _script_path(rec.get("code"), workdir)
        if script:
            to_hash.add(script)
    source = _tree_files(workdir, SOURCE_GLOBS)
    config = _tree_files(workdir, (f"{CONFIG_DIR}/**/*",))
    hashes = _hash_many([*to_hash, *source, *config])

    entries, params_table, times = {}, {}, {}
    for key, rec_key in owned.items():
        rec = records[rec_key]
        path = _abs(key, workdir)
        checks = rec.get("input_checksums") or {}
        inputs, at_build = {}, []
        for raw in rec.get("input") or []:
            ikey = _rel(_abs(raw, workdir), workdir)
            recorded = str(checks.get(raw, ""))
            if recorded.startswith("sha256:"):
                inputs[ikey] = recorded.removeprefix("sha256:")
            else:
                inputs[ikey] = hashes.get(_abs(raw, workdir))  # None: directory or gone
                if inputs[ikey] is not None:
                    at_build.append(ikey)
        params = rec.get("params")
        params_hash = None if params is None else sha256_json(params)
        if params_hash is not None:
            params_table[params_hash] = params
        script = _script_path(rec.get("code"), workdir)
        entry = {
            "sha256": hashes[path],
            "bytes": path.stat().st_size,
            "rule": rec["rule"],
            "inputs": inputs,
            "inputs_hashed_at_build": sorted(at_build),
            "params_hash": params_hash,
            "code_hash": None if rec.get("code") is None else sha256_text(rec["code"]),
            "shellcmd": rec.get("shellcmd"),
            "script": None if script is None else {
                "path": _rel(script, workdir), "sha256_at_build": hashes[script]},
            "log": sorted(rec.get("log") or []),
            "job_hash": rec.get("job_hash"),
            "software_stack_hash": rec.get("software_stack_hash"),
            "conda_env_sha256": None if not rec.get("conda_env")
            else sha256_text(rec["conda_env"]),
            "record_format_version": rec.get("record_format_version"),
        }  # fmt: skip
        if rec_key != key:
            entry["output_dir"] = rec_key
        entries[key] = entry
        times[key] = {"start": _iso(rec.get("starttime")), "end": _iso(rec.get("endtime"))}

    source_table = {_rel(p, workdir): hashes[p] for p in source}
    config_table = {_rel(p, workdir): hashes[p] for p in config}
    return {
        "schema": SCHEMA,
        "created": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "results_dir": _rel(results, workdir),
        "excluded": sorted({*EXCLUDE, *exclude}),
        "code": {
            **git_info(workdir),
            "source_sha256": _digest_table(source_table),
            "source_files": len(source_table),
        },
        "packages": package_versions(),
        "python": platform.python_version(),
        "config_sha256": _digest_table(config_table),
        "config_files": config_table,
        "files": entries,
        "params": params_table,
        "times": times,
        "unrecorded": sorted(unrecorded),
        "incomplete": sorted(incomplete_files),
    }


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_manifest(path: str | os.PathLike = "results/lineage.json", **kwargs) -> dict:
    """Build and atomically write the manifest; a relative ``path`` is taken against
    ``workdir``. A manifest written under the results folder is excluded from itself."""
    from motorflow.poseio import atomic_path

    workdir = Path(kwargs.get("workdir", ".")).resolve()
    out = (workdir / path).resolve()
    results = (workdir / kwargs.get("results_dir", "results")).resolve()
    if out.is_relative_to(results):
        kwargs["exclude"] = (*kwargs.get("exclude", ()), out.relative_to(results).as_posix())
    manifest = build_manifest(**kwargs)
    with atomic_path(out) as tmp:
        tmp.write_text(dumps(manifest))
    return manifest


# ---------------------------------------------------------------------------- audit


def load_manifest(path: str | os.PathLike) -> dict:
    try:
        manifest = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ManifestError(f"lineage manifest {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"lineage manifest {path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ManifestError(f"lineage manifest {path} has no 'files' table")
    if manifest.get("schema") != SCHEMA:
        raise ManifestError(f"lineage manifest {path}: schema {manifest.get('schema')!r}, "
                            f"expected {SCHEMA}")  # fmt: skip
    return manifest


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


def audit(
    manifest_path: str | os.PathLike = "results/lineage.json",
    results_dir: str | os.PathLike = "results",
    workdir: str | os.PathLike = ".",
) -> list[Drift]:
    """Every difference between the results on disk and the manifest, sorted by path.

    * ``changed``: a recorded file's sha256 differs; or a results file's bytes differ from
      what a recorded file consumed (its consumer was not rebuilt after it changed).
    * ``missing``: recorded, not on disk.
    * ``unrecorded``: on disk, not in the manifest's ``files`` (this includes files the
      manifest itself listed as ``unrecorded``/``incomplete``: they have no lineage).
    Raises :class:`ManifestError` when the manifest is missing or corrupt.
    """
    workdir = Path(workdir).resolve()
    manifest_file = (workdir / manifest_path).resolve()
    manifest = load_manifest(manifest_file)
    results = (workdir / results_dir).resolve()
    extra = [manifest_file.relative_to(results).as_posix()] if manifest_file.is_relative_to(
        results) else []  # fmt: skip
    on_disk = {_rel(p, workdir): p for p in _walk_results(results, extra)}
    recorded: dict[str, dict] = manifest["files"]

    # Results consumed by recorded files: which hash each consumer saw.
    consumed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, entry in recorded.items():
        for ikey, isha in (entry.get("inputs") or {}).items():
            if isha and ikey in on_disk:
                consumed[(ikey, isha)].append(key)

    need = {p for k, p in on_disk.items() if k in recorded} | {on_disk[i] for i, _ in consumed}
    current = {_rel(p, workdir): h for p, h in _hash_many(need).items()}

    drifts = []
    for key, entry in recorded.items():
        rule = entry.get("rule")
        if key not in on_disk:
            drifts.append(Drift(key, "missing",
                                f"recorded {_short(entry.get('sha256'))} (rule {rule}), "
                                "not on disk"))  # fmt: skip
        elif current[key] != entry.get("sha256"):
            drifts.append(Drift(key, "changed", f"recorded {_short(entry.get('sha256'))}, "
                                f"now {_short(current[key])} (rule {rule})"))  # fmt: skip
    for (ikey, isha), consumers in sorted(consumed.items()):
        if current[ikey] != isha:
            consumers = sorted(consumers)
            names = ", ".join(consumers[:3]) + (f" +{len(consumers) - 3} more"
                                                if len(consumers) > 3 else "")  # fmt: skip
            drifts.append(Drift(ikey, "changed",
                                f"consumed as {_short(isha)} by {names}, now "
                                f"{_short(current[ikey])}: consumer not rebuilt"))  # fmt: skip
    listed_unrecorded = set(manifest.get("unrecorded") or ())
    listed_incomplete = set(manifest.get("incomplete") or ())
    for key in sorted(set(on_disk) - set(recorded)):
        if key in listed_incomplete:
            why = "its Snakemake job was incomplete when the manifest was built"
        elif key in listed_unrecorded:
            why = "written outside Snakemake (no metadata record)"
        else:
            why = "not in the manifest (appeared after it was built)"
        drifts.append(Drift(key, "unrecorded", why))
    return sorted(drifts, key=lambda d: (d.path, d.kind, d.detail))


def format_drift(drifts: Iterable[Drift]) -> str:
    return "\n".join(f"{d.kind:<10}  {d.path}  {d.detail}" for d in drifts)


def add_audit_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--manifest", default="results/lineage.json",
                        help="lineage manifest (relative to --workdir)")  # fmt: skip
    parser.add_argument("--results", default="results", help="results folder")
    parser.add_argument("--workdir", default=".", help="folder Snakemake ran in")
    return parser


def main_audit(args: argparse.Namespace | list[str] | None = None) -> int:
    """CLI entry: 0 clean, 1 drift, 2 manifest missing or corrupt."""
    if not isinstance(args, argparse.Namespace):
        args = add_audit_arguments(argparse.ArgumentParser(prog="motorflow audit")).parse_args(
            args)  # fmt: skip
    manifest = getattr(args, "manifest", "results/lineage.json")
    workdir = getattr(args, "workdir", ".")
    try:
        drifts = audit(manifest, getattr(args, "results", "results"), workdir)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not drifts:
        n = len(load_manifest(Path(workdir) / manifest)["files"])
        print(f"OK: {n} recorded files match {manifest}, no drift")
        return 0
    print(format_drift(drifts))
    counts = defaultdict(int)
    for d in drifts:
        counts[d.kind] += 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"DRIFT: {len(drifts)} ({summary}) against {manifest}")
    return 1


if __name__ == "__main__":
    sys.exit(main_audit(sys.argv[1:]))
