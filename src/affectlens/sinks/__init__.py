"""Where results go: tables (CSV / JSONL / Parquet), track summaries, annotated media."""

from affectlens.sinks.annotate import AnnotatedMedia, Annotator, VideoWriter, write_image
from affectlens.sinks.tables import FORMATS, TableWriter, read_table
from affectlens.sinks.tracks import SecondSummary, TrackSummary

__all__ = [
    "FORMATS",
    "AnnotatedMedia",
    "Annotator",
    "SecondSummary",
    "TableWriter",
    "TrackSummary",
    "VideoWriter",
    "read_table",
    "write_image",
]
