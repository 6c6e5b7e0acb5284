"""The model registry is the one list of model names: the schema and training agree with it."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from motorflow import registry
from motorflow.data.table import TrainError
from motorflow.train.baselines import BaselineTraining

ROOT = Path(__file__).resolve().parents[1]


def test_schema_enum_equals_registry():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    enum = schema["properties"]["models"]["properties"]["run"]["items"]["enum"]
    assert sorted(enum) == sorted(registry.NAMES)


def test_rgbflow_ablations_name_their_streams():
    streams = {m: registry.SPECS[m].streams for m in registry.family("rgbflow")}
    assert streams == {
        "two_stream_rgbflow": "both", "rgbflow_spatial": "spatial", "rgbflow_temporal": "temporal"
    }  # fmt: skip
    assert registry.net_config("rgbflow_spatial", None).for_model(
        "rgbflow_spatial"
    ).net.streams == ("spatial")
    with pytest.raises(TrainError, match="not an RGB/flow model: stgcn"):
        registry.net_config("two_stream_rgbflow", None).for_model("stgcn")


def test_task_applicability():
    assert registry.not_for_task(registry.NAMES, "gait") == ["movement_baseline"]
    assert registry.not_for_task(registry.NAMES, "infant") == ["fusion_xattn", "gait_baseline"]
    assert registry.not_for_task(["stgcn", "two_stream_rgbflow"], "infant") == []


def test_every_network_rebuilds_from_its_checkpoint_by_name():
    """Each network's family module rebuilds it from a checkpoint (checkpoint.load_model)."""
    for name in set(registry.NAMES) - set(registry.family("features")):
        module = importlib.import_module(registry.SPECS[name].module)
        assert name in module.NETWORKS, name
    for name in registry.family("features"):  # pickled pipelines, no network
        assert not hasattr(importlib.import_module(registry.SPECS[name].module), "NETWORKS")


def test_each_model_builds_its_config_class():
    for name in registry.NAMES:  # every entry's config class imports and reads a section
        assert registry.net_config(name, None) == registry.config_class(name)()
    assert registry.net_config("stgcn", {"dropout": 0.3}).dropout == 0.3
    assert registry.net_config("rgbflow_temporal", {"dropout": 0.4}).net.dropout == 0.4
    assert registry.net_config("gait_baseline", None) == BaselineTraining()
    with pytest.raises(ValueError, match="unknown model 'stgcm'"):
        registry.net_config("stgcm", {})
    # The RGB/flow ablations share the two-stream network's section.
    sections = {registry.SPECS[m].section for m in registry.family("rgbflow")}
    assert sections == {"two_stream_rgbflow"}


@pytest.mark.parametrize(
    ("model", "trainer", "values", "read"),
    [
        ("stgcn", "skeleton:train_skeleton_model", {"dropout": 0.3}, lambda c: c.dropout),
        ("two_stream_skeleton", "skeleton:train_skeleton_model", {"aux_weight": 0.3},
         lambda c: c.aux_weight),
        ("gait_baseline", "baselines:train_feature_baseline", {"C": [0.3]}, lambda c: c.C[0]),
        ("rgbflow_spatial", "rgbflow:train_rgbflow_model", {"dropout": 0.3},
         lambda c: c.net.dropout),
    ],
)  # fmt: skip
def test_cli_train_runs_each_family_with_its_section(monkeypatch, tmp_path, model, trainer,
                                                     values, read):  # fmt: skip
    """`motorflow train` dispatches on the model's family and passes its own section."""
    from motorflow import cli

    config = tmp_path / "config.yaml"
    cfg = {"models": {registry.SPECS[model].section: values}}
    config.write_text(yaml.safe_dump(cfg))
    calls = []
    monkeypatch.setattr(cli, "_split_inputs", lambda args: (None, None, cfg))
    module, trainer = trainer.split(":")
    module = importlib.import_module(f"motorflow.train.{module}")
    monkeypatch.setattr(module, trainer, lambda *a, **k: calls.append(a) or {"n_train_subjects": 3})
    argv = ["train", model, "fold0", "--config", str(config), "--results", str(tmp_path)]
    assert cli.main(argv) == 0
    (args,) = calls
    assert args[0] == model
    net = next(a for a in args if type(a) is registry.config_class(model))
    assert read(net) == 0.3


def test_importance_figures_come_from_the_ranking_models():
    assert registry.with_importance(registry.NAMES) == [
        "stgcn", "gait_baseline", "movement_baseline"
    ]  # fmt: skip
    assert registry.with_importance(["fusion_xattn", "gait_baseline"]) == ["gait_baseline"]


@pytest.mark.parametrize(
    ("configfile", "model"),
    [("config/infant.yaml", "gait_baseline"), ("config/tiny.yaml", "movement_baseline")],
)
def test_workflow_refuses_a_model_of_the_other_task(tmp_path, configfile, model):
    """The planning check reads the registry's tasks: it names the model and the task."""
    extra = tmp_path / "models.yaml"
    extra.write_text(yaml.safe_dump({"models": {"run": ["stgcn", model]}}))
    snakemake = Path(sys.executable).with_name("snakemake")
    done = subprocess.run(
        [str(snakemake), "-n", "--configfile", configfile, str(extra)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"models.run: {model} do not apply to data.task" in done.stdout + done.stderr


def test_a_checkpoint_loads_only_where_its_network_is_allowed(tmp_path):
    from motorflow.train import skeleton
    from motorflow.train.checkpoint import load_model, save_torch

    path = tmp_path / "model.pt"
    save_torch({"model": "fusion_xattn", "state_dict": {}, "net": {}, "labels": ["I"]}, path)
    # Grad-CAM passes the skeleton family's builders: a fusion checkpoint is refused by name.
    with pytest.raises(TrainError, match="a checkpoint of 'fusion_xattn'"):
        load_model(path, skeleton.NETWORKS)
    save_torch({"model": "gait_baseline"}, path)  # a pickled pipeline has no network
    with pytest.raises(TrainError, match="a checkpoint of 'gait_baseline'"):
        load_model(path)
