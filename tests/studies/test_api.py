"""The Python API's small pieces: tag parsing, where studies live, reports before any processing."""

from __future__ import annotations

import pytest

from affectlens.errors import AffectlensError
from affectlens.report import write_report
from affectlens.studies import add_recording, create_study, export_study, parse_tags, recordings
from affectlens.studies.locations import locate
from tests.studies.conftest import clip


def test_parse_tags():
    assert parse_tags(["age=18-24", " segment = b "]) == {"age": "18-24", "segment": "b"}
    assert parse_tags(["note=a=b"]) == {"note": "a=b"}
    assert parse_tags(None) == {}
    for bad in (["age"], ["=x"], ["age="]):
        with pytest.raises(AffectlensError, match="key=value"):
            parse_tags(bad)
    with pytest.raises(AffectlensError, match="twice"):
        parse_tags(["a=1", "a=2"])


def test_where_studies_live(tmp_path, monkeypatch):
    monkeypatch.delenv("AFFECTLENS_HOME", raising=False)
    monkeypatch.delenv("AFFECTLENS_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    loc = locate("ad")
    assert loc.folder == tmp_path / "affectlens-studies" / "ad" and loc.default_db
    assert loc.url == f"sqlite:///{tmp_path / 'affectlens-studies' / 'ad' / 'study.db'}"
    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "h"))
    assert locate("ad").folder == tmp_path / "h" / "studies" / "ad"
    monkeypatch.setenv("AFFECTLENS_DB", "postgresql://u@localhost/x")
    loc = locate("ad")
    assert loc.url == "postgresql+psycopg://u@localhost/x" and not loc.default_db
    with pytest.raises(AffectlensError, match="study name"):
        locate("../escape")


def test_report_and_export_before_anything_is_processed(home, tmp_path):
    create_study("ad", clip("intel_classroom_four_people.mp4"))
    write_report("ad", tmp_path / "empty.html")
    add_recording("ad", clip("intel_two_people_head_pose.mp4"), "r1", tags={"seg": "x"})
    page = write_report("ad", tmp_path / "pending.html").read_text()
    assert "1 pending" in page and "No key moments" in page
    files = export_study("ad", tmp_path / "exp", ("csv",))
    assert {p.name for p in files} >= {"timeline.csv", "recordings.csv"}
    with pytest.raises(AffectlensError, match="csv and/or parquet"):
        export_study("ad", tmp_path / "exp", ("xlsx",))
    with pytest.raises(AffectlensError, match="no such file"):
        add_recording("ad", tmp_path / "nope.mp4", "r2")
    with pytest.raises(AffectlensError, match="offset"):
        add_recording("ad", clip("intel_three_people_standing.mp4"), "r2", offset_s=-1)
    assert [r.respondent for r in recordings("ad")[1]] == ["r1"]
