"""Settings of a final model, refitted on every subject after cross-validation.

The final split has no validation subjects, so what the CV runs chose on theirs is carried
over: a network trains for the median of its CV runs' best epochs, a feature baseline uses
the ``C`` its CV runs chose most often.  Torch-free: the feature baselines use it too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np


def _runs(paths: Sequence[str | os.PathLike]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def epochs(cfg, cv_runs: Sequence[str | os.PathLike]):
    """``cfg`` (a :class:`~motorflow.train.config.TrainConfig`) with ``optim.epochs`` set to
    the median best epoch of the CV runs (their ``train.json``); unchanged without runs."""
    if not cv_runs:
        return cfg
    best = [r["best_epoch"] for r in _runs(cv_runs) if r.get("best_epoch")]
    if not best:
        raise ValueError(f"{cv_runs[0]} and the other CV runs record no best epoch")
    n = max(1, int(round(float(np.median(best)))))
    return replace(cfg, optim=replace(cfg.optim, epochs=n))


def regularisation(cfg, cv_runs: Sequence[str | os.PathLike]):
    """``cfg`` (a :class:`~motorflow.train.baselines.BaselineTraining`) with its grid reduced
    to the ``C`` the CV runs chose most often (a tie: the smaller, more regularised);
    unchanged without runs or where every run abstained."""
    chosen = [r["best_C"] for r in _runs(cv_runs) if r.get("best_C") is not None]
    if not chosen:
        return cfg
    counts = Counter(chosen)
    top = max(counts.values())
    return replace(cfg, C=(min(c for c, n in counts.items() if n == top),))
