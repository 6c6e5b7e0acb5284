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


def test_subject_with_two_labels_is_named_when_labels_are_a_trait():
    samples = cohort({"I": 5, "II": 5})
    samples.loc[samples["video_id"] == "I03_v1", "label"] = "II"
    with pytest.raises(FoldError, match=r"sheet\.tsv: .*I03: I, II.*one_label_per_subject"):
        folds.make_splits(
            samples, FoldConfig(folds=3, one_label_per_subject=True), source="sheet.tsv"
        )
    # Labels per visit (the default): the same recordings make folds; the subject's labels
    # are listed in the tables.
    f, _ = folds.make_splits(samples, FoldConfig(folds=3), source="sheet.tsv")
    assert f.set_index("subject_id").at["I03", "label"] == "I|II"


def longitudinal(n_subjects: int = 24, seed: int = 0) -> pd.DataFrame:
    """ON/OFF-style cohort: 1-3 sessions of 1-2 videos per subject; a third of the subjects
    change label between sessions, some only ever 'normal' or only 'impaired'."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        kind = s % 3  # 0: always normal, 1: always impaired, 2: impaired OFF, normal ON
        for sess in ("OFF", "ON")[: 1 + (kind == 2 or s % 4 == 0)]:
            lab = {0: "normal", 1: "impaired"}.get(kind, "impaired" if sess == "OFF" else "normal")
            for v in range(int(rng.integers(1, 3))):
                rows.append((f"p{s:02d}_{sess}_{v}", f"p{s:02d}", sess, lab))
    return pd.DataFrame(rows, columns=["video_id", "subject_id", "session", "label"])


def assert_no_subject_crosses(samples: pd.DataFrame, s: pd.DataFrame) -> None:
    """Per split: one role per subject, so no subject's video is in two of train/val/test."""
    everyone = set(samples["subject_id"])
    for name, g in s.groupby("split"):
        assert g["subject_id"].is_unique, name
        assert set(g["subject_id"]) == everyone, name
        role = dict(zip(g["subject_id"], g["role"], strict=True))
        video_roles = samples["subject_id"].map(role)
        assert video_roles.groupby(samples["subject_id"]).nunique().max() == 1
        train = set(g.loc[g["role"] == "train", "subject_id"])
        assert train.isdisjoint(g.loc[g["role"] == "test", "subject_id"])
        assert train.isdisjoint(g.loc[g["role"] == "val", "subject_id"])
        assert set(g.loc[g["role"] == "val", "subject_id"]).isdisjoint(
            g.loc[g["role"] == "test", "subject_id"]
        )


@pytest.mark.parametrize("seed", range(25))
def test_longitudinal_folds_keep_subjects_whole_for_many_seeds(seed):
    samples = longitudinal(seed=seed).sample(frac=1.0, random_state=seed)  # any row order
    assert (samples.groupby("subject_id")["label"].nunique() > 1).sum() >= 6
    f, s = folds.make_splits(samples, FoldConfig(folds=4, repeats=2, seed=seed))
    assert_no_subject_crosses(samples, s)
    # Every subject tested exactly once per repeat; the inner split is not empty.
    assert (f.groupby(["repeat", "subject_id"]).size() == 1).all()
    assert len(f) == 2 * samples["subject_id"].nunique()
    assert s.groupby("split")["role"].apply(lambda r: (r == "val").sum()).min() >= 1
    # Deterministic in the recordings, not their order in the sheet.
    f2, s2 = folds.make_splits(
        samples.sort_values("video_id"), FoldConfig(folds=4, repeats=2, seed=seed)
    )
    assert f.equals(f2) and s.equals(s2)


def test_longitudinal_folds_stratify_the_recordings_labels():
    samples = longitudinal(n_subjects=30, seed=3)
    share = (samples["label"] == "impaired").mean()
    worst = []
    for seed in range(10):
        f, _ = folds.make_splits(samples, FoldConfig(folds=3, seed=seed))
        fold_of = f.set_index("subject_id")["fold"]
        per_fold = samples.assign(fold=samples["subject_id"].map(fold_of)).groupby("fold")
        impaired = per_fold["label"].apply(lambda x: (x == "impaired").mean())
        worst.append(float((impaired - share).abs().max()))
        # Folds of similar size in recordings, too.
        sizes = per_fold.size()
        assert sizes.max() - sizes.min() <= 0.25 * len(samples)
    # The share of impaired recordings in every test fold is close to the cohort's (measured
    # worst 0.05 over these seeds; stratifying subjects on their joined labels gives 0.17,
    # random subject folds 0.25).
    assert max(worst) < 0.08, worst


