"""One rule for every config section: nulls, lists, nested sections and typos."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from motorflow import align, clean, flow, folds, mask, pose, registry
from motorflow.bouts import BoutConfig
from motorflow.config import config_from_mapping
from motorflow.features import gait as featlib
from motorflow.features import movement
from motorflow.train.config import TrainConfig

SECTIONS = [
    (clean.CleanConfig, "clean"),
    (featlib.FeatureConfig, "features.gait"),
    (BoutConfig, "features.gait.bouts"),
    (folds.FoldConfig, "cv"),
    (movement.MovementConfig, "features.movement"),
    (flow.FlowConfig, "flow"),
    (TrainConfig, "models"),
    (pose.PoseConfig, "pose"),
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
    cfg = featlib.FeatureConfig.from_mapping({"bouts": {"min_bout_s": 2.5}, "min_cycles": 3})
    assert cfg.bouts == BoutConfig(min_bout_s=2.5) and cfg.min_cycles == 3
    band = movement.MovementConfig.from_mapping({"fidgety_band_hz": [0.4, 2.5]})
    assert band.fidgety_band_hz == (0.4, 2.5)
    with pytest.raises(ValueError, match="unknown features.gait.bouts option 'min_bout'"):
        featlib.FeatureConfig.from_mapping({"bouts": {"min_bout": 2}})
    assert config_from_mapping(BoutConfig, {"smooth_s": 1.5}, "x") == BoutConfig(smooth_s=1.5)


# --------------------------------------------------------------------------------------------
# Defaults live in the config dataclasses.  config/config.yaml spells them out for the user
# and the schema only types the keys a dataclass owns, so the three cannot disagree.

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
OWNED = [
    (clean.CleanConfig, "clean"),
    (featlib.FeatureConfig, "features.gait"),
    (folds.FoldConfig, "cv"),
    (movement.MovementConfig, "features.movement"),
    (flow.FlowConfig, "preprocess.flow"),
    (mask.MaskConfig, "preprocess.mask"),
    (align.AlignConfig, "preprocess.align"),
    (pose.PoseConfig, "pose"),
]


def _section(tree: dict, path: str) -> dict:
    for key in path.split("."):
        tree = (tree or {}).get(key) or {}
    return tree


def _schema_defaults(node: dict, path: str = "") -> dict[str, object]:
    out = {}
    for key, sub in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        if isinstance(sub, dict):
            if "default" in sub and "properties" not in sub and sub["default"] != {}:
                out[here] = sub["default"]
            out.update(_schema_defaults(sub, here))
    return out


@pytest.mark.parametrize(("cls", "section"), OWNED, ids=[s for _, s in OWNED])
def test_config_yaml_spells_out_the_dataclass_defaults(cls, section):
    assert cls.from_mapping(_section(CONFIG, section)) == cls()


def test_config_yaml_spells_out_every_models_defaults():
    models = CONFIG["models"]
    shared = {k: models[k] for k in ("seed", "device", "threads", "clip", "optim", "augment")}
    assert TrainConfig.from_mapping(shared) == TrainConfig()
    for name in registry.NAMES:
        section = models.get(registry.SPECS[name].section)
        assert registry.net_config(name, section) == registry.config_class(name)(), name


def test_schema_defaults_only_where_no_dataclass_owns_the_key():
    defaults = _schema_defaults(SCHEMA)
    owned = [s for _, s in OWNED] + ["models.seed", "models.device", "models.threads"]
    assert not [k for k in defaults if any(k == o or k.startswith(f"{o}.") for o in owned)]
    # The remaining ones (data source, MLflow experiment, ...) agree with config.yaml.
    for key, value in defaults.items():
        parent, _, leaf = key.rpartition(".")
        assert _section(CONFIG, parent).get(leaf, value) == value, key


WRAPPERS = [
    ("two_stream_skeleton", {"aux_weight": 0.2}, {"fusion_channels": 8}),
    ("fusion_xattn", {"top_k": 5, "freeze_skeleton": False}, {"d_model": 16}),
    ("two_stream_rgbflow", {"appearance_dropout": 0.1}, {"dropout": 0.3}),
]


@pytest.mark.parametrize(("model", "own", "net"), WRAPPERS, ids=[w[0] for w in WRAPPERS])
def test_training_configs_read_their_flat_section_alike(model, own, net):
    """A model section lists the network's keys beside the training's own (one flat YAML
    mapping); both halves follow the common rules."""
    cls = registry.config_class(model)
    assert cls.from_mapping(None) == cls() == cls.from_mapping({})
    cfg = cls.from_mapping({**own, **net})
    assert {k: getattr(cfg, k) for k in own} == own
    assert {k: getattr(cfg.net, k) for k in net} == net
    assert cls.from_mapping({k: None for k in {**own, **net}}) == cls()  # null: the default
    with pytest.raises(ValueError, match="no_such_key"):
        cls.from_mapping({"no_such_key": 1})
    with pytest.raises(ValueError, match=f"models.{model} options must be a mapping"):
        cls.from_mapping([1])


def test_a_misspelt_config_section_is_named_with_its_likely_meaning():
    from motorflow.config import check_sections

    check_sections({"data": {}, "models": {}})
    with pytest.raises(ValueError, match=r"unknown section 'modles' \(did you mean 'models'\?\)"):
        check_sections({"data": {}, "modles": {"run": ["stgcn"]}})
    with pytest.raises(ValueError, match=r"unknown section 'zzz'; allowed: clean, cv"):
        check_sections({"zzz": 1})


def test_a_misspelt_option_gets_a_suggestion():
    from motorflow.folds import FoldConfig

    with pytest.raises(ValueError, match=r"cv option 'repeat' \(did you mean 'repeats'\?\)"):
        FoldConfig.from_mapping({"repeat": 3})


def test_the_cli_names_a_misspelt_section(tmp_path):
    from motorflow import cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text("modles:\n  run: [stgcn]\n")
    with pytest.raises(SystemExit, match=r"c\.yaml: config: unknown section 'modles' \(did you"):
        cli._config(str(cfg))
