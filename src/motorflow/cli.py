"""``motorflow <stage>``: every workflow stage as a command that runs outside Snakemake."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from motorflow import tasks
from motorflow.layout import Layout


def _config(path: str | None) -> dict:
    if not path:
        return {}
    from motorflow.config import check_sections

    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    try:
        check_sections(config)
    except ValueError as err:
        raise SystemExit(f"{path}: {err}") from None
    return config


def _load_section(config: str | None, section: str) -> dict:
    return _config(config).get(section, {}) or {}


def cmd_synth(args: argparse.Namespace) -> int:
    from motorflow.synth import common

    full = _config(args.config)
    task = tasks.of_config(full)
    cfg = task.cohort_config(full)
    sheet = task.cohort_module().make_sheet(cfg)
    if args.sheet:
        common.write_sheet(sheet, args.sheet)
    todo = sheet if not args.video_id else sheet[sheet["video_id"].isin(args.video_id)]
    if args.video_id and len(todo) != len(args.video_id):
        missing = sorted(set(args.video_id) - set(todo["video_id"]))
        print(f"unknown video_id(s) for this cohort: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.out:
        render = task.render_module()
        for row in todo.itertuples():
            render.render_into(cfg, row, Path(args.out))
            print(row.video_id)
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    from motorflow import pose

    opts = _load_section(args.config, "pose")
    if args.backend:
        opts["backend"] = args.backend
    if args.max_people:
        opts["max_people"] = args.max_people
    size = tuple(args.frame_size) if args.frame_size else None
    cfg = pose.PoseConfig.from_mapping(opts)
    p = pose.run(args.input, args.output, cfg, fps=args.fps, frame_size=size)
    print(f"{args.output}: {p.n_frames} frames, {p.fps:.2f} fps, backend {p.backend}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from motorflow import clean

    cfg = clean.CleanConfig.from_mapping(_load_section(args.config, "clean"))
    qc_path = args.qc or str(Path(args.output).with_suffix(".qc.json"))
    qc = clean.run(args.input, args.output, qc_path, cfg, video_id=args.video_id)
    print(json.dumps(qc, indent=2, default=str))
    return 0


def _preprocess_section(config: str | None, stage: str) -> dict:
    return dict((_load_section(config, "preprocess").get(stage)) or {})


def cmd_mask(args: argparse.Namespace) -> int:
    from motorflow import mask

    cfg = mask.MaskConfig.from_mapping(_preprocess_section(args.config, "mask"))
    qc = mask.run(args.video, args.output, args.qc or Path(args.output).with_suffix(".json"),
                  cfg, video_id=args.video_id)  # fmt: skip
    print(json.dumps(qc, indent=2, default=str))
    return 0 if qc["status"] == "ok" else 3


def cmd_align(args: argparse.Namespace) -> int:
    from motorflow import align

    out = Path(args.output)
    stem = out.with_suffix("")
    info = align.run(
        args.video, args.masks, args.pose, out, stem.with_suffix(".pose.npz"),
        stem.with_suffix(".json"), args.preview or stem.with_suffix(".png"),
        align.AlignConfig.from_mapping(_preprocess_section(args.config, "align")),
        video_id=args.video_id,
    )  # fmt: skip
    print(json.dumps(info, indent=2, default=str))
    return 0 if info["status"] == "ok" else 3


def cmd_flow(args: argparse.Namespace) -> int:
    from motorflow import flow

    cfg = flow.FlowConfig.from_mapping(_preprocess_section(args.config, "flow"))
    info = flow.run(args.clip, args.output, cfg, video_id=args.video_id)
    print(json.dumps(info, indent=2, default=str))
    return 0 if info["status"] == "ok" else 3


def cmd_qc(args: argparse.Namespace) -> int:
    from motorflow import qc

    table = qc.summarise(args.records, args.output)
    print(table.to_string(index=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from motorflow.validate import features, pose

    result = pose.pose_accuracy(args.results, args.output)
    print(pose.format_summary(result))
    passed = result["passed"]
    tree = Layout(args.results)
    table = tree.features_table
    if table.exists():
        ids = sorted(str(v) for v in pd.read_parquet(table)["video_id"])
        feats = features.feature_accuracy(
            [tree.truth(v) for v in ids], [tree.truth_params(v) for v in ids], table,
            output=Path(args.output).with_name("feature_accuracy") if args.output else None,
        )  # fmt: skip
        print()
        print(features.format_feature_summary(feats))
        passed = passed and feats["passed"]
    return 0 if passed or not args.strict else 1


def cmd_features(args: argparse.Namespace) -> int:
    from motorflow import clean, importers
    from motorflow.features import curves
    from motorflow.features import gait as featlib

    section = _load_section(args.config, "features")
    cfg = featlib.FeatureConfig.from_mapping(section.get("gait", {}))
    pose_path = Path(args.input)
    size = tuple(args.frame_size) if args.frame_size else None
    if args.clean:
        # Third-party keypoints straight from a detector: clean them first, in memory.
        pose = importers.load_any_pose(pose_path, fps=args.fps, frame_size=size)
        cleaned, _ = clean.clean_pose(pose, clean.CleanConfig.from_mapping(
            _load_section(args.config, "clean")))  # fmt: skip
        pose_path = Path(args.output).with_suffix(".clean.npz")
        from motorflow.poseio import save_pose

        save_pose(cleaned, pose_path)
    out = Path(args.output)
    if tasks.get(args.task).features == "movement":
        return _infant_features(pose_path, out, args, section.get("movement", {}))
    result = featlib.run(
        pose_path,
        out,
        args.curves or out.with_suffix(".curves.npz"),
        args.qc or out.with_suffix(".json"),
        cfg,
        video_id=args.video_id,
        height_cm=args.height_cm,
        age_months=args.age_months,
        joints=args.joints,
        fps=None if args.clean else args.fps,
        frame_size=None if args.clean else size,
    )
    if args.figure:
        from motorflow import plots

        plots.plot_gait_curves(
            result.curves,
            args.figure,
            stance_pct={s: result.features[f"stance_pct_{s}"] for s in curves.SIDES},
            title=str(result.info.get("video_id", "")),
            segments=result.info.get("segments"),
            contacts=result.events.get("initial_contact"),
        )
    row = result.row()
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(
            f"{key:{width}s}  {value:.4g}"
            if isinstance(value, float)
            else f"{key:{width}s}  {value}"
        )
    return 0 if result.info["status"] == "ok" else 3


def _infant_features(pose_path: Path, out: Path, args: argparse.Namespace, opts: dict) -> int:
    """Infant general-movement features (motorflow.features.movement) → one-row table + QC JSON."""
    from motorflow.features import movement

    feats, qc = movement.run(
        pose_path, out, args.qc or out.with_suffix(".json"),
        movement.MovementConfig.from_mapping(opts),
        video_id=args.video_id or Path(args.input).name.split(".")[0],
        fps=None if args.clean else args.fps,
    )  # fmt: skip
    for key, value in {"status": qc["status"], "reason": qc["reason"], **feats}.items():
        print(f"{key:32s}  {value:.4g}" if isinstance(value, float) else f"{key:32s}  {value}")
    return 0 if qc["status"] == "ok" else 3


def cmd_aggregate_features(args: argparse.Namespace) -> int:
    import pandas as pd

    from motorflow.features import gait as featlib

    sheet = pd.read_csv(args.sheet, sep="\t", comment="#", dtype=str)
    table = featlib.aggregate(
        args.tables,
        [str(Path(p).with_suffix(".curves.npz")) for p in args.tables],
        args.output,
        subjects=dict(zip(sheet["video_id"], sheet["subject_id"], strict=True)),
        labels=dict(zip(sheet["video_id"], sheet["label"], strict=True)),
        reference_label=args.reference_label,
        reference_file=args.reference_file,
        out_reference=args.reference_out,
    )
    print(f"{args.output}: {len(table)} videos; deviation reference: "
          f"{table.attrs['deviation_reference']}")  # fmt: skip
    return 0


def _labels(cfg: dict) -> list[str]:
    """The config's label order (GMFCS I-IV when the config gives none)."""
    return [str(x) for x in (cfg.get("data", {}).get("labels") or ["I", "II", "III", "IV"])]


