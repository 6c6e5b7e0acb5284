"""Subject-wise folds: determinism, stratification, leakage checks and clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from motorflow import folds
from motorflow.folds import FoldConfig, FoldError


def cohort(per_label: dict[str, int], videos: int = 2) -> pd.DataFrame:
    rows = []
    for lab, n in per_label.items():
        for s in range(n):
            for v in range(videos):
                rows.append((f"{lab}{s:02d}_v{v}", f"{lab}{s:02d}", lab))
    return pd.DataFrame(rows, columns=["video_id", "subject_id", "label"])


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folds_are_byte_identical_for_a_seed_and_change_with_it(tmp_path):
    samples = cohort({"I": 8, "II": 8, "III": 8, "IV": 8})
    paths = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        f, s = tmp_path / f"{name}_folds.tsv", tmp_path / f"{name}_splits.tsv"
        folds.run(samples, FoldConfig(seed=seed), f, s)
        paths.append((f, s))
    assert sha(paths[0][0]) == sha(paths[1][0])
    assert sha(paths[0][1]) == sha(paths[1][1])
    assert sha(paths[0][0]) != sha(paths[2][0])
    table = pd.read_csv(paths[0][0], sep="\t")
    assert list(table.columns) == ["subject_id", "label", "repeat", "fold"]


def test_every_subject_is_tested_once_and_folds_are_stratified():
    samples = cohort({"I": 8, "II": 7, "III": 6, "IV": 5})
    f, s = folds.make_splits(samples, FoldConfig(folds=5))
    assert f["subject_id"].is_unique and len(f) == 26
    counts = f.groupby(["fold", "label"]).size().unstack(fill_value=0)
    # Stratified: each label's subjects spread over folds as evenly as possible.
    assert (counts.max() - counts.min()).max() <= 1
    for name, g in s.groupby("split"):
        assert g["subject_id"].is_unique  # one role per subject and split
        test = set(g.loc[g["role"] == "test", "subject_id"])
        assert test == set(f.loc[f["fold"] == int(name[-1]), "subject_id"])
        val = g[g["role"] == "val"]
        # The inner split is label-stratified and non-empty.
        assert val["label"].nunique() >= 3
        assert 0.1 <= len(val) / (len(g) - len(test)) <= 0.35


def test_videos_of_one_subject_never_straddle_roles():
    samples = cohort({"I": 6, "II": 6, "III": 6}, videos=3)
    _, s = folds.make_splits(samples, FoldConfig(folds=3))
    role = s.set_index(["split", "subject_id"])["role"]
    for name in s["split"].unique():
        per_video = samples["subject_id"].map(lambda x, n=name: role[(n, x)])
        assert per_video.groupby(samples["subject_id"]).nunique().max() == 1


def test_repeats_reshuffle_and_are_named():
    samples = cohort({"I": 6, "II": 6, "III": 6})
    f, s = folds.make_splits(samples, FoldConfig(folds=3, repeats=2))
    assert sorted(s["split"].unique()) == [f"rep{r}_fold{k}" for r in (0, 1) for k in range(3)]
    a = f[f["repeat"] == 0].set_index("subject_id")["fold"]
    b = f[f["repeat"] == 1].set_index("subject_id")["fold"]
    assert (a != b.reindex(a.index)).any()
    assert folds.split_names(FoldConfig(folds=3, repeats=2)) == sorted(s["split"].unique())


def test_subject_with_two_labels_is_named():
    samples = cohort({"I": 5, "II": 5})
    samples.loc[samples["video_id"] == "I03_v1", "label"] = "II"
    with pytest.raises(FoldError, match=r"sheet\.tsv: .*I03: I, II"):
        folds.make_splits(samples, FoldConfig(folds=3), source="sheet.tsv")


def test_too_few_subjects_per_label_is_named():
    samples = cohort({"I": 5, "II": 5, "III": 2})
    with pytest.raises(FoldError, match=r"at least 3 subjects per label.*III: 2"):
        folds.make_splits(samples, FoldConfig(folds=3))


def test_check_splits_catches_a_leaking_subject(tmp_path):
    samples = cohort({"I": 5, "II": 5})
    _, s = folds.make_splits(samples, FoldConfig(folds=5))
    leak = s[(s["split"] == "fold0") & (s["role"] == "test")].iloc[[0]].assign(role="train")
    bad = pd.concat([s, leak], ignore_index=True)
    with pytest.raises(FoldError, match="more than one role"):
        folds.check_splits(bad)
    path = tmp_path / "splits.tsv"
    bad.to_csv(path, sep="\t", index=False)
    with pytest.raises(FoldError, match=str(path)):
        folds.load_splits(path)
    # A subject tested in two folds of one repeat is caught as well.
    twice = s.copy()
    i = np.flatnonzero((twice["split"] == "fold1") & (twice["role"] != "test"))[0]
    sub = twice.at[i, "subject_id"]
    twice.loc[(twice["split"] == "fold1") & (twice["subject_id"] == sub), "role"] = "test"
    with pytest.raises(FoldError, match="several test folds"):
        folds.check_splits(twice)


def test_subjects_of_unknown_split_is_named():
    _, s = folds.make_splits(cohort({"I": 3, "II": 3}), FoldConfig(folds=3))
    assert folds.subjects_of(s, "fold0", "test")
    with pytest.raises(FoldError, match="unknown split 'fold9'"):
        folds.subjects_of(s, "fold9", "test")


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown cv option"):
        FoldConfig.from_mapping({"folds": 5, "shuffle": True})
