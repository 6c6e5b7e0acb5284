"""Tests for motorflow.evaluate: metrics, aggregation, bootstrap, summary and report files."""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from motorflow import evaluate as ev
from motorflow.poseio import TEMP_SUFFIX

LABELS = ["I", "II", "III", "IV"]
L3 = ["I", "II", "III"]


def make_preds(
    n_subjects: int = 32,
    *,
    labels: list[str] = LABELS,
    videos: int = 3,
    accuracy: float = 0.7,
    n_folds: int = 4,
    repeats: int = 1,
    seed: int = 0,
    prefix: str = "s",
) -> pd.DataFrame:
    """Synthetic out-of-fold predictions: subject-wise folds, probabilities summing to 1."""
    rng = np.random.default_rng(seed)
    k = len(labels)
    subj_label = [labels[i % k] for i in range(n_subjects)]
    rows = []
    for rep in range(repeats):
        fold_of = rng.permutation(np.arange(n_subjects) % n_folds)
        for s in range(n_subjects):
            true = labels.index(subj_label[s])
            for v in range(videos):
                if rng.random() < accuracy:
                    guess = true
                else:
                    guess = int(rng.choice([j for j in range(k) if j != true]))
                probs = rng.dirichlet(np.ones(k)) * 0.5
                probs[guess] += 0.5
                fold = int(fold_of[s])
                row = {
                    "video_id": f"{prefix}{s:03d}_v{v}",
                    "subject_id": f"{prefix}{s:03d}",
                    "label": subj_label[s],
                    "pred": labels[int(np.argmax(probs))],
                    "split": f"r{rep}_fold{fold}",
                    "repeat": rep,
                    "fold": fold,
                }
                row.update({f"prob_{lab}": p for lab, p in zip(labels, probs, strict=True)})
                rows.append(row)
    return pd.DataFrame(rows)


def perfect(preds: pd.DataFrame, labels: list[str] = LABELS) -> pd.DataFrame:
    out = preds.copy()
    out["pred"] = out["label"]
    for lab in labels:
        out[f"prob_{lab}"] = (out["label"] == lab).astype(float)
    return out


# --------------------------------------------------------------------------- metrics


def formula_metrics(yt: list[str], yp: list[str], labels: list[str]) -> dict[str, float]:
    """Independent textbook formulas (no scikit-learn)."""
    k = len(labels)
    c = np.zeros((k, k))
    for a, b in zip(yt, yp, strict=True):
        c[labels.index(a), labels.index(b)] += 1
    n = c.sum()
    t, p, tp = c.sum(1), c.sum(0), np.diag(c)
    recall = [tp[i] / t[i] for i in range(k) if t[i]]
    f1 = []
    for i in range(k):
        if t[i] + p[i]:
            prec = tp[i] / p[i] if p[i] else 0.0
            rec = tp[i] / t[i] if t[i] else 0.0
            f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    mcc_num = np.trace(c) * n - t @ p
    mcc = mcc_num / math.sqrt((n**2 - p @ p) * (n**2 - t @ t))
    w = np.array([[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)])
    observed = c / n
    expected = np.outer(t, p) / n**2
    qwk = 1 - (w * observed).sum() / (w * expected).sum()
    return {
        "accuracy": np.trace(c) / n,
        "balanced_accuracy": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "mcc": float(mcc),
        "qwk": float(qwk),
    }


def test_compute_metrics_matches_hand_computed_3x3():
    yt = ["I"] * 4 + ["II"] * 3 + ["III"] * 3
    yp = ["I", "I", "II", "III", "II", "II", "I", "III", "III", "II"]
    got = ev.compute_metrics(yt, yp, L3)
    expected = formula_metrics(yt, yp, L3)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    # worked by hand: confusion [[2,1,1],[1,2,0],[0,1,2]]
    assert got["accuracy"] == pytest.approx(0.6)
    assert got["balanced_accuracy"] == pytest.approx((2 / 4 + 2 / 3 + 2 / 3) / 3)
    assert got["macro_f1"] == pytest.approx((4 / 7 + 4 / 7 + 2 / 3) / 3)
    assert got["mcc"] == pytest.approx(27 / 66)
    assert got["qwk"] == pytest.approx(1 - 0.7 / 1.3)
    assert got["recall_I"] == pytest.approx(0.5)
    assert got["macro_precision"] == pytest.approx((2 / 3 + 2 / 4 + 2 / 3) / 3)
    assert set(got) == set(ev.metric_names(L3))
    assert ev.confusion(yt, yp, L3).tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]


