"""The results tree: where each stage's files live, in one place.

The workflow's input helpers (``workflow/rules/common.smk``) and the package (the models'
video table, pose validation, the summary page, MLflow logging, the CLI) take their paths
from here; ``tests/test_layout.py`` checks that every path here is an output of a rule, so the
rules and the code cannot disagree silently.  Called without arguments, the per-video and
per-model methods give the rules' wildcard patterns (``results/clean/{video_id}.npz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIDEO = "{video_id}"
MODEL = "{model}"
SPLIT = "{split}"


@dataclass(frozen=True)
class Layout:
    root: Path = Path("results")

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # Per video -------------------------------------------------------------------------------
    def raw_pose(self, video_id: str = VIDEO) -> Path:
        return self.root / "pose" / f"{video_id}.npz"

    def clean_pose(self, video_id: str = VIDEO) -> Path:
        return self.root / "clean" / f"{video_id}.npz"

    def qc(self, video_id: str = VIDEO) -> Path:
        return self.root / "qc" / f"{video_id}.json"

    def features(self, video_id: str = VIDEO) -> Path:
        return self.root / "features" / f"{video_id}.parquet"

    def curves(self, video_id: str = VIDEO) -> Path:
        return self.root / "features" / f"{video_id}.curves.npz"

    def aligned_pose(self, video_id: str = VIDEO) -> Path:
        return self.root / "align" / f"{video_id}.pose.npz"

    def align_qc(self, video_id: str = VIDEO) -> Path:
        return self.root / "align" / f"{video_id}.json"

    def clip(self, video_id: str = VIDEO) -> Path:
        return self.root / "align" / f"{video_id}.npz"

    def flow(self, video_id: str = VIDEO) -> Path:
        return self.root / "flow" / f"{video_id}.npz"

    def truth(self, video_id: str = VIDEO) -> Path:
        return self.root / "synth" / "truth" / f"{video_id}.npz"

    def truth_params(self, video_id: str = VIDEO) -> Path:
        return self.root / "synth" / "truth" / f"{video_id}.json"

    def model_pose(self, skeleton_input: str, video_id: str = VIDEO) -> Path:
        """The skeleton the models read: cleaned, or aligned (Paper B's body alignment)."""
        if skeleton_input not in ("clean", "aligned"):
            raise ValueError(f"skeleton_input must be clean or aligned, not {skeleton_input!r}")
        return (
            self.aligned_pose(video_id)
            if skeleton_input == "aligned"
            else self.clean_pose(video_id)
        )

    # Cohort ----------------------------------------------------------------------------------
    @property
    def features_table(self) -> Path:
        return self.root / "features" / "features.parquet"

    @property
    def movement_figure(self) -> Path:
        return self.root / "features" / "figures" / "movement_features.png"

    @property
    def qc_summary(self) -> Path:
        return self.root / "qc" / "summary.tsv"

    @property
    def splits(self) -> Path:
        return self.root / "folds" / "splits.tsv"

    @property
    def final_splits(self) -> Path:
        return self.root / "folds" / "final.tsv"

    @property
    def folds(self) -> Path:
        return self.root / "folds" / "folds.tsv"

    @property
    def eval_summary(self) -> Path:
        return self.root / "eval" / "summary.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def validation(self, name: str) -> Path:
        """A validation summary against the synthetic truth (pose_accuracy, ...)."""
        return self.root / "validation" / f"{name}.json"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow" / "mlflow.db"

    # Per model and split ---------------------------------------------------------------------
    def train_dir(self, model: str = MODEL, split: str = SPLIT) -> Path:
        return self.root / "train" / model / split

    def eval_dir(self, model: str = MODEL, split: str = SPLIT) -> Path:
        return self.root / "eval" / model / split

    def predictions(self, model: str = MODEL, split: str = SPLIT) -> Path:
        return self.eval_dir(model, split) / "predictions.tsv"

    def fold_metrics(self, model: str = MODEL, split: str = SPLIT) -> Path:
        return self.eval_dir(model, split) / "metrics.json"

    def confusion(self, model: str = MODEL) -> Path:
        return self.root / "eval" / f"{model}_confusion_subject.png"

    def importance(self, model: str = MODEL) -> Path:
        return self.root / "interpret" / model / "importance.png"

    def ranking(self, split: str = SPLIT) -> Path:
        """The fold's Grad-CAM keypoint ranking of its ST-GCN (Paper A's fusion reads it)."""
        return self.root / "interpret" / "stgcn" / split / "importance.tsv"

    # Final models' bundles ----------------------------------------------------------------
    def bundle_dir(self, model: str = MODEL) -> Path:
        """A final model's bundle: bundle.json, its weights and reference.npz."""
        return self.root / "bundle" / model

    def bundle_file(self, model: str = MODEL) -> Path:
        """The same bundle as one file, for sharing."""
        return self.root / "bundle" / f"{model}.zip"

    def glob(self, pattern: Path) -> list[Path]:
        """The existing files that match a path of this layout with ``*`` for a name."""
        return sorted(self.root.glob(pattern.relative_to(self.root).as_posix()))
