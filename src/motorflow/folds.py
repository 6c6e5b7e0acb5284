"""Subject-wise, label-stratified cross-validation folds with inner validation splits.

Every video of a subject lands in the same role (train, val or test) of a split, so no
subject is ever in both training and test data of a fold; that includes everything fitted on
training data (keypoint selection, feature scaling, deviation references, early stopping),
which all read :func:`load_splits` rather than choosing subjects themselves.

Two files, both deterministic functions of the subjects, their labels, ``k``, ``repeats`` and
``seed`` (byte-identical across runs):

* ``folds.tsv``: ``subject_id, label, repeat, fold`` — the test fold of every subject;
* ``splits.tsv``: ``split, repeat, fold, subject_id, label, role`` — per split (e.g.
  ``fold0``) the role of every subject: ``test`` (the fold), ``val`` (an inner subject-wise,
  label-stratified share of the remaining subjects, used for early stopping and nothing
  else) or ``train``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from motorflow.poseio import atomic_path

ROLES = ("train", "val", "test")


class FoldError(ValueError):
    """Folds that cannot be made, or splits that would leak subjects."""


@dataclass(frozen=True)
class FoldConfig:
    """``cv:`` in config/config.yaml."""

    folds: int = 5
    repeats: int = 1
    seed: int = 20261121
    # Share of each split's non-test subjects held out (per label) for early stopping.
    inner_val_fraction: float = 0.2

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FoldConfig:
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown cv option(s): {', '.join(unknown)}")
        return cls(**mapping)


def split_name(repeat: int, fold: int, repeats: int) -> str:
    """Directory name of a split: ``fold{k}``, or ``rep{r}_fold{k}`` with several repeats."""
    return f"fold{fold}" if repeats == 1 else f"rep{repeat}_fold{fold}"


def split_names(cfg: FoldConfig) -> list[str]:
    return [split_name(r, k, cfg.repeats) for r in range(cfg.repeats) for k in range(cfg.folds)]


def subject_labels(samples: pd.DataFrame, source: str = "sample sheet") -> pd.DataFrame:
    """One row per subject (``subject_id, label``); a subject with two labels is an error."""
    labels = samples.groupby("subject_id", sort=True)["label"].agg(lambda s: sorted(set(s)))
    mixed = {s: v for s, v in labels.items() if len(v) > 1}
    if mixed:
        detail = "; ".join(f"{s}: {', '.join(map(str, v))}" for s, v in mixed.items())
        raise FoldError(
            f"{source}: subject(s) carrying more than one label ({detail}); subject-wise "
            "folds need one label per subject"
        )
    return pd.DataFrame({"subject_id": labels.index.astype(str), "label": [v[0] for v in labels]})


def _check_class_sizes(subjects: pd.DataFrame, k: int, source: str) -> None:
    counts = subjects["label"].value_counts()
    small = counts[counts < k]
    if len(small):
        detail = ", ".join(f"{lab}: {n}" for lab, n in small.sort_index().items())
        raise FoldError(
            f"{source}: {k}-fold subject-wise CV needs at least {k} subjects per label; "
            f"too few for {detail} (add subjects or lower cv.folds)"
        )


def _stratified_groups(
    subjects: pd.DataFrame, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    # One row per subject, grouped by subject: stratification is over subjects, which is
    # what the subject-level metrics count.
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    y = subjects["label"].to_numpy()
    return list(cv.split(np.zeros(len(y)), y, groups=subjects["subject_id"].to_numpy()))


def make_splits(
    samples: pd.DataFrame, cfg: FoldConfig, source: str = "sample sheet"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, splits) tables for the subjects of ``samples`` (``subject_id``, ``label``)."""
    if cfg.folds < 2:
        raise FoldError(f"cv.folds must be at least 2, got {cfg.folds}")
    if cfg.repeats < 1:
        raise FoldError(f"cv.repeats must be at least 1, got {cfg.repeats}")
    if not 0 < cfg.inner_val_fraction < 1:
        raise FoldError(f"cv.inner_val_fraction must be in (0, 1), got {cfg.inner_val_fraction}")
    subjects = subject_labels(samples, source)
    _check_class_sizes(subjects, cfg.folds, source)
    n_inner = max(2, round(1 / cfg.inner_val_fraction))
    fold_rows, split_rows = [], []
    for r in range(cfg.repeats):
        for k, (train_idx, test_idx) in enumerate(
            _stratified_groups(subjects, cfg.folds, (cfg.seed + r) % 2**32)
        ):
            name = split_name(r, k, cfg.repeats)
            train = subjects.iloc[train_idx].reset_index(drop=True)
            # The inner split uses its own seed per split so folds do not share val subjects
            # by construction; a label with fewer training subjects than inner splits
            # simply contributes none to validation.
            inner = _inner_split(
                train, n_inner, (cfg.seed + 7919 * (r * cfg.folds + k + 1)) % 2**32
            )
            role = {s: "train" for s in train["subject_id"]}
            role.update({s: "val" for s in inner})
            for s, lab in subjects.iloc[test_idx].itertuples(index=False):
                fold_rows.append((s, lab, r, k))
                split_rows.append((name, r, k, s, lab, "test"))
            for s, lab in train.itertuples(index=False):
                split_rows.append((name, r, k, s, lab, role[s]))
    folds = pd.DataFrame(fold_rows, columns=["subject_id", "label", "repeat", "fold"])
    folds = folds.sort_values(["repeat", "subject_id"], kind="stable").reset_index(drop=True)
    splits = pd.DataFrame(
        split_rows, columns=["split", "repeat", "fold", "subject_id", "label", "role"]
    )
    splits = splits.sort_values(["repeat", "fold", "subject_id"], kind="stable")
    splits = splits.reset_index(drop=True)
    check_splits(splits, subjects, source)
    return folds, splits


