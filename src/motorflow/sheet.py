"""The sample sheet: one row per video (or keypoint recording), validated at the door.

Errors name the sheet, the row (1-based, as a spreadsheet shows it, header = row 1) and the
reason, so a clinician can fix the sheet without reading a traceback.

The ``label`` belongs to the recording (a visit), not to the person: a longitudinal cohort
(ON/OFF medication, an infant at 2 and 12 weeks, before/after surgery) gives one subject
different labels at different sessions (optional column ``session``, alias ``visit``).
Only with ``one_label_per_subject`` (config ``cv.one_label_per_subject``, for trait-like
labels such as GMFCS levels) is a subject with several labels an error.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from motorflow.config import close_match

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "samples.schema.yaml"
REQUIRED = ("video_id", "subject_id", "path", "label")
NUMERIC = ("fps", "height_cm", "age_months", "width", "height")


class SheetError(ValueError):
    """An invalid sample sheet."""


def _schema(path: str | os.PathLike | None) -> dict:
    with open(path or SCHEMA) as fh:
        return yaml.safe_load(fh)


def read_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TSV sheet; a line whose first character is ``#`` is a comment (a ``#`` inside a
    cell is data); empty cells become missing.

    ``df.attrs["row_numbers"]`` holds each data row's line number in the file (header and
    comment lines counted), which is how errors name rows.
    """
    path = Path(path)
    if not path.exists():
        raise SheetError(f"{path}: sample sheet not found")
    try:
        lines = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")
    except UnicodeDecodeError as err:
        raise SheetError(f"{path}: not a readable TSV sheet ({err})") from err
    skip = [i for i, ln in enumerate(lines) if not ln.strip() or ln.lstrip().startswith("#")]
    skipped = set(skip)
    kept = [i for i in range(len(lines)) if i not in skipped]
    if not kept:
        raise SheetError(f"{path}: empty sample sheet (no header line)")
    n_fields = len(lines[kept[0]].split("\t"))
    for i in kept[1:]:
        if any(f.strip() for f in lines[i].split("\t")[n_fields:]):
            raise SheetError(
                f"{path}, row {i + 1}: more cells than the header's {n_fields} columns"
            )
    try:
        with warnings.catch_warnings():  # surplus cells were checked above (empty ones only)
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            df = pd.read_csv(
                path,
                sep="\t",
                dtype=str,
                keep_default_na=False,
                index_col=False,
                skiprows=skip,
                encoding="utf-8-sig",
            )
    except pd.errors.ParserError as err:
        raise SheetError(f"{path}: not a readable TSV sheet ({err})") from err
    df.columns = [c.strip() for c in df.columns]
    if len(kept) - 1 == len(df):  # (a quoted cell spanning lines would break the mapping)
        df.attrs["row_numbers"] = [i + 1 for i in kept[1:]]
    return df


def validate_sheet(
    df: pd.DataFrame,
    labels: list[str],
    source: str | os.PathLike = "sample sheet",
    schema_path: str | os.PathLike | None = None,
    one_label_per_subject: bool = False,
) -> pd.DataFrame:
    """Check every row against the schema and the cross-row rules; return typed rows.

    ``one_label_per_subject``: refuse a subject whose recordings carry different labels
    (trait-like labels); otherwise labels may differ between a subject's sessions.
    A ``visit`` column is renamed ``session``.
    """
    df = _session_alias(df, source)
    schema = _schema(schema_path)
    _check_misspelt_columns(df.columns, schema["properties"], source)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SheetError(f"{source}: missing column(s) {missing}; required: {list(REQUIRED)}")
    if df.empty:
        raise SheetError(f"{source}: no rows (at least one video is needed)")
    validator = jsonschema.Draft202012Validator(schema)
    # Row numbers as the file shows them (header = row 1 unless comment lines precede it).
    row_nos = df.attrs.get("row_numbers") or list(range(2, len(df) + 2))
    rows = []
    for i, rec in enumerate(df.to_dict(orient="records")):
        row_no = row_nos[i]
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
                if not math.isfinite(value):
                    raise SheetError(
                        f"{source}, row {row_no} ({rec.get('video_id', '?')}): "
                        f"{key} must be a finite number, got {rec[key]!r}"
                    )
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
        where = [row_nos[i] for i in out.index[out["video_id"] == first]]
        raise SheetError(f"{source}: duplicate video_id {first!r} in rows {where}")
    if one_label_per_subject:
        per_subject = out.groupby("subject_id")["label"].nunique()
        mixed = per_subject[per_subject > 1]
        if len(mixed):
            s = mixed.index[0]
            found = sorted(out.loc[out["subject_id"] == s, "label"].unique())
            where = [row_nos[i] for i in out.index[out["subject_id"] == s]]
            raise SheetError(
                f"{source}: subject {s!r} carries several labels {found} (rows {where}); "
                "cv.one_label_per_subject is true (set it to false for labels that may "
                "differ between a subject's visits)"
            )
    if "view" not in out:
        out["view"] = "unknown"
    out["view"] = out["view"].fillna("unknown")
    return out.set_index("video_id", drop=False)


def _session_alias(df: pd.DataFrame, source: str | os.PathLike) -> pd.DataFrame:
    if "visit" not in df.columns:
        return df
    if "session" in df.columns:
        raise SheetError(
            f"{source}: both 'session' and 'visit' columns; give one (they mean the same)"
        )
    out = df.rename(columns={"visit": "session"})
    out.attrs = dict(df.attrs)
    return out


def _check_misspelt_columns(columns, known, source) -> None:
    """A column that looks like a misspelt known one (``heigth_cm``) is an error: ignored,
    it would silently leave every value it should carry missing.  Other extra columns
    (notes, a clinic's own ids) are kept and ignored."""
    for col in columns:
        if col in known:
            continue
        guess = close_match(col, known)
        if guess is not None:
            raise SheetError(
                f"{source}: column {col!r} is not a sheet column; did you mean {guess!r}? "
                "(rename it; a column of your own needs a name that does not resemble one "
                f"of {sorted(known)})"
            )


def load_sheet(
    path: str | os.PathLike, labels: list[str], one_label_per_subject: bool = False
) -> pd.DataFrame:
    return validate_sheet(
        read_sheet(path), labels, source=path, one_label_per_subject=one_label_per_subject
    )