def test_class_sizes_count_subjects_carrying_a_label():
    samples = longitudinal(n_subjects=12)
    # Only two subjects carry 'impaired' anywhere, in several recordings each.
    impaired = samples.groupby("subject_id")["label"].apply(lambda x: (x == "impaired").any())
    keep = impaired[impaired].index[2:]
    samples.loc[samples["subject_id"].isin(keep), "label"] = "normal"
    n_rec = int((samples["label"] == "impaired").sum())
    assert n_rec >= 3  # enough recordings for 3 folds, not enough subjects
    msg = rf"at least 3 subjects per label; too few for impaired: 2 \(in {n_rec} recordings"
    with pytest.raises(FoldError, match=msg):
        folds.make_splits(samples, FoldConfig(folds=3))
    with pytest.raises(FoldError, match=r"at least 13 subjects; 12 given.*loso"):
        folds.make_splits(cohort({"I": 6, "II": 6}), FoldConfig(folds=13))


def test_loso_has_one_split_per_subject_each_tested_once():
    samples = longitudinal(n_subjects=10, seed=1)
    subjects = sorted(set(samples["subject_id"]))
    cfg = FoldConfig.from_mapping({"scheme": "loso", "folds": 5})  # folds ignored
    f, s = folds.make_splits(samples, cfg)
    names = folds.split_names(cfg, samples["subject_id"])
    assert names == [f"fold{i}" for i in range(len(subjects))]
    assert sorted(s["split"].unique()) == sorted(names)
    assert list(f["subject_id"]) == subjects and f["subject_id"].is_unique
    for i, subject in enumerate(subjects):
        g = s[s["split"] == f"fold{i}"]
        assert list(g.loc[g["role"] == "test", "subject_id"]) == [subject]
        assert int(f.set_index("subject_id").at[subject, "fold"]) == i
        assert (g["role"] == "val").sum() >= 1  # early stopping still has subjects
    assert_no_subject_crosses(samples, s)
    folds.check_splits(s, folds.subject_labels(samples, strict=False))
    # The inner split changes with the seed, the test subjects do not.
    f2, s2 = folds.make_splits(samples, FoldConfig(scheme="loso", seed=7))
    assert f.equals(f2) and not s.equals(s2)
    with pytest.raises(FoldError, match="split names need the subjects"):
        folds.split_names(cfg)


def test_loso_errors_are_clear():
    samples = longitudinal(n_subjects=9)
    with pytest.raises(FoldError, match="cv.repeats must be 1"):
        folds.make_splits(samples, FoldConfig(scheme="loso", repeats=2))
    one = samples.copy()
    one.loc[one["subject_id"] == "p00", "label"] = "mild"
    with pytest.raises(FoldError, match=r"at least 2 subjects per label.*mild: 1 subject"):
        folds.make_splits(one, FoldConfig(scheme="loso"))
    with pytest.raises(FoldError, match="cv.scheme must be one of"):
        folds.make_splits(samples, FoldConfig(scheme="loo"))


def test_inner_split_keeps_a_labels_only_subject_in_training():
    # 'mild' is carried by one training subject only (which also has 'normal' recordings):
    # that subject must stay in training, whatever the seed.
    train = pd.DataFrame(
        [("m0", "mild"), ("m0", "normal")]
        + [(f"n{i}", "normal") for i in range(6)]
        + [(f"i{i}", "impaired") for i in range(6)],
        columns=["subject_id", "label"],
    )
    for seed in range(30):
        val = folds._inner_split(train, 5, seed)
        assert val and "m0" not in val
        assert {v[0] for v in val} == {"n", "i"}  # stratified: both labels validate


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


def test_final_split_trains_on_every_subject_and_only_it_may_lack_a_test_fold(tmp_path):
    samples = pd.DataFrame(
        {"subject_id": [f"s{i}" for i in range(12)], "label": ["a", "b", "c"] * 4}
    )
    out = [tmp_path / n for n in ("folds.tsv", "splits.tsv", "final.tsv")]
    _, splits = folds.run(samples, FoldConfig(folds=3), *out[:2], final_out=out[2])
    final = folds.load_splits(out[2])
    assert set(final["split"]) == {folds.FINAL} and set(final["role"]) == {"train"}
    assert sorted(final["subject_id"]) == sorted(samples["subject_id"])
    assert dict(zip(final["subject_id"], final["label"], strict=True)) == dict(
        zip(samples["subject_id"], samples["label"], strict=True)
    )
    # A cross-validation split without test subjects is still refused.
    no_test = splits[splits["split"] == "fold0"].assign(role="train")
    with pytest.raises(FoldError, match="split fold0 has no test subjects"):
        folds.check_splits(no_test)
