import pandas as pd
import pytest

from affectlens.sinks import TableWriter, read_table


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_round_trip_and_empty_values(tmp_path, fmt):
    rows = [
        {"source": "a.mp4", "frame": 0, "time_s": 0.0, "track_id": 1, "label": "happiness", "p_happiness": 0.9},
        {"source": "a.jpg", "frame": 0, "time_s": None, "track_id": 0, "label": "neutral", "p_happiness": 0.1},
    ]
    with TableWriter(tmp_path / f"t.{fmt}", fmt, flush_every=1) as w:
        w.write(rows)
    df = read_table(tmp_path / f"t.{fmt}")
    assert list(df.columns) == list(rows[0])
    assert df["label"].tolist() == ["happiness", "neutral"]
    assert pd.isna(df["time_s"][1])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("how", ["columns", "empty_columns"])
def test_no_rows_is_still_a_valid_file(tmp_path, fmt, how):
    path = tmp_path / f"t.{fmt}"
    with TableWriter(path, fmt, **{how: ["source", "frame"]}):
        pass
    if fmt == "jsonl":  # JSON Lines has no header: no rows is an empty file
        assert path.read_bytes() == b""
    else:
        df = read_table(path)
        assert len(df) == 0 and list(df.columns) == ["source", "frame"]


def test_jsonl_rows_are_json_with_nulls(tmp_path):
    import json

    with TableWriter(tmp_path / "t.jsonl", "jsonl") as w:
        w.write([{"a": 1, "b": float("nan")}, {"a": 2, "b": 0.5}])
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1, "b": None}, {"a": 2, "b": 0.5}]


def test_cells_keep_what_numpy_scalars_print(tmp_path):
    import numpy as np

    from affectlens.sinks.tables import clean

    assert clean(np.float32(2.2)) == 2.2 and repr(clean(np.float32(2.2))) == "2.2"  # not 2.200000047683716
    assert clean(np.float64(0.1)) == 0.1 and clean(np.int64(3)) == 3 and clean(np.bool_(True)) is True
    assert clean(np.float32("nan")) is None and clean(float("inf")) is None and clean("x") == "x"
    path = tmp_path / "t.jsonl"
    with TableWriter(path, "jsonl") as w:
        w.write([{"yaw": np.float32(-17.5), "eye_openness": np.float32(0.966)}])
    assert path.read_text().strip() == '{"yaw": -17.5, "eye_openness": 0.966}'


def test_csv_cells_of_nan_are_empty_not_the_text_nan(tmp_path):
    """A face_lost row's engagement (NaN) was written as the text 'nan': empty, as None is and as the README says."""
    import numpy as np

    with TableWriter(tmp_path / "t.csv", "csv") as w:
        w.write([{"a": 1, "b": np.float32("nan"), "c": float("inf")}, {"a": 2, "b": np.float32(0.5), "c": 1.0}])
    assert (tmp_path / "t.csv").read_text().splitlines() == ["a,b,c", "1,,", "2,0.5,1.0"]
