"""Where results go: sinks (tables, track and per-second summaries, annotated media) fed by :func:`consume`."""

from affectlens.sinks.annotate import AnnotatedMedia, Annotator, VideoWriter, write_image
from affectlens.sinks.base import ResultSink, Sink, Tally, consume
from affectlens.sinks.columns import face_columns
from affectlens.sinks.outputs import TABLES, AnalysisTables, run_summary, write_json
from affectlens.sinks.stop import StopRequested, deferred_stop, stop_signals
from affectlens.sinks.tables import FORMATS, FaceTable, TableWriter, read_table, write_table
from affectlens.sinks.tracks import SecondSummary, TrackSummary

__all__ = [
    "FORMATS",
    "TABLES",
    "AnalysisTables",
    "AnnotatedMedia",
    "Annotator",
    "FaceTable",
    "ResultSink",
    "SecondSummary",
    "Sink",
    "StopRequested",
    "TableWriter",
    "Tally",
    "TrackSummary",
    "VideoWriter",
    "consume",
    "deferred_stop",
    "face_columns",
    "read_table",
    "run_summary",
    "stop_signals",
    "write_image",
    "write_json",
    "write_table",
]
