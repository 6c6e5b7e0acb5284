"""The models the workflow can train: one entry per model name, in one place.

Torch-free so that the workflow can read it while it plans.  The schema's ``models.run``
enum and ``train.MODELS`` are checked against it (tests/test_registry.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from motorflow.tasks import NAMES as TASKS

# The module that trains (and, for networks, rebuilds from a checkpoint) each family.
FAMILY_MODULES = {
    "skeleton": "motorflow.train.skeleton",
    "features": "motorflow.train.baselines",
    "fusion": "motorflow.train.fusion",
    "rgbflow": "motorflow.train.rgbflow",
}


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, family (skeleton, features, fusion or rgbflow), the tasks it applies
    to (the gait baseline and the fusion need gait features, the movement baseline the infant
    movement features), its section under ``models:`` in the config (the RGB/flow
    ablations share the two-stream network's) and whether it ranks its inputs
    (``results/interpret/{name}/importance.png``: Grad-CAM keypoints, or the baselines'
    feature coefficients).

    ``config`` is the ``module:Class`` of the section's config (imported only when asked for,
    so that planning needs no torch); ``streams`` is the RGB/flow network's streams
    (``RGBFlowConfig.streams``: Paper B's fused network and each stream alone).
    ``predicts_from``: what its predictions read beside the trained model (keys of
    ``PREDICTION_INPUTS`` in workflow/rules/common.smk); ``reference``: whether they score
    gait deviations against the reference label (the gait baseline refits the reference on
    the split's training videos; the fusion stores its features with the model)."""

    name: str
    family: str
    config: str
    tasks: tuple[str, ...] = TASKS
    section: str = ""
    importance: bool = False
    streams: str = ""
    predicts_from: tuple[str, ...] = ()
    reference: bool = False

    def __post_init__(self) -> None:
        if not self.section:
            object.__setattr__(self, "section", self.name)

    @property
    def module(self) -> str:
        """The dotted name of the module that trains this model's family."""
        return FAMILY_MODULES[self.family]


_STGCN = "motorflow.models.stgcn:STGCNConfig"
_TWO_STREAM = "motorflow.train.skeleton:TwoStreamTraining"
_FUSION = "motorflow.train.fusion:FusionTraining"
_BASELINE = "motorflow.train.baselines:BaselineTraining"
_RGBFLOW = "motorflow.train.rgbflow:RGBFlowTraining"
_RGB = "two_stream_rgbflow"
_FRAMES = ("clips", "flows")

SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("stgcn", "skeleton", _STGCN, importance=True),
        ModelSpec("two_stream_skeleton", "skeleton", _TWO_STREAM),
        ModelSpec(
            "gait_baseline",
            "features",
            _BASELINE,
            tasks=("gait",),
            importance=True,
            predicts_from=("tables", "curves"),
            reference=True,
        ),
        ModelSpec("fusion_xattn", "fusion", _FUSION, tasks=("gait",), predicts_from=("features",)),
        ModelSpec(
            "movement_baseline",
            "features",
            _BASELINE,
            tasks=("infant",),
            importance=True,
            predicts_from=("tables",),
        ),
        ModelSpec("two_stream_rgbflow", "rgbflow", _RGBFLOW, streams="both", predicts_from=_FRAMES),
        ModelSpec(
            "rgbflow_spatial",
            "rgbflow",
            _RGBFLOW,
            section=_RGB,
            streams="spatial",
            predicts_from=_FRAMES,
        ),
        ModelSpec(
            "rgbflow_temporal",
            "rgbflow",
            _RGBFLOW,
            section=_RGB,
            streams="temporal",
            predicts_from=_FRAMES,
        ),
    )
}
NAMES = tuple(SPECS)


def family(name: str) -> tuple[str, ...]:
    """The names of the models of one family, in registry order."""
    return tuple(spec.name for spec in SPECS.values() if spec.family == name)


def not_for_task(names: list[str] | tuple[str, ...], task: str) -> list[str]:
    """The models among ``names`` that do not apply to ``task``, sorted."""
    return sorted(name for name in names if task not in SPECS[name].tasks)


def with_importance(names: list[str] | tuple[str, ...]) -> list[str]:
    """The models among ``names`` that write an importance figure, in registry order."""
    return [name for name in NAMES if name in names and SPECS[name].importance]


def config_class(name: str) -> type:
    """The config class of a model's section (imports its module)."""
    if name not in SPECS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(NAMES)}")
    module, cls = SPECS[name].config.split(":")
    return getattr(importlib.import_module(module), cls)


def net_config(name: str, values: Mapping[str, Any] | None):
    """A model's network/training config from the values of its own section under ``models:``
    (``SPECS[name].section``)."""
    return config_class(name).from_mapping(values)