def test_qwk_uses_ordinal_index_of_labels_not_string_order():
    # "IV" < "V" alphabetically but "IX" sorts before both; ordinal order must come from labels
    labels = ["IV", "V", "IX"]
    yt = ["IV", "V", "IX", "IV", "V", "IX"]
    yp = ["IV", "V", "IX", "V", "IX", "IX"]
    got = ev.compute_metrics(yt, yp, labels)
    assert got["qwk"] == pytest.approx(formula_metrics(yt, yp, labels)["qwk"], abs=1e-12)


def test_perfect_predictions_score_one():
    yt = ["I", "II", "III", "IV", "II", "III"]
    got = ev.compute_metrics(yt, yt, LABELS)
    for name in (*ev.METRICS, *ev.EXTRA_METRICS, "recall_I", "recall_IV"):
        assert got[name] == pytest.approx(1.0), name


def test_qwk_penalises_off_by_two_more_than_off_by_one():
    yt = ["I", "II", "III", "I", "II", "III"]
    off_one = ["II", "II", "III", "I", "II", "III"]
    off_two = ["III", "II", "III", "I", "II", "III"]
    one = ev.compute_metrics(yt, off_one, L3)
    two = ev.compute_metrics(yt, off_two, L3)
    assert one["accuracy"] == two["accuracy"]
    assert two["qwk"] < one["qwk"]
    assert one["cohen_kappa"] == pytest.approx(two["cohen_kappa"])  # unweighted: same


def test_degenerate_inputs_do_not_raise_or_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one_class = ev.compute_metrics(["II"] * 4, ["II"] * 4, LABELS)
        wrong = ev.compute_metrics(["II"] * 3, ["I"] * 3, LABELS)
        empty = ev.compute_metrics([], [], LABELS)
    assert one_class["accuracy"] == 1.0
    assert math.isnan(one_class["qwk"]) and math.isnan(one_class["cohen_kappa"])
    assert one_class["mcc"] == 0.0  # scikit-learn's value for a constant prediction
    assert math.isnan(one_class["recall_I"])  # class absent from y_true: undefined
    assert wrong["accuracy"] == 0.0 and wrong["recall_II"] == 0.0
    assert all(math.isnan(v) for v in empty.values())
    with pytest.raises(ValueError, match="V"):
        ev.compute_metrics(["I", "V"], ["I", "I"], LABELS)


def test_vectorised_metrics_equal_sklearn_on_random_cases():
    rng = np.random.default_rng(3)
    for _ in range(150):
        n = int(rng.integers(1, 15))
        yt = rng.choice(LABELS[: int(rng.integers(1, 5))], n)
        yp = rng.choice(LABELS[: int(rng.integers(1, 5))], n)
        ref = ev.compute_metrics(yt, yp, LABELS)
        fast = ev.metrics_from_confusion(ev.confusion(yt, yp, LABELS), LABELS)
        for name, value in ref.items():
            got = float(fast[name])
            assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(
                value, abs=1e-12
            ), (name, yt, yp)


# --------------------------------------------------------------------------- subject level


