"""The model registry is the one list of model names: the schema and training agree with it."""

from pathlib import Path

import yaml

from motorflow import registry, train

ROOT = Path(__file__).resolve().parents[1]


def test_schema_enum_equals_registry():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    enum = schema["properties"]["models"]["properties"]["run"]["items"]["enum"]
    assert sorted(enum) == sorted(registry.NAMES)


def test_training_lists_equal_registry():
    assert train.MODELS == registry.NAMES
    assert train.FEATURE_BASELINES == registry.family("features")
    assert tuple(train.RGBFLOW_STREAMS) == registry.family("rgbflow")


def test_task_checks_read_the_registry():
    assert registry.not_for_task(registry.NAMES, "gait") == ["movement_baseline"]
    assert registry.not_for_task(registry.NAMES, "infant") == ["fusion_xattn", "gait_baseline"]
    assert registry.not_for_task(["stgcn", "two_stream_rgbflow"], "infant") == []


def test_every_network_rebuilds_from_its_checkpoint_by_name():
    networks = set(registry.NAMES) - set(registry.family("features"))
    assert set(train.NETWORKS) == networks