def _inner_split(train: pd.DataFrame, n_splits: int, seed: int) -> list[str]:
    # A label with a single training subject keeps it for training.
    counts = train["label"].value_counts()
    eligible = train[train["label"].map(counts) >= 2].reset_index(drop=True)
    # StratifiedGroupKFold needs some label with at least n subjects.
    n = min(n_splits, int(eligible["label"].value_counts().max()) if len(eligible) else 0)
    if n < 2:
        return []
    with warnings.catch_warnings():
        # Labels with fewer training subjects than inner splits are expected here: they
        # contribute fewer validation subjects, which is what we want.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        _, val_idx = _stratified_groups(eligible, n, seed)[0]
    return sorted(eligible["subject_id"].iloc[val_idx])


def check_splits(
    splits: pd.DataFrame, subjects: pd.DataFrame | None = None, source: str = "splits"
) -> None:
    """Stop with a clear error if any split could leak a subject.

    Checks: one role per subject and split; every subject in exactly one test fold per
    repeat; no split without training or test subjects; labels consistent with the subjects.
    """
    bad_roles = sorted(set(splits["role"]) - set(ROLES))
    if bad_roles:
        raise FoldError(f"{source}: unknown role(s) {bad_roles}")
    per = splits.groupby(["split", "subject_id"])["role"].nunique()
    dup = splits.duplicated(["split", "subject_id"], keep=False)
    if (per > 1).any() or dup.any():
        rows = splits[dup][["split", "subject_id", "role"]].drop_duplicates()
        detail = "; ".join(f"{r.split}: {r.subject_id} as {r.role}" for r in rows.itertuples())
        raise FoldError(f"{source}: subject(s) in more than one role of a split ({detail})")
    tests = splits[splits["role"] == "test"].groupby(["repeat", "subject_id"]).size()
    multi = tests[tests != 1]
    if len(multi):
        raise FoldError(
            f"{source}: subject(s) in several test folds of one repeat: "
            f"{sorted({s for _, s in multi.index})}"
        )
    for name, g in splits.groupby("split"):
        for role in ("train", "test"):
            if not (g["role"] == role).any():
                raise FoldError(f"{source}: split {name} has no {role} subjects")
    if subjects is not None:
        everyone = set(subjects["subject_id"])
        for r, g in splits.groupby("repeat"):
            missing = everyone - set(g.loc[g["role"] == "test", "subject_id"])
            if missing:
                raise FoldError(
                    f"{source}: repeat {r}: subjects in no test fold: {sorted(missing)}"
                )


def write_splits(folds: pd.DataFrame, splits: pd.DataFrame, folds_out, splits_out) -> None:
    for table, out in ((folds, folds_out), (splits, splits_out)):
        with atomic_path(out) as tmp:
            table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def load_splits(path: str | os.PathLike) -> pd.DataFrame:
    """Read and re-check ``splits.tsv`` (every consumer re-checks: leakage is a bug)."""
    splits = pd.read_csv(path, sep="\t", dtype={"subject_id": str, "label": str, "split": str})
    missing = {"split", "repeat", "fold", "subject_id", "label", "role"} - set(splits.columns)
    if missing:
        raise FoldError(f"{path}: missing column(s) {sorted(missing)}")
    check_splits(splits, source=str(path))
    return splits


def subjects_of(splits: pd.DataFrame, split: str, role: str) -> list[str]:
    """Sorted subject ids with ``role`` in ``split`` (unknown split → error naming it)."""
    if split not in set(splits["split"]):
        raise FoldError(f"unknown split {split!r}; known: {sorted(set(splits['split']))}")
    g = splits[(splits["split"] == split) & (splits["role"] == role)]
    return sorted(g["subject_id"])


def run(
    samples: pd.DataFrame,
    cfg: FoldConfig,
    folds_out: str | Path,
    splits_out: str | Path,
    source: str = "sample sheet",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    folds, splits = make_splits(samples, cfg, source)
    write_splits(folds, splits, folds_out, splits_out)
    return folds, splits
