"""Subject-grouped cross-validation folds, stratified on the recordings' labels, with inner
validation splits.

Every video of a subject lands in the same role (train, val or test) of a split, so no
subject is ever in both training and test data of a fold; that includes everything fitted on
training data (keypoint selection, feature scaling, deviation references, early stopping),
which all read :func:`load_splits` rather than choosing subjects themselves.

A label belongs to a recording (a visit): in a longitudinal cohort one subject may carry
different labels at different sessions. Folds are made on the recordings (one row per video,
``y`` = its label, ``groups`` = its subject) with scikit-learn's ``StratifiedGroupKFold``, so
the recordings' labels are spread over the folds while subjects stay whole. With
``one_label_per_subject`` (trait-like labels, e.g. GMFCS) a subject with two labels is an
error. ``scheme: loso`` is leave-one-subject-out: one split per subject (in sorted order of
the subject ids, ``fold{i}`` tests the i-th subject).

Two files, both deterministic functions of the recordings (subject, label), the scheme,
``k``, ``repeats`` and ``seed`` (byte-identical across runs; the order of the sheet's rows
does not matter):

* ``folds.tsv``: ``subject_id, label, repeat, fold`` — the test fold of every subject;
* ``splits.tsv``: ``split, repeat, fold, subject_id, label, role`` — per split (e.g.
  ``fold0``) the role of every subject: ``test`` (the fold), ``val`` (an inner
  subject-grouped, label-stratified share of the remaining subjects, used for early stopping
  and nothing else) or ``train``.

``label`` in both files is the subject's label, or its labels joined by ``|`` (in sorted
order) where its recordings carry several.

A third file, ``final.tsv``, has one split, ``final``, with every subject in training and
none in validation or test: the final models are refitted on it after cross-validation
(their epochs and regularisation come from the CV runs, not from a validation share), and
they are never evaluated on it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motorflow.config import config_from_mapping
from motorflow.poseio import atomic_path

ROLES = ("train", "val", "test")
# The split of the final models: everyone trains; its name is no CV split's.
FINAL = "final"
SCHEMES = ("kfold", "loso")
LABEL_SEP = "|"


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
    # kfold (StratifiedGroupKFold, `folds` splits) or loso (one split per subject).
    scheme: str = "kfold"
    # Trait-like labels: a subject whose recordings carry two labels is an error.
    one_label_per_subject: bool = False

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> FoldConfig:
        return config_from_mapping(cls, mapping, "cv")


def split_name(repeat: int, fold: int, repeats: int) -> str:
    """Directory name of a split: ``fold{k}``, or ``rep{r}_fold{k}`` with several repeats."""
    return f"fold{fold}" if repeats == 1 else f"rep{repeat}_fold{fold}"


def n_folds(cfg: FoldConfig, subjects: Iterable[str] | None = None) -> int:
    """Outer splits per repeat: ``cfg.folds``, or the number of subjects with ``loso``."""
    if cfg.scheme not in SCHEMES:
        raise FoldError(f"cv.scheme must be one of {list(SCHEMES)}, got {cfg.scheme!r}")
    if cfg.scheme == "kfold":
        return cfg.folds
    if subjects is None:
        raise FoldError("cv.scheme loso: the split names need the subjects")
    return len({str(s) for s in subjects})


def split_names(cfg: FoldConfig, subjects: Iterable[str] | None = None) -> list[str]:
    """Every split's name; ``subjects`` (e.g. the sheet's subject_id column) for ``loso``."""
    k = n_folds(cfg, subjects)
    return [split_name(r, i, cfg.repeats) for r in range(cfg.repeats) for i in range(k)]


def recordings(samples: pd.DataFrame, source: str = "sample sheet") -> pd.DataFrame:
    """One row per recording (``subject_id, label``, strings), sorted by subject and label
    (so that the folds do not depend on the order of the sheet's rows)."""
    missing = [c for c in ("subject_id", "label") if c not in samples.columns]
    if missing:
        raise FoldError(f"{source}: missing column(s) {missing}")
    rec = samples[["subject_id", "label"]].astype(str).reset_index(drop=True)
    if rec.empty:
        raise FoldError(f"{source}: no recordings to make folds of")
    return rec.sort_values(["subject_id", "label"], kind="stable").reset_index(drop=True)


def subject_labels(
    samples: pd.DataFrame, source: str = "sample sheet", strict: bool = True
) -> pd.DataFrame:
    """One row per subject (``subject_id, label``). ``strict``: a subject with two labels is
    an error; otherwise its labels are joined by ``|`` (sorted)."""
    labels = samples.groupby("subject_id", sort=True)["label"].agg(
        lambda s: sorted(set(map(str, s)))
    )
    mixed = {s: v for s, v in labels.items() if len(v) > 1}
    if mixed and strict:
        detail = "; ".join(f"{s}: {', '.join(map(str, v))}" for s, v in mixed.items())
        raise FoldError(
            f"{source}: subject(s) carrying more than one label ({detail}); subject-wise "
            "folds need one label per subject with cv.one_label_per_subject: true (set it "
            "to false where labels belong to visits)"
        )
    return pd.DataFrame(
        {"subject_id": labels.index.astype(str), "label": [LABEL_SEP.join(v) for v in labels]}
    )


def _label_support(rec: pd.DataFrame) -> pd.DataFrame:
    """Per label: subjects carrying it (in any recording) and recordings."""
    return pd.DataFrame(
        {
            "subjects": rec.groupby("label")["subject_id"].nunique(),
            "recordings": rec.groupby("label").size(),
        }
    ).sort_index()


def _check_class_sizes(rec: pd.DataFrame, k: int, source: str) -> None:
    n_subjects = rec["subject_id"].nunique()
    if n_subjects < k:
        raise FoldError(
            f"{source}: {k}-fold subject-wise CV needs at least {k} subjects; {n_subjects} "
            "given (add subjects, lower cv.folds or use cv.scheme: loso)"
        )
    support = _label_support(rec)
    small = support[support["subjects"] < k]
    if len(small):
        detail = ", ".join(
            f"{lab}: {int(r.subjects)} (in {int(r.recordings)} recordings)"
            for lab, r in small.iterrows()
        )
        raise FoldError(
            f"{source}: {k}-fold subject-wise CV needs at least {k} subjects per label; "
            f"too few for {detail} (add subjects or lower cv.folds)"
        )


def _check_loso(rec: pd.DataFrame, cfg: FoldConfig, source: str) -> None:
    if cfg.repeats != 1:
        raise FoldError(
            f"cv.scheme loso has one split per subject and nothing to reshuffle: cv.repeats "
            f"must be 1, got {cfg.repeats}"
        )
    support = _label_support(rec)
    small = support[support["subjects"] < 2]
    if len(small):
        detail = ", ".join(
            f"{lab}: {int(r.subjects)} subject ({int(r.recordings)} recordings)"
            for lab, r in small.iterrows()
        )
        raise FoldError(
            f"{source}: leave-one-subject-out needs at least 2 subjects per label (a test "
            f"subject's label must be in its training data); too few for {detail}"
        )


def _stratified_groups(
    rec: pd.DataFrame, n_splits: int, seed: int
) -> list[tuple[list[str], list[str]]]:
    # One row per recording, grouped by subject: the recordings' labels are stratified,
    # subjects stay whole. Returns (training subjects, test subjects) per split.
    # Imported here: planning imports this module for the split names alone (1 s saved on
    # every Snakemake start).
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    y = rec["label"].to_numpy()
    groups = rec["subject_id"].to_numpy()
    return [
        (sorted(set(groups[tr])), sorted(set(groups[te])))
        for tr, te in cv.split(np.zeros(len(y)), y, groups=groups)
    ]


def _outer_splits(
    rec: pd.DataFrame, cfg: FoldConfig, repeat: int
) -> list[tuple[list[str], list[str]]]:
    if cfg.scheme == "loso":
        everyone = sorted(set(rec["subject_id"]))
        return [([s for s in everyone if s != t], [t]) for t in everyone]
    return _stratified_groups(rec, cfg.folds, (cfg.seed + repeat) % 2**32)


def make_splits(
    samples: pd.DataFrame, cfg: FoldConfig, source: str = "sample sheet"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, splits) tables for the recordings of ``samples`` (``subject_id``, ``label``:
    one row per video)."""
    if cfg.scheme not in SCHEMES:
        raise FoldError(f"cv.scheme must be one of {list(SCHEMES)}, got {cfg.scheme!r}")
    if cfg.folds < 2:
        raise FoldError(f"cv.folds must be at least 2, got {cfg.folds}")
    if cfg.repeats < 1:
        raise FoldError(f"cv.repeats must be at least 1, got {cfg.repeats}")
    if not 0 < cfg.inner_val_fraction < 1:
        raise FoldError(f"cv.inner_val_fraction must be in (0, 1), got {cfg.inner_val_fraction}")
    rec = recordings(samples, source)
    subjects = subject_labels(rec, source, strict=cfg.one_label_per_subject)
    label_of = dict(zip(subjects["subject_id"], subjects["label"], strict=True))
    if cfg.scheme == "loso":
        _check_loso(rec, cfg, source)
    else:
        _check_class_sizes(rec, cfg.folds, source)
    n_outer = n_folds(cfg, subjects["subject_id"])
    n_inner = max(2, round(1 / cfg.inner_val_fraction))
    fold_rows, split_rows = [], []
    for r in range(cfg.repeats):
        for k, (train_subjects, test_subjects) in enumerate(_outer_splits(rec, cfg, r)):
            name = split_name(r, k, cfg.repeats)
            train = rec[rec["subject_id"].isin(train_subjects)].reset_index(drop=True)
            # The inner split uses its own seed per split so folds do not share val subjects
            # by construction; a label with fewer training subjects than inner splits
            # simply contributes none to validation.
            inner = _inner_split(train, n_inner, (cfg.seed + 7919 * (r * n_outer + k + 1)) % 2**32)
            role = {s: "train" for s in train_subjects}
            role.update({s: "val" for s in inner})
            for s in test_subjects:
                fold_rows.append((s, label_of[s], r, k))
                split_rows.append((name, r, k, s, label_of[s], "test"))
            for s in train_subjects:
                split_rows.append((name, r, k, s, label_of[s], role[s]))
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
    """Validation subjects among the training recordings ``train`` (subject_id, label).

    A subject carrying a label that only it carries among the training subjects keeps it
    for training (so is never a validation subject)."""
    support = train.groupby("label")["subject_id"].nunique()
    rare = set(support.index[support < 2])
    keep = set(train.loc[train["label"].isin(rare), "subject_id"])
    eligible = train[~train["subject_id"].isin(keep)].reset_index(drop=True)
    # StratifiedGroupKFold needs some label carried by at least n subjects.
    most = int(eligible.groupby("label")["subject_id"].nunique().max()) if len(eligible) else 0
    n = min(n_splits, most)
    if n < 2:
        return []
    with warnings.catch_warnings():
        # Labels with fewer training subjects than inner splits are expected here: they
        # contribute fewer validation subjects, which is what we want.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        _, val = _stratified_groups(eligible, n, seed)[0]
    return sorted(val)


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
        for role in ("train",) if name == FINAL else ("train", "test"):
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


def final_split(splits: pd.DataFrame) -> pd.DataFrame:
    """The final models' split: every subject of the cross-validation splits in training."""
    subjects = splits.drop_duplicates("subject_id").sort_values("subject_id", kind="stable")
    out = pd.DataFrame(
        {
            "split": FINAL,
            "repeat": 0,
            "fold": 0,
            "subject_id": subjects["subject_id"].to_numpy(),
            "label": subjects["label"].to_numpy(),
            "role": "train",
        }
    )
    check_splits(out, source="final split")
    return out


def write_splits(
    folds: pd.DataFrame, splits: pd.DataFrame, folds_out, splits_out, final_out=None
) -> None:
    tables = [(folds, folds_out), (splits, splits_out)]
    if final_out is not None:
        tables.append((final_split(splits), final_out))
    for table, out in tables:
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
    final_out: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write folds.tsv and splits.tsv (and, given ``final_out``, the final split)."""
    folds, splits = make_splits(samples, cfg, source)
    write_splits(folds, splits, folds_out, splits_out, final_out)
    return folds, splits
