"""The torch training loop shared by every network: seeded, class-weighted, early stopping on
the inner validation videos; test-time probabilities averaged over clips and mirrors."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from motorflow.data.clips import SKELETON_CLIPS, ClipConfig, ClipSource, Video
from motorflow.data.table import TrainError
from motorflow.train.common import balanced_accuracy
from motorflow.train.config import TrainConfig

log = logging.getLogger("motorflow.train")


def pick_device(setting: str) -> torch.device:
    if setting not in ("auto", "cpu", "cuda"):
        raise ValueError(f"models.device must be auto, cpu or cuda, got {setting!r}")
    if setting == "cuda" and not torch.cuda.is_available():
        raise TrainError("models.device is cuda but no CUDA device is available")
    use_cuda = setting == "cuda" or (setting == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency over training videos, mean 1 over present classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    w *= (counts > 0).sum() / w.sum()
    return torch.tensor(w, dtype=torch.float32)


# forward(model, x, extra_rows) -> logits, [auxiliary logits…]
Forward = Callable[[nn.Module, torch.Tensor, np.ndarray], tuple[torch.Tensor, list[torch.Tensor]]]


@dataclass
class FitResult:
    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool
    seconds: float


def predict_videos(
    model: nn.Module,
    forward: Forward,
    videos: list[Video],
    clip: ClipConfig,
    device: torch.device,
    batch_size: int = 64,
    source: ClipSource = SKELETON_CLIPS,
) -> np.ndarray:
    """(n_videos, n_classes) probabilities, averaged over test clips and their mirrors."""
    clips, owner = source.test(videos, clip)
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(clips), batch_size):
            logits, _ = forward(
                model, source.tensor(clips[i : i + batch_size], device), owner[i : i + batch_size]
            )
            probs.append(F.softmax(logits, dim=1).cpu().numpy())
    p = np.concatenate(probs)
    return np.stack([p[owner == i].mean(axis=0) for i in range(len(videos))])


def fit(
    model: nn.Module,
    forward: Forward,
    train: list[Video],
    val: list[Video],
    cfg: TrainConfig,
    n_classes: int,
    device: torch.device,
    aux_weight: float = 0.0,
    source: ClipSource = SKELETON_CLIPS,
) -> FitResult:
    """Class-weighted training with early stopping on the inner validation videos.

    The best epoch is the one with the lowest validation loss (negative log-likelihood of the
    clip-averaged probabilities); without validation videos all epochs run and the last is
    kept.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    y_train = np.array([v.label for v in train])
    weights = class_weights(y_train, n_classes).to(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.optim.epochs, 1))
    y_val = np.array([v.label for v in val])
    best = (math.inf, 0, None)
    rows, since_best = [], 0
    for epoch in range(1, cfg.optim.epochs + 1):
        model.train()
        clips, owner = source.train(train, cfg.clip, cfg.optim.clips_per_video, rng)
        order = rng.permutation(len(clips))
        total, seen = 0.0, 0
        for i in range(0, len(order), cfg.optim.batch_size):
            idx = order[i : i + cfg.optim.batch_size]
            x = source.tensor(source.augment(clips[idx], cfg.augment, rng), device)
            y = torch.from_numpy(y_train[owner[idx]]).to(device)
            logits, aux = forward(model, x, owner[idx])
            loss = F.cross_entropy(logits, y, weight=weights)
            for a in aux:
                loss = loss + aux_weight * F.cross_entropy(a, y, weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        sched.step()
        row = {"epoch": epoch, "train_loss": total / max(seen, 1), "lr": sched.get_last_lr()[0]}
        if val:
            p = predict_videos(model, forward, val, cfg.clip, device, source=source)
            row["val_loss"] = float(
                -np.mean(np.log(np.clip(p[np.arange(len(val)), y_val], 1e-7, None)))
            )
            row["val_balanced_accuracy"] = float(balanced_accuracy(y_val, p.argmax(1)))
            if row["val_loss"] < best[0] - 1e-6:
                best = (row["val_loss"], epoch, _state(model))
                since_best = 0
            else:
                since_best += 1
        else:
            row["val_loss"] = row["val_balanced_accuracy"] = float("nan")
            best = (math.nan, epoch, _state(model))
        rows.append(row)
        log.info("epoch %d %s", epoch, {k: round(v, 4) for k, v in row.items() if k != "epoch"})
        if val and since_best >= cfg.optim.patience:
            break
    model.load_state_dict(best[2])
    return FitResult(
        pd.DataFrame(rows), best[1], len(rows) < cfg.optim.epochs, time.perf_counter() - t0
    )


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
