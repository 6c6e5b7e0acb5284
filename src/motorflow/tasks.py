"""The tasks the workflow runs: one entry per task, in one place (``data.task`` in the config).

A task says which synthetic cohort the workflow renders, which features each video gets,
which feature baseline and models apply, whether its labels are ordered, which synthetic-truth
validation it reports and what the summary page shows.  The rules, the CLI and the summary
page read these fields instead of testing the task's name, so a new task is a new entry here
plus the rules of its own cohort and features.  Torch-free: the workflow reads it while it
plans.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    """One task.

    ``cohort``: the synthetic cohort (``motorflow.synth.{cohort}_cohort`` makes its sheet,
    ``motorflow.synth.{cohort}_render`` its videos), configured by the config section
    ``cohort_section``; ``features``: the per-video feature extractor (``gait``: gait events,
    cycle curves and clinical gait features; ``movement``: infant general-movement
    features; the module ``motorflow.features.{features}``), configured by
    ``features.{features}``; ``curves``: whether the features include gait-cycle curves (and
    with them the deviation reference and the per-video gait-curve figures);
    ``baseline``: the logistic-regression baseline on those features; ``ordinal``: whether the
    labels are ordered (GMFCS levels: quadratic weighted kappa and the expected level);
    ``validation``: the synthetic-truth check of the task's own stage
    (``results/validation/{validation}.tsv``); ``title`` and ``features_title``: the summary
    page's task line and features section."""

    name: str
    title: str
    cohort: str
    cohort_section: str
    features: str
    curves: bool
    baseline: str
    ordinal: bool
    validation: str
    features_title: str

    def cohort_module(self) -> ModuleType:
        """The synthetic cohort's module (``make_sheet``, ``cohort_config``)."""
        return importlib.import_module(f"motorflow.synth.{self.cohort}_cohort")

    def render_module(self) -> ModuleType:
        """The synthetic cohort's renderer (``render_video``, ``render_into``)."""
        return importlib.import_module(f"motorflow.synth.{self.cohort}_render")

    def cohort_config(self, config: Mapping[str, Any]):
        """The synthetic cohort's config from the full workflow config."""
        return self.cohort_module().cohort_config(config.get(self.cohort_section) or {})

    def models(self) -> tuple[str, ...]:
        """The models that apply to this task, in registry order."""
        from motorflow import registry

        return tuple(n for n, spec in registry.SPECS.items() if self.name in spec.tasks)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="gait",
            title="Paper A: GMFCS level from walking videos",
            cohort="gait",
            cohort_section="synthetic",
            features="gait",
            curves=True,
            baseline="gait_baseline",
            ordinal=True,
            validation="feature_accuracy",
            features_title="gait curves",
        ),
        TaskSpec(
            name="infant",
            title="Paper B: general movements of supine infants",
            cohort="infant",
            cohort_section="synthetic_infant",
            features="movement",
            curves=False,
            baseline="movement_baseline",
            ordinal=False,
            validation="preprocess_accuracy",
            features_title="movement features",
        ),
    )
}
NAMES: tuple[str, ...] = tuple(TASKS)
DEFAULT = "gait"


def get(name: str | None) -> TaskSpec:
    """The task called ``name`` (the default task when None)."""
    name = DEFAULT if name is None else name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(NAMES)}")
    return TASKS[name]


def of_config(config: Mapping[str, Any]) -> TaskSpec:
    """The task of a workflow config (``data.task``, default gait)."""
    return get((config.get("data") or {}).get("task"))
