"""Database and file-system failures are one ``error:`` line and exit 1, not a traceback."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import cli


def test_a_database_error_mid_command_is_one_line(monkeypatch, capsys):
    import affectlens.cli as entry

    def fails(args):
        raise OperationalError("DELETE FROM recordings", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr(entry, "app", fails)
    monkeypatch.setattr("sys.argv", ["affectlens", "study", "forget", "s", "--respondent", "r1"])
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip() == "error: database: attempt to write a readonly database"


def test_a_file_system_error_is_one_line(monkeypatch, capsys):
    import affectlens.cli as entry

    def fails(args):
        raise PermissionError(13, "Permission denied", "/srv/studies/s/results")

    monkeypatch.setattr(entry, "app", fails)
    monkeypatch.setattr("sys.argv", ["affectlens", "study", "status", "s"])
    with pytest.raises(SystemExit):
        entry.main()
    assert capsys.readouterr().err.strip().startswith("error: [Errno 13] Permission denied")


@pytest.mark.parametrize("kind", ["unwritable folder", "not a database"])
def test_a_bad_database_is_one_error_line(kind, home, tmp_path):
    if kind == "not a database":
        (tmp_path / "junk.db").write_bytes(b"this is no SQLite file" * 100)
        url = f"sqlite:///{tmp_path / 'junk.db'}"
    else:
        url = "sqlite:////proc/affectlens/y.db"  # was: FileNotFoundError from mkdir
    r = cli("study", "status", "s", "--db", url)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: cannot open database")