def _rows(spec: list[tuple[str, str, list[float]]], labels: list[str] = L3) -> pd.DataFrame:
    rows = []
    for i, (subject, label, probs) in enumerate(spec):
        row = {
            "video_id": f"v{i}",
            "subject_id": subject,
            "label": label,
            "pred": labels[int(np.argmax(probs))],
            "split": "fold0",
            "repeat": 0,
            "fold": 0,
        }
        row.update({f"prob_{lab}": p for lab, p in zip(labels, probs, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)


def test_subject_level_means_probabilities_not_votes():
    df = _rows(
        [
            ("a", "I", [0.4, 0.6, 0.0]),
            ("a", "I", [0.4, 0.6, 0.0]),
            ("a", "I", [1.0, 0.0, 0.0]),
            ("b", "III", [0.6, 0.3, 0.1]),
            ("b", "III", [0.2, 0.5, 0.3]),  # mean [0.4, 0.4, 0.2]: tie -> lower index "I"
            ("c", "II", [0.1, 0.2, 0.7]),
        ]
    )
    subj = ev.subject_level(df, L3).set_index("subject_id")
    # a: videos vote II twice, but the mean probability is [0.6, 0.4, 0] -> I
    assert subj.loc["a", "pred"] == "I"
    assert subj.loc["a", ["prob_I", "prob_II", "prob_III"]].tolist() == pytest.approx(
        [0.6, 0.4, 0.0]
    )
    assert subj.loc["a", "n_videos"] == 3
    assert subj.loc["b", "pred"] == "I"
    assert subj.loc["b", "label"] == "III"
    assert subj.loc["c", "pred"] == "III"
    assert len(subj) == 3


def test_subject_level_leaves_out_a_subject_whose_labels_differ_with_the_reason():
    df = _rows([("kid_07", "I", [1, 0, 0]), ("kid_07", "II", [0, 1, 0]), ("x", "I", [1, 0, 0])])
    subj = ev.subject_level(df, L3)
    assert list(subj["subject_id"]) == ["x"]
    assert ev.mixed_labels(df) == {"kid_07": "labels differ between its recordings: I, II"}
    # All subjects mixed: no subject-level rows, NaN metrics (never a made-up label).
    only = df[df["subject_id"] == "kid_07"]
    assert ev.subject_level(only, L3).empty
    assert math.isnan(ev.fold_metrics(only, L3)["subject"]["accuracy"])
    assert math.isnan(ev.majority_rate(only, L3, "subject"))


def longitudinal_preds(seed: int = 0, accuracy: float = 0.7, mixed: int = 6) -> pd.DataFrame:
    """24 subjects, sessions OFF and ON (2 videos each); the first ``mixed`` subjects are
    impaired OFF and normal ON, the others keep one label; 4 subject-wise folds."""
    rng = np.random.default_rng(seed)
    labels = ["normal", "impaired"]
    rows = []
    for s in range(24):
        for sess in ("OFF", "ON"):
            if s < mixed:
                label = "impaired" if sess == "OFF" else "normal"
            else:
                label = labels[s % 2]
            for v in range(2):
                right = rng.random() < accuracy
                p_true = rng.uniform(0.55, 0.95) if right else rng.uniform(0.05, 0.45)
                probs = {lab: p_true if lab == label else 1 - p_true for lab in labels}
                rows.append(
                    {
                        "video_id": f"p{s:02d}_{sess}_{v}",
                        "subject_id": f"p{s:02d}",
                        "session": sess,
                        "label": label,
                        "pred": max(probs, key=probs.get),
                        **{f"prob_{lab}": probs[lab] for lab in labels},
                        "split": f"fold{s % 4}",
                        "repeat": 0,
                        "fold": s % 4,
                    }
                )
    return pd.DataFrame(rows)


LN = ["normal", "impaired"]


def test_visit_level_pools_the_videos_of_one_subject_and_session():
    df = longitudinal_preds(seed=1)
    visits = ev.visit_level(df, LN).set_index("visit_id")
    assert len(visits) == 48 and (visits["n_videos"] == 2).all()
    assert visits.at["p00/OFF", "label"] == "impaired" and visits.at["p00/ON", "label"] == "normal"
    for vid, g in df.assign(visit_id=df["subject_id"] + "/" + df["session"]).groupby("visit_id"):
        mean = g[["prob_normal", "prob_impaired"]].mean()
        assert visits.loc[vid, ["prob_normal", "prob_impaired"]].tolist() == pytest.approx(
            mean.tolist()
        )
        assert visits.at[vid, "pred"] == ("impaired" if mean["prob_impaired"] > 0.5 else "normal")
    # A video without a session is a visit of its own.
    df.loc[df["subject_id"] == "p10", "session"] = ""
    visits = ev.visit_level(df, LN)
    assert sorted(visits.loc[visits["subject_id"] == "p10", "visit_id"]) == [
        f"p10/p10_{sess}_{v}" for sess in ("OFF", "ON") for v in range(2)
    ]
    assert len(visits) == 46 + 4
    # Two videos of one visit with different labels: that visit is left out, with its reason.
    df.loc[df["video_id"] == "p11_ON_0", "label"] = "normal"  # p11 is impaired
    assert "p11/ON" not in set(ev.visit_level(df, LN)["visit_id"])
    assert ev.mixed_labels(df, "visit")["p11/ON"].endswith("impaired, normal")


def test_summarise_longitudinal_reports_visits_and_constant_label_subjects_only(tmp_path):
    df = longitudinal_preds(seed=2)
    summary = ev.summarise({"stgcn": df}, LN, n_boot=200, seed=0)
    assert summary["levels"] == ["video", "visit", "subject"]
    m = summary["metrics"]["stgcn"]
    assert set(m) == {"video", "visit", "subject"}
    mixed = {f"p{s:02d}" for s in range(6)}
    assert set(summary["excluded"]["stgcn"]["subject"]) == mixed
    assert summary["excluded"]["stgcn"]["visit"] == {}
    assert summary["n"]["stgcn"] == {"video": 96, "visit": 48, "subject": 18}
    # Subject level = the constant-label subjects' pooled probabilities, split by split.
    kept = df[~df["subject_id"].isin(mixed)]
    per_split = []
    for _, g in kept.groupby("split"):
        probs = g.groupby("subject_id")[["prob_normal", "prob_impaired"]].mean()
        pred = np.where(probs["prob_impaired"] > probs["prob_normal"], "impaired", "normal")
        per_split.append((pred == g.groupby("subject_id")["label"].first().to_numpy()).mean())
    assert m["subject"]["accuracy"]["mean"] == pytest.approx(np.mean(per_split))
    # Visit level counts the mixed subjects' visits too, and differs from the video level.
    visits = ev.visit_level(df, LN)
    acc = (visits["label"] == visits["pred"]).mean()
    assert ev.point_estimate(df, LN, "visit")["accuracy"] == pytest.approx(acc)
    assert set(visits["subject_id"]) >= mixed
    assert np.asarray(summary["confusion"]["stgcn"]["visit"]).sum() == 48
    assert summary["majority_rate"]["stgcn"]["subject"] == pytest.approx(9 / 18)
    lo, hi = m["visit"]["accuracy"]["ci_low"], m["visit"]["accuracy"]["ci_high"]
    assert lo <= acc <= hi
    # metrics.json keeps the old levels and adds the visit one; the reason is in the text.
    ev.write_summary(summary, tmp_path / "metrics.json", tmp_path / "eval")
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert set(stored["stgcn"]) == {"video", "visit", "subject"}
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "| stgcn | visit | 48 |" in table and "| stgcn | subject | 18 |" in table
    assert "stgcn, subject level: 6 of 24 subjects left out" in table
    assert "p00 impaired, normal" in table
    full = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert full["excluded"]["stgcn"]["subject"]["p03"].startswith("labels differ")
    # Fold metrics: all test subjects counted, the mixed ones named.
    fold = ev.fold_metrics(df[df["split"] == "fold0"], LN)
    assert fold["n_subjects"] == 6 and fold["n_visits"] == 12
    assert set(fold["subjects_excluded"]) == {"p00", "p04"}
    assert np.asarray(fold["confusion_subject"]).sum() == 4
    assert np.asarray(fold["confusion_visit"]).sum() == 12


def test_sessions_from_the_sheet_and_no_sessions_keep_the_old_levels():
    df = longitudinal_preds(seed=3).drop(columns="session")
    plain = ev.summarise({"m": df}, LN, n_boot=50)
    assert plain["levels"] == ["video", "subject"] and set(plain["metrics"]["m"]) == {
        "video",
        "subject",
    }
    assert set(plain["excluded"]["m"]["subject"]) == {f"p{s:02d}" for s in range(6)}
    sessions = {v: v.split("_")[1] for v in df["video_id"]}
    given = ev.summarise({"m": df}, LN, n_boot=50, sessions=sessions)
    assert given["n"]["m"]["visit"] == 48
    ref = ev.summarise({"m": longitudinal_preds(seed=3)}, LN, n_boot=50)
    assert given["metrics"] == ref["metrics"]
    # Every subject mixed: subject level NaN (null in JSON), each subject named.
    allmixed = longitudinal_preds(seed=4, mixed=24)
    summary = ev.summarise({"m": allmixed}, LN, n_boot=50)
    assert summary["n"]["m"]["subject"] == 0
    assert math.isnan(summary["metrics"]["m"]["subject"]["accuracy"]["mean"])
    assert len(summary["excluded"]["m"]["subject"]) == 24
    assert "24 of 24 subjects left out" in ev.format_table(summary)


def test_subject_level_rejects_subject_in_two_splits():
    df = _rows([("kid_03", "I", [1, 0, 0]), ("kid_03", "I", [1, 0, 0])])
    df.loc[1, "split"] = "fold1"
    with pytest.raises(ValueError, match="kid_03"):
        ev.subject_level(df, L3)


def test_majority_rate_counts_each_unit_once():
    df = _rows(
        [("a", "I", [1, 0, 0]), ("a", "I", [1, 0, 0]), ("a", "I", [1, 0, 0]),
         ("b", "II", [0, 1, 0]), ("c", "II", [0, 1, 0])]
    )  # fmt: skip
    assert ev.majority_rate(df, L3, "subject") == pytest.approx(2 / 3)
    assert ev.majority_rate(df, L3, "video") == pytest.approx(3 / 5)


def test_fold_metrics_and_write(tmp_path):
    df = make_preds(12, n_folds=1, seed=5)
    path = tmp_path / "predictions.tsv"
    df.to_csv(path, sep="\t", index=False)
    out = tmp_path / "m" / "metrics.json"
    result = ev.write_fold_metrics(path, LABELS, out)
    stored = json.loads(out.read_text())
    assert set(stored) == {
        "video", "subject", "n_videos", "n_subjects", "confusion_video", "confusion_subject"
    }  # fmt: skip
    assert stored["n_videos"] == 36 and stored["n_subjects"] == 12
    assert np.asarray(stored["confusion_video"]).sum() == 36
    assert np.asarray(stored["confusion_subject"]).sum() == 12
    assert stored["video"]["accuracy"] == pytest.approx((df["label"] == df["pred"]).mean())
    assert result["subject"]["accuracy"] == pytest.approx(stored["subject"]["accuracy"])


# --------------------------------------------------------------------------- reading


@pytest.fixture
def good_file(tmp_path):
    df = make_preds(8, n_folds=1, seed=1)
    path = tmp_path / "stgcn" / "fold0" / "predictions.tsv"
    path.parent.mkdir(parents=True)
    df.to_csv(path, sep="\t", index=False)
    return path, df


def test_read_predictions_roundtrip(good_file):
    path, df = good_file
    got = ev.read_predictions(path, LABELS)
    assert len(got) == len(df)
    assert got["repeat"].dtype.kind == "i"
    assert got["prob_I"].to_numpy() == pytest.approx(df["prob_I"].to_numpy())


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (lambda d: d.drop(columns="prob_III"), "missing column.*prob_III"),
        (lambda d: d.drop(columns="subject_id"), "missing column.*subject_id"),
        (lambda d: d.assign(label=["V"] + list(d["label"][1:])), "unknown label.*'V'"),
        (lambda d: d.assign(pred=["0"] + list(d["pred"][1:])), "unknown pred.*'0'"),
        (lambda d: d.assign(prob_I=d["prob_I"] + 0.01), "do not sum to 1"),
        (lambda d: pd.concat([d, d.iloc[[2]]]), "duplicate video_id 's000_v2'"),
    ],
)
def test_read_predictions_errors_name_file_and_problem(good_file, corrupt, problem):
    path, df = good_file
    corrupt(df).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=problem) as info:
        ev.read_predictions(path, LABELS)
    assert str(path) in str(info.value)


