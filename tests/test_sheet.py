"""Tests of the sample sheet: schema (workflow/schemas/samples.schema.yaml) and cross-row rules."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from motorflow.sheet import SCHEMA, SheetError, load_sheet, read_sheet, validate_sheet

LABELS = ["I", "II", "III", "IV"]
HEADER = ("video_id", "subject_id", "path", "label", "view", "fps", "height_cm", "age_months")


def tsv(rows: list[tuple], header: tuple[str, ...] = HEADER, pre: str = "") -> str:
    lines = ["\t".join(header)] + ["\t".join(str(c) for c in r) for r in rows]
    return pre + "\n".join(lines) + "\n"


def write(tmp_path, text: str, name: str = "samples.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = [
    ("v01", "s01", "videos/v01.mp4", "I", "side", "30", "121.5", "80"),
    ("v02", "s01", "videos/v02.mp4", "I", "", "", "121.5", ""),
    ("v03", "s02", "videos/v03.mp4", "III", "oblique", "29.97", "", "130"),
    ("v04.b-2_x", "s-3.x", "keypoints/v04/", "IV", "frontal", "25", "", ""),
]


def load(tmp_path, text: str):
    return load_sheet(write(tmp_path, text), LABELS)


def error(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SheetError) as exc:
        load_sheet(path, LABELS)
    msg = str(exc.value)
    assert str(path) in msg  # every error names the sheet
    return msg


# ------------------------------------------------------------------------------ valid sheets


def test_schema_file_is_the_workflow_one():
    assert SCHEMA.exists()
    assert SCHEMA.parts[-3:] == ("workflow", "schemas", "samples.schema.yaml")


def test_valid_sheet_loads_typed(tmp_path):
    df = load(tmp_path, tsv(GOOD))
    assert list(df.index) == ["v01", "v02", "v03", "v04.b-2_x"]
    assert df.index.name == "video_id"
    assert list(df["video_id"]) == list(df.index)  # kept as a column too
    for col in ("fps", "height_cm", "age_months"):
        assert pd.api.types.is_float_dtype(df[col]), col
    assert df.loc["v01", "fps"] == 30.0
    assert df.loc["v03", "fps"] == pytest.approx(29.97)
    assert df.loc["v01", "height_cm"] == 121.5
    assert np.isnan(df.loc["v02", "fps"])  # optional, left empty → missing
    assert np.isnan(df.loc["v03", "height_cm"])
    assert df.loc["v02", "view"] == "unknown"  # default
    assert df.loc["v03", "view"] == "oblique"
    assert df.loc["v04.b-2_x", "path"] == "keypoints/v04/"
    assert df.loc["v03", "label"] == "III"


def test_optional_columns_absent(tmp_path):
    df = load(tmp_path, tsv([r[:4] for r in GOOD], header=HEADER[:4]))
    assert (df["view"] == "unknown").all()
    assert "fps" not in df


def test_whitespace_around_cells_and_headers(tmp_path):
    header = tuple(f" {h} " for h in HEADER)
    rows = [(" v01 ", "s01", " a.mp4", "II ", "side", " 30 ", "", "")]
    df = load(tmp_path, tsv(rows, header=header))
    assert list(df.index) == ["v01"]
    assert df.loc["v01", "label"] == "II"
    assert df.loc["v01", "fps"] == 30.0


def test_comment_lines_ignored(tmp_path):
    text = (
        "# sample sheet of the pilot study\n"
        + "\t".join(HEADER)
        + "\n"
        + "# first subject\n"
        + "\t".join(GOOD[0])
        + "\n"
        + "#v99\ts99\tx.mp4\tNOT_A_LABEL\t\t\t\t\n"  # commented-out row: not validated
        + "\n"
        + "\t".join(GOOD[2])
        + "\n"
    )
    df = load(tmp_path, text)
    assert list(df.index) == ["v01", "v03"]


def test_hash_inside_a_cell_is_data(tmp_path):
    rows = [("v01", "s01", "videos/patient#12.mp4", "I", "side", "30", "", "")]
    df = load(tmp_path, tsv(rows))
    assert df.loc["v01", "path"] == "videos/patient#12.mp4"
    assert df.loc["v01", "fps"] == 30.0


def test_validate_dataframe_directly():
    df = pd.DataFrame([dict(zip(HEADER, r, strict=True)) for r in GOOD])
    out = validate_sheet(df, LABELS)
    assert list(out.index) == [r[0] for r in GOOD]
    bad = df.copy()
    bad.loc[2, "label"] = "V"
    with pytest.raises(SheetError, match=r"row 4 \(v03\).*unknown label 'V'"):
        validate_sheet(bad, LABELS, source="mine.tsv")


# ------------------------------------------------------------------------------ errors


def test_missing_file(tmp_path):
    with pytest.raises(SheetError, match=r"nosuch\.tsv.*not found"):
        load_sheet(tmp_path / "nosuch.tsv", LABELS)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    msg = error(tmp_path, text)
    assert "empty" in msg


def test_header_only(tmp_path):
    msg = error(tmp_path, tsv([]))
    assert "no rows" in msg


@pytest.mark.parametrize("col", ["video_id", "subject_id", "path", "label"])
def test_missing_required_column(tmp_path, col):
    keep = [i for i, h in enumerate(HEADER) if h != col]
    header = tuple(HEADER[i] for i in keep)
    rows = [tuple(r[i] for i in keep) for r in GOOD]
    msg = error(tmp_path, tsv(rows, header=header))
    assert "missing column" in msg and repr(col) in msg


@pytest.mark.parametrize("col", ["video_id", "subject_id", "path", "label"])
def test_empty_required_cell(tmp_path, col):
    rows = [list(r) for r in GOOD]
    rows[2][HEADER.index(col)] = ""
    msg = error(tmp_path, tsv([tuple(r) for r in rows]))
    assert "row 4" in msg and col in msg


@pytest.mark.parametrize("bad_id", ["v 03", "v/03", "_v03", "v03\\x", "ü03", "../v03"])
def test_bad_video_id(tmp_path, bad_id):
    rows = list(GOOD)
    rows[2] = (bad_id,) + GOOD[2][1:]
    msg = error(tmp_path, tsv(rows))
    assert "row 4" in msg
    assert "video_id" in msg and "does not match" in msg


def test_bad_subject_id(tmp_path):
    rows = list(GOOD)
    rows[1] = ("v02", "s 01") + GOOD[1][2:]
    msg = error(tmp_path, tsv(rows))
    assert "row 3" in msg and "subject_id" in msg


def test_unknown_label_lists_allowed(tmp_path):
    rows = list(GOOD)
    rows[3] = GOOD[3][:3] + ("V",) + GOOD[3][4:]
    msg = error(tmp_path, tsv(rows))
    assert "row 5" in msg and "unknown label 'V'" in msg
    assert all(repr(lab) in msg for lab in LABELS)


def test_bad_view(tmp_path):
    rows = [GOOD[0][:4] + ("sideways",) + GOOD[0][5:]]
    msg = error(tmp_path, tsv(rows))
    assert "row 2" in msg and "view" in msg and "sideways" in msg


def test_duplicate_video_id_names_both_rows(tmp_path):
    rows = list(GOOD) + [("v02", "s09", "other.mp4", "II", "", "", "", "")]
    msg = error(tmp_path, tsv(rows))
    assert "duplicate video_id 'v02'" in msg
    assert re.search(r"rows \[3, 6\]", msg), msg


def test_row_numbers_count_comment_lines(tmp_path):
    """Rows are numbered as the file (and a spreadsheet opening it) shows them."""
    text = (
        "\t".join(HEADER)
        + "\n"
        + "# note\n"
        + "\t".join(GOOD[0])
        + "\n"
        + "\t".join(GOOD[1])
        + "\n"
        + "# another note\n"
        + "\t".join(GOOD[0])
        + "\n"
    )
    msg = error(tmp_path, text)
    assert "rows [3, 6]" in msg, msg
    text = "\t".join(HEADER) + "\n# note\n" + "\t".join(("v1", "s1", "a", "X")) + "\n"
    assert "row 3" in error(tmp_path, text)


def error_with_cell(tmp_path, row: int, col: str, value: str) -> str:
    """Error message for the GOOD sheet with one cell replaced (row: index into GOOD)."""
    rows = [list(r) for r in GOOD]
    rows[row][HEADER.index(col)] = value
    return error(tmp_path, tsv([tuple(r) for r in rows]))


@pytest.mark.parametrize(
    ("col", "value"), [("fps", "thirty"), ("height_cm", "1m20"), ("age_months", "7y")]
)
def test_non_numeric(tmp_path, col, value):
    msg = error_with_cell(tmp_path, 1, col, value)
    assert "row 3" in msg and col in msg and "must be a number" in msg and value in msg


@pytest.mark.parametrize("value", ["-30", "0", "nan", "inf"])
def test_bad_fps(tmp_path, value):
    msg = error_with_cell(tmp_path, 0, "fps", value)
    assert "row 2" in msg and "fps" in msg


@pytest.mark.parametrize(
    ("col", "value"), [("height_cm", "20"), ("height_cm", "400"), ("age_months", "-1")]
)
def test_out_of_range(tmp_path, col, value):
    msg = error_with_cell(tmp_path, 2, col, value)
    assert "row 4" in msg and col in msg


def test_subject_with_two_labels_refused_when_labels_are_a_trait(tmp_path):
    rows = list(GOOD)
    rows[1] = GOOD[1][:3] + ("II",) + GOOD[1][4:]  # s01 is level I in row 2
    path = write(tmp_path, tsv(rows))
    with pytest.raises(SheetError) as exc:
        load_sheet(path, LABELS, one_label_per_subject=True)
    msg = str(exc.value)
    assert str(path) in msg
    assert "subject 's01' carries several labels ['I', 'II']" in msg
    assert "rows [2, 3]" in msg and "cv.one_label_per_subject" in msg
    # Labels per recording (the default): the same sheet loads as it is.
    df = load_sheet(path, LABELS)
    assert list(df.loc[["v01", "v02"], "label"]) == ["I", "II"]


LONGITUDINAL = (
    "video_id\tsubject_id\tpath\tlabel\tsession\tage_months\n"
    "pd1_off\tpd20452\tk/pd1_off.csv\timpaired\tOFF\t830\n"
    "pd1_on\tpd20452\tk/pd1_on.csv\tnormal\tON\t830\n"
    "pd2_off\tpd20460\tk/pd2_off.csv\timpaired\tOFF\t\n"
    "pd2_on\tpd20460\tk/pd2_on.csv\timpaired\tON\t\n"
    "pd3\tpd20471\tk/pd3.csv\tnormal\t\t702.5\n"
)


def test_longitudinal_sheet_runs_as_it_is(tmp_path):
    path = write(tmp_path, LONGITUDINAL)
    df = load_sheet(path, ["normal", "impaired"])
    assert list(df.index) == ["pd1_off", "pd1_on", "pd2_off", "pd2_on", "pd3"]
    assert df.groupby("subject_id")["label"].nunique().to_dict() == {
        "pd20452": 2,
        "pd20460": 1,
        "pd20471": 1,
    }
    assert list(df["session"].fillna("")) == ["OFF", "ON", "OFF", "ON", ""]
    assert df.at["pd1_off", "age_months"] == 830.0 and np.isnan(df.at["pd2_on", "age_months"])
    with pytest.raises(
        SheetError,
        match=r"subject 'pd20452' carries several labels "
        r"\['impaired', 'normal'\] \(rows \[2, 3\]\)",
    ):
        load_sheet(path, ["normal", "impaired"], one_label_per_subject=True)


def test_visit_column_is_read_as_session(tmp_path):
    text = LONGITUDINAL.replace("\tsession\t", "\tvisit\t")
    df = load_sheet(write(tmp_path, text), ["normal", "impaired"])
    assert "visit" not in df.columns and df.at["pd1_on", "session"] == "ON"
    both = LONGITUDINAL.replace("\tsession\t", "\tsession\tvisit\t").replace(
        "\tOFF\t", "\tOFF\tOFF\t"
    )
    with pytest.raises(SheetError, match="both 'session' and 'visit'"):
        load_sheet(write(tmp_path, both, "both.tsv"), ["normal", "impaired"])


def test_age_months_must_be_a_number(tmp_path):
    text = LONGITUDINAL.replace("\t830\n", "\t69 years\n", 1)
    with pytest.raises(SheetError, match=r"row 2 \(pd1_off\): age_months must be a number"):
        load_sheet(write(tmp_path, text), ["normal", "impaired"])


def test_surplus_cells(tmp_path):
    text = tsv(GOOD).replace("\t".join(GOOD[1]), "\t".join(GOOD[1]) + "\tstray")
    msg = error(tmp_path, text)
    assert "row 3" in msg


def test_trailing_empty_cells_are_fine(tmp_path):
    text = "\n".join(ln + "\t" for ln in tsv(GOOD).splitlines()) + "\n"
    assert list(load(tmp_path, text).index) == [r[0] for r in GOOD]


def test_read_sheet_keeps_strings(tmp_path):
    df = read_sheet(write(tmp_path, tsv(GOOD)))
    assert df.loc[0, "fps"] == "30"  # typing happens in validation
    assert df.loc[1, "fps"] == ""
    assert df.attrs["row_numbers"] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("heigth_cm", "height_cm"), ("age_month", "age_months"), ("subjectid", "subject_id")],
)
def test_a_misspelt_column_is_an_error_naming_the_column_it_resembles(tmp_path, typo, meant):
    header = tuple(typo if c == meant else c for c in HEADER)
    msg = error(tmp_path, tsv(GOOD, header=header))
    assert f"column {typo!r} is not a sheet column; did you mean {meant!r}?" in msg


def test_a_column_of_ones_own_is_kept_and_ignored(tmp_path):
    header = (*HEADER, "clinic_notes")
    df = load(tmp_path, tsv([(*r, "seen by AB") for r in GOOD], header=header))
    assert list(df.index) == ["v01", "v02", "v03", "v04.b-2_x"]
