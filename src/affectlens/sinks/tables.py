"""Row writers for CSV, JSON Lines and Parquet: context managers that write as they go.

Rows are flushed every ``flush_every`` rows (CSV/JSONL) or written as a Parquet row group, so an
interrupted run keeps everything processed so far in a valid, readable file. Columns are fixed
by the first rows (the documented schema); a later row missing a column leaves it empty.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from affectlens.sinks.base import Sink
from affectlens.sinks.columns import column_type
from affectlens.types import FrameResult, plain

FORMATS = ("csv", "jsonl", "parquet")


def clean(value):
    """A plain Python value for a table or JSON cell: NumPy scalars unwrapped, NaN and infinity as None."""
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TableWriter:
    """Write dict rows to ``path`` in ``fmt`` (csv | jsonl | parquet).

    ``columns`` fixes the columns up front; otherwise the first rows decide them, and
    ``empty_columns`` is the header (or Parquet schema) of a table that never gets a row.
    """

    def __init__(
        self,
        path: str | Path,
        fmt: str | None = None,
        columns: Sequence[str] | None = None,
        flush_every: int = 256,
        empty_columns: Sequence[str] | None = None,
    ):
        fmt = fmt or Path(path).suffix.lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
        self.path = Path(path)
        self.fmt = fmt
        self.columns = list(columns) if columns else None
        self.empty_columns = list(empty_columns or [])
        self.flush_every = flush_every
        self.rows_written = 0
        self._closed = False
        self._buffer: list[dict] = []
        self._fh = None
        self._csv = None
        self._parquet = None
        self._schema = None

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt in ("csv", "jsonl"):
            self._fh = open(self.path, "w", newline="", encoding="utf-8")
            if self.fmt == "csv" and self.columns:
                self._start_csv()
        return self

    def _start_csv(self) -> None:
        self._csv = csv.DictWriter(self._fh, fieldnames=self.columns, extrasaction="ignore")
        self._csv.writeheader()
        self._fh.flush()

    def write(self, rows: list[dict]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            if self._fh:
                self._fh.flush()
            return
        if self.columns is None:
            self.columns = list(dict.fromkeys(k for r in self._buffer for k in r))
        rows = self._buffer
        # the text is built first and written in one call, and the buffer is emptied only after
        # it: an interrupt while formatting loses nothing and never leaves half a line behind
        if self.fmt == "csv":
            if self._csv is None:
                self._start_csv()
            text = io.StringIO()
            csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore").writerows(
                {k: ("" if (c := clean(v)) is None else c) for k, v in r.items()}
                for r in rows  # NaN: empty
            )
            self._fh.write(text.getvalue())
            self._fh.flush()
        elif self.fmt == "jsonl":
            text = "".join(json.dumps({k: clean(r.get(k)) for k in self.columns}) + "\n" for r in rows)
            self._fh.write(text)
            self._fh.flush()
        else:
            self._write_parquet(rows)
        self._buffer = []
        self.rows_written += len(rows)

    def _write_parquet(self, rows: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = {k: [clean(r.get(k)) for r in rows] for k in self.columns}
        if self._schema is None:
            table = pa.table(data)
            # columns that are all-null in the first batch are given a type from their name
            fields = [pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f for f in table.schema]
            self._schema = pa.schema(fields)
            self._parquet = pq.ParquetWriter(self.path, self._schema)
        table = pa.Table.from_pydict(data, schema=self._schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._closed:  # closing twice (close() inside a with block) is harmless
            return
        self._closed = True
        try:
            self.flush()
        finally:
            if self.columns is None and self.empty_columns:
                self.columns = self.empty_columns
            if self.fmt == "parquet":
                if self._parquet is None:  # no rows at all: still leave a valid (empty) file
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    cols = self.columns or []
                    empty = {c: pa.array([], pa.type_for_alias(column_type(c))) for c in cols}
                    pq.write_table(pa.table(empty), self.path)
                else:
                    self._parquet.close()
            elif self._fh:
                if self.fmt == "csv" and self._csv is None and self.columns:
                    self._start_csv()
                self._fh.close()

    def __exit__(self, *exc) -> None:
        self.close()


def write_table(path: str | Path, rows: list[dict], empty_columns: Sequence[str] | None = None) -> None:
    """Write ``rows`` to ``path`` in the format its suffix names (a header only when there are none)."""
    with TableWriter(path, empty_columns=empty_columns) as tw:
        tw.write(rows)


class FaceTable(Sink):
    """Sink: one row per face per frame (:meth:`FrameResult.rows`) into ``path`` (csv | jsonl | parquet)."""

    def __init__(self, path: str | Path, columns: Sequence[str] | None = None):
        self.writer = TableWriter(path, empty_columns=columns).__enter__()

    def add(self, result: FrameResult) -> None:
        self.writer.write(result.rows())

    def write_rows(self, rows: list[dict]) -> None:
        """Rows made elsewhere (a Ray worker) in the same columns."""
        self.writer.write(rows)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_table(path: str | Path):
    """Read a table written by :class:`TableWriter` back as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)
