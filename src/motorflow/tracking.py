"""MLflow logging of a finished results tree, from one place.

The workflow's per-fold training and evaluation jobs never talk to MLflow: parallel jobs
writing one SQLite store lose runs (``database is locked``).  One job after evaluation calls
:func:`log_results`, which reads the results tree and logs

* per model one **parent run** (run name = model): the model's config section and the shared
  config keys as params (nested keys flattened to ``a.b.c``), the aggregated cross-validation
  metrics of ``results/metrics.json`` (``subject_accuracy_mean``, ``subject_accuracy_std``,
  ``subject_accuracy_ci_low``, ``subject_accuracy_ci_high``, ...), and the confusion and
  importance figures (and ``folds.tsv``) as artifacts;
* per model and split one **child run** (tag ``mlflow.parentRunId``; run name ``model/split``):
  the split's metrics (``subject_accuracy``, ``video_macro_f1``, ``n_videos``, ...), the
  training history (``train_loss``, ``val_loss``, ``val_balanced_accuracy`` with step = epoch)
  when ``history.tsv`` exists, numeric entries of ``train.json`` (``best_epoch``, ``seconds``,
  ...), ``train.json["params"]`` as params, and ``predictions.tsv`` + ``metrics.json`` +
  ``train.json`` + ``history.tsv`` as artifacts.

Every run carries the tags ``motorflow.model`` (children also ``motorflow.split``),
``git_commit``, ``git_dirty``, ``config_hash`` and ``data_hash`` (:func:`run_tags`).

The default store is the SQLite file ``results/mlflow/mlflow.db`` (:func:`default_tracking_uri`)
with artifacts in ``results/mlflow/artifacts/``.  Browse it with::

    mlflow ui --backend-store-uri sqlite:///results/mlflow/mlflow.db

(run from the project folder; ``sqlite:///`` + a relative path is relative to the current
folder, ``sqlite:////abs/path`` is absolute).  The first use of a new SQLite store takes a few
seconds (MLflow creates its tables by running its database migrations).

Re-running :func:`log_results` appends a new set of runs to the experiment (MLflow keeps the
history; nothing is overwritten).  Tell runs apart by start time, ``git_commit`` and
``config_hash``; the ``out_json`` record names the runs of the latest call.

MLflow is reached only through an explicit ``MlflowClient(tracking_uri=...)``: the
``MLFLOW_TRACKING_URI`` environment variable and mlflow's global tracking URI are neither read
nor changed.  Param values are strings cut to :data:`MAX_PARAM_VALUE` characters (the limit of
older MLflow servers; 3.x allows 6000), keys are reduced to the characters every MLflow store
accepts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from motorflow.layout import Layout
from motorflow.poseio import write_json
from motorflow.provenance import git_state, jsonable, sha256_file, sha256_json, sha256_text

log = logging.getLogger(__name__)

MAX_PARAM_VALUE = 500
MAX_KEY = 250
TAG_KEYS = ("git_commit", "git_dirty", "config_hash", "data_hash")
_BATCH_METRICS = 1000
_BATCH_PARAMS_TAGS = 100


# --- provenance tags ---------------------------------------------------------------------------


def config_hash(config: Mapping) -> str:
    """sha256 of the canonical JSON of ``config`` (sorted keys, compact separators)."""
    return sha256_json(config)


def data_hash(paths: Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike]) -> str:
    """sha256 over the sorted list of ``(video_id, sha256 of the file)``.

    ``paths`` maps video_id -> file, or lists files whose name without its last suffix is the
    video id (``results/clean/walk01.npz`` -> ``walk01``).  Independent of order and folder.
    """
    if isinstance(paths, Mapping):
        items = [(str(k), Path(v)) for k, v in paths.items()]
    else:
        items = [(Path(p).stem, Path(p)) for p in paths]
    pairs = sorted([vid, sha256_file(p)] for vid, p in items)
    return sha256_text(json.dumps(pairs, separators=(",", ":")))


def run_tags(
    repo_dir: str | os.PathLike,
    config: Mapping,
    data: Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike] | str,
) -> dict[str, str]:
    """The provenance tags of every run: git_commit, git_dirty, config_hash, data_hash.

    ``data``: the data files (see :func:`data_hash`), or a ready-made data hash string (e.g.
    DVC's) used as is.
    """
    git = git_state(repo_dir)
    return {
        "git_commit": git["commit"] or "unknown",
        "git_dirty": "unknown" if git["dirty"] is None else str(git["dirty"]).lower(),
        "config_hash": config_hash(config),
        "data_hash": data if isinstance(data, str) else data_hash(data),
    }


# --- names and values MLflow accepts -----------------------------------------------------------

_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.\- /]")


def mlflow_key(name: str) -> str:
    """A metric/param key every MLflow store accepts (alphanumerics, ``_ - . / space``)."""
    key = _BAD_KEY_CHARS.sub("_", str(name)).strip()
    # MLflow rejects keys that change under path normalisation ("a//b", "/a", "a/../b", ".").
    parts = [p for p in key.split("/") if p not in ("", ".", "..")]
    key = "/".join(parts) or "_"
    return key[:MAX_KEY]


def param_value(value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float) or value is None:
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, default=jsonable)
    if len(text) > MAX_PARAM_VALUE:
        text = text[: MAX_PARAM_VALUE - 3] + "..."
    return text


def flatten(d: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested dict -> ``{"a.b.c": "value"}`` with MLflow-valid keys and string values."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key))
        else:
            out[mlflow_key(key)] = param_value(v)
    return out


def _number(value: object) -> float | None:
    """A float for a metric, or None for what is not a number (bools, strings, lists)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# --- reading the results tree ------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def aggregate_metrics(summary: Mapping) -> dict[str, float]:
    """``{level: {metric: {mean, std, ci_low, ci_high}}}`` -> ``{"subject_accuracy_mean": ..}``."""
    out: dict[str, float] = {}
    for level, metrics in summary.items():
        if not isinstance(metrics, Mapping):
            continue
        for metric, stats in metrics.items():
            if isinstance(stats, Mapping):
                for stat, value in stats.items():
                    x = _number(value)
                    if x is not None:
                        out[mlflow_key(f"{level}_{metric}_{stat}")] = x
            elif (x := _number(stats)) is not None:
                out[mlflow_key(f"{level}_{metric}")] = x
    return out


def split_metrics(metrics: Mapping) -> dict[str, float]:
    """One split's ``metrics.json`` -> ``{"subject_accuracy": .., "video_macro_f1": ..,
    "n_videos": ..}``; confusion matrices and other lists stay in the artifact."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            for metric, v in value.items():
                x = _number(v)
                if x is not None:
                    out[mlflow_key(f"{key}_{metric}")] = x
        elif (x := _number(value)) is not None and not isinstance(value, str):
            out[mlflow_key(key)] = x
    return out


def history_metrics(history: pd.DataFrame) -> list[tuple[str, float, int]]:
    """``(key, value, step=epoch)`` for every numeric column of ``history.tsv``; NaNs skipped."""
    if "epoch" in history.columns:
        steps = history["epoch"].astype(int).tolist()
    else:
        steps = list(range(len(history)))
    out: list[tuple[str, float, int]] = []
    for col in history.columns:
        if col == "epoch" or not pd.api.types.is_numeric_dtype(history[col]):
            continue
        for step, value in zip(steps, history[col].tolist(), strict=True):
            if value is not None and not math.isnan(float(value)):
                out.append((mlflow_key(col), float(value), int(step)))
    return out


# --- logging -----------------------------------------------------------------------------------


def default_tracking_uri(project_dir: str | os.PathLike) -> str:
    """``sqlite:///<abs project dir>/results/mlflow/mlflow.db``."""
    db = Layout(Path(project_dir).resolve() / "results").mlflow_db
    return f"sqlite:///{db.as_posix()}"


def _sqlite_file(tracking_uri: str) -> Path | None:
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _default_artifact_location(results_dir: Path, tracking_uri: str) -> str:
    db = _sqlite_file(tracking_uri)
    store = (db if db is not None else Layout(results_dir).mlflow_db).resolve().parent
    return (store / "artifacts").as_uri()


def log_results(
    results_dir: str | os.PathLike,
    tracking_uri: str,
    experiment: str,
    models: list[str],
    splits: list[str],
    config: Mapping,
    tags: Mapping,
    out_json: str | os.PathLike,
    artifact_location: str | None = None,
) -> dict:
    """Log a results tree to MLflow; return (and write to ``out_json``) the runs created.

    ``config``: ``{model: {param: value}}`` sections (the keys that are in ``models``) plus
    shared keys (every other key); a model's parent run gets its own section (keys without
    the model prefix, winning over a shared key of the same name) and all shared keys.
    ``tags``: the provenance tags (:func:`run_tags`); missing ones are logged as "unknown".
    ``artifact_location``: for a new experiment; default ``<store folder>/artifacts`` (the
    SQLite file's folder, else ``results_dir/mlflow``).  An existing experiment keeps its own.

    Returns ``{"experiment": name, "experiment_id": id, "tracking_uri": uri,
    "runs": [{"model": m, "split": None for the parent or the split, "run_id": id}, ...]}``.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    tree = Layout(results_dir)
    # Check the whole tree first: a missing file must not leave half an experiment logged.
    missing = [
        str(tree.fold_metrics(m, s))
        for m in models
        for s in splits
        if not tree.fold_metrics(m, s).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"missing evaluation results: {', '.join(missing)}")
    summary_path = tree.metrics
    summary = _read_json(summary_path) if summary_path.is_file() else {}

    db = _sqlite_file(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        location = artifact_location or _default_artifact_location(tree.root, tracking_uri)
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    else:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        experiment_id = exp.experiment_id

    base_tags = {k: "unknown" for k in TAG_KEYS}
    base_tags.update({str(k): str(v) for k, v in tags.items()})
    shared = {k: v for k, v in config.items() if k not in models}

    def log_run(
        run_id: str,
        metrics: Mapping[str, float],
        steps: list[tuple[str, float, int]],
        params: Mapping[str, str],
        extra_tags: Mapping[str, str],
        artifacts: list[Path],
    ) -> None:
        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        ms += [Metric(k, v, now, step) for k, v, step in steps]
        ps = [Param(k, v) for k, v in params.items()]
        ts = [RunTag(k, v) for k, v in extra_tags.items()]
        for i in range(0, len(ms), _BATCH_METRICS):
            client.log_batch(run_id, metrics=ms[i : i + _BATCH_METRICS], synchronous=True)
        for i in range(0, len(ps), _BATCH_PARAMS_TAGS):
            client.log_batch(run_id, params=ps[i : i + _BATCH_PARAMS_TAGS], synchronous=True)
        for i in range(0, len(ts), _BATCH_PARAMS_TAGS):
            client.log_batch(run_id, tags=ts[i : i + _BATCH_PARAMS_TAGS], synchronous=True)
        for path in artifacts:
            if path.is_file():
                client.log_artifact(run_id, str(path))

    def run(name: str, run_tags_: dict[str, str], **content: Any) -> str:
        r = client.create_run(experiment_id, run_name=name, tags=run_tags_)
        run_id = r.info.run_id
        try:
            log_run(run_id, **content)
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")
        return run_id

    runs: list[dict] = []
    for model in models:
        section = config.get(model) or {}
        params = {**flatten(shared), **flatten(section)}
        parent_tags = {**base_tags, "motorflow.model": model}
        if model not in summary:
            log.warning("%s: no aggregated metrics for %s", summary_path, model)
        parent_id = run(
            model,
            parent_tags,
            metrics=aggregate_metrics(summary.get(model) or {}),
            steps=[],
            params=params,
            extra_tags={},
            artifacts=[
                tree.confusion(model),
                tree.importance(model),
                tree.folds,
            ],
        )
        runs.append({"model": model, "split": None, "run_id": parent_id})

        for split in splits:
            train_dir = tree.train_dir(model, split)
            eval_dir = tree.eval_dir(model, split)
            train_json = train_dir / "train.json"
            train = _read_json(train_json) if train_json.is_file() else {}
            metrics = split_metrics(_read_json(eval_dir / "metrics.json"))
            extra: dict[str, str] = {}
            for key, value in train.items():
                if key == "params":
                    continue
                if (x := _number(value)) is not None and not isinstance(value, str):
                    metrics.setdefault(mlflow_key(key), x)
                elif isinstance(value, str | bool):
                    extra[mlflow_key(f"train.{key}")] = str(value)[:MAX_PARAM_VALUE]
            history_path = train_dir / "history.tsv"
            steps = (
                history_metrics(pd.read_csv(history_path, sep="\t"))
                if history_path.is_file()
                else []
            )
            child_id = run(
                f"{model}/{split}",
                {
                    **parent_tags,
                    "motorflow.split": split,
                    "mlflow.parentRunId": parent_id,
                },
                metrics=metrics,
                steps=steps,
                params=flatten(train.get("params") or {}),
                extra_tags=extra,
                artifacts=[
                    eval_dir / "predictions.tsv",
                    eval_dir / "metrics.json",
                    train_dir / "train.json",
                    history_path,
                ],
            )
            runs.append({"model": model, "split": split, "run_id": child_id})

    record = {
        "experiment": experiment,
        "experiment_id": str(experiment_id),
        "tracking_uri": tracking_uri,
        "runs": runs,
    }
    write_json(record, out_json)
    return record
