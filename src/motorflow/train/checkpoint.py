"""Self-describing checkpoints: ``model.pt`` names its model and carries the network's config,
the training settings and the label list, so loading one is a lookup by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from motorflow import registry
from motorflow.data.table import SplitData, TrainError, VideoTable
from motorflow.poseio import atomic_path
from motorflow.train.common import config_dict, write_outputs
from motorflow.train.config import TrainConfig
from motorflow.train.loop import FitResult


def save_torch(obj: dict, path: Path) -> None:
    # Saved through a file object: the archive's inner folder is then always "archive", not
    # the temporary file's name, so the same weights give the same bytes (DVC, lineage).
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def train_info(
    model: str, data: SplitData, cfg: TrainConfig, device, params: dict, **extra
) -> dict:
    return {
        "model": model,
        "split": data.split,
        "n_train_videos": len(data.train),
        "n_val_videos": len(data.val),
        "n_train_subjects": int(data.train["subject_id"].nunique()),
        "n_val_subjects": int(data.val["subject_id"].nunique()),
        "train_subjects": sorted(set(data.train["subject_id"])),
        "val_subjects": sorted(set(data.val["subject_id"])),
        "skipped_videos": data.skipped,
        "device": str(device),
        "torch_version": torch.__version__,
        "params": {"training": config_dict(cfg), **params},
        **extra,
    }


def save_trained(
    model_name: str,
    model: nn.Module,
    net_params: dict,
    cfg: TrainConfig,
    table: VideoTable,
    data: SplitData,
    device: torch.device,
    result: FitResult,
    out_dir: Path,
    **checkpoint_extra,
) -> dict:
    """Checkpoint (model.pt), history and train.json of a network trained by :func:`fit`."""
    save_torch(
        {
            "model": model_name,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "net": net_params,
            "training": config_dict(cfg),
            "labels": table.labels,
            **checkpoint_extra,
        },
        out_dir / "model.pt",
    )
    info = train_info(
        model_name,
        data,
        cfg,
        device,
        {model_name: net_params},
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
        stopped_early=result.stopped_early,
        seconds=round(result.seconds, 2),
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    write_outputs(out_dir, result.history, info)
    return info


def load_model(
    path: str | Path, networks: Mapping[str, Callable[[dict], nn.Module]] | None = None
) -> tuple[nn.Module, dict]:
    """A trained network (any model but the feature baselines) and its checkpoint.

    The checkpoint names its model and carries the network's config and label list (and, for
    the fusion, its feature columns); the model's family module (``NETWORKS``) rebuilds it.
    ``networks``: only these may be loaded (e.g. the skeleton family's, for Grad-CAM).
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    name = ckpt.get("model")
    spec = registry.SPECS.get(name)
    if networks is None and spec is not None and spec.family != "features":
        networks = importlib.import_module(spec.module).NETWORKS
    build = (networks or {}).get(name)
    if build is None:
        raise TrainError(f"{path}: a checkpoint of {name!r}, which cannot be loaded here")
    model = build(ckpt)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def flat_net(net: dict) -> dict:
    """Checkpoint form {net: {...}, extra…} → the config mapping form."""
    out = {k: v for k, v in net.items() if k != "net"}
    out.update(net.get("net", {}))
    return out
