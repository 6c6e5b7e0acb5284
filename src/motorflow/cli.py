"""``motorflow <stage>``: every workflow stage as a command that runs outside Snakemake."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml


def _config(path: str | None) -> dict:
    if not path:
        return {}
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def _load_section(config: str | None, section: str) -> dict:
    return _config(config).get(section, {}) or {}


def cmd_synth(args: argparse.Namespace) -> int:
    from motorflow import synth

    cfg = synth.cohort_config(_load_section(args.config, "synthetic"))
    sheet = synth.make_sheet(cfg)
    if args.sheet:
        synth.write_sheet(sheet, args.sheet)
    todo = sheet if not args.video_id else sheet[sheet["video_id"].isin(args.video_id)]
    if args.video_id and len(todo) != len(args.video_id):
        missing = sorted(set(args.video_id) - set(todo["video_id"]))
        print(f"unknown video_id(s) for this cohort: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
        for row in todo.itertuples():
            synth.render_video(
                cfg, row.video_id, row.subject_id, row.view,
                out / "videos" / f"{row.video_id}.mp4",
                out / "truth" / f"{row.video_id}.npz",
                out / "truth" / f"{row.video_id}.json",
            )  # fmt: skip
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
    p = pose.run(args.input, args.output, pose.PoseConfig(**opts), fps=args.fps, frame_size=size)
    print(f"{args.output}: {p.n_frames} frames, {p.fps:.2f} fps, backend {p.backend}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from motorflow import clean

    cfg = clean.CleanConfig.from_mapping(_load_section(args.config, "clean"))
    qc_path = args.qc or str(Path(args.output).with_suffix(".qc.json"))
    qc = clean.run(args.input, args.output, qc_path, cfg, video_id=args.video_id)
    print(json.dumps(qc, indent=2, default=str))
    return 0


def cmd_qc(args: argparse.Namespace) -> int:
    from motorflow import qc

    table = qc.summarise(args.records, args.output)
    print(table.to_string(index=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from motorflow import validate

    result = validate.pose_accuracy(args.results, args.output)
    print(validate.format_summary(result))
    passed = result["passed"]
    table = Path(args.results) / "features" / "features.parquet"
    if table.exists():
        truth = Path(args.results) / "synth" / "truth"
        ids = sorted(str(v) for v in pd.read_parquet(table)["video_id"])
        feats = validate.feature_accuracy(
            [truth / f"{v}.npz" for v in ids], [truth / f"{v}.json" for v in ids], table,
            output=Path(args.output).with_name("feature_accuracy") if args.output else None,
        )  # fmt: skip
        print()
        print(validate.format_feature_summary(feats))
        passed = passed and feats["passed"]
    return 0 if passed or not args.strict else 1


def cmd_features(args: argparse.Namespace) -> int:
    from motorflow import clean, features

    section = _load_section(args.config, "features")
    cfg = features.FeatureConfig.from_mapping(section.get("gait", {}))
    pose_path = Path(args.input)
    if args.clean:
        # Third-party keypoints straight from a detector: clean them first, in memory.
        pose = features.load_any_pose(pose_path, fps=args.fps)
        cleaned, _ = clean.clean_pose(pose, clean.CleanConfig.from_mapping(
            _load_section(args.config, "clean")))  # fmt: skip
        pose_path = Path(args.output).with_suffix(".clean.npz")
        from motorflow.poseio import save_pose

        save_pose(cleaned, pose_path)
    out = Path(args.output)
    if args.task == "infant":
        return _infant_features(pose_path, out, args, section.get("movement", {}))
    result = features.run(
        pose_path,
        out,
        args.curves or out.with_suffix(".curves.npz"),
        args.qc or out.with_suffix(".json"),
        cfg,
        video_id=args.video_id,
        height_cm=args.height_cm,
        joints=args.joints,
        fps=None if args.clean else args.fps,
    )
    if args.figure:
        from motorflow import plots

        plots.plot_gait_curves(
            result.curves,
            args.figure,
            stance_pct={s: result.features[f"stance_pct_{s}"] for s in features.SIDES},
            title=str(result.info.get("video_id", "")),
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
    """Infant general-movement features (motorflow.movement) → one-row table + QC JSON."""
    import pandas as pd

    from motorflow import features, movement
    from motorflow.poseio import atomic_path, write_json

    pose = features.load_any_pose(pose_path, fps=None if args.clean else args.fps)
    feats, qc = movement.movement_features(pose, movement.MovementConfig.from_mapping(opts))
    video_id = args.video_id or Path(args.input).name.split(".")[0]
    row = {"video_id": video_id, "status": qc["status"], "reason": qc["reason"], **feats}
    with atomic_path(out) as tmp:
        pd.DataFrame([row]).to_parquet(tmp, index=False)
    write_json({"video_id": video_id, **qc}, args.qc or out.with_suffix(".json"))
    for key, value in row.items():
        print(f"{key:32s}  {value:.4g}" if isinstance(value, float) else f"{key:32s}  {value}")
    return 0 if qc["status"] == "ok" else 3


def cmd_aggregate_features(args: argparse.Namespace) -> int:
    import pandas as pd

    from motorflow import features

    sheet = pd.read_csv(args.sheet, sep="\t", comment="#", dtype=str)
    table = features.aggregate(
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
    from motorflow import synth

    cfg = _config(args.config)
    labels = _labels(cfg)
    if args.sheet:
        return sheetlib.load_sheet(args.sheet, labels), labels, cfg
    return synth.make_sheet(synth.cohort_config(cfg.get("synthetic", {}))), labels, cfg


def _split_inputs(args: argparse.Namespace):
    """The video table, the checked splits and the config of a train/evaluate command."""
    from motorflow import folds, train

    samples, labels, cfg = _sheet(args)
    table = train.video_table(samples, labels, args.results)
    return table, folds.load_splits(Path(args.results) / "folds" / "splits.tsv"), cfg


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
    from motorflow import features, train
    from motorflow.models import STGCNConfig

    table, splits, cfg = _split_inputs(args)
    mcfg = cfg.get("models", {})
    tcfg = train.TrainConfig.from_mapping(
        {k: mcfg[k] for k in ("seed", "device", "threads", "clip", "optim", "augment")
         if k in mcfg}
    )  # fmt: skip
    out = Path(args.results) / "train" / args.model / args.split
    ref_label = cfg.get("features", {}).get("reference_label", "I")
    if args.model == "stgcn":
        info = train.train_skeleton_model(
            "stgcn", table, splits, args.split, out, tcfg,
            STGCNConfig.from_mapping(mcfg.get("stgcn")),
        )  # fmt: skip
    elif args.model == "two_stream_skeleton":
        info = train.train_skeleton_model(
            "two_stream_skeleton", table, splits, args.split, out, tcfg,
            train.TwoStreamTraining.from_mapping(mcfg.get("two_stream_skeleton")),
        )  # fmt: skip
    elif args.model == "gait_baseline":
        info = train.train_gait_baseline(
            table, splits, args.split, out,
            train.BaselineTraining.from_mapping(mcfg.get("gait_baseline")), ref_label,
            seed=int(mcfg.get("seed", 0)),
        )  # fmt: skip
    else:
        interp = Path(args.results) / "interpret" / "stgcn" / args.split
        fcfg = train.FusionTraining.from_mapping(mcfg.get("fusion_xattn"))
        stgcn = Path(args.results) / "train" / "stgcn" / args.split / "model.pt"
        train.rank_keypoints(table, splits, args.split, stgcn, interp / "importance.tsv",
                             interp / "importance.png", top_k=fcfg.top_k)  # fmt: skip
        info = train.train_fusion(
            table, splits, args.split, out, tcfg, fcfg, interp / "importance.tsv", stgcn,
            features.FeatureConfig.from_mapping(cfg.get("features", {}).get("gait")), ref_label,
        )  # fmt: skip
    print(f"{out}: trained on {info['n_train_subjects']} subjects")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from motorflow import evaluate, train

    table, splits, cfg = _split_inputs(args)
    out = Path(args.results) / "eval" / args.model / args.split
    preds = train.predict(
        args.model, table, splits, args.split, Path(args.results) / "train" / args.model /
        args.split, out / "predictions.tsv",
        reference_label=cfg.get("features", {}).get("reference_label", "I"),
    )  # fmt: skip
    m = evaluate.write_fold_metrics(out / "predictions.tsv", table.labels, out / "metrics.json")
    print(f"{out}: {len(preds)} videos, subject accuracy {m['subject']['accuracy']:.3f}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from motorflow import evaluate

    cfg = _config(args.config)
    labels = _labels(cfg)
    ev = cfg.get("evaluation", {})
    summary = evaluate.summarise_files(
        args.predictions, labels, n_boot=int(ev.get("bootstrap", 2000)),
        seed=int(ev.get("seed", 0)), baseline=ev.get("baseline", "stgcn"),
    )  # fmt: skip
    evaluate.write_summary(summary, args.output, Path(args.output).parent / "eval")
    print(evaluate.format_table(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from motorflow import export

    ap = argparse.ArgumentParser(prog="motorflow", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="render the synthetic walking cohort (or part of it)")
    p.add_argument("--config", help="config YAML (its `synthetic:` section)")
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
    p.add_argument("--joints", nargs="+", help="compute from this subset of keypoints only")
    p.add_argument("--fps", type=float, help="frame rate of a keypoint file that has none")
    p.add_argument("--clean", action="store_true", help="run the cleaning stage first")
    p.add_argument(
        "--task",
        choices=["gait", "infant"],
        default="gait",
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
    p.add_argument("model", choices=["stgcn", "gait_baseline", "fusion_xattn",
                                     "two_stream_skeleton"])  # fmt: skip
    p.add_argument("split", help="e.g. fold0 (results/folds/splits.tsv)")
    with_data(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test predictions + metrics of one trained split")
    p.add_argument("model")
    p.add_argument("split")
    with_data(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("metrics", help="predictions of all splits → metrics.json + table")
    p.add_argument("output", help="metrics JSON (results/metrics.json)")
    p.add_argument("predictions", nargs="+", help="results/eval/MODEL/SPLIT/predictions.tsv")
    p.add_argument("--config", help="config YAML (data.labels, evaluation)")
    p.set_defaults(func=cmd_metrics)

    export.add_parser(sub)
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