def test_read_predictions_tolerates_rounding_within_1e4(good_file):
    path, df = good_file
    df.assign(prob_I=df["prob_I"] + 5e-5).to_csv(path, sep="\t", index=False)
    assert len(ev.read_predictions(path, LABELS)) == len(df)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_point_estimate_and_is_deterministic():
    df = make_preds(32, accuracy=0.65, seed=2)
    for level in ev.LEVELS:
        point = ev.point_estimate(df, LABELS, level)
        for metric in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "qwk"):
            low, high = ev.bootstrap_ci(df, LABELS, level, metric, n_boot=1000, seed=0)
            assert low < point[metric] < high, (level, metric, low, point[metric], high)
    a = ev.bootstrap_ci(df, LABELS, "subject", "qwk", n_boot=500, seed=7)
    b = ev.bootstrap_ci(df, LABELS, "subject", "qwk", n_boot=500, seed=7)
    c = ev.bootstrap_ci(df, LABELS, "subject", "qwk", n_boot=500, seed=8)
    assert a == b
    assert a != c
    shuffled = df.sample(frac=1.0, random_state=0)  # row order does not matter
    assert ev.bootstrap_ci(shuffled, LABELS, "subject", "qwk", n_boot=500, seed=7) == a
    assert not np.array_equal(ev.resample_counts(32, 50, 7), ev.resample_counts(32, 50, 8))


