"""The models the workflow can train: one entry per model name, in one place.

Torch-free so that the workflow can read it while it plans.  The schema's ``models.run``
enum and ``train.MODELS`` are checked against it (tests/test_registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A model's name and family (skeleton, features, fusion or rgbflow)."""

    name: str
    family: str


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("stgcn", "skeleton"),
        ModelSpec("two_stream_skeleton", "skeleton"),
        ModelSpec("gait_baseline", "features"),
        ModelSpec("fusion_xattn", "fusion"),
        ModelSpec("movement_baseline", "features"),
        ModelSpec("two_stream_rgbflow", "rgbflow"),
        ModelSpec("rgbflow_spatial", "rgbflow"),
        ModelSpec("rgbflow_temporal", "rgbflow"),
    )
}
NAMES = tuple(SPECS)


def family(name: str) -> tuple[str, ...]:
    """The names of the models of one family, in registry order."""
    return tuple(spec.name for spec in SPECS.values() if spec.family == name)
