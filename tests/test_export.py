"""motorflow.export: the mmaction2 / pyskl skeleton-annotation pickle."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from motorflow.export import build_splits, export_mmaction2, load_mmaction2
from motorflow.poseio import PoseData, save_pose
from motorflow.skeleton import N_JOINTS

LABELS = ["I", "II", "III", "IV"]
# video_id, subject_id, label, frames
VIDEOS = [
    ("a1", "s1", "II", 12),
    ("a2", "s1", "II", 9),
    ("b1", "s2", "I", 15),
    ("c1", "s3", "IV", 10),
    ("d1", "s4", "III", 11),
    ("e1", "s5", "I", 8),
]
WIDTH, HEIGHT = 854, 480


def _pose(t: int, rng: np.random.Generator) -> PoseData:
    kp = np.empty((t, N_JOINTS, 3), dtype=np.float32)
    kp[..., 0] = rng.uniform(0, WIDTH, (t, N_JOINTS))
    kp[..., 1] = rng.uniform(0, HEIGHT, (t, N_JOINTS))
    kp[..., 2] = rng.uniform(0.3, 1.0, (t, N_JOINTS))
    kp[0, 3, :2] = np.nan  # left ear missing in frame 0 (a COCO joint)
    kp[1, :, :2] = np.nan  # nobody in frame 1
    kp[2, 19, :2] = np.nan  # left toe missing (motorflow21 only)
    kp[3, 5, 2] = np.nan  # coordinates present, confidence lost
    return PoseData(keypoints=kp, fps=30.0, frame_size=(WIDTH, HEIGHT), backend="test")


@pytest.fixture
def cohort(tmp_path):
    rng = np.random.default_rng(0)
    poses = {}
    for vid, _, _, t in VIDEOS:
        path = tmp_path / "clean" / f"{vid}.npz"
        path.parent.mkdir(exist_ok=True)
        save_pose(_pose(t, rng), path)
        poses[vid] = path
    samples = pd.DataFrame(VIDEOS, columns=["video_id", "subject_id", "label", "frames"])
    subjects = samples.drop_duplicates("subject_id")[["subject_id", "label"]]
    rows = []
    for r, order in enumerate([[0, 1, 0, 1, 0], [1, 0, 0, 1, 1]]):
        for (s, lab), k in zip(subjects.itertuples(index=False), order, strict=True):
            rows.append({"subject_id": s, "label": lab, "repeat": r, "fold": k})
    folds = pd.DataFrame(rows)
    return poses, samples.drop(columns="frames"), folds


def test_export_with_folds_round_trip(cohort, tmp_path):
    poses, samples, folds = cohort
    del poses["e1"]  # excluded in QC: no cleaned pose
    out = tmp_path / "ann" / "motor.pkl"
    data, skipped = export_mmaction2(poses, samples, LABELS, out, folds=folds)
    assert skipped == ["e1"]
    loaded = load_mmaction2(out)
    assert set(loaded) == {"split", "annotations"}
    with open(out, "rb") as fh:  # protocol 4 (byte 0x80, then protocol number)
        assert fh.read(2) == b"\x80\x04"

    anns = loaded["annotations"]
    assert [a["frame_dir"] for a in anns] == ["a1", "a2", "b1", "c1", "d1"]
    frames = {vid: t for vid, _, _, t in VIDEOS}
    label_of = {vid: lab for vid, _, lab, _ in VIDEOS}
    for a in anns:
        assert set(a) == {
            "frame_dir", "label", "img_shape", "original_shape", "total_frames",
            "keypoint", "keypoint_score",
        }  # fmt: skip
        assert type(a["label"]) is int and a["label"] == LABELS.index(label_of[a["frame_dir"]])
        t = frames[a["frame_dir"]]
        assert a["total_frames"] == t
        assert a["img_shape"] == (HEIGHT, WIDTH) == a["original_shape"]
        assert a["keypoint"].dtype == np.float32 and a["keypoint"].shape == (1, t, 17, 2)
        assert a["keypoint_score"].dtype == np.float32
        assert a["keypoint_score"].shape == (1, t, 17)
        assert np.isfinite(a["keypoint"]).all() and np.isfinite(a["keypoint_score"]).all()
        # missing joints: coordinates 0, score 0
        assert (a["keypoint"][0, 0, 3] == 0).all() and a["keypoint_score"][0, 0, 3] == 0
        assert (a["keypoint"][0, 1] == 0).all() and (a["keypoint_score"][0, 1] == 0).all()
        assert a["keypoint_score"][0, 3, 5] == 0
        assert a["keypoint_score"][0, 0, 0] > 0
    # values are the pose's, x then y
    from motorflow.poseio import load_pose

    p = load_pose(poses["b1"])
    b1 = anns[2]
    np.testing.assert_array_equal(b1["keypoint"][0, 4:], p.keypoints[4:, :17, :2])
    np.testing.assert_array_equal(b1["keypoint_score"][0, 4:], p.keypoints[4:, :17, 2])

    # splits: two repeats -> rep{r}_fold{k}_{train,test}, subject-wise
    split = loaded["split"]
    assert set(split) == {
        f"rep{r}_fold{k}_{part}" for r in (0, 1) for k in (0, 1) for part in ("train", "test")
    }
    subject_of = dict(zip(samples["video_id"], samples["subject_id"], strict=True))
    exported = {a["frame_dir"] for a in anns}
    for r in (0, 1):
        tested: list[str] = []
        for k in (0, 1):
            train, test = split[f"rep{r}_fold{k}_train"], split[f"rep{r}_fold{k}_test"]
            assert set(train) | set(test) == exported
            assert not {subject_of[v] for v in train} & {subject_of[v] for v in test}
            tested += test
        assert sorted(tested) == sorted(exported)  # every video tested exactly once per repeat
    assert set(split["rep0_fold0_test"]) == {"a1", "a2", "c1"}  # subject s1 stays together


def test_single_repeat_names_and_no_folds(cohort, tmp_path):
    poses, samples, folds = cohort
    data, skipped = export_mmaction2(
        poses, samples, LABELS, tmp_path / "x.pkl", folds=folds[folds["repeat"] == 1]
    )
    assert skipped == []
    assert list(data["split"]) == ["fold0_train", "fold0_test", "fold1_train", "fold1_test"]
    data, _ = export_mmaction2(poses, samples, LABELS, tmp_path / "y.pkl")
    assert data["split"] == {"all": [v for v, *_ in VIDEOS]}
    assert load_mmaction2(tmp_path / "y.pkl")["split"] == data["split"]


def test_motorflow21_layout(cohort, tmp_path):
    poses, samples, _ = cohort
    data, _ = export_mmaction2(poses, samples, LABELS, tmp_path / "x.pkl", layout="motorflow21")
    a = data["annotations"][0]
    assert a["keypoint"].shape == (1, 12, 21, 2) and a["keypoint_score"].shape == (1, 12, 21)
    assert (a["keypoint"][0, 2, 19] == 0).all() and a["keypoint_score"][0, 2, 19] == 0
    assert a["keypoint_score"][0, 2, 20] > 0


def test_bad_layout_and_unknown_label(cohort, tmp_path):
    poses, samples, folds = cohort
    with pytest.raises(ValueError, match=r"'ntu25'.*allowed: coco17, motorflow21"):
        export_mmaction2(poses, samples, LABELS, tmp_path / "x.pkl", layout="ntu25")
    bad = samples.copy()
    bad.loc[bad["video_id"] == "c1", "label"] = "V"
    with pytest.raises(ValueError, match=r"video c1: unknown label 'V'"):
        export_mmaction2(poses, bad, LABELS, tmp_path / "x.pkl")
    assert not (tmp_path / "x.pkl").exists()
    with pytest.raises(ValueError, match=r"repeat 0 has no fold for subject\(s\) s1"):
        export_mmaction2(poses, samples, LABELS, tmp_path / "x.pkl", folds=folds.iloc[1:])
    with pytest.raises(ValueError, match="without a sample row: zz"):
        export_mmaction2({**poses, "zz": poses["a1"]}, samples, LABELS, tmp_path / "x.pkl")


def test_build_splits_subject_ids_compared_as_text():
    videos = pd.DataFrame({"video_id": ["v1", "v2", "v3"], "subject_id": ["1", "1", "2"]})
    folds = pd.DataFrame({"subject_id": [1, 2], "repeat": [0, 0], "fold": [1, 0]})
    assert build_splits(videos, folds) == {
        "fold0_train": ["v1", "v2"],
        "fold0_test": ["v3"],
        "fold1_train": ["v3"],
        "fold1_test": ["v1", "v2"],
    }


def test_pickle_loads_without_motorflow(cohort, tmp_path):
    """Only builtins and numpy inside: mmaction2/pyskl can read it without motorflow."""
    poses, samples, _ = cohort
    export_mmaction2(poses, samples, LABELS, tmp_path / "x.pkl")

    class Strict(pickle.Unpickler):
        def find_class(self, module, name):
            assert module.split(".")[0] in ("numpy", "builtins", "_codecs"), module
            return super().find_class(module, name)

    with open(tmp_path / "x.pkl", "rb") as fh:
        data = Strict(fh).load()
    assert len(data["annotations"]) == len(VIDEOS)


def test_command_line(cohort, tmp_path, capsys):
    import argparse

    from motorflow import export

    poses, samples, folds = cohort
    sheet = tmp_path / "samples.tsv"
    samples.assign(path="x.mp4").to_csv(sheet, sep="\t", index=False)
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    ap = argparse.ArgumentParser()
    export.add_parser(ap.add_subparsers(dest="command"))
    out = tmp_path / "cli.pkl"
    args = ap.parse_args(
        ["export", str(out), *(str(poses[v]) for v in ("a1", "a2", "b1", "c1", "d1")),
         "--sheet", str(sheet), "--labels", *LABELS, "--folds", str(tmp_path / "folds.tsv"),
         "--layout", "motorflow21"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert "skipped (no pose file): e1" in capsys.readouterr().out
    data = load_mmaction2(out)
    assert len(data["annotations"]) == 5 and "rep1_fold1_test" in data["split"]
    assert data["annotations"][0]["keypoint"].shape[2] == 21