def test_bootstrap_ci_narrows_with_more_subjects():
    small = make_preds(16, accuracy=0.7, seed=4)
    large = make_preds(256, accuracy=0.7, seed=4)
    lo_s, hi_s = ev.bootstrap_ci(small, LABELS, "subject", "accuracy", n_boot=1000)
    lo_l, hi_l = ev.bootstrap_ci(large, LABELS, "subject", "accuracy", n_boot=1000)
    assert hi_l - lo_l < 0.6 * (hi_s - lo_s)


def test_bootstrap_perfect_predictor_gives_degenerate_ci():
    df = perfect(make_preds(20, seed=6))
    for level in ev.LEVELS:
        cis = ev.bootstrap_cis(df, LABELS, level, n_boot=300)
        for metric in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "qwk"):
            assert cis[metric] == (1.0, 1.0), (level, metric)


@pytest.mark.parametrize(("level", "repeats"), [("video", 1), ("subject", 1), ("video", 2)])
def test_bootstrap_vectorised_equals_direct_sklearn_resampling(level, repeats):
    """Two independent implementations of the same definition agree exactly: subjects
    resampled with all their videos, statistic = mean over repeats."""
    from sklearn.metrics import cohen_kappa_score

    df = make_preds(14, accuracy=0.6, repeats=repeats, seed=9)
    df = df[~((df["repeat"] == 1) & (df["subject_id"] == "s003"))]  # unscored in one repeat
    fast = ev.bootstrap_ci(df, LABELS, level, "accuracy", n_boot=150, seed=3)
    slow = ev.bootstrap_ci(
        df, LABELS, level, lambda t, p: float(np.mean(t == p)), n_boot=150, seed=3
    )
    assert fast == pytest.approx(slow, abs=1e-12)

    def qwk(t, p):
        idx = {lab: i for i, lab in enumerate(LABELS)}
        ti, pi = [idx[x] for x in t], [idx[x] for x in p]
        return cohen_kappa_score(ti, pi, weights="quadratic", labels=range(len(LABELS)))

    fast = ev.bootstrap_ci(df, LABELS, level, "qwk", n_boot=150, seed=3)
    slow = ev.bootstrap_ci(df, LABELS, level, qwk, n_boot=150, seed=3)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_resample_counts_draw_each_subject_set_with_replacement():
    counts = ev.resample_counts(10, 500, seed=1)
    assert counts.shape == (500, 10)
    assert (counts.sum(1) == 10).all()
    assert (counts.max(1) > 1).any()  # with replacement
    assert abs(counts.mean() - 1.0) < 0.05


