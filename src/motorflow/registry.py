"""The models the workflow can train: one entry per model name, in one place.

Torch-free so that the workflow can read it while it plans.  The schema's ``models.run``
enum and ``train.MODELS`` are checked against it (tests/test_registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS: tuple[str, ...] = ("gait", "infant")


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, family (skeleton, features, fusion or rgbflow), the tasks it applies
    to (the gait baseline and the fusion need gait features, the movement baseline the infant
    movement features), its section under ``models:`` in the config (the RGB/flow
    ablations share the two-stream network's) and whether it ranks its inputs
    (``results/interpret/{name}/importance.png``: Grad-CAM keypoints, or the baselines'
    feature coefficients)."""

    name: str
    family: str
    tasks: tuple[str, ...] = TASKS
    section: str = ""
    importance: bool = False

    def __post_init__(self) -> None:
        if not self.section:
            object.__setattr__(self, "section", self.name)


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("stgcn", "skeleton", importance=True),
        ModelSpec("two_stream_skeleton", "skeleton"),
        ModelSpec("gait_baseline", "features", tasks=("gait",), importance=True),
        ModelSpec("fusion_xattn", "fusion", tasks=("gait",)),
        ModelSpec("movement_baseline", "features", tasks=("infant",), importance=True),
        ModelSpec("two_stream_rgbflow", "rgbflow"),
        ModelSpec("rgbflow_spatial", "rgbflow", section="two_stream_rgbflow"),
        ModelSpec("rgbflow_temporal", "rgbflow", section="two_stream_rgbflow"),
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
