"""The sample sheet: one row per video (or keypoint recording), validated at the door.

Errors name the sheet, the row (1-based, as a spreadsheet shows it, header = row 1) and the
reason, so a clinician can fix the sheet without reading a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"
REQUIRED = ("video_id", "subject_id", "path", "label")
NUMERIC = ("fps", "height_cm", "age_months")


class SheetError(ValueError):
    """An invalid sample sheet."""


def _schema(path: str | os.PathLike | None) -> dict:
    with open(path or SCHEMA) as fh:
        return yaml.safe_load(fh)


def read_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TSV sheet; ``#`` starts a comment line; empty cells become missing."""
    path = Path(path)
    if not path.exists():
        raise SheetError(f"{path}: sample sheet not found")
    try:
        df = pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SheetError(f"{path}: not a readable TSV sheet ({err})") from err
    df.columns = [c.strip() for c in df.columns]
    return df


def validate_sheet(
    df: pd.DataFrame,
    labels: list[str],
    source: str | os.PathLike = "sample sheet",
    schema_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Check every row against the schema and the cross-row rules; return typed rows."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SheetError(f"{source}: missing column(s) {missing}; required: {list(REQUIRED)}")
    if df.empty:
        raise SheetError(f"{source}: no rows (at least one video is needed)")
    schema = _schema(schema_path)
    validator = jsonschema.Draft7Validator(schema)
    rows = []
    for i, rec in enumerate(df.to_dict(orient="records")):
        row_no = i + 2  # header is row 1
        clean: dict = {}
        for key, value in rec.items():
            value = value.strip() if isinstance(value, str) else value
            if value == "":
                continue  # optional column left empty
            if key in NUMERIC:
                try:
                    value = float(value)
                except ValueError as err:
                    raise SheetError(
                        f"{source}, row {row_no} ({rec.get('video_id', '?')}): "
                        f"{key} must be a number, got {value!r}"
                    ) from err
            clean[key] = value
        errors = sorted(validator.iter_errors(clean), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = ".".join(map(str, e.path)) or "row"
            raise SheetError(
                f"{source}, row {row_no} ({rec.get('video_id', '?')}): {where}: {e.message}"
            )
        if clean["label"] not in labels:
            raise SheetError(
                f"{source}, row {row_no} ({clean['video_id']}): unknown label "
                f"{clean['label']!r}; allowed (config data.labels): {labels}"
            )
        rows.append(clean)
    out = pd.DataFrame(rows)
    dup = out["video_id"][out["video_id"].duplicated()]
    if len(dup):
        first = dup.iloc[0]
        where = [i + 2 for i in out.index[out["video_id"] == first]]
        raise SheetError(f"{source}: duplicate video_id {first!r} in rows {where}")
    per_subject = out.groupby("subject_id")["label"].nunique()
    mixed = per_subject[per_subject > 1]
    if len(mixed):
        s = mixed.index[0]
        found = sorted(out.loc[out["subject_id"] == s, "label"].unique())
        raise SheetError(f"{source}: subject {s!r} carries several labels {found}")
    if "view" not in out:
        out["view"] = "unknown"
    out["view"] = out["view"].fillna("unknown")
    return out.set_index("video_id", drop=False)


def load_sheet(path: str | os.PathLike, labels: list[str]) -> pd.DataFrame:
    return validate_sheet(read_sheet(path), labels, source=path)
