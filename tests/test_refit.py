"""The final models' settings come from their cross-validation runs."""

from __future__ import annotations

import json

import pytest

from motorflow.train import refit
from motorflow.train.baselines import BaselineTraining
from motorflow.train.config import TrainConfig


def _runs(tmp_path, records):
    paths = []
    for i, rec in enumerate(records):
        p = tmp_path / f"run{i}.json"
        p.write_text(json.dumps(rec))
        paths.append(p)
    return paths


def test_epochs_are_the_median_best_epoch(tmp_path):
    cfg = TrainConfig()
    runs = _runs(tmp_path, [{"best_epoch": e} for e in (3, 12, 7, 9, 30)])
    assert refit.epochs(cfg, runs).optim.epochs == 9
    assert refit.epochs(cfg, runs).optim.lr == cfg.optim.lr  # only the epochs change
    assert refit.epochs(cfg, []) is cfg  # a CV split keeps its own settings
    with pytest.raises(ValueError, match="no best epoch"):
        refit.epochs(cfg, _runs(tmp_path, [{"epochs_run": 4}]))


def test_c_is_the_one_chosen_most_often_ties_to_the_smaller(tmp_path):
    cfg = BaselineTraining()
    runs = _runs(tmp_path, [{"best_C": c} for c in (1.0, 0.1, 1.0, 10.0, None)])
    assert refit.regularisation(cfg, runs).C == (1.0,)
    tie = _runs(tmp_path, [{"best_C": c} for c in (10.0, 0.1)])
    assert refit.regularisation(cfg, tie).C == (0.1,)
    abstained = _runs(tmp_path, [{"best_C": None}])
    assert refit.regularisation(cfg, abstained) is cfg