def _sheet(args: argparse.Namespace):
    """Sample table and label order: from --sheet, or the config's synthetic cohort."""
    from motorflow import sheet as sheetlib

    cfg = _config(args.config)
    labels = _labels(cfg)
    if args.sheet:
        strict = bool((cfg.get("cv") or {}).get("one_label_per_subject", False))
        return sheetlib.load_sheet(args.sheet, labels, one_label_per_subject=strict), labels, cfg
    task = tasks.of_config(cfg)
    return task.cohort_module().make_sheet(task.cohort_config(cfg)), labels, cfg


def _split_inputs(args: argparse.Namespace):
    """The video table, the checked splits and the config of a train/evaluate command."""
    from motorflow import folds
    from motorflow.data.table import video_table

    samples, labels, cfg = _sheet(args)
    table = video_table(
        samples, labels, args.results,
        skeleton_input=cfg.get("models", {}).get("skeleton_input", "clean"),
        preprocess=bool(cfg.get("preprocess", {}).get("enabled", False)),
    )  # fmt: skip
    return table, folds.load_splits(Layout(args.results).splits), cfg


def cmd_folds(args: argparse.Namespace) -> int:
    from motorflow import folds

    samples, _, cfg = _sheet(args)
    out = Path(args.out)
    f, s = folds.run(
        samples, folds.FoldConfig.from_mapping(cfg.get("cv")), out / "folds.tsv",
        out / "splits.tsv", source=args.sheet or "synthetic cohort",
    )  # fmt: skip
    print(f"{out}: {len(f)} subjects, splits {', '.join(sorted(s['split'].unique()))}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from motorflow import interpret, registry
    from motorflow.features import gait as featlib
    from motorflow.train import baselines, fusion, rgbflow, skeleton
    from motorflow.train.config import TrainConfig

    table, splits, cfg = _split_inputs(args)
    mcfg = cfg.get("models", {})
    tcfg = TrainConfig.from_mapping(
        {k: mcfg[k] for k in ("seed", "device", "threads", "clip", "optim", "augment")
         if k in mcfg}
    )  # fmt: skip
    tree = Layout(args.results)
    out = tree.train_dir(args.model, args.split)
    ref_label = cfg.get("features", {}).get("reference_label", "I")
    spec = registry.SPECS[args.model]
    net = registry.net_config(args.model, mcfg.get(spec.section))
    family = spec.family
    if family == "skeleton":
        info = skeleton.train_skeleton_model(args.model, table, splits, args.split, out, tcfg, net)
    elif family == "features":
        info = baselines.train_feature_baseline(
            args.model, table, splits, args.split, out, net, ref_label,
            seed=int(mcfg.get("seed", 0)),
        )  # fmt: skip
    elif family == "rgbflow":
        info = rgbflow.train_rgbflow_model(args.model, table, splits, args.split, out, tcfg, net)
    else:  # fusion: ranks the keypoints on the split's ST-GCN first
        ranking = tree.ranking(args.split)
        stgcn = tree.train_dir("stgcn", args.split) / "model.pt"
        interpret.rank_keypoints(table, splits, args.split, stgcn, ranking,
                                 ranking.with_suffix(".png"), top_k=net.top_k)  # fmt: skip
        info = fusion.train_fusion(
            table, splits, args.split, out, tcfg, net, ranking, stgcn,
            featlib.FeatureConfig.from_mapping(cfg.get("features", {}).get("gait")), ref_label,
        )  # fmt: skip
    print(f"{out}: trained on {info['n_train_subjects']} subjects")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from motorflow import evaluate, inference

    table, splits, cfg = _split_inputs(args)
    tree = Layout(args.results)
    out = tree.eval_dir(args.model, args.split)
    preds = inference.predict(
        args.model, table, splits, args.split, tree.train_dir(args.model, args.split),
        out / "predictions.tsv",
        reference_label=cfg.get("features", {}).get("reference_label", "I"),
    )  # fmt: skip
    m = evaluate.write_fold_metrics(out / "predictions.tsv", table.labels, out / "metrics.json")
    print(f"{out}: {len(preds)} videos, subject accuracy {m['subject']['accuracy']:.3f}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from motorflow import evaluate

    cfg = _config(args.config)
    labels = _labels(cfg)
    task = tasks.of_config(cfg)
    ev = cfg.get("evaluation", {})
    sessions = None
    if args.sheet:  # the visit level (subject + session) of a longitudinal sheet
        samples = _sheet(args)[0]
        if "session" in samples:
            sessions = samples["session"].fillna("").astype(str).to_dict()
    by_model: dict[str, list[Path]] = {}
    for p in map(Path, args.predictions):  # the CLI's arguments: EVAL/MODEL/SPLIT/predictions.tsv
        by_model.setdefault(p.parent.parent.name, []).append(p)
    summary = evaluate.summarise_files(
        by_model, labels, n_boot=int(ev.get("bootstrap", 2000)),
        seed=int(ev.get("seed", 0)), baseline=ev.get("baseline", "stgcn"),
        ordinal=task.ordinal, sessions=sessions,
    )  # fmt: skip
    summary["task"] = task.name
    evaluate.write_summary(summary, args.output, Path(args.output).parent / "eval")
    print(evaluate.format_table(summary))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from motorflow import report

    run = report.discover_run(args.results)
    for key in ("task", "models", "splits", "labels"):
        if getattr(args, key):
            run[key] = getattr(args, key)
    if run["task"] is None:
        raise ValueError(f"{args.results}: its eval/summary.json records no task; pass --task")
    out = report.render_summary(args.results, args.output, **run)
    print(f"{out}: {run['task']} task, models {', '.join(run['models'])}, "
          f"{len(run['splits'])} splits")  # fmt: skip
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from motorflow import lineage

    manifest = lineage.write_manifest(args.output, results_dir=args.results, workdir=args.workdir)
    print(f"{args.output}: {len(manifest['files'])} files with lineage, "
          f"{len(manifest.get('unrecorded', []))} unrecorded")  # fmt: skip
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from motorflow import predict

    common = {"fps": args.fps, "height_cm": args.height_cm, "age_months": args.age_months,
              "subject_id": args.subject}  # fmt: skip
    overview = predict.run(
        args.bundle, args.inputs, args.out, html=not args.no_html, pdf=args.pdf, **common
    )
    failed = 0
    for rid, rec in overview["recordings"].items():
        print(f"{rid}: {rec['status']}{': ' + rec['reason'] if rec['reason'] else ''}")
        failed += rec["status"] == "failed"
    print(f"reports in {args.out}/<recording>/report.html, patients in {args.out}/patients/")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from motorflow import export, registry

    ap = argparse.ArgumentParser(prog="motorflow", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "synth", help="render the synthetic walking (or infant) cohort, or part of it"
    )
    p.add_argument(
        "--config",
        help="config YAML (its `synthetic:` section; `synthetic_infant:` when data.task is infant)",
    )
    p.add_argument("--sheet", help="write the cohort's sample sheet (TSV) here")
    p.add_argument("--out", help="folder for videos/ and truth/")
    p.add_argument("--video-id", nargs="*", help="render only these videos")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("pose", help="video or keypoint file → pose file (.npz)")
    p.add_argument("input", help="a video, or a keypoint file/folder with --backend precomputed")
    p.add_argument("output")
    p.add_argument("--backend", choices=["mediapipe", "precomputed"])
    p.add_argument("--max-people", type=int, help="people tracked per frame (mediapipe)")
    p.add_argument("--fps", type=float, help="override the frame rate")
    p.add_argument("--frame-size", type=int, nargs=2, metavar=("W", "H"))
    p.add_argument("--config", help="config YAML (its `pose:` section)")
    p.set_defaults(func=cmd_pose)

    p = sub.add_parser("clean", help="pose file → cleaned pose file + QC record")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--qc", help="QC JSON path (default: OUTPUT with .qc.json)")
    p.add_argument("--video-id")
    p.add_argument("--config", help="config YAML (its `clean:` section)")
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser(
        "features",
        help="pose (any format) → gait features (one-row parquet) + curves + QC record",
        description="Gait events, cycle curves and clinical gait features of one walk "
        "(docs/features.md). Exit status 3 when the video yields no features (reason printed).",
    )
    p.add_argument("input", help="motorflow pose .npz, or any format `motorflow pose` imports")
    p.add_argument("output", help="one-row feature table (.parquet)")
    p.add_argument("--curves", help="cycle curves (.npz; default OUTPUT with .curves.npz)")
    p.add_argument("--qc", help="QC record with events (.json; default OUTPUT with .json)")
    p.add_argument("--figure", help="also draw the gait-curve figure here (.png)")
    p.add_argument("--video-id")
    p.add_argument("--height-cm", type=float, help="stature, for the metric columns")
    p.add_argument(
        "--age-months",
        type=float,
        help="age, for the leg length of a child (default: adult proportions)",
    )
    p.add_argument("--joints", nargs="+", help="compute from this subset of keypoints only")
    p.add_argument("--fps", type=float, help="frame rate of a keypoint file that has none")
    p.add_argument(
        "--frame-size", type=int, nargs=2, metavar=("W", "H"),
        help="frame size in px (MediaPipe's normalised landmarks need it)",
    )  # fmt: skip
    p.add_argument("--clean", action="store_true", help="run the cleaning stage first")
    p.add_argument(
        "--task",
        choices=tasks.NAMES,
        default=tasks.DEFAULT,
        help="gait: clinical gait features (default); infant: general-movement features "
        "(docs/movement_features.md)",
    )
    p.add_argument("--config", help="config YAML (its `features:` and `clean:` sections)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("aggregate-features", help="per-video feature tables → cohort table")
    p.add_argument("output", help="cohort table (.parquet)")
    p.add_argument("tables", nargs="+", help="per-video tables (curves next to them)")
    p.add_argument("--sheet", required=True, help="sample sheet (video_id, subject_id, label)")
    p.add_argument("--reference-label", default="I", help="label of the reference group")
    p.add_argument("--reference-file", help="deviation reference (.npz) instead of a label")
    p.add_argument("--reference-out", help="write the reference used here (.npz)")
    p.set_defaults(func=cmd_aggregate_features)

    p = sub.add_parser("mask", help="video → person masks (.npz) + QC record (Paper B)")
    p.add_argument("video")
    p.add_argument("output", help="masks file (.npz)")
    p.add_argument("--qc", help="QC JSON (default: OUTPUT with .json)")
    p.add_argument("--video-id")
    p.add_argument("--config", help="config YAML (its `preprocess.mask` section)")
    p.set_defaults(func=cmd_mask)

    p = sub.add_parser(
        "align", help="video + masks + cleaned pose → aligned masked clip (Paper B)",
        description="Writes OUTPUT (.npz clip), and next to it .pose.npz (aligned keypoints), "
        ".json (transform + QC) and a face-blurred preview .png.",
    )  # fmt: skip
    p.add_argument("video")
    p.add_argument("masks", help="the mask stage's file")
    p.add_argument("pose", help="cleaned pose file")
    p.add_argument("output", help="aligned clip (.npz)")
    p.add_argument("--preview", help="preview PNG (default: OUTPUT with .png)")
    p.add_argument("--video-id")
    p.add_argument("--config", help="config YAML (its `preprocess.align` section)")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("flow", help="aligned clip → quantised optical flow (.npz)")
    p.add_argument("clip", help="the align stage's clip (.npz)")
    p.add_argument("output")
    p.add_argument("--video-id")
    p.add_argument("--config", help="config YAML (its `preprocess.flow` section)")
    p.set_defaults(func=cmd_flow)

    p = sub.add_parser("qc", help="gather per-video QC records into one table")
    p.add_argument("output", help="summary TSV")
    p.add_argument("records", nargs="+", help="QC JSON files")
    p.set_defaults(func=cmd_qc)

    p = sub.add_parser(
        "validate", help="pose and gait-feature accuracy of a synthetic run against its truth"
    )
    p.add_argument("--results", default="results", help="results folder of a synthetic run")
    p.add_argument("--output", help="write the per-video table (TSV) and summary (JSON) here")
    p.add_argument("--strict", action="store_true", help="exit 1 if an acceptance goal fails")
    p.set_defaults(func=cmd_validate)

    def with_data(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="config YAML (data, cv, models, features sections)")
        p.add_argument("--sheet", help="sample sheet (default: the config's synthetic cohort)")
        p.add_argument("--results", default="results", help="results folder")

    p = sub.add_parser("folds", help="subject-wise stratified folds → folds.tsv, splits.tsv")
    with_data(p)
    p.add_argument("--out", default="results/folds", help="output folder")
    p.set_defaults(func=cmd_folds)

    p = sub.add_parser(
        "train", help="train one model on one split (results/train/MODEL/SPLIT/)",
        description="fusion_xattn first ranks keypoints by Grad-CAM on the split's trained "
        "stgcn (results/interpret/stgcn/SPLIT/).",
    )  # fmt: skip
    p.add_argument("model", choices=list(registry.NAMES))
    p.add_argument("split", help="e.g. fold0 (results/folds/splits.tsv)")
    with_data(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test predictions + metrics of one trained split")
    p.add_argument("model", choices=list(registry.NAMES))
    p.add_argument("split")
    with_data(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("metrics", help="predictions of all splits → metrics.json + table")
    p.add_argument("output", help="metrics JSON (results/metrics.json)")
    p.add_argument("predictions", nargs="+", help="results/eval/MODEL/SPLIT/predictions.tsv")
    p.add_argument("--config", help="config YAML (data.labels, evaluation)")
    p.add_argument("--sheet", help="sample sheet: its session column adds the visit level")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser(
        "summary", help="standalone HTML summary page of a finished run (no server needed)",
        description="Metrics, per-fold results, confusion matrices, Grad-CAM, gait curves, QC "
        "and validation in one self-contained HTML file. Models, splits, labels and task are "
        "read from the results folder unless given.",
    )  # fmt: skip
    p.add_argument("--results", default="results", help="results folder of a finished run")
    p.add_argument("--output", default="results/report/summary.html")
    p.add_argument("--task", choices=tasks.NAMES, help="default: from the results")
    p.add_argument("--models", nargs="+", help="default: the models in eval/summary.json")
    p.add_argument("--splits", nargs="+", help="default: the folders of eval/MODEL/")
    p.add_argument("--labels", nargs="+", help="default: the labels in eval/summary.json")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "predict", help="apply a model bundle to new recordings → report.json + report.html",
        description="pose -> clean -> features -> model with the bundle's own settings; per "
        "recording OUT/<recording>/report.{json,html}, per patient OUT/patients/<subject>/. "
        "Exit status 1 when a recording failed (its report names the reason).",
    )  # fmt: skip
    p.add_argument("bundle", help="results/bundle/<model> folder or its .zip")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="videos, keypoint files, OpenPose folders, folders of those, or a TSV "
                        "sheet (path, video_id, subject_id, session, date, fps, height_cm, "
                        "age_months, width, height)")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--fps", type=float, help="frame rate of inputs that state none")
    p.add_argument("--height-cm", type=float, help="stature (metric gait features)")
    p.add_argument("--age-months", type=float, help="age (a child's leg length)")
    p.add_argument("--subject", help="patient id of the inputs (default: each file's name)")
    p.add_argument("--no-html", action="store_true", help="write report.json only")
    p.add_argument(
        "--pdf",
        action="store_true",
        help="also report.pdf of each report (needs Chromium: apt install chromium)",
    )
    p.set_defaults(func=cmd_predict)

    export.add_parser(sub)

    from motorflow import lineage

    p = sub.add_parser(
        "lineage", help="write the lineage manifest of results/ (results/lineage.json)",
        description="For every result file: sha256, the rule that made it, its inputs' sha256, "
        "params, code version and package versions (from Snakemake's records).",
    )  # fmt: skip
    p.add_argument("--output", default="results/lineage.json")
    p.add_argument("--results", default="results")
    p.add_argument("--workdir", default=".")
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser(
        "audit", help="check results/ against the lineage manifest (exit 1 on any drift)"
    )
    lineage.add_audit_arguments(p)
    p.set_defaults(func=lineage.main_audit)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"motorflow {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
