"""Provenance: file and JSON hashes and the git state, one meaning each.

``results/lineage.json`` (:mod:`motorflow.lineage`) and the MLflow tags
(:mod:`motorflow.tracking`) both read them here, so a run's two records cannot disagree
about which commit it ran or whether the tree was dirty.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from motorflow.poseio import json_default

CHUNK = 1 << 20  # stream files in 1 MiB reads: constant memory for multi-GB videos/models


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def jsonable(value: object) -> object:
    """A JSON-able form of ``value``: numpy values as plain ones, anything else as str."""
    try:
        return json_default(value)
    except TypeError:
        return str(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, ASCII; numpy values as plain ones, others as str."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=jsonable
    )


def sha256_json(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (independent of key order)."""
    return sha256_text(canonical_json(value))


def _git(workdir: Path, *args: str) -> str | None:
    # --no-optional-locks: a read-only status that never rewrites the index under a user's
    # git (and cannot collide with a concurrent commit).
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=workdir, capture_output=True,
            text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(workdir: str | os.PathLike = ".") -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}``; never raises.

    Dirty means what ``git status`` shows: a tracked file changed, or a file that is neither
    tracked nor ignored (a new module the run may have imported).  Both None outside a git
    work tree; commit None before the first commit.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        return {"commit": None, "dirty": None}
    status = _git(workdir, "status", "--porcelain")
    if status is None:
        return {"commit": None, "dirty": None}
    head = _git(workdir, "rev-parse", "--verify", "HEAD")
    return {"commit": head.strip() if head else None, "dirty": bool(status.strip())}