# --------------------------------------------------------------------------- summary


def test_summarise_shape_and_fold_means():
    stgcn = make_preds(24, accuracy=0.6, seed=11, repeats=2)
    fusion = make_preds(24, accuracy=0.8, seed=12, repeats=2)
    summary = ev.summarise({"stgcn": stgcn, "fusion": fusion}, LABELS, n_boot=200, seed=0)
    metrics = summary["metrics"]
    assert set(metrics) == {"stgcn", "fusion"}
    for model in metrics:
        assert set(metrics[model]) == {"video", "subject"}
        for level in metrics[model]:
            assert set(metrics[model][level]) == set(ev.metric_names(LABELS))
            for values in metrics[model][level].values():
                assert set(values) == {"mean", "std", "ci_low", "ci_high"}
                assert all(isinstance(v, float) for v in values.values())
    # mean/std over splits, computed independently
    for level in ev.LEVELS:
        per_split = []
        for _, group in fusion.groupby(["repeat", "split"]):
            if level == "video":
                acc = (group["label"] == group["pred"]).mean()
            else:
                probs = group.groupby("subject_id")[[f"prob_{x}" for x in LABELS]].mean()
                pred = np.asarray(LABELS)[probs.to_numpy().argmax(1)]
                truth = group.groupby("subject_id")["label"].first().to_numpy()
                acc = (pred == truth).mean()
            per_split.append(acc)
        assert len(per_split) == 8
        got = metrics["fusion"][level]["accuracy"]
        assert got["mean"] == pytest.approx(np.mean(per_split))
        assert got["std"] == pytest.approx(np.std(per_split, ddof=1))
        assert got["ci_low"] <= got["ci_high"]
    cm = np.asarray(summary["confusion"]["fusion"]["subject"])
    assert cm.shape == (4, 4) and cm.sum() == 48  # 24 subjects x 2 repeats
    assert [row["model"] for row in summary["comparison"]] == ["fusion"]


def test_summarise_single_split_has_zero_std():
    df = make_preds(12, n_folds=1, seed=13)
    summary = ev.summarise({"stgcn": df}, LABELS, n_boot=50)
    assert summary["metrics"]["stgcn"]["subject"]["accuracy"]["std"] == 0.0
    assert summary["comparison"] == []


def test_comparison_identical_model_gives_p_one_and_zero_difference():
    base = make_preds(20, accuracy=0.6, seed=14)
    summary = ev.summarise({"stgcn": base, "copy": base.copy()}, LABELS, n_boot=200)
    (row,) = summary["comparison"]
    assert row["model"] == "copy" and row["baseline"] == "stgcn" and row["level"] == "subject"
    assert row["p_value"] == 1.0
    assert row["accuracy_difference"] == 0.0
    assert (row["diff_ci_low"], row["diff_ci_high"]) == (0.0, 0.0)
    assert row["n_model_only_correct"] == row["n_baseline_only_correct"] == 0
    assert row["n_subjects_paired"] == 20


def test_comparison_twelve_of_twelve_discordant():
    base = perfect(make_preds(20, seed=15))
    better = base.copy()
    wrong = base["subject_id"].isin([f"s{i:03d}" for i in range(12)])
    # baseline wrong on subjects 0..11 (every video puts all mass on the next label)
    shifted = base.loc[wrong, "label"].map(lambda x: LABELS[(LABELS.index(x) + 1) % 4])
    base.loc[wrong, "pred"] = shifted
    for lab in LABELS:
        base.loc[wrong, f"prob_{lab}"] = (shifted == lab).astype(float)
    extra = make_preds(3, seed=16, prefix="only_model_")  # not scored by the baseline
    summary = ev.summarise(
        {"stgcn": base, "better": pd.concat([perfect(better), extra])}, LABELS, n_boot=300
    )
    (row,) = summary["comparison"]
    assert row["n_subjects_paired"] == 20
    assert row["n_model_only_correct"] == 12 and row["n_baseline_only_correct"] == 0
    assert row["p_value"] == pytest.approx(2 * 0.5**12)
    assert row["accuracy_difference"] == pytest.approx(12 / 20)
    assert 0 < row["diff_ci_low"] <= 12 / 20 <= row["diff_ci_high"] <= 1


