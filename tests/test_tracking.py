"""motorflow.tracking: one job logs the whole results tree to MLflow."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import pandas as pd
import pytest
from mlflow_server import mlflow_server, search_runs

from motorflow import tracking

MODELS = ["stgcn", "gait_baseline"]
SPLITS = ["fold0", "fold1"]
EXPERIMENT = "motorflow-test"
CONFIG = {
    "seed": 7,
    "data": {"labels": ["I", "II", "III", "IV"], "source": "synthetic"},
    "stgcn": {"lr": 0.001, "epochs": 3, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}},
    "gait_baseline": {"C": 1.0, "note": "x" * 800},
}


def _png(path: Path) -> None:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    raw = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + raw)


def _write_json(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _value(model: str, split: str, level: str, metric: str) -> float:
    return round(
        0.5 + 0.1 * MODELS.index(model) + 0.01 * SPLITS.index(split) + 0.001 * len(level + metric),
        6,
    )


def make_results(root: Path) -> Path:
    res = root / "results"
    (res / "folds").mkdir(parents=True)
    pd.DataFrame(
        {"subject_id": ["s1", "s2"], "label": ["I", "II"], "repeat": [0, 0], "fold": [0, 1]}
    ).to_csv(res / "folds" / "folds.tsv", sep="\t", index=False)
    summary = {}
    for model in MODELS:
        summary[model] = {
            level: {
                m: {"mean": _value(model, "fold0", level, m), "std": 0.05,
                    "ci_low": 0.4, "ci_high": 0.9}
                for m in ("accuracy", "macro_f1")
            }
            for level in ("video", "subject")
        }  # fmt: skip
        for split in SPLITS:
            train = res / "train" / model / split
            _write_json(
                {
                    "params": CONFIG[model],
                    "best_epoch": 2,
                    "n_train_subjects": 24,
                    "n_val_subjects": 8,
                    "device": "cpu",
                    "seconds": 12.5,
                },
                train / "train.json",
            )
            if model == "stgcn":
                pd.DataFrame(
                    {
                        "epoch": [1, 2, 3],
                        "train_loss": [1.0, 0.7, 0.5],
                        "val_loss": [1.1, 0.8, float("nan")],
                        "val_balanced_accuracy": [0.3, 0.5, 0.6],
                    }
                ).to_csv(train / "history.tsv", sep="\t", index=False)
            ev = res / "eval" / model / split
            _write_json(
                {
                    "video": {
                        m: _value(model, split, "video", m) for m in ("accuracy", "macro_f1")
                    },
                    "subject": {
                        m: _value(model, split, "subject", m) for m in ("accuracy", "macro_f1")
                    },
                    "n_videos": 16,
                    "n_subjects": 8,
                    "confusion_video": [[1, 0], [0, 1]],
                    "confusion_subject": [[1, 0], [0, 1]],
                },
                ev / "metrics.json",
            )
            (ev / "predictions.tsv").write_text("video_id\tlabel\tpred\nv1\tI\tI\n")
    _write_json(summary, res / "metrics.json")
    _png(res / "eval" / "stgcn_confusion_subject.png")
    _png(res / "interpret" / "stgcn" / "importance.png")
    return res


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking")
    res = make_results(root)
    db = res / "mlflow" / "mlflow.db"
    uri = f"sqlite:///{db}"
    bogus = root / "bogus.db"
    tags = tracking.run_tags(root, CONFIG, sorted((res / "eval").rglob("predictions.tsv")))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{bogus}")  # must be ignored
        t0 = time.monotonic()
        record = tracking.log_results(
            res, uri, EXPERIMENT, MODELS, SPLITS, CONFIG, tags, res / "mlflow" / "runs.json"
        )
        seconds = time.monotonic() - t0
        assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{bogus}"
    assert not bogus.exists()
    return {"root": root, "res": res, "uri": uri, "db": db, "record": record,
            "tags": tags, "seconds": seconds}  # fmt: skip


def test_log_results_read_back(logged):
    from mlflow import MlflowClient

    res, record, tags = logged["res"], logged["record"], logged["tags"]
    assert json.loads((res / "mlflow" / "runs.json").read_text()) == record
    client = MlflowClient(tracking_uri=logged["uri"])
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp.experiment_id == record["experiment_id"]
    assert exp.artifact_location == (res / "mlflow" / "artifacts").resolve().as_uri()

    runs = client.search_runs([exp.experiment_id], max_results=100)
    assert len(runs) == 6 == len(record["runs"])
    by_id = {r.info.run_id: r for r in runs}
    parents = {
        r.data.tags["motorflow.model"]: r for r in runs if "motorflow.split" not in r.data.tags
    }
    children = [r for r in runs if "motorflow.split" in r.data.tags]
    assert sorted(parents) == sorted(MODELS) and len(children) == 4
    for entry in record["runs"]:
        run = by_id[entry["run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["motorflow.model"] == entry["model"]
        for key in tracking.TAG_KEYS:
            assert run.data.tags[key] == tags[key]
        if entry["split"] is None:
            assert "mlflow.parentRunId" not in run.data.tags
            assert run.info.run_name == entry["model"]
        else:
            assert run.data.tags["motorflow.split"] == entry["split"]
            parent_id = run.data.tags["mlflow.parentRunId"]
            assert parent_id == parents[entry["model"]].info.run_id

    summary = json.loads((res / "metrics.json").read_text())
    for model, parent in parents.items():
        m = parent.data.metrics
        s = summary[model]["subject"]["accuracy"]
        assert m["subject_accuracy_mean"] == s["mean"]
        assert m["subject_accuracy_ci_low"] == s["ci_low"]
        assert m["video_macro_f1_ci_high"] == summary[model]["video"]["macro_f1"]["ci_high"]
        p = parent.data.params
        assert p["seed"] == "7" and p["data.source"] == "synthetic"
        assert p["data.labels"] == '["I", "II", "III", "IV"]'
    assert parents["stgcn"].data.params["optimizer.name"] == "adam"
    assert parents["stgcn"].data.params["lr"] == "0.001"
    assert "lr" not in parents["gait_baseline"].data.params
    note = parents["gait_baseline"].data.params["note"]
    assert len(note) == tracking.MAX_PARAM_VALUE and note.endswith("...")

    for child in children:
        model, split = child.data.tags["motorflow.model"], child.data.tags["motorflow.split"]
        ev = json.loads((res / "eval" / model / split / "metrics.json").read_text())
        m = child.data.metrics
        assert m["subject_accuracy"] == ev["subject"]["accuracy"]
        assert m["video_macro_f1"] == ev["video"]["macro_f1"]
        assert m["n_videos"] == 16 and m["best_epoch"] == 2 and m["seconds"] == 12.5
        assert not any(k.startswith("confusion") for k in m)
        assert child.data.tags["train.device"] == "cpu"
        if model == "stgcn":
            assert child.data.params["optimizer.betas"] == "[0.9, 0.99]"
            hist = client.get_metric_history(child.info.run_id, "train_loss")
            assert [(h.step, h.value) for h in sorted(hist, key=lambda h: h.step)] == [
                (1, 1.0), (2, 0.7), (3, 0.5)
            ]  # fmt: skip
            val = client.get_metric_history(child.info.run_id, "val_loss")
            assert sorted(h.step for h in val) == [1, 2]  # NaN epoch skipped
            assert m["val_balanced_accuracy"] == 0.6  # latest step
        else:
            assert child.data.params["C"] == "1.0"
            assert "train_loss" not in m
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"predictions.tsv", "metrics.json", "train.json"} <= names

    stgcn_art = {a.path for a in client.list_artifacts(parents["stgcn"].info.run_id)}
    assert stgcn_art == {"stgcn_confusion_subject.png", "importance.png", "folds.tsv"}
    base_art = {a.path for a in client.list_artifacts(parents["gait_baseline"].info.run_id)}
    assert base_art == {"folds.tsv"}
    # artifacts live inside the results tree
    assert list((res / "mlflow" / "artifacts").rglob("importance.png"))


def test_rerun_appends_runs_and_missing_results_fail_early(logged, tmp_path):
    from mlflow import MlflowClient

    res = logged["res"]
    with pytest.raises(FileNotFoundError, match="fold9"):
        tracking.log_results(
            res, logged["uri"], EXPERIMENT, MODELS, ["fold9"], CONFIG, {}, tmp_path / "r.json"
        )
    client = MlflowClient(tracking_uri=logged["uri"])
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert len(client.search_runs([exp.experiment_id])) == 6  # nothing half-logged
    again = tracking.log_results(
        res, logged["uri"], EXPERIMENT, ["gait_baseline"], ["fold1"], {}, {}, tmp_path / "r.json"
    )
    assert len(again["runs"]) == 2
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 8
    new = {r.info.run_id: r for r in runs}[again["runs"][1]["run_id"]]
    assert new.data.tags["git_commit"] == "unknown"  # tags not given -> "unknown"


def test_provenance_helpers(tmp_path):
    # Outside a git work tree: no commit, no dirty flag; the tags say "unknown".
    for where in (tmp_path, tmp_path / "absent"):
        tags = tracking.run_tags(where, {}, "data")
        assert tags["git_commit"] == tags["git_dirty"] == "unknown"
    h = tracking.config_hash({"a": 1, "b": {"c": [1, 2], "d": "x"}})
    assert h == tracking.config_hash({"b": {"d": "x", "c": [1, 2]}, "a": 1})
    assert h != tracking.config_hash({"a": 2, "b": {"c": [1, 2], "d": "x"}})
    assert len(h) == 64
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    for d in ("d1", "d2"):
        (tmp_path / d / "v1.npz").write_bytes(b"one")
        (tmp_path / d / "v2.npz").write_bytes(b"two")
    a = tracking.data_hash([tmp_path / "d1" / "v1.npz", tmp_path / "d1" / "v2.npz"])
    b = tracking.data_hash([tmp_path / "d2" / "v2.npz", tmp_path / "d2" / "v1.npz"])
    assert a == b
    assert a == tracking.data_hash(
        {"v1": tmp_path / "d1" / "v1.npz", "v2": tmp_path / "d1" / "v2.npz"}
    )
    (tmp_path / "d2" / "v2.npz").write_bytes(b"changed")
    assert a != tracking.data_hash([tmp_path / "d2" / "v1.npz", tmp_path / "d2" / "v2.npz"])
    assert tracking.run_tags(tmp_path, {}, "dvc-md5")["data_hash"] == "dvc-md5"
    assert tracking.default_tracking_uri(tmp_path) == (
        f"sqlite:///{tmp_path.resolve()}/results/mlflow/mlflow.db"
    )


def test_keys_and_flatten():
    assert tracking.mlflow_key("f1@0.5 (macro)") == "f1_0.5 _macro_"
    assert tracking.mlflow_key("a:b") == "a_b"
    assert tracking.mlflow_key("/a//b/../c") == "a/b/c"
    assert tracking.mlflow_key("x" * 300) == "x" * 250
    assert tracking.flatten({"a": {"b": {"c": 1}, "d": None, "e": {}}, "f": True}) == {
        "a.b.c": "1", "a.d": "None", "a.e": "{}", "f": "True"
    }  # fmt: skip


# --- through a tracking server ------------------------------------------------------------


@pytest.mark.slow
def test_runs_visible_through_mlflow_server(logged, tmp_path):
    with mlflow_server(logged["uri"], tmp_path) as base:
        exp, runs = search_runs(base, EXPERIMENT)
        assert exp["experiment_id"] == logged["record"]["experiment_id"]
        assert len(runs) >= 6  # 6 from the fixture (+2 if the re-run test ran first)
        parent_id = next(r["run_id"] for r in logged["record"]["runs"] if r["model"] == "stgcn")
        parent = next(r for r in runs if r["info"]["run_id"] == parent_id)
        metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
        summary = json.loads((logged["res"] / "metrics.json").read_text())
        assert metrics["subject_accuracy_mean"] == summary["stgcn"]["subject"]["accuracy"]["mean"]
        assert {t["key"]: t["value"] for t in parent["data"]["tags"]}["motorflow.model"] == "stgcn"
