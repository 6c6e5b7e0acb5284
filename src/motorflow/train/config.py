"""``models:``: the training settings every network shares (each network's own section is
configured by its family's module, :func:`motorflow.registry.config_class`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from motorflow.config import config_from_mapping
from motorflow.data.clips import AugmentConfig, ClipConfig


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 40
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 5e-4
    # Epochs without a lower inner-validation loss before training stops (best weights kept).
    patience: int = 10
    # Random clips drawn per training video per epoch.
    clips_per_video: int = 4

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> OptimConfig:
        return config_from_mapping(cls, mapping, "models.optim")


@dataclass(frozen=True)
class TrainConfig:
    """``models:`` in config/config.yaml (shared by every model)."""

    seed: int = 0
    # auto: CUDA when present, else CPU; or cpu / cuda.
    device: str = "auto"
    # Torch threads per job (the workflow runs one job per core).
    threads: int = 1
    clip: ClipConfig = field(default_factory=ClipConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> TrainConfig:
        return config_from_mapping(cls, mapping, "models")