def test_comparison_with_repeats_uses_majority_of_repeats():
    one = perfect(make_preds(6, repeats=3, n_folds=2, seed=17))
    base = one.copy()
    # subject s000 wrong in 2 of 3 repeats (majority wrong), s001 wrong in 1 of 3 (majority right)
    for subject, reps in (("s000", [0, 1]), ("s001", [0])):
        sel = (base["subject_id"] == subject) & base["repeat"].isin(reps)
        flipped = base.loc[sel, "label"].map(lambda x: LABELS[(LABELS.index(x) + 1) % 4])
        base.loc[sel, "pred"] = flipped
        for lab in LABELS:
            base.loc[sel, f"prob_{lab}"] = (flipped == lab).astype(float)
    row = ev.compare_models(one, base, LABELS, n_boot=100)
    assert row["n_model_only_correct"] == 1 and row["n_baseline_only_correct"] == 0
    assert row["p_value"] == 1.0
    assert row["accuracy_difference"] == pytest.approx((2 / 3 + 1 / 3) / 6)


def test_summarise_is_fast_enough():
    models = {
        name: make_preds(32, accuracy=acc, n_folds=5, seed=i)
        for i, (name, acc) in enumerate(
            [("stgcn", 0.6), ("fusion", 0.7), ("gait", 0.5), ("pose", 0.65)]
        )
    }
    start = time.perf_counter()
    summary = ev.summarise(models, LABELS, n_boot=2000, seed=0)
    elapsed = time.perf_counter() - start
    assert len(summary["comparison"]) == 3
    assert elapsed < 15, f"summarise took {elapsed:.1f} s"


# --------------------------------------------------------------------------- outputs


def test_write_summary_files(tmp_path):
    stgcn = make_preds(32, accuracy=0.6, seed=21)
    fusion = make_preds(32, accuracy=0.85, seed=22)
    degenerate = perfect(make_preds(4, labels=LABELS, seed=23))  # NaNs in some splits
    degenerate = degenerate[degenerate["label"] == "I"]
    preds = {"stgcn": stgcn, "fusion_xattn": fusion, "tiny": degenerate}
    summary = ev.summarise(preds, LABELS, n_boot=300)
    metrics_json = tmp_path / "metrics.json"
    out_dir = tmp_path / "summary"
    ev.write_summary(summary, metrics_json, out_dir)

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))

    stored = strict(metrics_json.read_text())
    assert set(stored) == set(preds)
    for model, by_level in stored.items():
        assert set(by_level) == {"video", "subject"}
        for level, by_metric in by_level.items():
            assert set(by_metric) == set(ev.metric_names(LABELS))
            for name, values in by_metric.items():
                assert set(values) == {"mean", "std", "ci_low", "ci_high"}
                ref = summary["metrics"][model][level][name]["mean"]
                assert values["mean"] is None if math.isnan(ref) else values["mean"] == ref
    full = strict((out_dir / "summary.json").read_text())
    assert {"metrics", "confusion", "comparison"} <= set(full)

    table = (out_dir / "table.md").read_text()
    for model in preds:
        assert f"| {model} | subject |" in table and f"| {model} | video |" in table
    for row in summary["comparison"]:
        assert ev.comparison_line(row) in table
    assert "fusion_xattn vs stgcn (subject level): Δaccuracy = +" in table
    assert "exact McNemar p = " in table
    assert "majority-class rate" in table.lower()
    rate = ev.majority_rate(stgcn, LABELS, "subject")
    assert f"{100 * rate:.1f}" in table
    acc = summary["metrics"]["fusion_xattn"]["subject"]["accuracy"]
    cell = (
        f"{100 * acc['mean']:.1f} ± {100 * acc['std']:.1f} "
        f"[{100 * acc['ci_low']:.1f}, {100 * acc['ci_high']:.1f}]"
    )
    assert cell in table
    qwk = summary["metrics"]["stgcn"]["video"]["qwk"]
    assert f"{qwk['mean']:.3f}".replace("-", "\u2212") in table

    comparison = pd.read_csv(out_dir / "comparison.tsv", sep="\t")
    assert list(comparison.columns) == list(ev.COMPARISON_COLUMNS)
    assert sorted(comparison["model"]) == ["fusion_xattn", "tiny"]
    for model in preds:
        for level in ev.LEVELS:
            png = out_dir / f"{model}_confusion_{level}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leftovers = [p.name for p in tmp_path.rglob("*" + TEMP_SUFFIX)]
    assert leftovers == []


