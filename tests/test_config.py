"""One rule for every config section: nulls, lists, nested sections and typos."""

from __future__ import annotations

import pytest

from motorflow import clean, features, flow, folds, movement
from motorflow.bouts import BoutConfig
from motorflow.config import config_from_mapping
from motorflow.train.config import TrainConfig

SECTIONS = [
    (clean.CleanConfig, "clean"),
    (features.FeatureConfig, "features.gait"),
    (BoutConfig, "features.gait.bouts"),
    (folds.FoldConfig, "cv"),
    (movement.MovementConfig, "features.movement"),
    (flow.FlowConfig, "flow"),
    (TrainConfig, "models"),
]


@pytest.mark.parametrize(("cls", "section"), SECTIONS, ids=[s for _, s in SECTIONS])
def test_every_section_reads_alike(cls, section):
    assert cls.from_mapping(None) == cls() == cls.from_mapping({})
    # A typo names itself and the section; nothing runs on a silent default.
    with pytest.raises(ValueError, match=rf"unknown {section} option 'no_such_key'"):
        cls.from_mapping({"no_such_key": 1})
    with pytest.raises(ValueError, match=f"{section} options must be a mapping"):
        cls.from_mapping([1, 2])
    # An explicit null means the default, for every key.
    first = next(iter(cls().__dataclass_fields__))
    assert cls.from_mapping({first: None}) == cls()


def test_lists_become_tuples_and_nested_sections_their_configs():
    cfg = features.FeatureConfig.from_mapping({"bouts": {"min_bout_s": 2.5}, "min_cycles": 3})
    assert cfg.bouts == BoutConfig(min_bout_s=2.5) and cfg.min_cycles == 3
    band = movement.MovementConfig.from_mapping({"fidgety_band_hz": [0.4, 2.5]})
    assert band.fidgety_band_hz == (0.4, 2.5)
    with pytest.raises(ValueError, match="unknown features.gait.bouts option 'min_bout'"):
        features.FeatureConfig.from_mapping({"bouts": {"min_bout": 2}})
    assert config_from_mapping(BoutConfig, {"smooth_s": 1.5}, "x") == BoutConfig(smooth_s=1.5)
