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
def test_no_rows_is_still_a_valid_file(tmp_path, fmt):
    with TableWriter(tmp_path / f"t.{fmt}", fmt, columns=["source", "frame"]):
        pass
    assert (tmp_path / f"t.{fmt}").exists()
    if fmt != "jsonl":
        assert len(read_table(tmp_path / f"t.{fmt}")) == 0