def test_dvc_plot_data_matches_the_summary(tmp_path):
    preds = {"stgcn": make_preds(24, accuracy=0.7, seed=31, repeats=2)}
    summary = ev.summarise(preds, LABELS, n_boot=50)
    written = ev.write_dvc_plots(
        summary,
        {"stgcn": tmp_path / "folds/stgcn.csv"},
        {"stgcn": tmp_path / "confusion/stgcn.csv"},
    )
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "confusion/stgcn.csv",
        "folds/stgcn.csv",
    ]
    folds = pd.read_csv(tmp_path / "folds" / "stgcn.csv")
    # Two repeats: split names carry the repeat; each row is that split's own subject accuracy.
    assert len(folds) == 8 and folds["split"].is_unique
    for (rep, split), group in preds["stgcn"].groupby(["repeat", "split"]):
        probs = group.groupby("subject_id")[[f"prob_{x}" for x in LABELS]].mean()
        pred = np.asarray(LABELS)[probs.to_numpy().argmax(1)]
        truth = group.groupby("subject_id")["label"].first().to_numpy()
        row = folds[folds["split"] == f"r{rep}/{split}"]
        assert row["accuracy"].item() == pytest.approx((pred == truth).mean(), abs=1e-6)
    assert "qwk" in folds.columns  # ordinal labels
    pairs = pd.read_csv(tmp_path / "confusion" / "stgcn.csv", dtype=str)
    cm = ev.confusion(pairs["actual"], pairs["predicted"], LABELS)
    assert cm.tolist() == summary["confusion"]["stgcn"]["subject"]
    nominal = ev.summarise(preds, LABELS, n_boot=50, ordinal=False)
    ev.write_dvc_plots(
        nominal, {"stgcn": tmp_path / "nominal/folds/stgcn.csv"}, {"stgcn": tmp_path / "n.csv"}
    )
    assert "qwk" not in pd.read_csv(tmp_path / "nominal" / "folds" / "stgcn.csv").columns


def test_comparison_line_format():
    row = {
        "model": "fusion_xattn",
        "baseline": "stgcn",
        "level": "subject",
        "n_subjects_paired": 32,
        "n_model_only_correct": 5,
        "n_baseline_only_correct": 4,
        "p_value": 0.7266,
        "accuracy_difference": 0.03125,
        "diff_ci_low": -0.0625,
        "diff_ci_high": 0.125,
    }
    assert ev.comparison_line(row) == (
        "fusion_xattn vs stgcn (subject level): Δaccuracy = +3.1 pp [\u22126.2, 12.5], "
        "exact McNemar p = 0.73 (5 vs 4 discordant subjects, 32 paired)"
    )


def test_repeats_report_each_repeats_pooled_metric_and_their_range():
    df = make_preds(24, accuracy=0.7, seed=21, repeats=3)
    summary = ev.summarise({"stgcn": df}, LABELS, n_boot=50)
    recs = summary["repeats"]["stgcn"]["video"]
    assert [r["repeat"] for r in recs] == [0, 1, 2]
    for r in recs:
        rows = df[df["repeat"] == r["repeat"]]
        assert r["accuracy"] == pytest.approx((rows["label"] == rows["pred"]).mean())
    accs = [100 * r["accuracy"] for r in recs]
    table = ev.format_table(summary)
    assert "Spread across repeated cross-validation" in table
    line = next(x for x in table.splitlines() if x.startswith("| stgcn | video | 3 |"))
    assert f"{max(accs) - min(accs):.1f}" in line
    # One repeat: nothing to spread.
    one = ev.summarise({"stgcn": make_preds(24, seed=22)}, LABELS, n_boot=50)
    assert "Spread across" not in ev.format_table(one)


def test_summary_page_shows_the_visit_level_and_the_subjects_left_out():
    from motorflow import report as page

    result = ev.summarise({"stgcn": longitudinal_preds(seed=5)}, LN, n_boot=50)
    html = page._metrics_section(result, ["stgcn"])
    assert 'data-level="visit"' in html and 'data-level="subject"' in html
    assert '<ul id="excluded"><li>stgcn, subject level: 6 of 24 subjects left out' in html
    plain = ev.summarise({"stgcn": make_preds(12, seed=6)}, LABELS, n_boot=50)
    html = page._metrics_section(plain, ["stgcn"])
    assert 'data-level="visit"' not in html and 'id="excluded"' not in html
